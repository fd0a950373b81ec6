"""Regions and accounts: an import is where its ARN says, its metrics carry it, event rules and
the resources IVS needs in one region are checked at synth, the runner resolves CDK's
cross-region references, and the local endpoint keeps regions apart as the service does."""

from __future__ import annotations

import json
import re
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_ivs as ivs_l1
from aws_cdk import aws_ssm as ssm
from aws_cdk.assertions import Match, Template
from botocore.config import Config
from botocore.exceptions import ClientError
from synth import warnings_of as all_warnings_of

from constructs_ivsrt import (
    AutoParticipantRecording,
    ChannelDestination,
    Composition,
    EncoderConfiguration,
    IngestConfiguration,
    IvsRealtimeValidationError,
    S3Destination,
    Stage,
    StageDashboard,
    StorageConfiguration,
)
from ivsrt_local.assembly import read_assembly, select_stacks
from ivsrt_local.cross_region import READER_TYPE
from ivsrt_local.deploy import deploy_stacks
from ivsrt_local.endpoint import RateLimits
from ivsrt_local.stack_state import DeployError
from ivsrt_local.testing import LocalDeployment

US = cdk.Environment(account="111122223333", region="us-east-1")
EU = cdk.Environment(account="444455556666", region="eu-west-1")
HALL_ARN = "arn:aws:ivs:us-east-1:111122223333:stage/AbCd"


def warnings_of(st: cdk.Stack) -> list[str]:
    """This library's warnings (CDK's own, on reference strength say, are not these tests' concern)."""
    return [w for w in all_warnings_of(st) if "[ack: constructs-ivsrt:" in w]


def stack(env: cdk.Environment | None = EU, name: str = "Eu", app: cdk.App | None = None, **options: Any) -> cdk.Stack:
    return cdk.Stack(app or cdk.App(), name, env=env, **options)


def error(build: Any) -> str:
    with pytest.raises(IvsRealtimeValidationError) as caught:
        build()
    return str(caught.value)


# -- imports and metrics ------------------------------------------------------------------------


def test_an_import_takes_its_region_and_account_from_its_arn():
    hall = Stage.from_stage_arn(stack(), "Hall", HALL_ARN)
    assert (hall.env.region, hall.env.account) == ("us-east-1", "111122223333")


def test_an_imported_stages_metrics_carry_its_region_and_account():
    eu = stack()
    hall = Stage.from_stage_arn(eu, "Hall", HALL_ARN)
    for metric in (hall.metric_publishers(), hall.metric_dropped_frames(), hall.metric("PublishResolution")):
        assert (metric.region, metric.account) == ("us-east-1", "111122223333")
    assert hall.metric_publishers(region="us-west-2").region == "us-west-2"  # the caller's word wins
    local = Stage(eu, "Local")
    assert (local.metric_publishers().region, local.metric_publishers().account) == ("eu-west-1", "444455556666")
    agnostic = Stage(stack(None, "Agnostic"), "Local")  # known only at deploy time: left to the dashboard's
    assert (agnostic.metric_publishers().region, agnostic.metric_publishers().account) == (None, None)


def test_an_alarm_in_another_region_than_its_stage_is_refused_by_cdk():
    hall = Stage.from_stage_arn(stack(), "Hall", HALL_ARN)
    with pytest.raises(
        Exception, match="Cannot create an Alarm in region 'eu-west-1' based on metric 'Publishers' in 'us-east-1'"
    ):
        hall.metric_publishers().create_alarm(cdk.Stack.of(hall), "Alarm", threshold=1, evaluation_periods=1)


def dashboard_widgets(st: cdk.Stack) -> list[dict[str, Any]]:
    (dashboard,) = Template.from_stack(st).find_resources("AWS::CloudWatch::Dashboard").values()
    parts = st.resolve(dashboard["Properties"]["DashboardBody"])["Fn::Join"][1]
    return json.loads("".join(part if isinstance(part, str) else "TOKEN" for part in parts))["widgets"]


def test_a_dashboard_graphs_each_stage_where_it_is():
    eu = stack()
    StageDashboard(eu, "Health", stages=[Stage.from_stage_arn(eu, "Hall", HALL_ARN), Stage(eu, "Local")])
    widgets = dashboard_widgets(eu)
    assert [w["properties"]["title"] for w in widgets][:2] == [
        "Account: concurrent publishers and subscriptions (us-east-1 (account 111122223333))",
        "Account: concurrent publishers and subscriptions (eu-west-1 (account 444455556666))",
    ]
    where = {
        (w["properties"]["title"], metric[1]): (metric[-1]["region"], metric[-1]["accountId"])
        for w in widgets
        for metric in w["properties"]["metrics"]
    }
    assert where[("Hall: participants", "Publishers")] == ("us-east-1", "111122223333")
    assert where[("Hall: bitrate (bits/s)", "SubscribeBitrate")] == ("us-east-1", "111122223333")
    assert where[("Local: participants", "Publishers")] == ("eu-west-1", "444455556666")
    assert where[(widgets[0]["properties"]["title"], "ConcurrentPublishers")] == ("us-east-1", "111122223333")
    assert where[(widgets[1]["properties"]["title"], "ConcurrentSubscriptions")] == ("eu-west-1", "444455556666")


def test_a_dashboard_of_stages_in_one_place_keeps_one_account_graph():
    eu = stack()
    StageDashboard(eu, "Health", stages=[Stage(eu, "A"), Stage(eu, "B")])
    assert dashboard_widgets(eu)[0]["properties"]["title"] == "Account: concurrent publishers and subscriptions"


# -- event rules --------------------------------------------------------------------------------

RULE_ADVICE = (
    "instead import the {kind} by ARN in a stack of us-east-1 (account 111122223333), make the rule there, "
    "and forward the events to this stack's bus with a targets.EventBus target"
)


@pytest.mark.parametrize(
    "make, path, method, kind",
    [
        (
            lambda s: Stage.from_stage_arn(s, "Hall", HALL_ARN).on_stage_update("Published"),
            "Eu/Hall/Published",
            "on_stage_update",
            "stage",
        ),
        (
            lambda s: Stage.from_stage_arn(s, "Hall", HALL_ARN).on_participant_recording_state_change("Recorded"),
            "Eu/Hall/Recorded",
            "on_participant_recording_state_change",
            "stage",
        ),
        (
            lambda s: Composition.from_composition_arn(
                s, "Show", "arn:aws:ivs:us-east-1:111122223333:composition/AbCd"
            ).on_state_change("Ended"),
            "Eu/Show/Ended",
            "on_state_change",
            "composition",
        ),
    ],
)
def test_an_event_rule_for_a_resource_in_another_region_fails_synth_naming_both(make, path, method, kind):
    assert error(lambda: make(stack())) == (
        f"{path}: {method} must make its rule in the {kind}'s region and account, where IVS sends its events (the "
        f"default bus there), got: the {kind} in us-east-1 (account 111122223333), this stack in eu-west-1 "
        f"(account 444455556666); " + RULE_ADVICE.format(kind=kind)
    )


def test_an_event_rule_for_a_stage_of_another_account_in_the_same_region_fails_too():
    same_region = cdk.Environment(account="444455556666", region="us-east-1")
    message = error(lambda: Stage.from_stage_arn(stack(same_region), "Hall", HALL_ARN).on_stage_update("Published"))
    assert "got: the stage in us-east-1 (account 111122223333), this stack in us-east-1 (account 444455556666)" in message


def test_the_documented_forwarding_synthesizes_a_rule_in_the_stages_region():
    app = cdk.App()
    eu = stack(app=app)
    us = stack(US, "Us", app=app)
    eu_bus = events.EventBus.from_event_bus_arn(eu, "Default", "arn:aws:events:eu-west-1:444455556666:event-bus/default")
    forward: Any = targets.EventBus(eu_bus)  # an IRuleTarget (jsii's parameter names trip pyright's protocol check)
    Stage.from_stage_arn(us, "Hall", HALL_ARN).on_stage_update("Forward", target=forward)
    Template.from_stack(us).has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {"source": ["aws.ivs"], "resources": [HALL_ARN]},
            "Targets": [Match.object_like({"Arn": "arn:aws:events:eu-west-1:444455556666:event-bus/default"})],
        },
    )
    assert warnings_of(us) == []


def test_a_rule_whose_place_is_known_only_at_deploy_time_warns():
    agnostic = stack(None, "Agnostic")
    Stage.from_stage_arn(agnostic, "Hall", HALL_ARN).on_stage_update("Published")
    assert warnings_of(agnostic) == [
        "Published: on_stage_update cannot check that its rule is in the stage's region and account (one is known only "
        "at deploy time), got: the stage in us-east-1 (account 111122223333), this stack in <deploy-time value> "
        "(account <deploy-time value>); IVS sends the events only to the default bus there, so a rule elsewhere never "
        "fires [ack: constructs-ivsrt:eventRulePlaceNotChecked]"
    ]


def test_a_rule_for_a_managed_stage_is_where_the_stage_is_and_says_nothing():
    for st in (stack(), stack(None, "Agnostic")):
        Stage(st, "Live").on_stage_update("Published")
        assert warnings_of(st) == []


# -- resources IVS needs in one region -----------------------------------------------------------


def storage_in(st: cdk.Stack, region: str, id: str = "Storage") -> Any:
    return StorageConfiguration.from_storage_configuration_arn(
        st, id, f"arn:aws:ivs:{region}:444455556666:storage-configuration/AbCd"
    )


def encoder_in(st: cdk.Stack, region: str) -> Any:
    return EncoderConfiguration.from_encoder_configuration_arn(
        st, "Encoder", f"arn:aws:ivs:{region}:444455556666:encoder-configuration/AbCd"
    )


def test_a_stage_recording_to_storage_in_another_region_fails_synth_naming_both():
    eu = stack()
    recording = AutoParticipantRecording(storage_configuration=storage_in(eu, "us-west-2"))
    assert error(lambda: Stage(eu, "Stage", auto_participant_recording=recording)) == (
        "Eu/Stage: auto_participant_recording.storage_configuration must be in the stage's region eu-west-1 (IVS "
        "records a stage only to a storage configuration of its region), got: 'us-west-2' (Eu/Storage)"
    )


def test_a_stage_recording_to_a_storage_configuration_of_a_stack_in_another_region_fails_too():
    app = cdk.App()
    west = stack(cdk.Environment(account="444455556666", region="us-west-2"), "West", app=app)
    from aws_cdk import aws_s3 as s3

    storage = StorageConfiguration(west, "Storage", bucket=s3.Bucket(west, "Bucket"))
    eu = stack(app=app)
    message = error(
        lambda: Stage(eu, "Stage", auto_participant_recording=AutoParticipantRecording(storage_configuration=storage))
    )
    assert message.endswith("got: 'us-west-2' (West/Storage)")


def test_a_composition_uses_a_stage_and_destinations_of_its_own_region():
    app = cdk.App()
    eu = stack(app=app)
    channel_stack = stack(US, "Channels", app=app)
    channel = ivs_l1.CfnChannel(channel_stack, "Channel")
    destinations = [
        S3Destination(storage_configuration=storage_in(eu, "us-west-2"), encoder_configuration=encoder_in(eu, "eu-west-1")),
        ChannelDestination(channel=channel),
    ]
    why = "(a composition reads a stage and writes to destinations of its own region)"
    assert error(
        lambda: Composition(eu, "Show", stage=Stage.from_stage_arn(eu, "Hall", HALL_ARN), destinations=destinations)
    ) == "\n".join(
        [
            f"Eu/Show: stage must be in the composition's region eu-west-1 {why}, got: 'us-east-1' (Eu/Hall)",
            f"Eu/Show: destinations[0].storage_configuration must be in the composition's region eu-west-1 {why}, "
            "got: 'us-west-2' (Eu/Storage)",
            f"Eu/Show: destinations[1].channel must be in the composition's region eu-west-1 {why}, "
            "got: 'us-east-1' (Channels/Channel)",
        ]
    )


def test_a_channel_given_by_arn_is_checked_by_its_arns_region():
    eu = stack()
    message = error(
        lambda: Composition(
            eu,
            "Show",
            stage=Stage(eu, "Live"),
            destinations=[ChannelDestination(channel="arn:aws:ivs:ap-south-1:444455556666:channel/AbCd")],
        )
    )
    assert message.endswith("got: 'ap-south-1' (arn:aws:ivs:ap-south-1:444455556666:channel/AbCd)")


def test_an_ingest_configuration_joins_a_stage_of_its_own_region():
    eu = stack()
    assert error(lambda: IngestConfiguration(eu, "Encoder", stage=Stage.from_stage_arn(eu, "Hall", HALL_ARN))) == (
        "Eu/Encoder: stage must be in the ingest configuration's region eu-west-1 (an encoder joins a stage through "
        "an ingest configuration of the stage's region), got: 'us-east-1' (Eu/Hall)"
    )


def test_a_cross_region_reference_warns_that_its_region_cannot_be_checked():
    app = cdk.App()
    us = stack(US, "Us", app=app, cross_region_references=True)
    eu = stack(app=app, cross_region_references=True)
    hall = Stage.from_stage_arn(eu, "Hall", Stage(us, "Hall").stage_arn)  # an SSM parameter at deploy time
    IngestConfiguration(eu, "Encoder", stage=hall)
    assert warnings_of(eu) == [
        "stage cannot be checked to be in the ingest configuration's region eu-west-1 (an encoder joins a stage "
        "through an ingest configuration of the stage's region): a region known only at deploy time (an env-agnostic "
        "stack, an ARN from a parameter or a cross-region reference), got: '<deploy-time value>' (Eu/Hall) "
        "[ack: constructs-ivsrt:regionNotChecked]"
    ]


def test_resources_of_one_region_synthesize_without_a_word():
    for st in (stack(), stack(None, "Agnostic")):
        stage = Stage(st, "Live")
        IngestConfiguration(st, "Encoder", stage=stage)
        Composition(
            st,
            "Show",
            stage=stage,
            destinations=[
                ChannelDestination(
                    channel=ivs_l1.CfnChannel(st, "Channel"), encoder_configuration=EncoderConfiguration(st, "Enc")
                )
            ],
        )
        assert warnings_of(st) == []


# -- the local runner ----------------------------------------------------------------------------


def cross_region_app(outdir: Any, us_env: cdk.Environment = US) -> cdk.App:
    """A stage in us-east-1, and one in eu-west-1 tagged with its ARN: a cross-region reference
    (between accounts CDK renders Fn::GetStackOutput, within one an SSM export writer and reader)."""
    app = cdk.App(outdir=str(outdir))
    us = stack(us_env, "Us", app=app, cross_region_references=True)
    eu = stack(EU, "Eu", app=app, cross_region_references=True)
    hall = Stage(us, "Hall")
    Stage(eu, "Mirror", tags={"source": hall.stage_arn})
    cdk.CfnOutput(eu, "Source", value=hall.stage_arn)
    app.synth()
    return app


SAME_ACCOUNT_US = cdk.Environment(account="444455556666", region="us-east-1")


@pytest.mark.parametrize("us_env, rendered", [(US, "Fn::GetStackOutput"), (SAME_ACCOUNT_US, READER_TYPE)])
def test_the_runner_resolves_cross_region_references(tmp_path, ivs, us_env, rendered):
    cross_region_app(tmp_path / "cdk.out", us_env)
    stacks = select_stacks(read_assembly(tmp_path / "cdk.out"), [])
    assert [stack.stack_name for stack in stacks] == ["Us", "Eu"]  # the producer first
    assert rendered in json.dumps(stacks[1].template)
    deploy_stacks(stacks, tmp_path / "state", "us-east-1")
    stages = {r["arn"].split(":")[3]: r for r in ivs.state.snapshot() if r["_noun"] == "Stage"}
    assert stages["eu-west-1"]["tags"]["source"] == stages["us-east-1"]["arn"]
    deployment = LocalDeployment(ivs, tmp_path / "state", assembly=tmp_path / "cdk.out")
    assert deployment.outputs("Eu")["Source"] == stages["us-east-1"]["arn"]


@pytest.mark.parametrize(
    "us_env, said",
    [
        (
            US,
            ": Fn::GetStackOutput reads output PublishOutputRefHall56AED349 of stack Us in us-east-1, which is "
            "not deployed (deploy it first)",
        ),
        (
            SAME_ACCOUNT_US,
            ": the cross-region reference /cdk/exports/Eu/Ususeast1RefHall{hash} has no value in "
            "eu-west-1: no deployed stack wrote it (deploy the stack it refers to first, with "
            "cross_region_references=True)",
        ),
    ],
)
def test_a_cross_region_reference_to_a_stack_not_deployed_fails_in_one_line(tmp_path, ivs, us_env, said):
    cross_region_app(tmp_path / "cdk.out", us_env)
    with pytest.raises(DeployError) as caught:
        deploy_stacks(select_stacks(read_assembly(tmp_path / "cdk.out"), ["Eu"]), tmp_path / "state", "us-east-1")
    message = re.sub(r"(/cdk/exports/Eu/Ususeast1RefHall)[0-9A-F]{8}", r"\1{hash}", str(caught.value))
    assert message == "deployment failed and was rolled back: stack Eu, resource Mirror" + said
    assert ivs.state.snapshot() == []


def test_a_dynamic_reference_the_runner_cannot_resolve_fails_in_one_line(tmp_path, ivs):
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    eu = stack(EU, "Eu", app=app)
    IngestConfiguration(eu, "Live", user_id=ssm.StringParameter.value_for_string_parameter(eu, "/team/owner", 1))
    app.synth()
    with pytest.raises(DeployError) as caught:
        deploy_stacks(select_stacks(read_assembly(tmp_path / "cdk.out"), []), tmp_path / "state", "us-east-1")
    assert str(caught.value).startswith("deployment failed and was rolled back: stack Eu, resource Live")
    assert str(caught.value).endswith(
        ": the dynamic reference {{resolve:ssm:/team/owner:1}} cannot be resolved by the local deploy runner (it "
        "resolves only SSM parameters written by CDK's cross-region references of stacks it deployed, in eu-west-1)"
    )


# -- the local endpoint ----------------------------------------------------------------------------


def client_in(ivs: Any, region: str) -> Any:
    return boto3.client(
        "ivs-realtime",
        endpoint_url=ivs.url,
        region_name=region,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def code_of(call: Any, **params: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return caught.value.response["Error"]["Code"]


def test_another_regions_resources_are_not_found_listed_or_changed(ivs):
    us, eu = client_in(ivs, "us-east-1"), client_in(ivs, "eu-west-1")
    arn = us.create_stage(name="hall")["stage"]["arn"]
    assert code_of(eu.get_stage, arn=arn) == "ResourceNotFoundException"
    assert code_of(eu.update_stage, arn=arn, name="other") == "ResourceNotFoundException"
    assert code_of(eu.delete_stage, arn=arn) == "ResourceNotFoundException"
    assert code_of(eu.tag_resource, resourceArn=arn, tags={"a": "1"}) == "ResourceNotFoundException"
    assert code_of(eu.list_tags_for_resource, resourceArn=arn) == "ResourceNotFoundException"
    assert code_of(eu.create_participant_token, stageArn=arn) == "ResourceNotFoundException"
    assert eu.list_stages()["stages"] == []
    assert us.get_stage(arn=arn)["stage"]["name"] == "hall" and us.get_stage(arn=arn)["stage"]["tags"] == {}


def test_a_reference_to_another_regions_resource_is_refused(ivs):
    us, eu = client_in(ivs, "us-east-1"), client_in(ivs, "eu-west-1")
    storage = us.create_storage_configuration(s3={"bucketName": "recordings"})["storageConfiguration"]["arn"]
    stage = us.create_stage()["stage"]["arn"]
    recording = {"storageConfigurationArn": storage}
    assert code_of(eu.create_stage, autoParticipantRecordingConfiguration=recording) == "ValidationException"
    assert code_of(eu.create_ingest_configuration, ingestProtocol="RTMPS", stageArn=stage) == "ValidationException"
    assert us.create_stage(autoParticipantRecordingConfiguration=recording)["stage"]["arn"].startswith("arn:aws:ivs:us-east-1:")


def test_resource_quotas_are_per_region(ivs):
    ivs.rate_limits.reset(0)  # the creates come faster than the rate quota; the fixture restores it
    quota = ivs.state.quotas["StorageConfiguration"]
    for region in ("us-east-1", "eu-west-1"):
        client = client_in(ivs, region)
        for _ in range(quota):
            client.create_storage_configuration(s3={"bucketName": "recordings"})
    assert (
        code_of(client_in(ivs, "us-east-1").create_storage_configuration, s3={"bucketName": "recordings"})
        == "ServiceQuotaExceededException"
    )


def test_rate_quotas_are_per_region():
    limits = RateLimits(clock=lambda: 0.0)  # no time passes: each bucket holds one second's worth
    assert all(limits.admit("CreateStage", "us-east-1") for _ in range(5))
    assert not limits.admit("CreateStage", "us-east-1")
    assert limits.admit("CreateStage", "eu-west-1")


def test_metrics_of_a_stage_whose_region_is_known_only_at_deploy_time_warn_once():
    """From a user's trial: a stage imported through a cross-region reference gave metrics with
    no region, and a dashboard graphed its own region, silently."""
    app = cdk.App()
    us = stack(US, "Us", app=app, cross_region_references=True)
    eu = stack(app=app, cross_region_references=True)
    hall = Stage.from_stage_arn(eu, "Hall", Stage(us, "Hall").stage_arn)
    StageDashboard(eu, "Board", stages=[hall])
    hall.metric_publishers()
    assert warnings_of(eu) == [
        "its region is known only at deploy time (a cross-region reference or an ARN from a parameter), so its "
        "metrics carry no region and a dashboard or alarm reads them in its own region: pass region= (and account=) "
        "to the metric_* methods, or import it by a literal ARN [ack: constructs-ivsrt:metricRegionNotKnown]"
    ]
    assert hall.metric_publishers(region="us-east-1").region == "us-east-1"
    literal = Stage.from_stage_arn(stack(None, "Agnostic", app=app), "Hall", "arn:aws:ivs:us-east-1:111122223333:stage/AbCd")
    assert literal.metric_publishers().region == "us-east-1" and warnings_of(cdk.Stack.of(literal)) == []
