"""``ParticipantTokenVendor``: a small function that mints participant tokens for one stage, so a
web client can join it without AWS credentials of its own."""

from __future__ import annotations

import enum
import typing
from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from botocore.model import Shape
from constructs import Construct

from constructs_ivsrt._fields import api_value
from constructs_ivsrt._functions import lambda_role, runtime_function
from constructs_ivsrt._types import typed_props
from constructs_ivsrt._validation import PropChecker, is_unresolved, member_shape, whole
from constructs_ivsrt.participant_token_signing_key import ParticipantTokenSigningKey
from constructs_ivsrt.stage import IStage
from ivsrt_runtime import entries, key_ring, rules
from ivsrt_runtime.signing import DEFAULT_CONNECTION_DURATION_MINUTES, DEFAULT_DURATION_MINUTES, MAX_CONNECTION_DURATION_MINUTES
from ivsrt_runtime.tokens import CONNECTION_DURATION_ENV

DEFAULT_TOKEN_DURATION = Duration.minutes(DEFAULT_DURATION_MINUTES)  # the API's default: 12 hours
# sign_connection_token's default, 12 hours; the User Guide allows four weeks at most.
DEFAULT_CONNECTION_TOKEN_DURATION = Duration.minutes(DEFAULT_CONNECTION_DURATION_MINUTES)

# A cast: botocore's input_shape is a descriptor of its own (see _validation.member_shape).
_TOKEN_INPUT = typing.cast(Shape, rules.operation("CreateParticipantToken").input_shape)


class ParticipantTokenCapability(str, enum.Enum):
    """What the token's holder may do on the stage."""

    PUBLISH = "PUBLISH"
    SUBSCRIBE = "SUBSCRIBE"


class ParticipantTokenVendor(Construct):
    """A Lambda function that calls ``CreateParticipantToken`` on one stage.

    The deployment fixes the stage, the token lifetime and the capabilities; a caller chooses only
    ``userId`` and ``attributes`` (checked against the API model). Invoke it directly
    (``grant_invoke``) from your backend, or front it with API Gateway or a function URL and your
    own authentication: whoever can invoke it can join the stage. Behind an authorizer, set
    ``user_id_claim`` so that callers join as themselves; over HTTP it answers POST only, as JSON
    (CORS is the API's to configure). Tokens are returned, never logged; the function's log
    lines carry the participant id (and a connection token's id, to revoke it by) and outcome only.

    With ``signing_key`` it signs tokens instead, and with ``connection_tokens=True`` it hands out a
    connection token (for a client's ``RealTimeConnection``) beside each participant token.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stage: IStage,
        token_duration: Duration = DEFAULT_TOKEN_DURATION,
        capabilities: Sequence[ParticipantTokenCapability] = (
            ParticipantTokenCapability.PUBLISH,
            ParticipantTokenCapability.SUBSCRIBE,
        ),
        allowed_attribute_keys: Sequence[str] | None = None,
        user_id_claim: str | None = None,
        signing_key: ParticipantTokenSigningKey | None = None,
        connection_tokens: bool = False,
        connection_token_duration: Duration | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
    ) -> None:
        """
        :param stage: The stage tokens are for.
        :param token_duration: How long a token is valid, whole minutes from 1 minute to 14 days.
            :default: Duration.hours(12) (the service's default)
        :param capabilities: What a token's holder may do on the stage.
            :default: - PUBLISH and SUBSCRIBE (the service's default)
        :param allowed_attribute_keys: The attribute keys a caller may set (others get a 400).
            Attributes are what other participants and compositions see: a caller who may set the
            key a layout features (``featured_participant_attribute``) may feature themselves.
            :default: - any key
        :param user_id_claim: Behind an API with an authorizer: the claim of the authenticated
            caller that is the participant's user id (``sub``, ``email``, a Lambda authorizer's
            context key); a request body may then not choose one, so nobody joins as someone else.
            :default: - the request body's ``userId`` (fine for direct invokes by a trusted backend)
        :param signing_key: Sign tokens with this key (``kms:Sign``) instead of calling
            ``CreateParticipantToken``, which allows 50 calls a second per account: the function
            then may not call it, and reads the stage's endpoints once per execution environment
            (``ivs:GetStage``).
            :default: - tokens come from ``CreateParticipantToken``
        :param connection_tokens: With ``signing_key`` only: every answer also carries a connection
            token (``connectionToken``, ``connectionTokenId`` and ``connectionTokenExpirationTime``),
            which a client's ``RealTimeConnection`` needs beside participant tokens. It is signed by
            the same key (one more ``kms:Sign`` per answer); no API creates one, hence no
            connection tokens without a signing key. Unlike a participant token it can be revoked
            by its id (``ivsrt_runtime.revocation``, ``ParticipantTokenSigningKey.grant_revoke``).
            :default: False
        :param connection_token_duration: How long a connection token is valid, whole minutes from
            1 minute to four weeks. Its own prop rather than ``token_duration``: a connection
            outlives any one stage's participant token (a client reuses it while moving between
            stages, and asks for a new participant token at each), its maximum is four weeks
            where a participant token's is 14 days, and it can be revoked where a participant token
            cannot, so a longer life carries less risk. Only with ``connection_tokens``.
            :default: Duration.hours(12) (``sign_connection_token``'s default)
        :param log_retention: How long the function's log is kept.
            :default: RetentionDays.ONE_YEAR
        """
        super().__init__(scope, id)
        checker = PropChecker(self)
        checker.require(
            not token_duration.is_unresolved(),
            "token_duration must be known at synth (it is the function's setting), got: a deploy-time value",
        )
        minutes = whole(token_duration.to_minutes(integral=False)) if not token_duration.is_unresolved() else 1
        # Function settings: a deploy-time list could not be written into its environment.
        for label, value in (("capabilities", capabilities), ("allowed_attribute_keys", allowed_attribute_keys)):
            checker.require(
                not is_unresolved(value),
                f"{label} must be known at synth (it is the function's setting), got: a deploy-time value",
            )
        checker.raise_if_any()
        capability_values: list[str] = api_value(list(capabilities))
        checker.check("token_duration (minutes)", minutes, member_shape(_TOKEN_INPUT, "duration"))
        checker.check("capabilities", capability_values, member_shape(_TOKEN_INPUT, "capabilities"))
        # The model allows 0 to 2, but a token with none (or one twice) can do nothing more.
        checker.require(
            0 < len(capability_values) == len(set(capability_values)),
            f"capabilities must name PUBLISH and/or SUBSCRIBE, each at most once, got: {capability_values!r}",
        )
        for key in allowed_attribute_keys or ():  # a list (@typed_props refuses one string)
            checker.require(
                isinstance(key, str) and key != "" and "," not in key,
                f"allowed_attribute_keys must be non-empty strings without commas, got: {key!r}",
            )
        checker.require(
            user_id_claim is None or (isinstance(user_id_claim, str) and user_id_claim.strip() != ""),
            f"user_id_claim must be a claim name, got: {user_id_claim!r}",
        )
        self._check_connection_tokens(checker, signing_key, connection_tokens, connection_token_duration)
        checker.raise_if_any()
        connection_minutes = whole((connection_token_duration or DEFAULT_CONNECTION_TOKEN_DURATION).to_minutes(integral=False))
        if signing_key is not None:
            # A token must not outlive what the key's ring waits for before its public key retires.
            longest = int(signing_key.max_token_lifetime.to_minutes())
            lifetimes = {"token_duration": minutes}
            if connection_tokens:
                lifetimes["connection_token_duration"] = connection_minutes
            for label, value in lifetimes.items():
                checker.require(
                    value <= longest,
                    f"{label} (minutes) must be at most the max_token_lifetime of signing_key {signing_key.node.path}, "
                    f"{longest} minutes, got: {value}",
                )
            checker.raise_if_any()
        log_group = logs.LogGroup(self, "Logs", retention=log_retention)
        self.function: lambda_.Function = runtime_function(
            self,
            "Function",
            entry=entries.CREATE_TOKEN,
            description="constructs_ivsrt: mints IVS Real-Time participant tokens for one stage",
            timeout=Duration.seconds(30),
            role=lambda_role(self, "Role", log_group),
            log_group=log_group,
            environment={
                "STAGE_ARN": stage.stage_arn,
                "TOKEN_DURATION_MINUTES": str(minutes),
                "TOKEN_CAPABILITIES": ",".join(capability_values),
                **(
                    {"TOKEN_ALLOWED_ATTRIBUTE_KEYS": ",".join(allowed_attribute_keys)}
                    if allowed_attribute_keys is not None
                    else {}
                ),
                **({"TOKEN_USER_ID_CLAIM": user_id_claim} if user_id_claim else {}),
                # The key's ring, not a generation's keys: a rotation does not redeploy the vendor.
                **({key_ring.PARAMETER_ENV: signing_key.ring_parameter_name} if signing_key is not None else {}),
                **({CONNECTION_DURATION_ENV: str(connection_minutes)} if connection_tokens else {}),
            },
        )
        # What lets the function mint: ivs:CreateParticipantToken on the stage, or kms:Sign with the key.
        if signing_key is None:
            self.token_grant: iam.Grant = stage.grant_create_participant_token(self.function)
        else:
            self.token_grant = signing_key.grant_sign(self.function)
            stage.grant(self.function, "ivs:GetStage")
        self.stage = stage

    @staticmethod
    def _check_connection_tokens(
        checker: PropChecker,
        signing_key: ParticipantTokenSigningKey | None,
        connection_tokens: bool,
        duration: Duration | None,
    ) -> None:
        """Connection tokens are self-signed only, and live 1 minute to four weeks."""
        if not isinstance(connection_tokens, bool):  # a scalar @typed_props leaves to the rules
            checker.require(False, f"connection_tokens must be True or False, got: {connection_tokens!r}")
            return
        checker.require(
            not connection_tokens or signing_key is not None,
            "connection_tokens needs signing_key (a connection token is self-signed only: no API "
            "creates one), got: connection_tokens=True without a signing key",
        )
        if duration is None:
            return
        checker.require(
            connection_tokens,
            f"connection_token_duration is used only with connection_tokens=True, got: {duration.to_human_string()} "
            f"with connection_tokens={connection_tokens}",
        )
        if duration.is_unresolved():
            checker.require(
                False, "connection_token_duration must be known at synth (it is the function's setting), got: a deploy-time value"
            )
            return
        minutes = whole(duration.to_minutes(integral=False))
        if not isinstance(minutes, int):
            checker.require(False, f"connection_token_duration (minutes) must be a whole number, got: {minutes}")
        else:
            checker.require(
                1 <= minutes <= MAX_CONNECTION_DURATION_MINUTES,
                f"connection_token_duration (minutes) must be between 1 and {MAX_CONNECTION_DURATION_MINUTES} "
                f"(four weeks), got: {minutes}",
            )

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``lambda:InvokeFunction`` on the vending function: a backend that hands tokens out."""
        return self.function.grant_invoke(grantee)
