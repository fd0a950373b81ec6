"""A participant token checked as IVS checks it when the participant joins a stage.

Two kinds: a token ``CreateParticipantToken`` minted (the endpoint remembers each), and one the
stage owner signed (an ES384 JWT, see ``ivsrt_runtime.signing``): its signature against the
public key its header's ``kid`` names (one imported with ``ImportPublicKey``), its expiry, and
the stage it is for (``resource`` and ``topic``). And a connection token (a ``RealTimeConnection``'s,
``connect``): its signature, the schema's claims, its expiry, and whether ``RevokeConnectionToken``
revoked its id. ``cryptography`` does the ECDSA.

A participant admitted by ``join`` is connected until ``RevokeConnectionToken`` revokes the
connection token it joined through (``join(..., connection_token=...)``): as IVS "disconnects any
participant currently connected with the revoked token". ``connected`` lists who is.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ivsrt_runtime.signing import (
    ALGORITHM,
    CAPABILITY_CLAIMS,
    CONNECTION_CLAIMS,
    CONNECTION_EVENTS_URL,
    COORDINATE_BYTES,
    MAX_CONNECTION_DURATION_MINUTES,
    PARTICIPANT_ID,
    PUBLIC_KEY_ARN,
    TOKEN_VERSION,
    expiration_seconds,
)

if TYPE_CHECKING:
    from ivsrt_local.state import IvsRealtimeState

# A stage's ARN: the account and region a connection must be for to join it.
PARTICIPANT_STAGE_ARN = re.compile(r"arn:aws[a-z-]*:ivs:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):stage/[A-Za-z0-9]+")
# The claims IVS requires of a self-signed token (user_id and attributes are optional).
REQUIRED_CLAIMS = ("exp", "iat", "jti", "resource", "topic", "events_url", "whip_url", "capabilities", "version")


class TokenRefused(Exception):
    """The token does not let its holder join: why, in one line."""


def join(
    state: IvsRealtimeState, stage_arn: str, token: str, now: float | None = None, connection_token: str | None = None
) -> dict[str, Any]:
    """A participant joining ``stage_arn`` with ``token``, checked as IVS checks it: a token
    ``CreateParticipantToken`` minted for this stage and not expired, or one the stage owner
    signed (``check_signed_token``). With ``connection_token``, through that ``RealTimeConnection``:
    the connection token must connect (``connect``) and be for the stage's account and region.
    The participant it admits, now connected (``connected``), or TokenRefused."""
    now = time.time() if now is None else now
    connection = None if connection_token is None else connect(state, connection_token, now)
    if connection is not None:
        stage = PARTICIPANT_STAGE_ARN.fullmatch(stage_arn)
        if stage is None or (stage["account"], stage["region"]) != (connection["accountId"], connection["region"]):
            raise TokenRefused(
                f"the connection is for account {connection['accountId']} in {connection['region']}, not the stage's: {stage_arn}"
            )
    participant = _admitted(state, stage_arn, token, now)
    with state.lock:
        if connection is not None and connection["tokenId"] in state.revoked_connection_tokens:  # revoked meanwhile
            raise TokenRefused(f"the connection token {connection['tokenId']} was revoked")
        state.connected[(stage_arn, participant["participantId"])] = {
            "stageArn": stage_arn,
            **participant,
            "connectionTokenId": None if connection is None else connection["tokenId"],
        }
    return participant if connection is None else {**participant, "connectionTokenId": connection["tokenId"]}


def connected(state: IvsRealtimeState, stage_arn: str | None = None) -> list[dict[str, Any]]:
    """The participants connected now (to ``stage_arn``, or to any stage), in the order they
    joined: each as ``join`` admitted it, with its ``stageArn`` and the ``connectionTokenId`` it
    joined through (None without one). A revoked connection token's participants are gone."""
    with state.lock:
        return [dict(p) for p in state.connected.values() if stage_arn in (None, p["stageArn"])]


def _admitted(state: IvsRealtimeState, stage_arn: str, token: str, now: float) -> dict[str, Any]:
    """The participant ``token`` admits to ``stage_arn``, or TokenRefused."""
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


def connect(state: IvsRealtimeState, token: str, now: float | None = None) -> dict[str, Any]:
    """A client connecting with a connection ``token`` (a ``RealTimeConnection``), checked as the
    User Guide's schema has it (``check_connection_token``) and refused once its id was revoked
    (``RevokeConnectionToken``). What the token says: its id, account, region and expiry."""
    now = time.time() if now is None else now
    with state.lock:
        public_keys = {
            arn: resource["publicKeyMaterial"] for arn, resource in state.resources.items() if resource["_noun"] == "PublicKey"
        }
        revoked = set(state.revoked_connection_tokens)
    connection = check_connection_token(token, public_keys, now)
    if connection["tokenId"] in revoked:
        raise TokenRefused(f"the connection token {connection['tokenId']} was revoked")
    return connection


def check_connection_token(token: str, public_keys: Mapping[str, str], now: float) -> dict[str, Any]:
    """What a self-signed connection ``token`` says, once its signature verifies and its claims
    are the schema's (all of them, no other, the account and region the signing key's), or TokenRefused."""
    header, claims = _verified(token, public_keys)
    if header.get("typ") != "JWT":
        raise TokenRefused(f"typ must be 'JWT', got: {header.get('typ')!r}")
    missing = [claim for claim in CONNECTION_CLAIMS if claim not in claims]
    if missing:
        raise TokenRefused(f"claims missing: {', '.join(missing)}")
    extra = sorted(set(claims) - set(CONNECTION_CLAIMS))
    if extra:
        raise TokenRefused(f"claims a connection token may not have: {', '.join(extra)}")
    if claims["version"] != TOKEN_VERSION:
        raise TokenRefused(f"version must be {TOKEN_VERSION!r}, got: {claims['version']!r}")
    if claims["events_url"] != CONNECTION_EVENTS_URL:
        raise TokenRefused(f"events_url must be {CONNECTION_EVENTS_URL}, got: {claims['events_url']!r}")
    if not (isinstance(claims["jti"], str) and PARTICIPANT_ID.fullmatch(claims["jti"])):
        raise TokenRefused(f"jti must be 1 to 64 letters, digits, hyphens or underscores, got: {claims['jti']!r}")
    key = PUBLIC_KEY_ARN.fullmatch(header["kid"])
    if key is None or (claims["account_id"], claims["region"]) != (key["account"], key["region"]):
        raise TokenRefused(
            f"account_id and region must be the signing key's ({header['kid']}), "
            f"got: {claims['account_id']!r}, {claims['region']!r}"
        )
    exp, iat = claims["exp"], claims["iat"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (exp, iat)):
        raise TokenRefused(f"exp and iat must be whole seconds, got: {exp!r}, {iat!r}")
    if exp - iat > MAX_CONNECTION_DURATION_MINUTES * 60:
        raise TokenRefused(f"exp must be at most four weeks after iat, got: {exp - iat} s")
    if exp <= now:
        raise TokenRefused(f"expired at {exp} (now {int(now)})")
    return {"tokenId": claims["jti"], "accountId": claims["account_id"], "region": claims["region"], "expirationTime": exp}


def check_signed_token(token: str, stage_arn: str, public_keys: Mapping[str, str], now: float) -> dict[str, Any]:
    """The participant a self-signed ``token`` admits to ``stage_arn`` (``public_keys``: imported
    key ARN -> PEM), or TokenRefused."""
    header, claims = _verified(token, public_keys)
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


def _verified(token: str, public_keys: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A self-signed token's header and claims, once its ES384 signature verifies with the
    public key its ``kid`` names (``public_keys``: imported key ARN -> PEM), or TokenRefused."""
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
    return header, claims


def _decoded(segment: str) -> dict[str, Any]:
    value = json.loads(_unpadded_base64url(segment))
    if not isinstance(value, dict):
        raise ValueError("a segment is not a JSON object")
    return value


def _unpadded_base64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
