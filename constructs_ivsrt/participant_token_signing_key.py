"""``ParticipantTokenSigningKey``: a KMS key that signs participant tokens, its public half in IVS."""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence

import jsii
from aws_cdk import ITaggable, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from constructs_ivsrt._asset import ASSET_EXCLUDES, signer_layer_dir
from constructs_ivsrt._fields import api
from constructs_ivsrt._types import type_problems, typed_props
from constructs_ivsrt._validation import IvsRealtimeValidationError, PropChecker
from constructs_ivsrt.public_key import PublicKeyBase
from constructs_ivsrt.resource import ManagedResource
from constructs_ivsrt.stage import Stage, StageBase
from ivsrt_runtime import rules, signer

# The stack's one layer of ivsrt_runtime for functions that sign (part of the public contract:
# renaming it replaces the layer).
SIGNER_LAYER_ID = "IvsRealtimeSignerLayer"
# The functions add_to_function has wired, and the path of the key each signs with (weakly, beside
# the functions rather than in their jsii proxies' ``__dict__``).
_wired: weakref.WeakKeyDictionary[lambda_.Function, str] = weakref.WeakKeyDictionary()


@jsii.implements(ITaggable)
class _PublicKeyFromKms(ManagedResource, PublicKeyBase):
    """The IVS public key whose material the provider reads from a KMS key (kms:GetPublicKey):
    the same resource type as ``PublicKey``, named by the key's ARN instead of its PEM."""

    public_key_name: str = api("name")

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        key: kms.Key,
        public_key_name: str | None,
        tags: Mapping[str, str] | None,
        removal_policy: RemovalPolicy,
    ) -> None:
        self._manage(scope, id, locals(), extra={rules.KMS_KEY_PROPERTY: key.key_arn})
        key.grant(self._provider.role, "kms:GetPublicKey")


class ParticipantTokenSigningKey(Construct):
    """A KMS key (ECC_NIST_P384, SIGN_VERIFY) that signs participant tokens, and its public half
    imported into IVS (``ImportPublicKey``), which verifies the tokens when participants join.

    The private key never leaves KMS: tokens are signed with ``kms:Sign`` (by
    ``ParticipantTokenVendor(..., signing_key=key)``, your own function wired with
    ``add_to_function``, or ``ivsrt_runtime.signing.sign_participant_token``), and no IVS call is
    made per token, so joins are not held to ``CreateParticipantToken``'s 50 calls a second.

    IVS keys do not expire, and deleting the public key invalidates every token signed with it.
    To rotate, add a second signing key, sign with it, and remove the first once its tokens have
    expired. A new key replaces the public key (a new ARN). The account holds at most 3 public
    keys in a region (not adjustable).
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        public_key_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
    ) -> None:
        """
        :param public_key_name: The IVS public key's name (letters, digits, ``-``, ``_``; at most 128).
            :default: - generated from the construct path
        :param tags: Tags of the IVS public key (``Tags.of(scope)`` adds to them, and to the KMS key).
            :default: - none besides ``Tags.of``
        :param removal_policy: What happens to both keys on stack delete: DESTROY schedules the KMS
            key's deletion (KMS waits 30 days) and deletes the IVS public key, which ends every
            token signed with it. :default: RemovalPolicy.DESTROY
        """
        super().__init__(scope, id)
        self.key: kms.Key = kms.Key(
            self,
            "Key",
            key_spec=kms.KeySpec.ECC_NIST_P384,
            key_usage=kms.KeyUsage.SIGN_VERIFY,
            description="constructs_ivsrt: signs IVS Real-Time participant tokens",
            removal_policy=removal_policy,
        )
        self._public_key = _PublicKeyFromKms(
            self, "PublicKey", key=self.key, public_key_name=public_key_name, tags=tags, removal_policy=removal_policy
        )

    @property
    def key_arn(self) -> str:
        """The KMS key's ARN: what ``kms:Sign`` is called with."""
        return self.key.key_arn

    @property
    def public_key_arn(self) -> str:
        """The IVS public key's ARN: a signed token's ``kid``."""
        return self._public_key.public_key_arn

    @property
    def fingerprint(self) -> str:
        """The IVS public key's fingerprint, as IVS reports it."""
        return self._public_key._attribute("Fingerprint")

    def grant_sign(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``kms:Sign`` with the key: whatever mints tokens (a backend, a vendor function)."""
        return self.key.grant(grantee, "kms:Sign")

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
        ARN, the public key's ARN, each stage's ARN and endpoints) and ``grant_sign``. No IVS
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
        function.add_environment(signer.SIGNING_KEY_ENV, self.key_arn)
        function.add_environment(signer.PUBLIC_KEY_ENV, self.public_key_arn)
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
