"""Participant tokens signed from your own function, wired by
``ParticipantTokenSigningKey.add_to_function(function, stages=[...])``.

That call gives the function this package (a layer), the ``kms:Sign`` grant, and the
environment below: the KMS key, the IVS public key that is the tokens' ``kid``, and each stage's
ARN and endpoints. The function's code then names only the participant (and the stage, when it
signs for several)::

    from ivsrt_runtime.signer import sign_token

    def handler(event, context):
        signed = sign_token(user_id=event["userId"])
        return {"token": signed.token, "participantId": signed.participant_id}

One ``kms:Sign`` call per token, no IVS call. A request ``CreateParticipantToken`` would refuse
raises ``TokenRequestError`` before KMS is asked; a KMS failure is botocore's ``ClientError``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from ivsrt_runtime.signing import DEFAULT_DURATION_MINUTES, SignedToken, TokenRequestError, sign_participant_token

# The environment add_to_function writes and this module reads: the names both sides depend on.
SIGNING_KEY_ENV = "IVSRT_SIGNING_KEY_ARN"
PUBLIC_KEY_ENV = "IVSRT_PUBLIC_KEY_ARN"
# JSON: [{"arn": <stage ARN>, "whip": <WHIP endpoint>, "events": <events endpoint>}, ...]
STAGES_ENV = "IVSRT_STAGES"


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
    duration_minutes: int = DEFAULT_DURATION_MINUTES,
    participant_id: str | None = None,
    environment: Mapping[str, str] | None = None,
) -> SignedToken:
    """A participant token for ``stage_arn`` (default: the function's one stage), signed with the
    function's key. The other parameters are ``sign_participant_token``'s; ``environment``
    defaults to ``os.environ``."""
    environment = os.environ if environment is None else environment
    key_arn, public_key_arn = _required(SIGNING_KEY_ENV, environment), _required(PUBLIC_KEY_ENV, environment)
    endpoints = stages(environment)
    if stage_arn is None and len(endpoints) != 1:
        raise TokenRequestError(f"stage_arn is required: the function signs for {len(endpoints)} stages ({', '.join(endpoints)})")
    stage_arn = next(iter(endpoints)) if stage_arn is None else stage_arn
    if stage_arn not in endpoints:
        raise TokenRequestError(f"stage_arn must be one of the function's stages ({', '.join(endpoints)}), got: {stage_arn!r}")
    return sign_participant_token(
        _kms_client(),
        key_id=key_arn,
        public_key_arn=public_key_arn,
        stage_arn=stage_arn,
        whip_url=endpoints[stage_arn]["whip"],
        events_url=endpoints[stage_arn]["events"],
        user_id=user_id,
        attributes=attributes,
        capabilities=capabilities,
        duration_minutes=duration_minutes,
        participant_id=participant_id,
    )


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
