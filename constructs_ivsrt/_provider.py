"""The per-stack custom-resource provider: one Lambda (``lambda/handler.py``) behind aws-cdk-lib's
Provider framework, found or created under a fixed id on the stack."""

from __future__ import annotations

import datetime
import typing
import weakref
from collections.abc import Callable
from typing import Any

import jsii
from aws_cdk import Acknowledgment, ArnFormat, Aws, Duration, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct, IConstruct, IValidation, Node

from constructs_ivsrt._functions import lambda_role, runtime_function
from constructs_ivsrt._native import SharedProperties, TaggableCustomResource
from constructs_ivsrt._regions import Place
from constructs_ivsrt._validation import IvsRealtimeValidationError
from ivsrt_runtime import deployment, desired, entries, key_ring, rules, validation

PROVIDER_ID = "IvsRealtimeProvider"  # part of the public contract: renaming it replaces the provider
# The provider of each scope asked (its stack's): a jsii lookup per resource adds up in stacks
# with hundreds of stages. Weak keys: a construct tree that is dropped takes its entries along.
_providers: weakref.WeakKeyDictionary[IConstruct, IvsRealtimeProvider] = weakref.WeakKeyDictionary()

# What IVS needs from the caller of CreateStorageConfiguration: the service reads the bucket and
# edits its policy on the caller's behalf (see StorageConfiguration).
STORAGE_BUCKET_ACTIONS = ("s3:GetBucketLocation", "s3:GetBucketPolicy", "s3:PutBucketPolicy")

# How long CloudFormation waits for an asynchronous resource (a composition becoming ACTIVE or
# STOPPED) before the framework fails it, and how often it looks.
SETTLE_TIMEOUT = Duration.minutes(15)
SETTLE_QUERY_INTERVAL = Duration.seconds(5)


def handler_actions(resource: rules.ResourceRules) -> tuple[str, ...]:
    """Exactly the calls ivsrt_runtime.lifecycle makes on one resource type's ARNs (tests/test_iam.py
    checks this against every call the handler makes at the local endpoint)."""
    return tuple(f"ivs:{operation}" for operation in resource.operations) + ("ivs:TagResource", "ivs:UntagResource")


def list_actions(resource: rules.ResourceRules) -> tuple[str, ...]:
    """Lists find the handler's own resources by their identity tag (after a lost Create
    response, on a rollback). IVS List operations take no resource ARN, so they cannot be scoped."""
    # A delete that meets a conflict names what uses the resource (lifecycle.users_of): a List of
    # the using type, read-only and only on that error path.
    used_by = (f"ivs:{resource.in_use_by.user.list_operation}",) if resource.in_use_by else ()
    return (f"ivs:{resource.list_operation}",) + used_by


# Everything the handler may be granted, over every type (what tests compare calls against).
# The desired-state parameters the handler keeps for the drift detector (ivsrt_runtime.desired),
# on the stack's own path only.
DESIRED_STATE_ACTIONS = ("ssm:PutParameter", "ssm:GetParameter", "ssm:DeleteParameter")
# An adopting Create asks which stack resource holds the ARN (ivsrt_runtime.adopt.holder_of).
ADOPTION_ACTION = "cloudformation:DescribeStackResources"

HANDLER_ACTIONS: tuple[str, ...] = tuple(dict.fromkeys(a for r in rules.RESOURCES.values() for a in handler_actions(r)))
LIST_ACTIONS: tuple[str, ...] = tuple(dict.fromkeys(a for r in rules.RESOURCES.values() for a in list_actions(r)))


class IvsRealtimeProvider(Construct):
    """Use ``IvsRealtimeProvider.of(scope)``; a stack has at most one.

    One handler function serves every resource type. Its policy grows with the types the stack
    declares (``manage``), so a stack of stages may touch nothing but stages. Asynchronous types
    (a composition) get a second framework entry, with the Provider framework's isComplete
    waiter, created only when the stack has one: the waiter's state machine is not something a
    stack of stages should carry.
    """

    @classmethod
    def of(cls, scope: IConstruct) -> IvsRealtimeProvider:
        """The provider of ``scope``'s stack, made on first use (remembered in ``_providers``)."""
        cached = _providers.get(scope)
        if cached is None:
            stack = Stack.of(scope)
            cached = _providers.get(stack)
            if cached is None:
                found = typing.cast("IvsRealtimeProvider | None", stack.node.try_find_child(PROVIDER_ID))
                cached = found or cls(stack, PROVIDER_ID)
                _providers[stack] = cached
            _providers[scope] = cached
        return cached

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        self._stack = Stack.of(self)
        # Where the stack is: every managed resource is there (read once, for the region checks).
        self.place = Place(self._stack.region, self._stack.account)
        # The reconcile value every managed resource of the stack carries (None: none), from the
        # context, read once per stack (docs/guide.md, "Drift"); reconcile_on_deploy sets it too.
        self.reconcile: str | None = None
        # What every managed resource renders besides its own properties: the reconcile value.
        self.shared_properties = SharedProperties()
        self._reconcile_with(_reconcile_value(self.node))
        # Own roles that may write only to their own log groups, instead of the managed
        # AWSLambdaBasicExecutionRole (logs:* on every log group).
        self._handler_logs = handler_logs = logs.LogGroup(self, "OnEventLogs", retention=logs.RetentionDays.ONE_YEAR)
        self.role: iam.Role = lambda_role(self, "OnEventRole", handler_logs)
        self.on_event_function: lambda_.Function = self._handler_function("OnEvent", entries.ON_EVENT)
        self._list_statement = iam.PolicyStatement(actions=[], resources=["*"])
        self._managed: set[str] = set()
        self._adopting = False
        self._keeping_rings = False
        framework = self._framework("", is_complete=None)
        self.service_token: str = framework.service_token  # read once: every managed resource asks
        self._async_service_token: str | None = None
        self.resources: ManagedResources = ManagedResources(self._stack)
        self._stack.node.add_validation(self.resources)
        _acknowledge(
            self.role,
            [
                (
                    "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                    "IVS List operations support no resource-level permissions; they are read-only and used to "
                    "find the handler's own resources by tag (and the stages using a storage configuration).",
                )
            ],
        )

    def reconcile_on_deploy(self) -> None:
        """Bring every managed resource of this stack back to its desired state on each deploy,
        even when its template did not change: each gets the property ``reconcile`` set to the
        time of the synth, so CloudFormation sends each an Update in which only it changed (one
        Get per resource when nothing drifted; see docs/guide.md, "Reconcile on every deploy").
        The context ``constructs-ivsrt:reconcile-on-deploy=true`` does the same for every stack
        of an app. A ``constructs-ivsrt:reconcile`` token, when given, is the value instead."""
        if self.reconcile is None:
            self._reconcile_with(_synth_time())

    def _reconcile_with(self, value: str | None) -> None:
        if value is not None:
            self.reconcile = value
            self.shared_properties.set(rules.RECONCILE_PROPERTY, value)

    def manage(self, resource: Any) -> str:
        """Allow the handler the calls it makes on ``resource``'s type (once per type); returns the
        service token its custom resources use."""
        if resource.noun not in self._managed:
            self._managed.add(resource.noun)
            if len(self._managed) == 1:
                self.on_event_function.add_to_role_policy(self._list_statement)
                self._allow_desired_state()
            self._list_statement.add_actions(*(a for a in list_actions(resource) if a not in self._list_statement.actions))
            self._allow(handler_actions(resource), resource.arn_segment)
            for segment in resource.create_uses:
                self._allow((f"ivs:{resource.create_operation}",), segment)
            if resource.in_use_by is not None:
                used_by = resource.in_use_by.user
                self._allow((f"ivs:{used_by.get_operation}",), used_by.arn_segment)
        return self.async_service_token if resource.settling else self.service_token

    @property
    def managed_types(self) -> tuple[rules.ResourceRules, ...]:
        """The resource types this stack declares (``manage`` was asked for), in ``rules.RESOURCES``
        order (DriftWatch's policy names these)."""
        return tuple(r for r in rules.RESOURCES.values() if r.noun in self._managed)

    def _allow(self, actions: tuple[str, ...], arn_segment: str) -> None:
        arn = self._stack.format_arn(
            service="ivs", resource=arn_segment, resource_name="*", arn_format=ArnFormat.SLASH_RESOURCE_NAME
        )
        self.on_event_function.add_to_role_policy(iam.PolicyStatement(actions=list(actions), resources=[arn]))
        _acknowledge(
            self.role,
            [
                (
                    _wildcard_finding(self._stack, arn),
                    "IVS assigns resource ids at creation, so the handler cannot name them in advance; the "
                    f"statement is limited to {arn_segment} ARNs in this account and region and to "
                    "the calls the handler makes.",
                )
            ],
        )

    def _allow_desired_state(self) -> None:
        """Let the handler write and remove its stack's desired-state parameters, and no others."""
        self._allow_parameters(
            desired.PREFIX,
            "One desired-state parameter per managed resource, named by its logical id: the statement is "
            "limited to this stack's own path under /constructs-ivsrt/desired/ in this account and region.",
        )

    def allow_signing_key_rings(self) -> None:
        """Let the handler keep its stack's signing key rings (``ParticipantTokenSigningKey``), and no
        other parameters."""
        if not self._keeping_rings:
            self._keeping_rings = True
            self._allow_parameters(
                key_ring.PARAMETER_PREFIX,
                "One parameter per signing key, named by its construct: the statement is limited to this "
                "stack's own path under /constructs-ivsrt/signing-keys/ in this account and region.",
            )

    def _allow_parameters(self, prefix: str, reason: str) -> None:
        arn = parameter_path_arn(self._stack, prefix)
        self.on_event_function.add_to_role_policy(iam.PolicyStatement(actions=list(DESIRED_STATE_ACTIONS), resources=[arn]))
        _acknowledge(self.role, [(_wildcard_finding(self._stack, arn), reason)])

    @property
    def async_service_token(self) -> str:
        """The framework entry with the isComplete waiter (created on first use)."""
        if self._async_service_token is None:
            is_complete = self._handler_function("IsComplete", entries.IS_COMPLETE)
            self._async_service_token = self._framework("Async", is_complete=is_complete).service_token
        return self._async_service_token

    def allow_adoption(self) -> None:
        """Let the handler ask CloudFormation which stack resource holds an ARN to adopt (a resource
        carrying another stack resource's identity tag is free only once no stack holds it)."""
        if not self._adopting:
            self._adopting = True
            self.on_event_function.add_to_role_policy(iam.PolicyStatement(actions=[ADOPTION_ACTION], resources=["*"]))
            _acknowledge(
                self.role,
                [
                    (
                        "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                        "IVS List operations support no resource-level permissions; they are read-only and used to "
                        "find the handler's own resources by tag (and the stages using a storage configuration). "
                        "cloudformation:DescribeStackResources by physical id names no stack in advance (adopt_arn: "
                        "which stack, if any, still holds the resource); read-only.",
                    )
                ],
            )

    def allow_bucket_policy_edits(self, bucket_arn: str) -> None:
        """Let the handler create a storage configuration on this bucket, and no other."""
        self.on_event_function.add_to_role_policy(
            iam.PolicyStatement(actions=list(STORAGE_BUCKET_ACTIONS), resources=[bucket_arn])
        )

    def _handler_function(self, id: str, entry: str) -> lambda_.Function:
        return runtime_function(
            self,
            id,
            entry=entry,
            description="constructs_ivsrt: creates, updates, tags and deletes IVS Real-Time resources",
            # Retries and conflict waits are bounded by the time left (see FUNCTION_TIMEOUT_SECONDS).
            timeout=Duration.seconds(deployment.FUNCTION_TIMEOUT_SECONDS),
            role=self.role,
            log_group=self._handler_logs,
        )

    def _framework(self, prefix: str, is_complete: lambda_.Function | None) -> cr.Provider:
        """aws-cdk-lib's Provider framework in front of the handler, with roles limited to their
        own log groups; with ``is_complete``, also its waiter state machine."""
        framework_logs = logs.LogGroup(self, f"{prefix}ProviderLogs", retention=logs.RetentionDays.ONE_YEAR)
        framework_role = lambda_role(self, f"{prefix}FrameworkRole", framework_logs)
        roles = [framework_role]
        waiter_options: dict[str, Any] = {}
        if is_complete is not None:
            # Imported here: only a stack with an asynchronous type (a composition) has a waiter,
            # and a fresh process pays for every aws-cdk-lib module it imports.
            from aws_cdk import aws_stepfunctions as sfn

            waiter_logs = logs.LogGroup(self, f"{prefix}WaiterLogs", retention=logs.RetentionDays.ONE_YEAR)
            # A role of its own: the onEvent role may start the state machine, which invokes these
            # functions, which would depend on that role again (a cycle) if they shared it.
            waiter_role = lambda_role(self, f"{prefix}WaiterRole", framework_logs)
            roles.append(waiter_role)
            waiter_options = dict(
                is_complete_handler=is_complete,
                framework_complete_and_timeout_role=waiter_role,
                query_interval=SETTLE_QUERY_INTERVAL,
                total_timeout=SETTLE_TIMEOUT,
                # Off by default in aws-cdk-lib. Execution data is left out: it holds the
                # resource's Data, a stream key among them.
                disable_waiter_state_machine_logging=False,
                waiter_state_machine_log_options=cr.LogOptions(
                    destination=waiter_logs, level=sfn.LogLevel.ALL, include_execution_data=False
                ),
            )
        provider = cr.Provider(
            self,
            f"{prefix}Provider",
            # Function and Role are their interfaces but for parameter names (see pyproject.toml).
            on_event_handler=self.on_event_function,  # pyright: ignore[reportArgumentType]  # jsii#4541
            framework_on_event_role=framework_role,  # pyright: ignore[reportArgumentType]  # jsii#4541
            log_group=framework_logs,
            # The framework logs each raw Invoke response, the handler's Data (a stream key)
            # included, as byte codes, which its NoEcho redaction does not cover. FATAL (also
            # aws-cdk-lib's default, set here so it cannot drift) keeps those lines out of
            # CloudWatch; the handler's own log group has every outcome.
            framework_lambda_logging_level=lambda_.ApplicationLogLevel.FATAL,
            **waiter_options,
        )
        functions = [self.on_event_function] + ([is_complete] if is_complete is not None else [])
        for role in roles:
            _acknowledge(role, [_qualifier_wildcard(self._stack, function) for function in functions])
        if is_complete is not None:
            waiter = provider.node.find_child("waiter-state-machine")
            _acknowledge(
                waiter,
                [
                    _qualifier_wildcard(self._stack, typing.cast(lambda_.Function, provider.node.find_child(f"framework-{name}")))
                    for name in ("isComplete", "onTimeout")
                ]
                + [
                    (
                        "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                        "CloudWatch Logs delivery for Step Functions (logs:CreateLogDelivery and friends) "
                        "supports no resource-level permissions; aws-cdk-lib grants it for the waiter's logging.",
                    ),
                    (
                        "AwsSolutions::AwsSolutions-SF2",
                        "aws-cdk-lib's Provider framework offers no tracing option for its waiter state machine; "
                        "it only polls the isComplete function, whose logs are kept.",
                    ),
                ],
            )
        # The handler's policy must exist before CloudFormation sends it any event. Every custom
        # resource references the framework function (its ServiceToken), so one dependency here
        # orders them all, instead of a DependsOn on each resource.
        provider.node.find_child("framework-onEvent").node.add_dependency(self.role)
        return provider


def parameter_path_arn(stack: Stack, prefix: str) -> str:
    """The ARN of every parameter under ``prefix``/<stack name>/ in the stack's account and region."""
    return stack.format_arn(
        service="ssm",
        resource="parameter",
        resource_name=f"{prefix.strip('/')}/{Aws.STACK_NAME}/*",
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )


def _synth_time() -> str:
    """A reconcile value new on every synth: the time, to the microsecond (two synths of one app
    in a second differ too)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def _reconcile_value(node: Node) -> str | None:
    """The stack's reconcile value from the context: a ``constructs-ivsrt:reconcile`` token (the
    restore command's), else the synth time when ``constructs-ivsrt:reconcile-on-deploy`` is true
    (``--context`` passes it as the string "true"), else None: the template stays as it was.
    Any other value of ``constructs-ivsrt:reconcile-on-deploy`` than true or false fails the synth
    (a "yes" meaning off would go unnoticed)."""
    on_deploy = _on_deploy(node.try_get_context(rules.RECONCILE_ON_DEPLOY_CONTEXT))
    token = node.try_get_context(rules.RECONCILE_CONTEXT)
    if token is not None and str(token) != "":
        return str(token)
    return _synth_time() if on_deploy else None


def _on_deploy(value: Any) -> bool:
    """The context ``constructs-ivsrt:reconcile-on-deploy``: absent or false is off, true on; a
    boolean (cdk.json) or the string "true" / "false" in any case (``--context``)."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise IvsRealtimeValidationError(
        f"context {rules.RECONCILE_ON_DEPLOY_CONTEXT} must be true or false (a boolean, or the string "
        f'"true" or "false"), got: {value!r}'
    )


@jsii.implements(IValidation)
class ManagedResources:
    """The resources a provider manages, and their synth-time checks, run in one callback per
    stack (a callback per resource costs jsii round trips that add up in fleets).

    What can only be checked at synth: the tags, which arrive through Aspects after
    construction, and the checks a resource asks for (``at_synth``: those that read removal
    policies as every Aspect left them). A tag key or value known only at deploy time (it
    resolves to ``Ref`` or another intrinsic) stands in as a valid placeholder, so the other half
    and the count are still checked; the handler checks it with the same rules once
    CloudFormation resolved it.
    """

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._tagged: list[TaggableCustomResource] = []
        self._checks: list[Callable[[], None]] = []

    def add(self, resource: TaggableCustomResource) -> None:
        """A resource whose tags to check."""
        self._tagged.append(resource)

    def at_synth(self, check: Callable[[], None]) -> None:
        """Run ``check`` at synth, after every Aspect (``Tags.of``, removal policies)."""
        self._checks.append(check)

    def validate(self) -> list[str]:
        for check in self._checks:
            check()
        # One message for every resource's tags.
        rendered = TaggableCustomResource.resolved_tags_of(self._tagged) if self._tagged else []
        problems = []
        for resource, tags in zip(self._tagged, rendered, strict=True):
            concrete = {
                (tag["Key"] if not isinstance(tag["Key"], dict) else f"deploy-time-key-{index}"): (
                    tag["Value"] if not isinstance(tag["Value"], dict) else "deploy-time-value"
                )
                for index, tag in enumerate(tags or [])
            }
            found = validation.check_tags(concrete, "tags")
            if found:
                path = resource.node.path  # read only on error: a jsii call
                problems += [f"{path}: {problem}" for problem in found]
        return problems


def _qualifier_wildcard(stack: Stack, function: lambda_.Function) -> tuple[str | None, str]:
    return (
        _wildcard_finding(stack, f"{function.function_arn}:*"),
        "aws-cdk-lib's Provider framework may invoke a function's versions and aliases; the "
        "wildcard is the qualifier of this one function.",
    )


def _acknowledge(scope: IConstruct, findings: list[tuple[str | None, str]]) -> None:
    """Record why a policy-as-code finding (cdk-nag's AwsSolutions pack) is accepted here. A
    finding whose id could not be rendered (None) is left unacknowledged: cosmetic, never a
    reason to fail synth."""
    for finding, reason in findings:
        if finding is not None:
            Validations.of(scope).acknowledge(Acknowledgment(id=finding, reason=reason))


def _wildcard_finding(stack: Stack, arn: str) -> str | None:
    """The id cdk-nag gives a wildcard resource finding (AwsSolutions-IAM5), for this ARN; None
    when the ARN holds an intrinsic this does not render (cdk-nag's format is its own).

    cdk-nag names the resource as the template renders it, with references written ``<Name>``
    and attributes ``<Name.Attr>``; rendering the same way keeps the acknowledgment exact (it
    covers this ARN only) whatever the stack's environment.
    """

    def render(value: object) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and "Ref" in value:
            return f"<{value['Ref']}>"
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            return f"<{'.'.join(value['Fn::GetAtt'])}>"
        if isinstance(value, dict) and "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(render(part) for part in parts)
        raise ValueError(f"cannot render {value!r} as cdk-nag does")

    try:
        return f"AwsSolutions::AwsSolutions-IAM5[Resource::{render(stack.resolve(arn))}]"
    except ValueError:
        return None
