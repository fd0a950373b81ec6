"""``DriftWatch``: the drift detector (``ivsrt drift``) as a scheduled function over its own stack,
publishing CloudWatch metrics and an EventBridge event per drifted resource."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jsii
from aws_cdk import Annotations, ArnFormat, Aspects, Aws, Duration, IAspect, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

from constructs_ivsrt._functions import scheduled_function
from constructs_ivsrt._provider import PROVIDER_ID, _acknowledge, _wildcard_finding, list_actions
from constructs_ivsrt._regions import known
from constructs_ivsrt._types import typed_props
from constructs_ivsrt._validation import PropChecker
from constructs_ivsrt.metrics import MetricOptions, located
from ivsrt_runtime import desired, entries, rules
from ivsrt_runtime import drift_watch as runtime

if TYPE_CHECKING:  # typing.Unpack is Python 3.11+; annotations are not evaluated at run time
    from typing_extensions import Unpack

DEFAULT_SCHEDULE = Duration.hours(1)
# The metrics' longest period: CloudWatch evaluates an alarm over at most a day of periods.
MAX_METRIC_PERIOD_MINUTES = 24 * 60
NOTHING_TO_WATCH = "constructs-ivsrt:driftWatchNothingToWatch"

# What it publishes, for users to match: the names are the function's (ivsrt_runtime.drift_watch).
NAMESPACE: str = runtime.NAMESPACE
STACK_DIMENSION: str = runtime.STACK_DIMENSION
EVENT_SOURCE: str = runtime.EVENT_SOURCE
EVENT_DETAIL_TYPE: str = runtime.EVENT_DETAIL_TYPE


def watch_actions(resource: rules.ResourceRules, *, revert: bool, delete_orphans: bool) -> tuple[str, ...]:
    """The calls the detector makes on one type's ARNs: observe (its Get; ``ListTagsForResource``
    where a Get or a List summary has no tags), with ``revert`` the in-place correction (its
    Update, if the API has one, and the tag calls), with ``delete_orphans`` its Delete (Stop)."""
    operations = [resource.get_operation, "ListTagsForResource"]
    if revert:
        operations += [op for op in (resource.update_operation,) if op] + ["TagResource", "UntagResource"]
    if delete_orphans:
        operations.append(resource.delete_operation)
    return tuple(f"ivs:{operation}" for operation in operations)


class DriftWatch(Construct):
    """Checks its stack's IVS Real-Time resources against their recorded desired state on a
    schedule: the same detector as ``ivsrt drift``, in a Lambda function of this stack.

    Each run publishes, in the CloudWatch namespace ``constructs-ivsrt/Drift`` with the dimension
    ``StackName``, ``DriftedResources`` (resources MODIFIED or DELETED) and ``Orphans``, as found
    before any correction (``metric_drifted_resources``, ``metric_orphans``, ``add_drift_alarm``);
    and on the default event bus one event per drifted resource and per orphan, source
    ``constructs-ivsrt.drift``, detail-type ``IVS Real-Time Resource Drift`` (``on_drift``).

    Its role may read this stack (``cloudformation:DescribeStacks``, ``ListStackResources``,
    ``GetTemplate`` on the stack's id), its desired-state parameters, and the IVS resource types
    the stack declares; with ``revert`` or ``delete_orphans`` also correct them. A failed run
    fails the function (its ``Errors`` metric); the next run is the retry.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        schedule: Duration = DEFAULT_SCHEDULE,
        revert: bool = False,
        delete_orphans: bool = False,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
    ) -> None:
        """
        :param schedule: How often the stack is checked: whole minutes, at least 1 minute.
            :default: Duration.hours(1)
        :param revert: Put MODIFIED resources back in place (``Update<Type>``, ``TagResource``,
            ``UntagResource``), as ``ivsrt drift --revert``. What needs a new resource is only
            reported (an event's ``restore`` is the command).
            :default: false - report only
        :param delete_orphans: Delete the orphans found, as ``ivsrt drift --delete-orphans``.
            :default: false - report only
        :param log_retention: How long the function's log is kept.
            :default: RetentionDays.ONE_YEAR
        """
        super().__init__(scope, id)
        checker = PropChecker(self)
        for label, value in (("revert", revert), ("delete_orphans", delete_orphans)):
            checker.require(isinstance(value, bool), f"{label} must be true or false, got: {value!r}")
        checker.require(
            not schedule.is_unresolved(), "schedule must be known at synth (it is the rule's rate), got: a deploy-time value"
        )
        checker.raise_if_any()
        minutes = schedule.to_seconds(integral=False) / 60
        checker.require(
            minutes >= 1 and float(minutes).is_integer(),
            f"schedule must be whole minutes, at least 1 minute, got: {schedule.to_human_string()}",
        )
        checker.raise_if_any()
        self._stack = stack = Stack.of(self)
        self.revert, self.delete_orphans = revert, delete_orphans
        self.stack_name: str = stack.stack_name
        self._period = Duration.minutes(min(int(minutes), MAX_METRIC_PERIOD_MINUTES))

        scheduled = scheduled_function(
            self,
            "",
            entry=entries.DRIFT_CHECK,
            description="constructs_ivsrt: checks this stack's IVS Real-Time resources for drift",
            schedule=schedule,
            rule_description=f"constructs_ivsrt: drift check of {self.stack_name}",
            timeout=Duration.seconds(runtime.FUNCTION_TIMEOUT_SECONDS),
            environment={
                runtime.STACK_NAME_ENV: self.stack_name,
                runtime.REVERT_ENV: "true" if revert else "false",
                runtime.DELETE_ORPHANS_ENV: "true" if delete_orphans else "false",
            },
            log_retention=log_retention,
        )
        self.role: iam.Role = scheduled.role
        self.function: lambda_.Function = scheduled.function
        self.rule: events.Rule = scheduled.rule
        self._allow_reads()
        # The IVS types are known once the whole stack is: at synth (an aspect, before the template).
        Aspects.of(self).add(_AllowManagedTypes(self))

    # -- IAM ------------------------------------------------------------------------------------
    def _allow(self, actions: list[str], resources: list[str], **conditions: Any) -> None:
        self.function.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=resources, conditions=conditions or None))

    def _allow_reads(self) -> None:
        """The stack (its own id), its desired-state path, the metrics (its namespace), the events
        (the default bus)."""
        stack = self._stack
        self._allow(
            ["cloudformation:DescribeStacks", "cloudformation:ListStackResources", "cloudformation:GetTemplate"], [Aws.STACK_ID]
        )
        # GetParametersByPath is authorized on the path; the parameters under it are the stack's too.
        path = stack.format_arn(
            service="ssm",
            resource="parameter",
            resource_name=f"{desired.PREFIX.strip('/')}/{Aws.STACK_NAME}",
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        self._allow(["ssm:GetParametersByPath"], [path, f"{path}/*"])
        self._allow(["cloudwatch:PutMetricData"], ["*"], StringEquals={"cloudwatch:namespace": runtime.NAMESPACE})
        self._allow(
            ["events:PutEvents"],
            [
                stack.format_arn(
                    service="events", resource="event-bus", resource_name="default", arn_format=ArnFormat.SLASH_RESOURCE_NAME
                )
            ],
        )
        _acknowledge(
            self.role,
            [
                (
                    _wildcard_finding(stack, f"{path}/*"),
                    "One desired-state parameter per managed resource, named by its logical id: read only, and "
                    "only this stack's own path under /constructs-ivsrt/desired/.",
                ),
                (
                    "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                    "cloudwatch:PutMetricData supports no resource-level permissions (it is limited to the "
                    f"{runtime.NAMESPACE} namespace by condition); IVS List operations support none either, "
                    "and are read-only (the orphans are found by their identity tag).",
                ),
            ],
        )

    def _allow_managed_types(self) -> None:
        """The IVS calls on the types the stack declares, and their Lists (at synth)."""
        provider = self._stack.node.try_find_child(PROVIDER_ID)
        managed = provider.managed_types if provider is not None else ()  # type: ignore[attr-defined]
        if not managed:
            Annotations.of(self).add_warning_v2(
                NOTHING_TO_WATCH, "its stack declares no IVS Real-Time resource: there is nothing to check"
            )
            return
        lists: list[str] = []
        for resource in managed:
            lists += [f"ivs:{resource.list_operation}"]
            if self.delete_orphans:  # a delete that meets a conflict names what uses the resource
                lists += list(list_actions(resource))
                if resource.in_use_by is not None:
                    user = resource.in_use_by.user
                    self._allow_on_type([f"ivs:{user.get_operation}"], user.arn_segment)
            self._allow_on_type(
                list(watch_actions(resource, revert=self.revert, delete_orphans=self.delete_orphans)), resource.arn_segment
            )
        self._allow(list(dict.fromkeys(lists)), ["*"])

    def _allow_on_type(self, actions: list[str], arn_segment: str) -> None:
        arn = self._stack.format_arn(
            service="ivs", resource=arn_segment, resource_name="*", arn_format=ArnFormat.SLASH_RESOURCE_NAME
        )
        self._allow(actions, [arn])
        _acknowledge(
            self.role,
            [
                (
                    _wildcard_finding(self._stack, arn),
                    f"IVS assigns resource ids at creation; the statement is limited to {arn_segment} ARNs in this "
                    "account and region and to the calls the drift check makes.",
                )
            ],
        )

    # -- metrics, alarm, events -----------------------------------------------------------------
    def metric(self, metric_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """A metric of this stack's drift checks in ``constructs-ivsrt/Drift``, with its
        ``StackName`` dimension. :default: statistic Maximum, period the schedule (at most a day)"""
        props: dict[str, Any] = {
            "statistic": "Maximum",
            "period": self._period,
            **located(options, region=known(self._stack.region), account=known(self._stack.account)),
        }
        dimensions = {**props.pop("dimensions_map", {}), STACK_DIMENSION: self.stack_name}
        return cloudwatch.Metric(namespace=NAMESPACE, metric_name=metric_name, dimensions_map=dimensions, **props)

    def metric_drifted_resources(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Resources found MODIFIED or DELETED by a run (before any revert). :default: statistic Maximum"""
        return self.metric(runtime.DRIFTED_RESOURCES, **options)

    def metric_orphans(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Orphans found by a run (before any deletion). :default: statistic Maximum"""
        return self.metric(runtime.ORPHANS, **options)

    def add_drift_alarm(
        self,
        id: str = "DriftAlarm",
        *,
        threshold: int = 1,
        evaluation_periods: int = 1,
        include_orphans: bool = True,
        treat_missing_data: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.IGNORE,
        alarm_name: str | None = None,
        alarm_description: str | None = None,
    ) -> cloudwatch.Alarm:
        """An alarm when a run finds ``threshold`` or more drifted resources (and orphans, with
        ``include_orphans``). Add actions with ``alarm.add_alarm_action(...)``.

        :param threshold: Drifted resources (plus orphans) that set it off; at least 1. :default: 1
        :param evaluation_periods: Consecutive periods (schedules) over the threshold. :default: 1
        :param include_orphans: Count orphans too (``DriftedResources + Orphans``). :default: true
        :param treat_missing_data: A period without a run (the schedule is longer than a day, or a
            run failed: see the function's ``Errors``). :default: IGNORE - the alarm keeps its state
        """
        checker = PropChecker(self, id)
        checker.require(
            isinstance(threshold, int) and not isinstance(threshold, bool) and threshold >= 1,
            f"threshold must be a whole number, at least 1, got: {threshold!r}",
        )
        checker.require(
            isinstance(evaluation_periods, int) and not isinstance(evaluation_periods, bool) and evaluation_periods >= 1,
            f"evaluation_periods must be a whole number, at least 1, got: {evaluation_periods!r}",
        )
        checker.raise_if_any()
        metric: cloudwatch.IMetric = self.metric_drifted_resources()
        if include_orphans:
            metric = cloudwatch.MathExpression(
                expression="drifted + orphans",
                label="Drifted resources and orphans",
                period=self._period,
                using_metrics={"drifted": self.metric_drifted_resources(), "orphans": self.metric_orphans()},
            )
        return cloudwatch.Alarm(
            self,
            id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=treat_missing_data,
            alarm_name=alarm_name,
            alarm_description=alarm_description or f"IVS Real-Time resources of {self.stack_name} drifted",
        )

    def on_drift(
        self, id: str, *, target: events.IRuleTarget | None = None, description: str | None = None, rule_name: str | None = None
    ) -> events.Rule:
        """A rule on the default bus for this stack's drift events (source ``constructs-ivsrt.drift``,
        detail-type ``IVS Real-Time Resource Drift``, ``detail.stack`` this stack's name)."""
        return events.Rule(
            self,
            id,
            description=description,
            rule_name=rule_name,
            event_pattern=events.EventPattern(
                source=[EVENT_SOURCE], detail_type=[EVENT_DETAIL_TYPE], detail={"stack": [self.stack_name]}
            ),
            targets=[target] if target is not None else None,
        )


@jsii.implements(IAspect)
class _AllowManagedTypes:
    """Grants DriftWatch the IVS calls on its stack's types once, at synth (every construct of the
    stack exists by then)."""

    def __init__(self, watch: DriftWatch) -> None:
        self._watch: DriftWatch | None = watch

    def visit(self, node: IConstruct) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch._allow_managed_types()
