"""DriftWatch (issue 20.5): the template (schedule, function, its exact policy), the synth-time
checks, cdk-nag, the metrics and alarm; and its function run against the local endpoint, held to
the role the template gives it, with the drift made out of band through boto3."""

from __future__ import annotations

import copy
import json
import os
import time
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk.assertions import Annotations, Match, Template
from botocore.stub import Stubber
from conftest import ENCODER, PROVIDER_STACK, STACK_ID, STAGE, TEST_ENVIRONMENT

from constructs_ivsrt import DriftWatch, EncoderConfiguration, IngestConfiguration, IvsRealtimeValidationError, Stage
from ivsrt_runtime import drift_watch as runtime
from ivsrt_runtime import entries
from ivsrt_runtime.drift_check import Stack, StackResource

ENV = cdk.Environment(account="123456789012", region="us-east-1")


def new_stack(name: str = "Media") -> cdk.Stack:
    return cdk.Stack(cdk.App(), name, env=ENV)


def arn(rest: str) -> dict[str, Any]:
    """An ARN as the template renders it in a stack of ENV: arn:${Partition}:<rest>."""
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":{rest}"]]}


def desired_path(suffix: str = "") -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":ssm:us-east-1:123456789012:parameter/constructs-ivsrt/desired/",
                {"Ref": "AWS::StackName"},
            ]
            + ([suffix] if suffix else []),
        ]
    }


def watch_statements(stack: cdk.Stack, watch: DriftWatch) -> list[dict[str, Any]]:
    role_id = stack.resolve(stack.get_logical_id(watch.role.node.default_child))
    policies = Template.from_stack(stack).find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role_id}]}})
    assert len(policies) == 1
    return next(iter(policies.values()))["Properties"]["PolicyDocument"]["Statement"]


def allow(actions: list[str] | str, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Action": actions, "Effect": "Allow", "Resource": resource, **extra}


# ---------------------------------------------------------------------------------------------
# The template
# ---------------------------------------------------------------------------------------------


def test_the_schedule_runs_the_function_with_its_stack_in_its_environment():
    stack = new_stack()
    watch = DriftWatch(stack, "Watch", schedule=cdk.Duration.minutes(15))
    Stage(stack, "Stage")
    template = Template.from_stack(stack)
    function_id = stack.resolve(stack.get_logical_id(watch.function.node.default_child))
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": entries.DRIFT_CHECK,
            "Runtime": "python3.14",
            "Timeout": runtime.FUNCTION_TIMEOUT_SECONDS,
            "Environment": {"Variables": {"STACK_NAME": "Media", "DRIFT_REVERT": "false", "DRIFT_DELETE_ORPHANS": "false"}},
        },
    )
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(15 minutes)",
            "State": "ENABLED",
            "Targets": [
                Match.object_like({"Arn": {"Fn::GetAtt": [function_id, "Arn"]}, "RetryPolicy": {"MaximumRetryAttempts": 0}})
            ],
        },
    )
    template.has_resource_properties("AWS::Lambda::EventInvokeConfig", {"MaximumRetryAttempts": 0})
    template.has_resource_properties(
        "AWS::Lambda::Permission", {"Action": "lambda:InvokeFunction", "Principal": "events.amazonaws.com"}
    )


def test_the_default_policy_reads_only_its_stack_and_its_types():
    stack = new_stack()
    watch = DriftWatch(stack, "Watch")
    Stage(stack, "Stage")  # declared after the watch: the types are read at synth
    EncoderConfiguration(stack, "Encoder")
    statements = watch_statements(stack, watch)
    logs_id = next(k for k in Template.from_stack(stack).find_resources("AWS::Logs::LogGroup") if k.startswith("WatchLogs"))
    assert statements == [
        allow(["logs:CreateLogStream", "logs:PutLogEvents"], {"Fn::GetAtt": [logs_id, "Arn"]}),
        allow(
            ["cloudformation:DescribeStacks", "cloudformation:ListStackResources", "cloudformation:GetTemplate"],
            {"Ref": "AWS::StackId"},
        ),
        allow("ssm:GetParametersByPath", [desired_path(), desired_path("/*")]),
        allow("cloudwatch:PutMetricData", "*", Condition={"StringEquals": {"cloudwatch:namespace": "constructs-ivsrt/Drift"}}),
        allow("events:PutEvents", arn("events:us-east-1:123456789012:event-bus/default")),
        allow(["ivs:GetStage", "ivs:ListTagsForResource"], arn("ivs:us-east-1:123456789012:stage/*")),
        allow(
            ["ivs:GetEncoderConfiguration", "ivs:ListTagsForResource"], arn("ivs:us-east-1:123456789012:encoder-configuration/*")
        ),
        allow(["ivs:ListStages", "ivs:ListEncoderConfigurations"], "*"),
    ]


def test_revert_and_delete_orphans_add_exactly_their_calls():
    stack = new_stack()
    watch = DriftWatch(stack, "Watch", revert=True, delete_orphans=True)
    stage = Stage(stack, "Stage")
    IngestConfiguration(stack, "Ingest", stage=stage)
    EncoderConfiguration(stack, "Encoder")
    ivs = {
        s["Resource"]["Fn::Join"][1][-1] if isinstance(s["Resource"], dict) else s["Resource"]: s["Action"]
        for s in watch_statements(stack, watch)
        if "ivs:" in json.dumps(s["Action"])
    }
    tags = ["ivs:ListTagsForResource", "ivs:TagResource", "ivs:UntagResource"]
    assert ivs == {
        ":ivs:us-east-1:123456789012:stage/*": [
            "ivs:GetStage",
            "ivs:ListTagsForResource",
            "ivs:UpdateStage",
            "ivs:TagResource",
            "ivs:UntagResource",
            "ivs:DeleteStage",
        ],
        ":ivs:us-east-1:123456789012:ingest-configuration/*": [
            "ivs:GetIngestConfiguration",
            "ivs:ListTagsForResource",
            "ivs:UpdateIngestConfiguration",
            "ivs:TagResource",
            "ivs:UntagResource",
            "ivs:DeleteIngestConfiguration",
        ],
        ":ivs:us-east-1:123456789012:encoder-configuration/*": [
            "ivs:GetEncoderConfiguration",
            *tags,
            "ivs:DeleteEncoderConfiguration",
        ],
        "*": ["ivs:ListStages", "ivs:ListEncoderConfigurations", "ivs:ListIngestConfigurations"],
    }


def test_a_stack_without_ivs_resources_is_warned_about_and_grants_no_ivs_call():
    stack = new_stack()
    watch = DriftWatch(stack, "Watch")
    Annotations.from_stack(stack).has_warning("/Media/Watch", Match.string_like_regexp("declares no IVS Real-Time resource"))
    assert not [s for s in watch_statements(stack, watch) if "ivs:" in json.dumps(s["Action"])]


def test_metrics_and_the_alarm():
    stack = new_stack()
    watch = DriftWatch(stack, "Watch", schedule=cdk.Duration.minutes(30))
    Stage(stack, "Stage")
    metric = stack.resolve(watch.metric_drifted_resources().to_metric_config().metric_stat.dimensions)
    assert metric == [{"name": "StackName", "value": "Media"}]
    orphans = watch.metric_orphans(statistic="Sum")
    assert (orphans.namespace, orphans.metric_name, orphans.statistic, orphans.period.to_minutes()) == (
        "constructs-ivsrt/Drift",
        "Orphans",
        "Sum",
        30,
    )
    assert watch.metric_drifted_resources().statistic == "Maximum"
    alarm = watch.add_drift_alarm(include_orphans=False, threshold=2)
    assert isinstance(alarm, cloudwatch.Alarm)
    watch.add_drift_alarm("Any")  # drifted + orphans
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "DriftedResources",
            "Namespace": "constructs-ivsrt/Drift",
            "Statistic": "Maximum",
            "Period": 1800,
            "Threshold": 2,
            "EvaluationPeriods": 1,
            "TreatMissingData": "ignore",
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "Dimensions": [{"Name": "StackName", "Value": "Media"}],
        },
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Metrics": Match.array_with([Match.object_like({"Expression": "drifted + orphans", "ReturnData": True})]),
            "Threshold": 1,
        },
    )


def test_on_drift_matches_this_stacks_events():
    stack = new_stack()
    watch = DriftWatch(stack, "Watch")
    Stage(stack, "Stage")
    watch.on_drift("OnDrift")
    Template.from_stack(stack).has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["constructs-ivsrt.drift"],
                "detail-type": ["IVS Real-Time Resource Drift"],
                "detail": {"stack": ["Media"]},
            }
        },
    )


def test_cdk_nag_finds_nothing_unacknowledged():
    from aws_cdk import Validations
    from cdk_nag import AwsSolutionsChecks

    app = cdk.App()
    stack = cdk.Stack(app, "Nagged", env=ENV)
    stage = Stage(stack, "Stage")
    IngestConfiguration(stack, "Ingest", stage=stage)
    EncoderConfiguration(stack, "Encoder")
    DriftWatch(stack, "Watch", revert=True, delete_orphans=True).add_drift_alarm()
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()  # raises ValidationFailed listing every unacknowledged finding


# ---------------------------------------------------------------------------------------------
# Synth-time checks
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schedule, shown",
    [
        (cdk.Duration.seconds(30), "30 seconds"),
        (cdk.Duration.seconds(90), "1 minute 30 seconds"),
        (cdk.Duration.seconds(0), "0 seconds"),
    ],
)
def test_the_schedule_must_be_whole_minutes(schedule, shown):
    with pytest.raises(IvsRealtimeValidationError) as caught:
        DriftWatch(new_stack(), "Watch", schedule=schedule)
    assert str(caught.value) == f"Media/Watch: schedule must be whole minutes, at least 1 minute, got: {shown}"


def test_the_schedule_must_be_known_at_synth():
    stack = new_stack()
    minutes = cdk.CfnParameter(stack, "Minutes", type="Number").value_as_number
    with pytest.raises(IvsRealtimeValidationError) as caught:
        DriftWatch(stack, "Watch", schedule=cdk.Duration.minutes(minutes))
    assert str(caught.value) == ("Media/Watch: schedule must be known at synth (it is the rule's rate), got: a deploy-time value")


def test_wrong_types_name_the_prop():
    with pytest.raises(IvsRealtimeValidationError) as caught:
        DriftWatch(new_stack(), "Watch", revert="yes", delete_orphans=1)  # type: ignore[arg-type]
    assert str(caught.value) == (
        "Media/Watch: revert must be true or false, got: 'yes'\nMedia/Watch: delete_orphans must be true or false, got: 1"
    )
    with pytest.raises(IvsRealtimeValidationError, match=r"^Media/Watch: schedule must be a Duration, got: 60"):
        DriftWatch(new_stack(), "Watch", schedule=60)  # type: ignore[arg-type]


def test_the_alarms_threshold_and_periods():
    watch = DriftWatch(new_stack(), "Watch")
    with pytest.raises(IvsRealtimeValidationError) as caught:
        watch.add_drift_alarm(threshold=0, evaluation_periods=0)
    assert str(caught.value) == (
        "Media/Watch/DriftAlarm: threshold must be a whole number, at least 1, got: 0\n"
        "Media/Watch/DriftAlarm: evaluation_periods must be a whole number, at least 1, got: 0"
    )


# ---------------------------------------------------------------------------------------------
# The function, against the local endpoint
# ---------------------------------------------------------------------------------------------


class Published:
    """CloudWatch and EventBridge clients that answer locally (botocore's Stubber, which checks
    each call against the service's model) and keep what was sent."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.cloudwatch = self._client("cloudwatch")
        self.events = self._client("events")

    def _client(self, service: str) -> Any:
        client = boto3.client(service, region_name="us-east-1")
        client.meta.events.register_first("before-parameter-build.*.*", self._record)
        stubber = Stubber(client)
        for _ in range(5):
            if service == "cloudwatch":
                stubber.add_response("put_metric_data", {})
            else:
                stubber.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "1"}]})
        stubber.activate()
        return client

    def _record(self, params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        self.calls.append((model.name, copy.deepcopy(params)))

    def metrics(self) -> dict[str, float]:
        [(name, params)] = [c for c in self.calls if c[0] == "PutMetricData"]
        assert params["Namespace"] == "constructs-ivsrt/Drift"
        assert all(
            d["Dimensions"] == [{"Name": "StackName", "Value": PROVIDER_STACK}] and d["Unit"] == "Count"
            for d in params["MetricData"]
        )
        return {d["MetricName"]: d["Value"] for d in params["MetricData"]}

    def events_sent(self) -> list[dict[str, Any]]:
        entries_sent = [e for name, params in self.calls if name == "PutEvents" for e in params["Entries"]]
        assert all(
            e["Source"] == "constructs-ivsrt.drift"
            and e["DetailType"] == "IVS Real-Time Resource Drift"
            and e["Resources"] == [json.loads(e["Detail"])["arn"]]
            for e in entries_sent
        )
        return [json.loads(e["Detail"]) for e in entries_sent]


@pytest.fixture(scope="module")
def watch_principal() -> Any:
    """What DriftWatch's function signs as on AWS, in the stack the tests' events come from
    (its stages and encoder configurations), with revert and delete_orphans."""
    from ivsrt_local.endpoint import ACCOUNT_ID
    from ivsrt_local.iam import function_principal
    from ivsrt_local.resolver import Resolver
    from ivsrt_local.stack_state import StackState

    app = cdk.App()
    stack = cdk.Stack(app, PROVIDER_STACK)
    watch = DriftWatch(stack, "Watch", revert=True, delete_orphans=True)
    Stage(stack, "Stage")
    EncoderConfiguration(stack, "Encoder")
    template = app.synth().get_stack_by_name(PROVIDER_STACK).template
    function_id = stack.resolve(stack.get_logical_id(watch.function.node.default_child))
    resolver = Resolver(StackState(PROVIDER_STACK, TEST_ENVIRONMENT["AWS_DEFAULT_REGION"]))
    return function_principal(template, function_id, resolver.resolve, ACCOUNT_ID)


@pytest.fixture
def enforce(ivs):
    """Hold the suite's credentials to a principal for one test; unbound after it (tests using
    the session's endpoint without the ``ivs`` fixture sign with the same key)."""
    yield lambda endpoint, principal: endpoint.iam.enforce(principal, os.environ["AWS_ACCESS_KEY_ID"])
    ivs.iam.clear()


class OneStack:
    """The stack as CloudFormation would list it (CloudFormation has no local endpoint)."""

    def __init__(self, *resources: StackResource) -> None:
        self.resources = resources

    def stacks(self, names: list[str]) -> list[Stack]:
        assert names == [PROVIDER_STACK]
        return [Stack(PROVIDER_STACK, STACK_ID, self.resources)]


def run(source: OneStack, published: Published, **settings: bool) -> dict[str, Any]:
    from ivsrt_runtime import clients

    using = runtime.Clients(
        ivs=clients.ivs_client, ssm=clients.ssm_client, cloudwatch=lambda: published.cloudwatch, events=lambda: published.events
    )
    return runtime.run(runtime.Settings(PROVIDER_STACK, **settings), deadline=time.monotonic() + 60, source=source, using=using)


def test_the_function_reports_reverts_and_publishes_held_to_its_role(cfn, ivs, watch_principal, enforce):
    client = boto3.client("ivs-realtime", endpoint_url=ivs.url)
    leftover = cfn.create(STAGE, {"name": "hall"}, logical_id="Hall")["PhysicalResourceId"]  # a cancelled create's
    hall = cfn.create(STAGE, {"name": "hall", "tags": {"team": "video"}}, logical_id="Hall")["PhysicalResourceId"]
    lobby = cfn.create(STAGE, {"name": "lobby"}, logical_id="Lobby")["PhysicalResourceId"]
    encoder = cfn.create(ENCODER, {"name": "hd"}, logical_id="Hd")["PhysicalResourceId"]
    source = OneStack(
        StackResource("Hall", STAGE, hall), StackResource("Lobby", STAGE, lobby), StackResource("Hd", ENCODER, encoder)
    )
    client.update_stage(arn=hall, name="renamed")  # out of band
    client.tag_resource(resourceArn=hall, tags={"team": "audio"})
    client.delete_encoder_configuration(arn=encoder)

    enforce(ivs, watch_principal)  # the function's role from here on
    ivs.state.calls.clear()
    published = Published()
    summary = run(source, published, revert=True, delete_orphans=True)
    assert summary == {"stack": PROVIDER_STACK, "resources": 3, "drifted": 2, "orphans": 1, "unknown": [], "events": 3}
    assert published.metrics() == {"DriftedResources": 2.0, "Orphans": 1.0}
    details = {d["arn"]: d for d in published.events_sent()}
    restore = details[encoder]["restore"]
    assert restore.startswith(f"cdk deploy {PROVIDER_STACK} --context constructs-ivsrt:reconcile=")
    assert details == {
        hall: {
            "stack": PROVIDER_STACK,
            "stack_id": STACK_ID,
            "logical_id": "Hall",
            "type": STAGE,
            "arn": hall,
            "status": "MODIFIED",
            "outcome": "reverted",
            "restore": restore,
            "differences": [
                {"path": "name", "expected": "hall", "actual": "renamed", "in_place": True},
                {"path": "tags.team", "expected": "video", "actual": "audio", "in_place": True},
            ],
        },
        encoder: {
            "stack": PROVIDER_STACK,
            "stack_id": STACK_ID,
            "logical_id": "Hd",
            "type": ENCODER,
            "arn": encoder,
            "status": "DELETED",
            "outcome": "not reverted: deleted (see the restore command)",
            "restore": restore,
            "differences": [],
        },
        leftover: {
            "stack": PROVIDER_STACK,
            "stack_id": STACK_ID,
            "logical_id": None,
            "type": STAGE,
            "arn": leftover,
            "status": "ORPHAN",
            "outcome": "deleted",
            "restore": "",
            "differences": [],
        },
    }
    stage = client.get_stage(arn=hall)["stage"]
    assert stage["name"] == "hall" and stage["tags"]["team"] == "video"
    assert sorted(r["arn"] for r in ivs.state.snapshot() if r["_noun"] == "Stage") == sorted([hall, lobby])
    # Every IVS call was allowed by the role: the endpoint refused none (else the run had failed).
    assert {"GetStage", "ListStages", "ListEncoderConfigurations", "UpdateStage", "TagResource", "DeleteStage"} <= set(
        ivs.state.calls
    )

    published = Published()
    assert run(source, published, revert=True)["drifted"] == 1  # the deleted encoder is left to the restore command
    assert published.metrics() == {"DriftedResources": 1.0, "Orphans": 0.0}
    assert [d["status"] for d in published.events_sent()] == ["DELETED"]


def test_in_sync_publishes_zeros_and_no_event(cfn, ivs, watch_principal, enforce):
    hall = cfn.create(STAGE, {"name": "hall"}, logical_id="Hall")["PhysicalResourceId"]
    enforce(ivs, watch_principal)
    published = Published()
    summary = run(OneStack(StackResource("Hall", STAGE, hall)), published)
    assert summary["drifted"] == summary["orphans"] == summary["events"] == 0
    assert published.metrics() == {"DriftedResources": 0.0, "Orphans": 0.0}
    assert published.events_sent() == []


def test_the_role_without_revert_cannot_correct(cfn, ivs, enforce):
    """A read-only watch's role refuses UpdateStage: the revert fails in the report, not silently."""
    from ivsrt_local.endpoint import ACCOUNT_ID
    from ivsrt_local.iam import function_principal
    from ivsrt_local.resolver import Resolver
    from ivsrt_local.stack_state import StackState

    app = cdk.App()
    stack = cdk.Stack(app, PROVIDER_STACK)
    watch = DriftWatch(stack, "Watch")
    Stage(stack, "Stage")
    template = app.synth().get_stack_by_name(PROVIDER_STACK).template
    principal = function_principal(
        template,
        stack.resolve(stack.get_logical_id(watch.function.node.default_child)),
        Resolver(StackState(PROVIDER_STACK, "us-east-1")).resolve,
        ACCOUNT_ID,
    )
    hall = cfn.create(STAGE, {"name": "hall"}, logical_id="Hall")["PhysicalResourceId"]
    boto3.client("ivs-realtime", endpoint_url=ivs.url).update_stage(arn=hall, name="renamed")
    enforce(ivs, principal)
    published = Published()
    run(OneStack(StackResource("Hall", STAGE, hall)), published, revert=True)
    [detail] = published.events_sent()
    assert detail["outcome"].startswith("revert failed: UpdateStage failed for") and "AccessDenied" in detail["outcome"]
