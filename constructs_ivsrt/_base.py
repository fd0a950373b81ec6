"""What every IVS Real-Time L2 shares: the custom resource, tags, removal policy, validation."""

from __future__ import annotations

import contextlib
import enum
from typing import Any
from collections.abc import Callable, Iterator, Mapping

import jsii
from aws_cdk import (
    Annotations,
    CustomResource,
    RemovalPolicy,
    Resource,
    Stack,
    TagManager,
    TagType,
    Token,
)
from aws_cdk import aws_iam as iam
from botocore.model import Shape
from constructs import Construct, IValidation

from ivsrt_runtime import rules
from constructs_ivsrt._provider import IvsRealtimeProvider


class IvsRealtimeValidationError(ValueError):
    """A prop breaks a rule of the IVS Real-Time API; the message names path, prop, rule, value."""


# Every encoded CDK token carries one of these markers (strings "${Token[...]}", list elements
# "#{Token[...]}") or, for numbers, a magnitude no real prop has (about -1.9e289). Checking that
# in Python first saves a jsii round trip per validated value; Token.is_unresolved decides.
_TOKEN_MARKER = "Token["
_NUMBER_TOKEN_MAGNITUDE = 1e280


def is_unresolved(value: Any) -> bool:
    """True for CDK tokens (strings, numbers, lists), whose value is unknown until deployment."""
    if isinstance(value, str):
        return _TOKEN_MARKER in value and Token.is_unresolved(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return abs(value) > _NUMBER_TOKEN_MAGNITUDE and Token.is_unresolved(value)
    if isinstance(value, (list, tuple)):  # a list token: ["#{Token[...]}"]
        return any(isinstance(item, str) and _TOKEN_MARKER in item for item in value) and Token.is_unresolved(list(value))
    return False


class PropChecker:
    """Collects rule violations for one construct, then raises them as one error.

    ``child_id`` names a construct about to be made under ``scope`` (an import by ARN), so the
    message names its path rather than its parent's.
    """

    def __init__(self, scope: Construct, child_id: str | None = None) -> None:
        self._scope, self._child_id = scope, child_id  # the path is read only on error (a jsii call)
        self.problems: list[str] = []

    def check(self, label: str, value: Any, shape: Shape) -> PropChecker:
        if value is not None:
            self.problems += rules.check(shape, value, label, is_unresolved=is_unresolved)
        return self

    def require(self, condition: bool, problem: str) -> PropChecker:
        """A rule that spans props (the model describes members one at a time)."""
        if not condition:
            self.problems.append(problem)
        return self

    def raise_if_any(self) -> None:
        if self.problems:
            path = self._scope.node.path + (f"/{self._child_id}" if self._child_id else "")
            raise IvsRealtimeValidationError("\n".join(f"{path}: {problem}" for problem in self.problems))


@contextlib.contextmanager
def on_path(scope: Construct) -> Iterator[None]:
    """Errors raised while props are converted (a Duration that cannot be) name the construct."""
    try:
        yield
    except IvsRealtimeValidationError as error:
        raise IvsRealtimeValidationError(f"{scope.node.path}: {error}") from None


def seconds(duration: Any) -> Any:
    """A Duration in seconds (None stays None); tokens pass through to be skipped.

    Not rounded and not forced whole (``to_seconds()`` would raise its own error for 1.5 s):
    the model's rule then says "must be a whole number, got: 1.5".
    """
    if duration is None:
        return None
    if duration.is_unresolved():
        # Known only at deploy time; the API checks it then. CDK can convert it only from seconds.
        if duration.unit_label() != "seconds":
            raise IvsRealtimeValidationError(
                "a Duration made from a deploy-time value must use Duration.seconds(), "
                f"got: Duration.{duration.unit_label()}(<token>)")
        return duration.to_seconds()
    value = duration.to_seconds(integral=False)
    return int(value) if float(value).is_integer() and not is_unresolved(value) else value


def enum_value(member: Any) -> Any:
    """An enum member's API value; anything else (a plain string, a token) as it is."""
    return member.value if isinstance(member, enum.Enum) else member


def present(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` without the unset ones: the API's defaults apply to those."""
    return {key: value for key, value in fields.items() if value is not None}


class IvsRealtimeResourceBase(Resource):
    """An imported or managed IVS Real-Time resource: ARN, environment and grants."""

    _arn: str

    def grant(self, grantee: iam.IGrantable, *actions: str) -> iam.Grant:
        """Allow ``grantee`` the IAM ``actions`` (``"ivs:GetStage"``, ...) on this resource's ARN;
        the ``grant_*`` methods are this with their actions named."""
        checker = PropChecker(self)
        checker.require(hasattr(grantee, "grant_principal"), f"grant's grantee must be an iam.IGrantable, got: {grantee!r}")
        checker.require(bool(actions) and all(isinstance(a, str) and ":" in a for a in actions),
                        f"grant's actions must be one or more IAM actions such as 'ivs:GetStage', got: {actions!r}")
        checker.raise_if_any()
        return iam.Grant.add_to_principal(grantee=grantee, actions=list(actions), resource_arns=[self._arn])


def import_arn(scope: Construct, id: str, arn: str, resource_rules: Any, label: str, cls: type) -> Any:
    """``from_<resource>_arn``: check the ARN against the type's rule, then make the import."""
    checker = PropChecker(scope, id).require(arn is not None, f"{label} is required, got: None")
    checker.check(label, arn, resource_rules.arn_shape).raise_if_any()
    imported = cls(scope, id, environment_from_arn=arn)
    imported._arn = arn
    return imported


class ManagedMixin:
    """What every managed L2 exposes of its custom resource: tags and removal policy."""

    _managed: ManagedResource

    @property
    def tags(self) -> TagManager:
        """The resource's tags; ``Tags.of(scope)`` on any scope above it adds to them."""
        return self._managed.tags

    def apply_removal_policy(self, policy: RemovalPolicy) -> None:
        self._managed.apply_removal_policy(policy)

    @property
    def removal_policy(self) -> RemovalPolicy:
        """What happens to the resource when it leaves the stack (the last policy applied)."""
        return self._managed.removal_policy


class ManagedResource:
    """The custom resource behind a managed L2, with its tags and removal policy.

    Tags: the owner is ITaggable with a TagManager; ``Tags.of(scope).add(...)`` on any scope above
    it lands in that manager, and its rendered tags are the resource's ``tags`` property, as
    CloudFormation's ``[{"Key": ..., "Value": ...}]`` list: a key known only at deploy time (a
    parameter) could not be a key of a JSON object. The handler reads it back as the API's map.
    """

    def __init__(
        self,
        owner: Resource,
        rules_: Any,
        properties: Mapping[str, Any],
        tags: Mapping[str, str] | None,
        removal_policy: RemovalPolicy,
    ) -> None:
        self.tags = TagManager(TagType.KEY_VALUE, rules_.resource_type, dict(tags or {}))
        self._owner = owner
        provider = IvsRealtimeProvider.of(owner)
        self.resource = CustomResource(
            owner,
            "Resource",
            service_token=provider.manage(rules_),
            resource_type=rules_.resource_type,
            properties={**{k: v for k, v in properties.items() if v is not None},
                        rules.TAGS_PROPERTY: self.tags.rendered_tags},
        )
        self.removal_policy = RemovalPolicy.DESTROY
        self.apply_removal_policy(removal_policy)
        self.provider = provider
        self.synth_checks: list[Callable[[], None]] = []  # run at synth, after every Aspect (warnings)
        owner.node.add_validation(_SynthValidation(owner, self.tags, self.synth_checks))

    def apply_removal_policy(self, policy: RemovalPolicy) -> None:
        if policy == RemovalPolicy.SNAPSHOT:
            Annotations.of(self._owner).add_warning_v2(
                "constructs-ivsrt:snapshotRemovalPolicy",
                "RemovalPolicy.SNAPSHOT means nothing for an IVS Real-Time resource (there is no snapshot of "
                "it): the resource is deleted, as with RemovalPolicy.DESTROY")
            policy = RemovalPolicy.DESTROY
        self.removal_policy = policy
        self.resource.apply_removal_policy(policy)

    def attribute(self, name: str) -> str:
        return self.resource.get_att_string(name)


@jsii.implements(IValidation)
class _SynthValidation:
    """What can only be checked at synth: the tags (they arrive through Aspects after
    construction) and the resource's own ``synth_checks``. A tag key or value known only at
    deploy time (it resolves to ``Ref`` or another intrinsic) is left to the handler, which
    checks it with the same rules once CloudFormation resolved it."""

    def __init__(self, owner: Construct, tags: TagManager, synth_checks: list[Callable[[], None]]) -> None:
        self._owner, self._tags, self._synth_checks = owner, tags, synth_checks

    def validate(self) -> list[str]:
        # Also the resource's own synth-time checks: they need the removal policies as every
        # Aspect left them, and riding this callback costs no jsii round trip of its own (an
        # Aspect per resource made synth a quarter slower).
        for check in self._synth_checks:
            check()
        rendered = Stack.of(self._owner).resolve(self._tags.rendered_tags) or []
        # A deploy-time key or value resolves to an intrinsic ({"Ref": ...}): that half stands in
        # as a valid placeholder, so the other half and the count are still checked.
        concrete = {(tag["Key"] if not isinstance(tag["Key"], dict) else f"deploy-time-key-{index}"):
                    (tag["Value"] if not isinstance(tag["Value"], dict) else "deploy-time-value")
                    for index, tag in enumerate(rendered)}
        # CDK prefixes each message with "[<construct path>]".
        return rules.check_tags(concrete, "tags")
