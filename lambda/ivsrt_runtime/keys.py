"""Public keys held in KMS: the PEM that ``ImportPublicKey`` takes, from ``kms:GetPublicKey``.

A ``ParticipantTokenSigningKey`` is a KMS key (ECC_NIST_P384, SIGN_VERIFY) whose public half IVS
must hold to verify the tokens it signs. Its custom resource names the KMS key
(``rules.KMS_KEY_PROPERTY``); the provider reads the public key from KMS and imports it, so the
key material never passes through the template.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ivsrt_runtime.calls import RequestFailed
from ivsrt_runtime.rules import KMS_KEY_PROPERTY, ResourceRules


def pem(der: bytes) -> str:
    """A DER SubjectPublicKeyInfo as PEM, lines of 64 characters (RFC 7468)."""
    body = base64.b64encode(der).decode()
    lines = [body[start : start + 64] for start in range(0, len(body), 64)]
    return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"


def pem_body(pem: str) -> str:
    """The base64 between a PEM's BEGIN and END lines, in one line (not decoded: the caller says
    what a body that is not base64 means)."""
    return "".join(line.strip() for line in pem.strip().splitlines() if not line.strip().startswith("-----"))


def fingerprint(der: bytes) -> str:
    """A public key's fingerprint as IVS reports it: the SHA-256 of its DER bytes, colon-separated hex."""
    return ":".join(f"{byte:02x}" for byte in hashlib.sha256(der).digest())


def with_key_material(rules: ResourceRules, properties: Mapping[str, Any], kms_client: Callable[[], Any]) -> dict[str, Any]:
    """``properties`` with the public key material read from the KMS key they name, for a type
    whose material may come from KMS; anything else as it is."""
    key_arn = properties.get(KMS_KEY_PROPERTY)
    if rules.key_material_property is None or not key_arn:
        return dict(properties)
    try:
        der = kms_client().get_public_key(KeyId=key_arn)["PublicKey"]
    except (ClientError, BotoCoreError) as error:
        raise RequestFailed(
            f"kms:GetPublicKey failed for {key_arn}: {error}".replace("\n", " "),
            code=getattr(error, "response", {}).get("Error", {}).get("Code"),
        ) from None
    return {**{k: v for k, v in properties.items() if k != KMS_KEY_PROPERTY}, rules.key_material_property: pem(der)}
