"""Stage: its template, its validation and its lifecycle at the local endpoint."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template
from conftest import STAGE, make_storage, only, resources, user_tags
from synth import (
    STAGE_ARN,
    expect,
    imported_stage,
    ivs_event,
    logical_id_of,
    new_stack,
    recording,
    rule_patterns,
    warnings_of,
)

from constructs_ivsrt import (
    AutoParticipantRecording,
    IvsRealtimeValidationError,
    ParticipantRecordingEvent,
    RecordingMediaType,
    Stage,
    StageDashboard,
    StageUpdateEvent,
    StorageConfiguration,
    ThumbnailConfiguration,
    ThumbnailRecordingMode,
    ThumbnailStorage,
)

LONG = "x" * 129


@pytest.mark.parametrize(
    "build, message",
    [
        pytest.param(
            lambda s: Stage(s, "Stage", stage_name="has space"),
            "T/Stage: stage_name must match the pattern [a-zA-Z0-9-_]*, got: 'has space'",
            id="stage-name-pattern",
        ),
        pytest.param(
            lambda s: Stage(s, "Stage", stage_name=LONG),
            f"T/Stage: stage_name must have at most 128 characters, got: '{LONG}'",
            id="stage-name-length",
        ),
        pytest.param(
            lambda s: Stage(s, "Stage", auto_participant_recording=recording(s, reconnect_window=cdk.Duration.seconds(301))),
            "T/Stage: auto_participant_recording.reconnect_window (seconds) must be between 0 and 300, got: 301",
            id="reconnect-window-range",
        ),
        pytest.param(
            lambda s: Stage(
                s, "Stage", auto_participant_recording=recording(s, hls_target_segment_duration=cdk.Duration.seconds(1))
            ),
            "T/Stage: auto_participant_recording.hls_target_segment_duration (seconds) must be between 2 and 10, got: 1",
            id="hls-segment-range",
        ),
        pytest.param(
            lambda s: Stage(
                s,
                "Stage",
                auto_participant_recording=recording(s, thumbnails=ThumbnailConfiguration(target_interval=cdk.Duration.days(2))),
            ),
            "T/Stage: auto_participant_recording.thumbnails.target_interval (seconds) must be between 1 and 86400, got: 172800",
            id="thumbnail-interval-range",
        ),
        pytest.param(
            lambda s: Stage(s, "Stage", auto_participant_recording=recording(s, media_types=["AUDIO_VIDEO", "AUDIO_ONLY"])),
            "T/Stage: auto_participant_recording.media_types must have at most 1 items, got: ['AUDIO_VIDEO', 'AUDIO_ONLY']",
            id="media-types-count",
        ),
        pytest.param(
            lambda s: Stage(s, "Stage", auto_participant_recording=recording(s, media_types=["VIDEO"])),
            "T/Stage: auto_participant_recording.media_types[0] must be one of AUDIO_VIDEO, AUDIO_ONLY, NONE, got: 'VIDEO'",
            id="media-type-enum",
        ),
        pytest.param(
            lambda s: Stage(
                s, "Stage", auto_participant_recording=recording(s, thumbnails=ThumbnailConfiguration(storage=["ALL"]))
            ),
            "T/Stage: auto_participant_recording.thumbnails.storage[0] must be one of SEQUENTIAL, LATEST, got: 'ALL'",
            id="thumbnail-storage-enum",
        ),
        pytest.param(
            lambda s: Stage(s, "Stage", auto_participant_recording=recording(s, record_participant_replicas="yes")),
            "T/Stage: auto_participant_recording.record_participant_replicas must be true or false, got: 'yes'",
            id="replicas-type",
        ),
        pytest.param(
            lambda s: Stage.from_stage_arn(s, "Imported", "arn:aws:ivs:eu-west-1:123456789012:channel/abc"),
            "T/Imported: stage_arn must match the pattern arn:aws:ivs:[a-z0-9-]+:[0-9]+:stage/[a-zA-Z0-9-]+, "
            "got: 'arn:aws:ivs:eu-west-1:123456789012:channel/abc'",
            id="stage-arn",
        ),
    ],
)
def test_rule(build, message):
    expect(message, build)


def test_no_tags_means_no_tags_property_and_no_recording():
    stack = new_stack("Test")
    Stage(stack, "Plain", stage_name="plain")
    Template.from_stack(stack).has_resource_properties(
        STAGE, {"name": "plain", "tags": Match.absent(), "autoParticipantRecordingConfiguration": Match.absent()}
    )


def test_full_recording_configuration_renders_every_field():
    stack = new_stack("Test")
    storage = StorageConfiguration.from_storage_configuration_arn(
        stack, "Imported", "arn:aws:ivs:eu-west-1:123456789012:storage-configuration/AbCdEf"
    )
    Stage(
        stack,
        "S",
        auto_participant_recording=AutoParticipantRecording(
            storage_configuration=storage,
            media_types=[RecordingMediaType.AUDIO_ONLY],
            thumbnails=ThumbnailConfiguration(
                recording_mode=ThumbnailRecordingMode.INTERVAL,
                target_interval=cdk.Duration.minutes(2),
                storage=[ThumbnailStorage.SEQUENTIAL, ThumbnailStorage.LATEST],
            ),
            reconnect_window=cdk.Duration.seconds(0),
            hls_target_segment_duration=cdk.Duration.seconds(2),
            record_participant_replicas=False,
        ),
    )
    Template.from_stack(stack).has_resource_properties(
        STAGE,
        {
            "autoParticipantRecordingConfiguration": {
                "storageConfigurationArn": "arn:aws:ivs:eu-west-1:123456789012:storage-configuration/AbCdEf",
                "mediaTypes": ["AUDIO_ONLY"],
                "thumbnailConfiguration": {
                    "recordingMode": "INTERVAL",
                    "targetIntervalSeconds": 120,
                    "storage": ["SEQUENTIAL", "LATEST"],
                },
                "recordingReconnectWindowSeconds": 0,
                "hlsConfiguration": {"targetSegmentDurationSeconds": 2},
                "recordParticipantReplicas": False,
            }
        },
    )


def test_stage_attributes_are_tokens_for_the_arn_and_endpoints():
    stack = new_stack("Test")
    stage = Stage(stack, "S")
    logical_id = stack.get_logical_id(stage)
    assert stack.resolve(stage.stage_arn) == {"Ref": logical_id}
    for name, attribute in (
        ("whip", "WhipEndpoint"),
        ("events", "EventsEndpoint"),
        ("rtmp", "RtmpEndpoint"),
        ("rtmps", "RtmpsEndpoint"),
    ):
        assert stack.resolve(getattr(stage.endpoints, name)) == {"Fn::GetAtt": [logical_id, attribute]}


def test_grant_read_on_a_managed_stage_names_its_actions():
    stack = new_stack("Test")
    stage = Stage(stack, "S")
    role = iam.Role(stack, "Reader", assumed_by=iam.AccountRootPrincipal())
    stage.grant_read(role)
    stage.grant_disconnect_participant(role)
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": Match.string_like_regexp("^Reader")}],
            "PolicyDocument": {
                "Statement": [
                    {
                        "Action": [
                            "ivs:GetStage",
                            "ivs:GetStageSession",
                            "ivs:ListStageSessions",
                            "ivs:GetParticipant",
                            "ivs:ListParticipants",
                            "ivs:ListParticipantEvents",
                        ],
                        "Effect": "Allow",
                        "Resource": {"Ref": Match.string_like_regexp("^S")},
                    },
                    {
                        "Action": "ivs:DisconnectParticipant",
                        "Effect": "Allow",
                        "Resource": {"Ref": Match.string_like_regexp("^S")},
                    },
                ]
            },
        },
    )


def test_a_retained_stage_recording_to_a_destroyed_storage_configuration_is_warned_about():
    st = new_stack()
    storage = StorageConfiguration(st, "Storage", bucket=s3.Bucket(st, "Bucket"))
    Stage(
        st,
        "Kept",
        removal_policy=cdk.RemovalPolicy.RETAIN,
        auto_participant_recording=AutoParticipantRecording(storage_configuration=storage),
    )
    kept_storage = StorageConfiguration(
        st, "KeptStorage", bucket=s3.Bucket(st, "Bucket2"), removal_policy=cdk.RemovalPolicy.RETAIN
    )
    Stage(
        st,
        "AlsoKept",
        removal_policy=cdk.RemovalPolicy.RETAIN,
        auto_participant_recording=AutoParticipantRecording(storage_configuration=kept_storage),
    )
    Stage(st, "Destroyed", auto_participant_recording=AutoParticipantRecording(storage_configuration=storage))
    kept_later = Stage(st, "KeptLater", auto_participant_recording=AutoParticipantRecording(storage_configuration=storage))
    kept_later.apply_removal_policy(cdk.RemovalPolicy.RETAIN)  # read at synth, not when the stage was made
    freed_storage = StorageConfiguration(st, "FreedStorage", bucket=s3.Bucket(st, "Bucket3"))
    Stage(
        st,
        "KeptToo",
        removal_policy=cdk.RemovalPolicy.RETAIN,
        auto_participant_recording=AutoParticipantRecording(storage_configuration=freed_storage),
    )
    freed_storage.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
    warnings = warnings_of(st)
    assert len(warnings) == 2
    assert all(
        w.startswith(f"this stage is kept on delete (RETAIN) but records to {storage.node.path}, which the stack deletes")
        for w in warnings
    )


def test_list_and_duration_tokens_are_skipped():
    st = new_stack()
    media = cdk.CfnParameter(st, "Media", type="CommaDelimitedList").value_as_list
    window = cdk.Duration.seconds(cdk.CfnParameter(st, "Window", type="Number").value_as_number)
    Stage(
        st,
        "Stage",
        auto_participant_recording=recording(
            st,
            media_types=media,
            reconnect_window=window,
            thumbnails=ThumbnailConfiguration(storage=media, target_interval=window),
        ),
    )
    cdk.App.of(st).synth()
    other = new_stack()
    minutes = cdk.Duration.minutes(cdk.CfnParameter(other, "Minutes", type="Number").value_as_number)
    with pytest.raises(IvsRealtimeValidationError, match=r"must use Duration.seconds\(\), got: Duration.minutes"):
        Stage(other, "Other", auto_participant_recording=recording(other, reconnect_window=minutes))


@pytest.mark.usefixtures("provider_role")  # its calls held to the provider's own IAM policy
def test_stage_lifecycle(cfn, ivs):
    storage_a, _ = make_storage(cfn, "a")
    storage_b, _ = make_storage(cfn, "b")
    v1 = {
        "name": "town-hall",
        "autoParticipantRecordingConfiguration": {
            "storageConfigurationArn": storage_a,
            "mediaTypes": ["AUDIO_VIDEO"],
            "recordingReconnectWindowSeconds": 60,
            "hlsConfiguration": {"targetSegmentDurationSeconds": 6},
            "recordParticipantReplicas": True,
        },
        "tags": {"team": "live", "env": "dev"},
    }
    created = cfn.create(STAGE, v1)
    arn = created["PhysicalResourceId"]
    stage = only(ivs, "Stage")
    assert stage["arn"] == arn and stage["name"] == "town-hall"
    assert user_tags(stage) == {"team": "live", "env": "dev"}
    # Strings from CloudFormation arrived as the model's types.
    assert stage["autoParticipantRecordingConfiguration"]["recordingReconnectWindowSeconds"] == 60
    assert stage["autoParticipantRecordingConfiguration"]["recordParticipantReplicas"] is True
    assert created["Data"]["Arn"] == arn
    assert set(created["Data"]) == {"Arn", "Name", "WhipEndpoint", "EventsEndpoint", "RtmpEndpoint", "RtmpsEndpoint"}
    assert all(created["Data"].values())

    # Tags: one added, one changed, one removed; the ARN stays.
    v2 = {**v1, "tags": {"team": "broadcast", "cost-center": "42"}}
    updated = cfn.update(STAGE, arn, v1, v2)
    assert updated["PhysicalResourceId"] == arn
    assert user_tags(only(ivs, "Stage")) == {"team": "broadcast", "cost-center": "42"}
    assert updated["Data"]["WhipEndpoint"] == created["Data"]["WhipEndpoint"]

    # Rename and a new recording configuration: in place.
    v3 = {
        **v2,
        "name": "town-hall-2",
        "autoParticipantRecordingConfiguration": {"storageConfigurationArn": storage_b, "mediaTypes": ["AUDIO_ONLY"]},
    }
    assert cfn.update(STAGE, arn, v2, v3)["PhysicalResourceId"] == arn
    stage = only(ivs, "Stage")
    assert stage["name"] == "town-hall-2"
    assert stage["autoParticipantRecordingConfiguration"]["storageConfigurationArn"] == storage_b
    assert stage["autoParticipantRecordingConfiguration"]["mediaTypes"] == ["AUDIO_ONLY"]

    # Rollback: the same update with old and new swapped restores v2 exactly.
    assert cfn.update(STAGE, arn, v3, v2)["PhysicalResourceId"] == arn
    stage = only(ivs, "Stage")
    assert stage["name"] == "town-hall"
    assert stage["autoParticipantRecordingConfiguration"]["storageConfigurationArn"] == storage_a
    assert user_tags(stage) == v2["tags"]

    # Recording removed: turned off in place (the API's empty storage configuration ARN).
    v4 = {"name": "town-hall", "tags": v2["tags"]}
    cfn.update(STAGE, arn, v2, v4)
    assert only(ivs, "Stage")["autoParticipantRecordingConfiguration"]["storageConfigurationArn"] == ""

    cfn.delete(STAGE, arn, v4)
    assert resources(ivs, "Stage") == []
    cfn.delete(STAGE, arn, v4)  # already gone: still a success
    assert len(resources(ivs, "StorageConfiguration")) == 2


def test_stage_tag_only_update_makes_no_update_call(cfn, ivs):
    props = {"name": "s", "tags": {"a": "1"}}
    arn = cfn.create(STAGE, props)["PhysicalResourceId"]
    ivs.state.calls.clear()
    cfn.update(STAGE, arn, props, {"name": "s", "tags": {"a": "2"}})
    assert "UpdateStage" not in ivs.state.calls and "CreateStage" not in ivs.state.calls
    assert ivs.state.calls.count("TagResource") == 1


# ---------------------------------------------------------------------------------------------
# EventBridge rules: patterns checked with EventBridge's matching rules against sample events
# ---------------------------------------------------------------------------------------------

OTHER_STAGE_ARN = "arn:aws:ivs:eu-west-1:123456789012:stage/OtHeR"
STAGE_KINDS = [
    ("IVS Stage Update", StageUpdateEvent, "on_stage_update"),
    ("IVS Participant Recording State Change", ParticipantRecordingEvent, "on_participant_recording_state_change"),
]


@pytest.mark.parametrize("detail_type, names, method", STAGE_KINDS, ids=["stage-update", "recording"])
def test_a_stage_rule_matches_its_stages_events_of_its_kind_only(detail_type, names, method):
    st = new_stack()
    stage = imported_stage(st)
    getattr(stage, method)("All")
    chosen = list(names)[:2]
    getattr(stage, method)("Some", event_names=chosen)
    patterns = rule_patterns(st)
    every, some = (
        next(p for logical_id, p in patterns.items() if logical_id.startswith(f"Stage{name}")) for name in ("All", "Some")
    )
    for name in names:
        event = ivs_event(detail_type, name.value, STAGE_ARN)
        assert every.matches_event(event)
        assert some.matches_event(event) == (name in chosen), name
        assert not every.matches_event(ivs_event(detail_type, name.value, OTHER_STAGE_ARN))
    for other_type in ("IVS Composition State Change", *(kind for kind, _, _ in STAGE_KINDS if kind != detail_type)):
        assert not every.matches_event(ivs_event(other_type, "Session Start", STAGE_ARN))


def test_a_managed_stages_rule_names_its_arn_and_delivers_to_its_target():
    st = new_stack()
    stage = Stage(st, "Stage")
    queue = sqs.Queue(st, "Events")
    stage.on_stage_update(
        "Published",
        event_names=[StageUpdateEvent.PARTICIPANT_PUBLISHED],
        target=targets.SqsQueue(queue),
        description="publishers",
    )
    Template.from_stack(st).has_resource_properties(
        "AWS::Events::Rule",
        {
            "Description": "publishers",
            "EventPattern": {
                "source": ["aws.ivs"],
                "detail-type": ["IVS Stage Update"],
                "resources": [{"Ref": logical_id_of(st, stage)}],
                "detail": {"event_name": ["Participant Published"]},
            },
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [Match.string_like_regexp("^Events"), "Arn"]}})],
        },
    )


@pytest.mark.parametrize(
    "event_names, message",
    [
        (["Participant Joined"], "T/Stage/Rule: event_names must be one or more of Participant Published, "),
        ([], "T/Stage/Rule: event_names must be one or more of "),
        ("Participant Published", "T/Stage/Rule: event_names must be a list of StageUpdateEvent, got: 'Participant Published'"),
    ],
)
def test_a_rule_for_events_that_do_not_exist_fails_synth(event_names, message):
    st = new_stack()
    with pytest.raises(IvsRealtimeValidationError) as caught:
        imported_stage(st).on_stage_update("Rule", event_names=event_names)
    assert str(caught.value).startswith(message)


def test_participant_replication_is_granted_on_the_stage():
    st = new_stack()
    role = iam.Role(st, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    imported_stage(st).grant_participant_replication(role)
    Template.from_stack(st).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    {
                        "Action": [
                            "ivs:StartParticipantReplication",
                            "ivs:StopParticipantReplication",
                            "ivs:ListParticipantReplicas",
                        ],
                        "Effect": "Allow",
                        "Resource": STAGE_ARN,
                    }
                ]
            }
        },
    )


# ---------------------------------------------------------------------------------------------
# Metrics and the dashboard
# ---------------------------------------------------------------------------------------------


def test_stage_id_is_the_arns_last_part_for_imported_and_managed_stages():
    st = new_stack()
    assert imported_stage(st).stage_id == "AbCd"
    managed = Stage(st, "Live")
    resolved = st.resolve(managed.stage_id)  # the ARN is known at deploy time only
    assert resolved == {
        "Fn::Select": [1, {"Fn::Split": ["/", {"Fn::Select": [5, {"Fn::Split": [":", {"Ref": logical_id_of(st, managed)}]}]}]}]
    }


@pytest.mark.parametrize(
    "helper, name, statistic",
    [
        ("metric_publishers", "Publishers", "Maximum"),
        ("metric_subscribers", "Subscribers", "Maximum"),
        ("metric_publish_bitrate", "PublishBitrate", "Average"),
        ("metric_subscribe_bitrate", "SubscribeBitrate", "Average"),
        ("metric_download_packet_loss", "DownloadPacketLoss", "Average"),
        ("metric_dropped_frames", "DroppedFrames", "Average"),
    ],
)
def test_each_stage_metric_is_the_services_with_the_stage_dimension(helper, name, statistic):
    stage = imported_stage(new_stack())
    metric = getattr(stage, helper)()
    assert (metric.namespace, metric.metric_name, metric.statistic) == ("AWS/IVSRealTime", name, statistic)
    assert metric.dimensions == {"Stage": "AbCd"}
    assert getattr(stage, helper)(statistic="Minimum", period=cdk.Duration.minutes(1)).statistic == "Minimum"
    generic = stage.metric(name, statistic="Maximum")
    assert (generic.metric_name, generic.dimensions) == (name, {"Stage": "AbCd"})


def test_a_metric_keeps_other_dimensions_and_the_callers_options():
    stage = imported_stage(new_stack())
    options = {"dimensions_map": {"Participant": "p1", "Stage": "not-this-stage"}, "statistic": "Maximum"}
    metric = stage.metric("PublishResolution", **options)
    assert metric.dimensions == {"Participant": "p1", "Stage": "AbCd"}  # the Stage dimension is always its own
    assert options == {"dimensions_map": {"Participant": "p1", "Stage": "not-this-stage"}, "statistic": "Maximum"}


def test_the_account_metrics_have_no_dimension():
    for metric, name in (
        (Stage.metric_concurrent_publishers(), "ConcurrentPublishers"),
        (Stage.metric_concurrent_subscriptions(), "ConcurrentSubscriptions"),
    ):
        assert (metric.namespace, metric.metric_name, metric.dimensions) == ("AWS/IVSRealTime", name, None)


def test_the_dashboard_graphs_the_account_and_each_stage():
    st = new_stack()
    stages = [Stage(st, "Live"), imported_stage(st)]
    StageDashboard(st, "Health", stages=stages, dashboard_name="live-health")
    (dashboard,) = Template.from_stack(st).find_resources("AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == "live-health"
    parts = st.resolve(dashboard["Properties"]["DashboardBody"])["Fn::Join"][1]  # deploy-time values as TOKEN
    widgets = json.loads("".join(part if isinstance(part, str) else "TOKEN" for part in parts))["widgets"]
    graphed = [(metric[1], tuple(metric[2:-1])) for widget in widgets for metric in widget["properties"]["metrics"]]
    assert [widget["properties"]["title"] for widget in widgets] == [
        "Account: concurrent publishers and subscriptions",
        "Live: participants",
        "Live: bitrate (bits/s)",
        "Live: subscribers' losses (%)",
        "Stage: participants",
        "Stage: bitrate (bits/s)",
        "Stage: subscribers' losses (%)",
    ]
    assert ("ConcurrentPublishers", ()) in graphed and ("ConcurrentSubscriptions", ()) in graphed
    for name in ("Publishers", "Subscribers", "PublishBitrate", "SubscribeBitrate", "DownloadPacketLoss", "DroppedFrames"):
        assert [dimensions for metric, dimensions in graphed if metric == name] == [("Stage", "TOKEN"), ("Stage", "AbCd")], name
    with pytest.raises(IvsRealtimeValidationError, match="T/Empty: stages must name at least one stage"):
        StageDashboard(st, "Empty", stages=[])
