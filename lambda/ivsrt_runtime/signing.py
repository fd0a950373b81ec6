"""Participant tokens the stage owner signs: ES384 JWTs signed with ``kms:Sign``, no IVS call.

``CreateParticipantToken`` allows 50 calls per second per account and region, and the quota
cannot be raised. A token signed with a key whose public half was imported into IVS
(``ImportPublicKey``) needs no call at all: IVS verifies the signature when the participant
joins. The private key stays in KMS (an ECC_NIST_P384 SIGN_VERIFY key); this module asks KMS to
sign and never sees it.

Usable from any backend (it needs boto3 only, not the CDK)::

    from ivsrt_runtime.signing import sign_participant_token
    signed = sign_participant_token(boto3.client("kms"), key_id=KEY_ARN, public_key_arn=PUBLIC_KEY_ARN,
                                    stage_arn=STAGE_ARN, whip_url=WHIP, events_url=EVENTS, user_id="ada")

The claims are those the IVS Real-Time User Guide documents ("Distribute participant tokens"):
``exp``, ``iat``, ``jti`` (the participant id), ``resource`` (the stage ARN), ``topic`` (the stage
id), ``events_url``, ``whip_url`` (the stage's endpoints), ``capabilities``, ``user_id``,
``attributes`` and ``version``; the header's ``kid`` is the public key's ARN.

Deleting the public key in IVS invalidates every token signed with its private key; IVS keys
do not expire. To rotate: import the new key, sign with it, and delete the old one once the
tokens it signed have expired.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ivsrt_runtime.rules import check, operation

TOKEN_VERSION = "1.0"
ALGORITHM = "ES384"
KMS_SIGNING_ALGORITHM = "ECDSA_SHA_384"
DEFAULT_DURATION_MINUTES = 720  # 12 hours, as CreateParticipantToken's default
# The claim each capability sets to true.
CAPABILITY_CLAIMS: dict[str, str] = {"PUBLISH": "allow_publish", "SUBSCRIBE": "allow_subscribe"}
COORDINATE_BYTES = 48  # P-384: r and s are 48 bytes each in a JWS signature (RFC 7518, 3.4)


class TokenRequestError(ValueError):
    """What was asked for breaks a rule of the participant token (the same rules as
    ``CreateParticipantToken``'s, from the model)."""


@dataclass(frozen=True)
class SignedToken:
    """A signed participant token and what a client needs beside it."""

    token: str
    participant_id: str
    expiration_time: int  # seconds since the epoch


def sign_participant_token(
    kms_client: Any,
    *,
    key_id: str,
    public_key_arn: str,
    stage_arn: str,
    whip_url: str,
    events_url: str,
    user_id: str | None = None,
    attributes: Mapping[str, str] | None = None,
    capabilities: Sequence[str] = ("PUBLISH", "SUBSCRIBE"),
    duration_minutes: int = DEFAULT_DURATION_MINUTES,
    participant_id: str | None = None,
    now: float | None = None,
) -> SignedToken:
    """A participant token for ``stage_arn``, signed by KMS key ``key_id`` (ECC_NIST_P384), whose
    public half IVS holds as ``public_key_arn``. ``whip_url`` and ``events_url`` are the stage's
    endpoints (``Stage.endpoints``, or ``GetStage``). ``participant_id``: random unless given.
    One ``kms:Sign`` call; no IVS call."""
    problems = check(operation("CreateParticipantToken").input_shape, _as_request(
        stage_arn, user_id, attributes, capabilities, duration_minutes), "token request")
    if problems:
        raise TokenRequestError("; ".join(problems))
    issued = int(time.time() if now is None else now)
    expires = issued + duration_minutes * 60
    participant_id = participant_id or secrets.token_urlsafe(12)
    header = {"alg": ALGORITHM, "typ": "JWT", "kid": public_key_arn}
    claims: dict[str, Any] = {
        "exp": expires, "iat": issued, "jti": participant_id, "resource": stage_arn,
        "topic": stage_arn.rsplit("/", 1)[-1], "events_url": events_url, "whip_url": whip_url,
        "capabilities": {CAPABILITY_CLAIMS[capability]: True for capability in capabilities},
        "version": TOKEN_VERSION,
    }
    if user_id is not None:
        claims["user_id"] = user_id
    if attributes:
        claims["attributes"] = dict(attributes)
    signing_input = f"{_segment(header)}.{_segment(claims)}".encode()
    signed = kms_client.sign(KeyId=key_id, Message=signing_input, MessageType="RAW",
                             SigningAlgorithm=KMS_SIGNING_ALGORITHM)
    signature = _base64url(jws_signature(signed["Signature"]))
    return SignedToken(f"{signing_input.decode()}.{signature}", participant_id, expires)


def _as_request(stage_arn: str, user_id: str | None, attributes: Mapping[str, str] | None,
                capabilities: Sequence[str], duration_minutes: int) -> dict[str, Any]:
    """The token's content as CreateParticipantToken's request, for that operation's rules."""
    request: dict[str, Any] = {"stageArn": stage_arn, "capabilities": list(capabilities), "duration": duration_minutes}
    if user_id is not None:
        request["userId"] = user_id
    if attributes is not None:
        request["attributes"] = dict(attributes)
    return request


def jws_signature(der: bytes) -> bytes:
    """KMS returns an ECDSA signature DER-encoded (ANSI X9.62: a SEQUENCE of the INTEGERs r and
    s); a JWS ES384 signature is r and s as 48 big-endian bytes each.

    Written here rather than with ``cryptography`` (``decode_dss_signature``): the function's
    asset ships no third-party packages, and the encoding is two integers in a sequence."""
    if len(der) < 8 or der[0] != 0x30:
        raise ValueError("not a DER ECDSA signature")
    position = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    coordinates = []
    for _ in range(2):
        if der[position] != 0x02:
            raise ValueError("not a DER ECDSA signature")
        length = der[position + 1]
        value = int.from_bytes(der[position + 2:position + 2 + length], "big")
        coordinates.append(value.to_bytes(COORDINATE_BYTES, "big"))
        position += 2 + length
    return b"".join(coordinates)


def _segment(value: Mapping[str, Any]) -> str:
    return _base64url(json.dumps(value, separators=(",", ":"), sort_keys=True).encode())


def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
