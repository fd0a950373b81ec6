"""Participant tokens signed from your own function, wired by
``ParticipantTokenSigningKey.add_to_function(function, stages=[...])``.

That call gives the function this package (a layer), the grants (``kms:Sign`` on the key's
generations, ``ssm:GetParameter`` on its ring) and the environment below: the name of the
signing key's ring parameter (which generation signs: its KMS key, and the IVS public key that
is the tokens' ``kid``), and each stage's ARN and endpoints. The function's code then names only
the participant (and the stage, when it signs for several)::

    from ivsrt_runtime.signer import sign_token

    def handler(event, context):
        signed = sign_token(user_id=event["userId"])
        return {"token": signed.token, "participantId": signed.participant_id}

The ring is read once a minute at most (``RING_CACHE_SECONDS``): a rotation
(``ParticipantTokenSigningKey(generation=...)``) reaches the function within that, without a
redeploy; the previous generation still signs meanwhile (its key and public key outlive the
switch). One ``kms:Sign`` call per token, no IVS call. A request ``CreateParticipantToken`` would refuse
raises ``TokenRequestError`` before KMS is asked; a KMS failure is botocore's ``ClientError``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ivsrt_runtime.key_ring import PARAMETER_ENV, Ring
from ivsrt_runtime.signing import (
    DEFAULT_CONNECTION_DURATION_MINUTES,
    DEFAULT_DURATION_MINUTES,
    SignedConnectionToken,
    SignedToken,
    TokenRequestError,
    sign_connection_token,
    sign_participant_token,
)

# The environment add_to_function writes and this module reads (key_ring.PARAMETER_ENV, the
# signing key's ring, and STAGES_ENV): the names both sides depend on.
# JSON: [{"arn": <stage ARN>, "whip": <WHIP endpoint>, "events": <events endpoint>}, ...]
STAGES_ENV = "IVSRT_STAGES"
# How long a read of the ring is used before it is read again: how soon a rotation reaches a
# warm function (a cold one reads it on its first token).
RING_CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class SigningKey:
    """The generation that signs now: its KMS key, its IVS public key (the tokens' ``kid``), and
    the longest a token it signs may live (the ring waits that long before the key retires)."""

    key_arn: str
    public_key_arn: str
    generation: int
    max_token_lifetime_minutes: int


_RING: dict[str, tuple[float, SigningKey]] = {}  # parameter name -> (read at, key), per execution environment
_RING_LOCK = threading.Lock()


def current_key(
    environment: Mapping[str, str] | None = None, *, ssm_client: Callable[[], Any] | None = None, now: float | None = None
) -> SigningKey:
    """The signing key's generation that signs now, from its ring parameter (cached for
    ``RING_CACHE_SECONDS``). ``ssm_client``: what builds the SSM client (``clients.ssm_client``)."""
    name = _required(PARAMETER_ENV, os.environ if environment is None else environment)
    now = time.monotonic() if now is None else now
    with _RING_LOCK:
        cached = _RING.get(name)
    if cached is not None and now - cached[0] < RING_CACHE_SECONDS:
        return cached[1]
    ring = Ring.from_json((ssm_client or _ssm_client)().get_parameter(Name=name)["Parameter"]["Value"])
    signing = ring.signing
    key = SigningKey(signing.key_arn, signing.public_key_arn, ring.current, ring.max_token_lifetime_seconds // 60)
    with _RING_LOCK:
        _RING[name] = (now, key)
    return key


class SignerNotConfigured(LookupError):
    """The function's environment lacks what signing needs: it was not wired by
    ``ParticipantTokenSigningKey.add_to_function``."""


def stages(environment: Mapping[str, str] | None = None) -> dict[str, dict[str, str]]:
    """The stages the function signs for: stage ARN -> its endpoints (``whip``, ``events``)."""
    listed = json.loads(_required(STAGES_ENV, os.environ if environment is None else environment))
    return {stage["arn"]: {"whip": stage["whip"], "events": stage["events"]} for stage in listed}


def sign_token(
    stage_arn: str | None = None,
    *,
    user_id: str | None = None,
    attributes: Mapping[str, str] | None = None,
    capabilities: Sequence[str] = ("PUBLISH", "SUBSCRIBE"),
    duration_minutes: int | None = None,
    participant_id: str | None = None,
    environment: Mapping[str, str] | None = None,
) -> SignedToken:
    """A participant token for ``stage_arn`` (default: the function's one stage), signed with the
    function's key. ``duration_minutes``: 720 (12 hours), or the key's ``max_token_lifetime`` when
    that is shorter. The other parameters are ``sign_participant_token``'s; ``environment``
    defaults to ``os.environ``."""
    environment = os.environ if environment is None else environment
    endpoints = stages(environment)
    if stage_arn is None and len(endpoints) != 1:
        raise TokenRequestError(f"stage_arn is required: the function signs for {len(endpoints)} stages ({', '.join(endpoints)})")
    stage_arn = next(iter(endpoints)) if stage_arn is None else stage_arn
    if stage_arn not in endpoints:
        raise TokenRequestError(f"stage_arn must be one of the function's stages ({', '.join(endpoints)}), got: {stage_arn!r}")
    key = current_key(environment)
    duration_minutes = _duration(key, duration_minutes, DEFAULT_DURATION_MINUTES)
    return sign_participant_token(
        _kms_client(),
        key_id=key.key_arn,
        public_key_arn=key.public_key_arn,
        stage_arn=stage_arn,
        whip_url=endpoints[stage_arn]["whip"],
        events_url=endpoints[stage_arn]["events"],
        user_id=user_id,
        attributes=attributes,
        capabilities=capabilities,
        duration_minutes=duration_minutes,
        participant_id=participant_id,
    )


def sign_connection(
    *,
    duration_minutes: int | None = None,
    token_id: str | None = None,
    environment: Mapping[str, str] | None = None,
) -> SignedConnectionToken:
    """A connection token (a ``RealTimeConnection``'s) signed with the function's key: the
    parameters are ``sign_connection_token``'s; ``environment`` defaults to ``os.environ``."""
    key = current_key(environment)
    duration_minutes = _duration(key, duration_minutes, DEFAULT_CONNECTION_DURATION_MINUTES)
    return sign_connection_token(
        _kms_client(), key_id=key.key_arn, public_key_arn=key.public_key_arn, duration_minutes=duration_minutes, token_id=token_id
    )


def _duration(key: SigningKey, duration_minutes: Any, default: int) -> Any:
    """The token's lifetime: as given, or ``default`` capped at the key's ``max_token_lifetime``.
    A token may not outlive what its key's ring waits for before the key retires (it would stop
    working early, when its public key is deleted)."""
    if duration_minutes is None:
        return min(default, key.max_token_lifetime_minutes)
    if isinstance(duration_minutes, int) and duration_minutes > key.max_token_lifetime_minutes:
        raise TokenRequestError(
            f"duration_minutes must be at most the signing key's max_token_lifetime, {key.max_token_lifetime_minutes} "
            f"minutes, got: {duration_minutes}"
        )
    return duration_minutes


def _ssm_client() -> Any:
    from ivsrt_runtime.clients import ssm_client

    return ssm_client()


def _kms_client() -> Any:
    # Imported here, not above: the constructs import this module for its names, and importing
    # clients prepares botocore for a function (AWS_DATA_PATH), which a CDK app has no use for.
    from ivsrt_runtime.clients import kms_client

    return kms_client()


def _required(name: str, environment: Mapping[str, str]) -> str:
    value = environment.get(name)
    if not value:
        raise SignerNotConfigured(
            f"{name} is not set: wire the function with ParticipantTokenSigningKey.add_to_function(function, stages=[...])"
        )
    return value
