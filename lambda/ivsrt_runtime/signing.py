"""Participant tokens the stage owner signs: ES384 JWTs signed with ``kms:Sign``, no IVS call.

``CreateParticipantToken`` allows 50 calls per second per account and region, and the quota
cannot be raised. A token signed with a key whose public half was imported into IVS
(``ImportPublicKey``) needs no call at all: IVS verifies the signature when the participant
joins. The private key stays in KMS (an ECC_NIST_P384 SIGN_VERIFY key); this module asks KMS to
sign and never sees it.

Usable from any backend with this package and boto3, not the CDK (in your own Lambda function,
``ParticipantTokenSigningKey.add_to_function`` and ``ivsrt_runtime.signer`` do the wiring)::

    from ivsrt_runtime.signing import sign_participant_token
    signed = sign_participant_token(boto3.client("kms"), key_id=KEY_ARN, public_key_arn=PUBLIC_KEY_ARN,
                                    stage_arn=STAGE_ARN, whip_url=WHIP, events_url=EVENTS, user_id="ada")

The claims are those the IVS Real-Time User Guide documents ("Distribute participant tokens"):
``exp``, ``iat``, ``jti`` (the participant id), ``resource`` (the stage ARN), ``topic`` (the stage
id), ``events_url``, ``whip_url`` (the stage's endpoints), ``capabilities``, ``user_id``,
``attributes`` and ``version``; the header's ``kid`` is the public key's ARN.

KMS is asked to sign the SHA-384 digest of the signing input (``MessageType="DIGEST"``), which
is what ES384 signs: a RAW message may be at most 4096 bytes, and a token with attributes near
their 1 KB limit is longer. The JSON is compact and UTF-8 (no ``\\u`` escapes), as short as it gets.

A connection token (``sign_connection_token``) is what an application using a
``RealTimeConnection`` needs besides participant tokens; no API creates one. Its claims, all
mandatory and only these (the User Guide's "Connection Tokens"): ``exp`` (at most four weeks after
``iat``), ``iat``, ``jti`` (the token id, which ``RevokeConnectionToken`` takes), ``account_id`` and
``region`` (the public key's, from its ARN), ``events_url`` (``wss://global.events.live-video.net``)
and ``version``. Unlike a participant token, it can be revoked (``ivsrt_runtime.revocation``).

Deleting the public key in IVS invalidates every token signed with its private key; IVS keys
do not expire. To rotate: import the new key, sign with it, and delete the old one once the
tokens it signed have expired.
"""

from __future__ import annotations

import base64
import calendar
import datetime
import hashlib
import json
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ivsrt_runtime.rules import operation
from ivsrt_runtime.validation import Label, check

TOKEN_VERSION = "1.0"
ALGORITHM = "ES384"
KMS_SIGNING_ALGORITHM = "ECDSA_SHA_384"
DEFAULT_DURATION_MINUTES = 720  # 12 hours, as CreateParticipantToken's default
# The claim each capability sets to true.
CAPABILITY_CLAIMS: dict[str, str] = {"PUBLISH": "allow_publish", "SUBSCRIBE": "allow_subscribe"}
COORDINATE_BYTES = 48  # P-384: r and s are 48 bytes each in a JWS signature (RFC 7518, 3.4)
# A token's expirationTime, as CreateParticipantToken answers it: UTC, to the second.
EXPIRATION_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# The participant id (the jti claim), as the IVS Real-Time User Guide's self-signed token
# section and the model's ParticipantToken.participantId have it; the guide asks for one at least.
PARTICIPANT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Connection tokens (the User Guide's "Connection Tokens"): the events endpoint is global, the
# lifetime at most four weeks; the default is a participant token's.
CONNECTION_EVENTS_URL = "wss://global.events.live-video.net"
MAX_CONNECTION_DURATION_MINUTES = 40320  # 4 weeks
DEFAULT_CONNECTION_DURATION_MINUTES = DEFAULT_DURATION_MINUTES
CONNECTION_CLAIMS = ("exp", "iat", "jti", "account_id", "region", "events_url", "version")
# An IVS public key's ARN: the account and home region a connection token names.
PUBLIC_KEY_ARN = re.compile(r"arn:aws[a-z-]*:ivs:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):public-key/[A-Za-z0-9]+")
# The CreateParticipantToken member each parameter of sign_participant_token is checked as:
# messages name the parameter a caller wrote.
PARAMETERS: dict[tuple[str, ...], str] = {
    ("stageArn",): "stage_arn",
    ("userId",): "user_id",
    ("attributes",): "attributes",
    ("capabilities",): "capabilities",
    ("duration",): "duration_minutes",
}


class TokenRequestError(ValueError):
    """What was asked for breaks a rule of the participant token (the same rules as
    ``CreateParticipantToken``'s, from the model)."""


@dataclass(frozen=True)
class SignedToken:
    """A signed participant token and what a client needs beside it."""

    token: str
    participant_id: str
    expiration_time: int  # seconds since the epoch


@dataclass(frozen=True)
class SignedConnectionToken:
    """A signed connection token: its id (the ``jti``, what ``RevokeConnectionToken`` takes) and expiry."""

    token: str
    token_id: str
    expiration_time: int  # seconds since the epoch


def expiration_time(seconds: float) -> str:
    """``seconds`` since the epoch as a token's ``expirationTime``."""
    return time.strftime(EXPIRATION_TIME_FORMAT, time.gmtime(seconds))


def expiration_seconds(expiration_time: str) -> int:
    """A token's ``expirationTime`` as seconds since the epoch."""
    return calendar.timegm(time.strptime(expiration_time, EXPIRATION_TIME_FORMAT))


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
    problems = request_problems(stage_arn, user_id, attributes, capabilities, duration_minutes, participant_id)
    claims: dict[str, Any] = {
        **_registered_claims(problems, now, duration_minutes, participant_id),
        "resource": stage_arn,
        "topic": stage_arn.rsplit("/", 1)[-1],
        "events_url": events_url,
        "whip_url": whip_url,
        "capabilities": {CAPABILITY_CLAIMS[capability]: True for capability in capabilities},
        "version": TOKEN_VERSION,
    }
    if user_id is not None:
        claims["user_id"] = user_id
    if attributes:
        claims["attributes"] = dict(attributes)
    # ES384 is ECDSA over SHA-384 of the signing input: KMS signs that digest as it is.
    return SignedToken(_signed_jwt(kms_client, key_id, public_key_arn, claims), claims["jti"], claims["exp"])


def sign_connection_token(
    kms_client: Any,
    *,
    key_id: str,
    public_key_arn: str,
    duration_minutes: int = DEFAULT_CONNECTION_DURATION_MINUTES,
    token_id: str | None = None,
    now: float | None = None,
) -> SignedConnectionToken:
    """A connection token (for a ``RealTimeConnection``), signed by KMS key ``key_id``
    (ECC_NIST_P384), whose public half IVS holds as ``public_key_arn``: the token's account and
    region are that key's. ``duration_minutes``: 1 to 40320 (four weeks); ``token_id``: random
    unless given. One ``kms:Sign`` call; no IVS call. What breaks a rule is refused before KMS is asked."""
    problems = connection_request_problems(public_key_arn, duration_minutes, token_id)
    claims: dict[str, Any] = _registered_claims(problems, now, duration_minutes, token_id)
    arn = PUBLIC_KEY_ARN.fullmatch(public_key_arn)
    assert arn is not None  # connection_request_problems checked it
    claims |= {
        "account_id": arn["account"],
        "region": arn["region"],
        "events_url": CONNECTION_EVENTS_URL,
        "version": TOKEN_VERSION,
    }
    return SignedConnectionToken(_signed_jwt(kms_client, key_id, public_key_arn, claims), claims["jti"], claims["exp"])


def connection_request_problems(public_key_arn: Any, duration_minutes: Any, token_id: Any) -> list[str]:
    """Every way a connection token request breaks a rule, each naming the parameter."""
    problems = []
    if not (isinstance(public_key_arn, str) and PUBLIC_KEY_ARN.fullmatch(public_key_arn)):
        problems.append(
            f"public_key_arn must be an IVS public key's ARN (arn:aws:ivs:REGION:ACCOUNT:public-key/ID), got: {public_key_arn!r}"
        )
    hint = _duration_hint(duration_minutes)
    if hint:
        problems.append(hint)
    elif isinstance(duration_minutes, bool) or not isinstance(duration_minutes, int):
        problems.append(f"duration_minutes must be a whole number of minutes, got: {duration_minutes!r}")
    elif not 1 <= duration_minutes <= MAX_CONNECTION_DURATION_MINUTES:
        problems.append(
            f"duration_minutes must be between 1 and {MAX_CONNECTION_DURATION_MINUTES} (four weeks), got: {duration_minutes}"
        )
    if token_id is not None and not (isinstance(token_id, str) and PARTICIPANT_ID.fullmatch(token_id)):
        problems.append(f"token_id must be 1 to 64 letters, digits, hyphens or underscores, got: {token_id!r}")
    return problems


def _registered_claims(problems: list[str], now: float | None, duration_minutes: int, token_id: str | None) -> dict[str, Any]:
    """What every token has, once its request broke no rule (else ``TokenRequestError``, every
    problem named): ``exp``, ``iat`` (now, or ``now``) and ``jti`` (random unless given)."""
    if problems:
        raise TokenRequestError("; ".join(problems))
    issued = int(time.time() if now is None else now)
    return {"exp": issued + int(duration_minutes) * 60, "iat": issued, "jti": _new_token_id() if token_id is None else token_id}


def _new_token_id() -> str:
    """A ``jti`` of 16 characters of ``[A-Za-z0-9-_]`` (the rule allows 1 to 64)."""
    return secrets.token_urlsafe(12)


def _signed_jwt(kms_client: Any, key_id: str, public_key_arn: str, claims: Mapping[str, Any]) -> str:
    """The compact JWS of ``claims``, its header naming the IVS public key (``kid``): KMS signs
    the SHA-384 digest of the signing input (ES384)."""
    header = {"alg": ALGORITHM, "typ": "JWT", "kid": public_key_arn}
    signing_input = f"{_segment(header)}.{_segment(claims)}".encode()
    signed = kms_client.sign(
        KeyId=key_id, Message=hashlib.sha384(signing_input).digest(), MessageType="DIGEST", SigningAlgorithm=KMS_SIGNING_ALGORITHM
    )
    return f"{signing_input.decode()}.{_base64url(jws_signature(signed['Signature']))}"


def request_problems(
    stage_arn: Any, user_id: Any, attributes: Any, capabilities: Any, duration_minutes: Any, participant_id: Any
) -> list[str]:
    """Every way the request breaks a rule of the token: CreateParticipantToken's (from the
    model), then the participant id's, each naming the parameter, in the parameters' order."""
    problems = [
        f"{name} must be Unicode text (no lone surrogates), got: {value!r}"
        for name, value in _texts(user_id, attributes)
        if not _is_utf8(value)
    ]
    if problems:
        user_id = attributes = None  # said already; the model's byte counts could not encode them
    hint = _duration_hint(duration_minutes)
    if hint:
        duration_minutes = None  # said below; the model's check skips it
    problems += check(
        operation("CreateParticipantToken").input_shape,
        _as_request(stage_arn, user_id, attributes, capabilities, duration_minutes),
        Label("", names=PARAMETERS),
    )
    if hint:
        problems.append(hint)
    if participant_id is not None and not (isinstance(participant_id, str) and PARTICIPANT_ID.fullmatch(participant_id)):
        problems.append(f"participant_id must be 1 to 64 letters, digits, hyphens or underscores, got: {participant_id!r}")
    return problems


def _duration_hint(duration_minutes: Any) -> str | None:
    """A duration object where a number of minutes is wanted: say how to get the minutes."""
    if isinstance(duration_minutes, datetime.timedelta):
        return (
            f"duration_minutes must be a whole number of minutes, got: {duration_minutes!r} (a timedelta; "
            "pass int(duration.total_seconds() // 60))"
        )
    if hasattr(duration_minutes, "to_minutes"):  # aws_cdk.Duration, which this package does not import
        return "duration_minutes must be a whole number of minutes, got: a Duration (pass duration.to_minutes())"
    return None


def _texts(user_id: Any, attributes: Any) -> list[tuple[str, str]]:
    """The caller's free text: the user id, the attributes' keys and values."""
    texts = [("user_id", user_id)] if isinstance(user_id, str) else []
    if isinstance(attributes, Mapping):
        texts += [
            (f"attributes[{key!r}]", part) for key, value in attributes.items() for part in (key, value) if isinstance(part, str)
        ]
    return texts


def _is_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _as_request(
    stage_arn: str, user_id: str | None, attributes: Mapping[str, str] | None, capabilities: Sequence[str], duration_minutes: int
) -> dict[str, Any]:
    """The token's content as CreateParticipantToken's request, for that operation's rules (in the
    order of sign_participant_token's parameters, which the messages follow)."""
    request: dict[str, Any] = {"stageArn": stage_arn}
    if user_id is not None:
        request["userId"] = user_id
    if attributes is not None:
        request["attributes"] = dict(attributes) if isinstance(attributes, Mapping) else attributes
    # One string is not a list of capabilities: the model's check says so, rather than see letters.
    is_list = isinstance(capabilities, Sequence) and not isinstance(capabilities, str)
    request["capabilities"] = list(capabilities) if is_list else capabilities
    request["duration"] = duration_minutes
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
        value = int.from_bytes(der[position + 2 : position + 2 + length], "big")
        coordinates.append(value.to_bytes(COORDINATE_BYTES, "big"))
        position += 2 + length
    return b"".join(coordinates)


def _segment(value: Mapping[str, Any]) -> str:
    """A JWS segment: compact JSON as UTF-8 (an emoji is 4 bytes, where its \\u escapes are 12)."""
    return _base64url(json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode())


def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
