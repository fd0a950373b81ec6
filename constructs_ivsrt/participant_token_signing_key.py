"""``ParticipantTokenSigningKey``: KMS keys that sign participant and connection tokens, their
public halves in IVS, rotated by a generation you bump."""

from __future__ import annotations

import functools
import weakref
from collections.abc import Mapping, Sequence

from aws_cdk import ArnFormat, Aws, Duration, Fn, RemovalPolicy, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from constructs_ivsrt._asset import ASSET_EXCLUDES, signer_layer_dir
from constructs_ivsrt._functions import scheduled_function
from constructs_ivsrt._names import generated_name
from constructs_ivsrt._native import TaggableCustomResource, TaggableCustomResourceProps
from constructs_ivsrt._provider import IvsRealtimeProvider, _acknowledge, _wildcard_finding
from constructs_ivsrt._types import type_problems, typed_props
from constructs_ivsrt._validation import IvsRealtimeValidationError, PropChecker
from constructs_ivsrt.stage import Stage, StageBase
from ivsrt_runtime import entries, key_ring, rules, signer
from ivsrt_runtime.rules import TAGS_PROPERTY

# The stack's one layer of ivsrt_runtime for functions that sign (part of the public contract:
# renaming it replaces the layer).
SIGNER_LAYER_ID = "IvsRealtimeSignerLayer"
# The functions add_to_function has wired, and the path of the key each signs with (weakly, beside
# the functions rather than in their jsii proxies' ``__dict__``).
_wired: weakref.WeakKeyDictionary[lambda_.Function, str] = weakref.WeakKeyDictionary()
# How often the retirement runs: a superseded public key goes at most this long after its time.
RETIREMENT_SCHEDULE = Duration.hours(1)


class ParticipantTokenSigningKey(Construct):
    """KMS keys (ECC_NIST_P384, SIGN_VERIFY) that sign participant and connection tokens, and their
    public halves imported into IVS (``ImportPublicKey``), which verify the tokens.

    The private keys never leave KMS: tokens are signed with ``kms:Sign`` (by
    ``ParticipantTokenVendor(..., signing_key=key)``, your own function wired with
    ``add_to_function``, or ``ivsrt_runtime.signing``), and no IVS call is made per token, so
    joins are not held to ``CreateParticipantToken``'s 50 calls a second.

    **Rotation** is a generation you bump (``generation=2``) and deploy: the stack makes the new
    generation's KMS key, imports its public half, and the ring parameter that signers read
    names it, so the vendor and wired functions sign with it within a minute, without a
    redeploy. The previous generation's KMS key stays in the template (until the next bump) and
    its public key until every token it can have signed has expired (``max_token_lifetime``
    after the switch), when an hourly function deletes it. Tokens of both generations work
    meanwhile. A generation older than the previous one leaves the template: its KMS key goes
    to pending deletion (its public key still retires on time). The account holds at most 3
    public keys (not adjustable): a bump that would need a fourth fails before the ring imports
    anything, naming when the first retiring one goes (CloudFormation rolls the new KMS key back).
    Going back a generation (a revert, a rollback) makes the older one sign again; the newer one
    retires on time, as any superseded generation does (``retirement_function`` runs the
    retirement; ``LocalDeployment.invoke`` runs it locally, weeks ahead).

    **A compromised key**: bump the generation and list the old one in
    ``compromised_generations``, then deploy: its public key is deleted at once, and every token
    it signed stops working.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        generation: int = 1,
        compromised_generations: Sequence[int] = (),
        max_token_lifetime: Duration | None = None,
        public_key_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
    ) -> None:
        """
        :param generation: The generation that signs (1, 2, ...): bump it to rotate the key.
            :default: 1
        :param compromised_generations: Generations (not the one that signs) whose public keys are
            deleted now (their tokens stop working): the emergency path for a key that leaked.
            :default: - none
        :param max_token_lifetime: How long a superseded generation's public key is kept: the
            longest token it can have signed (whole minutes, 1 minute to 4 weeks). Signers refuse
            a longer token. :default: Duration.days(28) (a connection token's maximum; a
            participant token's is 14 days)
        :param public_key_name: The base of the IVS public keys' names (``<name>-g<generation>``;
            letters, digits, ``-``, ``_``; at most 120). :default: - generated from the construct path
        :param tags: Tags of the IVS public keys (``Tags.of(scope)`` adds to them, and to the KMS keys).
            :default: - none besides ``Tags.of``
        :param removal_policy: What happens to the keys on stack delete: DESTROY schedules the KMS
            keys' deletion (KMS waits 30 days) and deletes the IVS public keys, which ends every
            token they signed. :default: RemovalPolicy.DESTROY
        """
        super().__init__(scope, id)
        lifetime_minutes = _check_props(self, generation, compromised_generations, max_token_lifetime, public_key_name)
        self.generation: int = generation
        self.max_token_lifetime: Duration = Duration.minutes(lifetime_minutes)
        # The generations that may sign: the current one, and the previous one while signers switch.
        signing = [generation] + ([generation - 1] if generation > 1 and generation - 1 not in compromised_generations else [])
        self.keys: dict[int, kms.Key] = {number: self._kms_key(number, removal_policy) for number in signing}
        self.key: kms.Key = self.keys[generation]
        stack = Stack.of(self)
        self.ring_parameter_name: str = Fn.join("/", [key_ring.PARAMETER_PREFIX, Aws.STACK_NAME, self.node.addr])
        self.ring_parameter_arn: str = stack.format_arn(
            service="ssm",
            resource="parameter",
            resource_name=Fn.join("/", [key_ring.PARAMETER_PREFIX.strip("/"), Aws.STACK_NAME, self.node.addr]),
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        provider = IvsRealtimeProvider.of(self)
        provider.allow_signing_key_rings()
        # The custom resource that imports each generation's public key and retires the old ones
        # (ivsrt_runtime.key_ring); Tags.of reaches it, and it tags the public keys.
        self._ring = TaggableCustomResource(
            self,
            "Ring",
            TaggableCustomResourceProps(
                type=key_ring.RESOURCE_TYPE,
                properties={
                    "ServiceToken": provider.manage(rules.PUBLIC_KEY),
                    key_ring.PARAMETER_NAME: self.ring_parameter_name,
                    key_ring.GENERATION: generation,
                    key_ring.KMS_KEY_ARN: self.key.key_arn,
                    key_ring.MAX_TOKEN_LIFETIME: lifetime_minutes * 60,
                    key_ring.COMPROMISED: sorted(compromised_generations),
                    key_ring.PUBLIC_KEY_NAME: public_key_name
                    or generated_name(scope, id, max_length=MAX_NAME_LENGTH, separator="-"),
                },
                tags_property=TAGS_PROPERTY,
                initial_tags=dict(tags or {}),
                removal_policy=removal_policy,
            ),
        )
        self.key.grant(provider.role, "kms:GetPublicKey")
        self._retirement(stack)

    def _kms_key(self, number: int, removal_policy: RemovalPolicy) -> kms.Key:
        return kms.Key(
            self,
            f"KeyGeneration{number}",
            key_spec=kms.KeySpec.ECC_NIST_P384,
            key_usage=kms.KeyUsage.SIGN_VERIFY,
            description=f"constructs_ivsrt: signs IVS Real-Time tokens (generation {number})",
            removal_policy=removal_policy,
        )

    def _retirement(self, stack: Stack) -> None:
        """The hourly function that deletes the public keys whose tokens have all expired."""
        scheduled = scheduled_function(
            self,
            "Retirement",
            entry=entries.RETIRE_KEYS,
            description="constructs_ivsrt: deletes a signing key's public keys once their tokens have expired",
            schedule=RETIREMENT_SCHEDULE,
            rule_description="constructs_ivsrt: retires a signing key's superseded public keys",
            timeout=Duration.seconds(key_ring.RETIRE_SECONDS + 30),
            environment={key_ring.PARAMETER_ENV: self.ring_parameter_name},
        )
        self.retirement_function: lambda_.Function = scheduled.function
        role = scheduled.role
        role.add_to_policy(
            iam.PolicyStatement(actions=["ssm:GetParameter", "ssm:PutParameter"], resources=[self.ring_parameter_arn])
        )
        public_keys = stack.format_arn(
            service="ivs", resource="public-key", resource_name="*", arn_format=ArnFormat.SLASH_RESOURCE_NAME
        )
        role.add_to_policy(iam.PolicyStatement(actions=["ivs:DeletePublicKey"], resources=[public_keys]))
        _acknowledge(
            role,
            [
                (
                    _wildcard_finding(stack, public_keys),
                    "IVS assigns public key ids at import, after this policy is made; the statement is limited "
                    "to deleting public keys in this account and region, which the function does only for the "
                    "generations its ring lists once their tokens have expired.",
                )
            ],
        )

    @property
    def key_arn(self) -> str:
        """The current generation's KMS key ARN."""
        return self.key.key_arn

    @property
    def public_key_arn(self) -> str:
        """The current generation's IVS public key ARN: its tokens' ``kid``."""
        return Token.as_string(self._ring.get_att("PublicKeyArn"))

    @property
    def fingerprint(self) -> str:
        """The current generation's IVS public key fingerprint, as IVS reports it."""
        return Token.as_string(self._ring.get_att("Fingerprint"))

    def grant_sign(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow signing tokens: ``kms:Sign`` with the generations that may sign (the current one
        and the previous one) and reading the ring parameter that names the current one. The
        grant is in place before the ring switches generations (``Grant.apply_before``)."""
        sign = [key.grant(grantee, "kms:Sign") for key in self.keys.values()]  # the current generation's first
        read = iam.Grant.add_to_principal(grantee=grantee, actions=["ssm:GetParameter"], resource_arns=[self.ring_parameter_arn])
        grant = functools.reduce(iam.Grant.combine, [*sign, read])
        grant.apply_before(self._ring)
        return grant

    def grant_revoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``ivs:RevokeConnectionToken``: whatever revokes the connection tokens this key
        signs (``ivsrt_runtime.revocation.revoke_connection_token``). Participant tokens cannot be
        revoked.

        On resource ``*``: the request names only a token id, and which resource type (if any)
        the Service Authorization Reference lists for this action could not be checked offline.
        A statement on the account's public keys would be denied if the action allows no
        resource-level permission; ``*`` is the least that works either way, and the action
        does nothing but revoke a connection token."""
        return iam.Grant.add_to_principal(grantee=grantee, actions=["ivs:RevokeConnectionToken"], resource_arns=["*"])

    def add_to_function(self, function: lambda_.Function, *, stages: Sequence[Stage]) -> iam.Grant:
        """Let your own Python ``function`` sign participant tokens for ``stages`` with this key,
        and returns its ``kms:Sign`` grant. Its code then calls::

            from ivsrt_runtime.signer import sign_token
            signed = sign_token(user_id="ada")  # stage_arn=... when it signs for several stages

        The function gets the stack's signer layer (``ivsrt_runtime``, which needs only the boto3
        of Lambda's Python runtimes), the environment ``ivsrt_runtime.signer`` reads (this key's
        ring parameter, which names the generation that signs; each stage's ARN and endpoints) and
        ``grant_sign``. No IVS
        permission: a token is one ``kms:Sign`` call. Wire a function once.

        :param function: A Lambda function with a Python runtime.
        :param stages: The stages it signs for (at least one): ``Stage`` constructs, whose
            endpoints (which a token names) the template knows.
        """
        checker = PropChecker(self)
        checker.problems += [
            f"add_to_function: {problem}"
            for problem in type_problems("function", function, lambda_.Function) + _stage_problems(stages)
        ]
        checker.raise_if_any()
        runtime = function.runtime
        checker.require(
            runtime.family == lambda_.RuntimeFamily.PYTHON,
            f"add_to_function: function must have a Python runtime, got: {runtime.name} ({function.node.path})",
        )
        checker.require(len(stages) > 0, "add_to_function: stages must name at least one stage, got: []")
        wired = _wired.get(function)
        checker.require(
            wired is None,
            f"add_to_function: {function.node.path} is wired to sign already (by {wired}): "
            "wire a function once, with all its stages",
        )
        checker.raise_if_any()
        _wired[function] = self.node.path
        function.add_layers(_signer_layer(Stack.of(function)))
        function.add_environment(key_ring.PARAMETER_ENV, self.ring_parameter_name)
        function.add_environment(
            signer.STAGES_ENV,
            Stack.of(function).to_json_string(
                [{"arn": stage.stage_arn, "whip": stage.endpoints.whip, "events": stage.endpoints.events} for stage in stages]
            ),
        )
        return self.grant_sign(function)


def _stage_problems(stages: Sequence[Stage]) -> list[str]:
    """``stages`` as add_to_function needs them; an imported stage is named as such, since its
    type alone would not say why it cannot serve."""
    if isinstance(stages, (list, tuple)):
        imported = [
            f"stages[{index}] must be a Stage of this app (a token names the stage's endpoints, which "
            f"an imported stage does not have), got: an imported stage, {stage.stage_arn}"
            for index, stage in enumerate(stages)
            if isinstance(stage, StageBase) and not isinstance(stage, Stage)
        ]
        if imported:
            return imported
    return type_problems("stages", stages, Sequence[Stage])


def _signer_layer(stack: Stack) -> lambda_.ILayerVersion:
    """The stack's layer of ``ivsrt_runtime`` (under ``python/``), made on first use."""
    found = stack.node.try_find_child(SIGNER_LAYER_ID)
    if found is not None:
        if not isinstance(found, lambda_.LayerVersion):
            raise IvsRealtimeValidationError(f"{stack.node.path}: {SIGNER_LAYER_ID} is taken by another construct")
        return found
    return lambda_.LayerVersion(
        stack,
        SIGNER_LAYER_ID,
        code=lambda_.Code.from_asset(str(signer_layer_dir()), exclude=ASSET_EXCLUDES),
        description="constructs_ivsrt: ivsrt_runtime, to sign IVS Real-Time participant tokens",
    )


# The public keys' names get "-g<generation>" (up to 8 characters) within the API's 128.
MAX_NAME_LENGTH = 120
MAX_LIFETIME_MINUTES = key_ring.LONGEST_TOKEN_SECONDS // 60


def _check_props(
    scope: Construct, generation: int, compromised: Sequence[int], lifetime: Duration | None, name: str | None
) -> int:
    """The props' rules (@typed_props checked their types, but for a scalar's: a bool is an int to
    Python, a str is refused here); the lifetime in whole minutes."""
    checker = PropChecker(scope)
    if not _is_whole(generation):
        checker.problems.append(f"generation must be a whole number (1, 2, ...), got: {generation!r}")
        checker.raise_if_any()
    checker.require(generation >= 1, f"generation must be 1 or more, got: {generation}")
    for number in compromised:
        checker.require(
            _is_whole(number) and number >= 1 and number != generation,
            f"compromised_generations must name generations other than the one that signs (1 or more, not "
            f"{generation}), got: {number!r}",
        )
    checker.require(
        len(set(compromised)) == len(compromised),
        f"compromised_generations must not repeat a generation, got: {list(compromised)}",
    )
    if name is not None and not Token.is_unresolved(name):
        # The API's rule for a public key's name (the model's), with the room "-g<generation>" takes.
        checker.check("public_key_name", name, rules.PUBLIC_KEY.property_shape("name"))
        checker.require(
            len(name) <= MAX_NAME_LENGTH,
            f"public_key_name must be at most {MAX_NAME_LENGTH} characters (the generation is appended), got: {name!r}",
        )
    minutes = MAX_LIFETIME_MINUTES
    if lifetime is not None:
        checker.require(not lifetime.is_unresolved(), "max_token_lifetime must be known at synth, got: a deploy-time value")
        checker.raise_if_any()
        exact = lifetime.to_seconds(integral=False) / 60
        checker.require(
            exact.is_integer() and 1 <= exact <= MAX_LIFETIME_MINUTES,
            f"max_token_lifetime must be whole minutes from 1 minute to 28 days (the longest token IVS accepts), "
            f"got: {lifetime.to_human_string()}",
        )
        minutes = int(exact)
    checker.raise_if_any()
    return minutes


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
