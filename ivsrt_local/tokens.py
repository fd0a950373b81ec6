"""A participant token checked as IVS checks it when the participant joins a stage.

Two kinds: a token ``CreateParticipantToken`` minted (the endpoint remembers each), and one the
stage owner signed (an ES384 JWT, see ``ivsrt_runtime.signing``): its signature against the
public key its header's ``kid`` names (one imported with ``ImportPublicKey``), its expiry, and
the stage it is for (``resource`` and ``topic``). ``cryptography`` does the ECDSA.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ivsrt_runtime.signing import ALGORITHM, CAPABILITY_CLAIMS, COORDINATE_BYTES, TOKEN_VERSION, expiration_seconds

if TYPE_CHECKING:
    from ivsrt_local.state import IvsRealtimeState

# The claims IVS requires of a self-signed token (user_id and attributes are optional).
REQUIRED_CLAIMS = ("exp", "iat", "jti", "resource", "topic", "events_url", "whip_url", "capabilities", "version")


class TokenRefused(Exception):
    """The token does not let its holder join: why, in one line."""


def join(state: IvsRealtimeState, stage_arn: str, token: str, now: float | None = None) -> dict[str, Any]:
    """A participant joining ``stage_arn`` with ``token``, checked as IVS checks it: a token
    ``CreateParticipantToken`` minted for this stage and not expired, or one the stage owner
    signed (``check_signed_token``). The participant it admits, or TokenRefused."""
    now = time.time() if now is None else now
    with state.lock:
        if stage_arn not in state.resources:
            raise TokenRefused(f"no stage {stage_arn}")
        minted = state.tokens.get(token)
        public_keys = {
            arn: resource["publicKeyMaterial"] for arn, resource in state.resources.items() if resource["_noun"] == "PublicKey"
        }
    if minted is None:
        return check_signed_token(token, stage_arn, public_keys, now)
    expires = expiration_seconds(minted["expirationTime"])
    if minted["stageArn"] != stage_arn:
        raise TokenRefused(f"the token is for {minted['stageArn']}, not {stage_arn}")
    if expires <= now:
        raise TokenRefused(f"expired at {expires} (now {int(now)})")
    return {key: minted[key] for key in ("participantId", "userId", "attributes", "capabilities")} | {"expirationTime": expires}


def check_signed_token(token: str, stage_arn: str, public_keys: Mapping[str, str], now: float) -> dict[str, Any]:
    """The participant a self-signed ``token`` admits to ``stage_arn`` (``public_keys``: imported
    key ARN -> PEM), or TokenRefused."""
    try:
        header_part, claims_part, signature_part = token.split(".")
        header, claims = _decoded(header_part), _decoded(claims_part)
        signature = _unpadded_base64url(signature_part)
    except (ValueError, binascii.Error) as error:
        raise TokenRefused(f"not a JWT: {error}") from None
    if header.get("alg") != ALGORITHM:
        raise TokenRefused(f"alg must be {ALGORITHM}, got: {header.get('alg')!r}")
    pem = public_keys.get(header.get("kid", ""))
    if pem is None:
        raise TokenRefused(f"kid names no public key imported in this account and region: {header.get('kid')!r}")
    if len(signature) != 2 * COORDINATE_BYTES:
        raise TokenRefused(f"the signature must be {2 * COORDINATE_BYTES} bytes (ES384), got: {len(signature)}")
    der = encode_dss_signature(
        int.from_bytes(signature[:COORDINATE_BYTES], "big"), int.from_bytes(signature[COORDINATE_BYTES:], "big")
    )
    public_key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    try:
        public_key.verify(der, f"{header_part}.{claims_part}".encode(), ec.ECDSA(hashes.SHA384()))
    except InvalidSignature:
        raise TokenRefused(f"the signature does not verify with {header['kid']}") from None
    missing = [claim for claim in REQUIRED_CLAIMS if claim not in claims]
    if missing:
        raise TokenRefused(f"claims missing: {', '.join(missing)}")
    if claims["version"] != TOKEN_VERSION:
        raise TokenRefused(f"version must be {TOKEN_VERSION!r}, got: {claims['version']!r}")
    if claims["exp"] <= now:
        raise TokenRefused(f"expired at {claims['exp']} (now {int(now)})")
    if claims["resource"] != stage_arn or claims["topic"] != stage_arn.rsplit("/", 1)[-1]:
        raise TokenRefused(f"the token is for {claims['resource']}, not {stage_arn}")
    return {
        "participantId": claims["jti"],
        "userId": claims.get("user_id", ""),
        "attributes": claims.get("attributes", {}),
        "capabilities": [c for c, claim in CAPABILITY_CLAIMS.items() if claims["capabilities"].get(claim)],
        "expirationTime": claims["exp"],
    }


def _decoded(segment: str) -> dict[str, Any]:
    value = json.loads(_unpadded_base64url(segment))
    if not isinstance(value, dict):
        raise ValueError("a segment is not a JSON object")
    return value


def _unpadded_base64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
