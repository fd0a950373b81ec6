"""Composition: its template (layouts, destinations), its validation and its asynchronous lifecycle."""

from __future__ import annotations

import re

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ivs as ivs
from aws_cdk.assertions import Match, Template
from conftest import COMPOSITION, STORAGE, Fault, arns, make, only, resources, running, user_tags
from synth import (
    ENCODER_ARN,
    STAGE_ARN,
    STORAGE_ARN,
    expect,
    imported_stage,
    ivs_event,
    new_stack,
    rule_patterns,
    s3_destination,
    warnings_of,
)

from constructs_ivsrt import (
    ChannelDestination,
    Composition,
    CompositionStateEvent,
    EncoderConfiguration,
    GridLayout,
    IngestProtocol,
    PipBehavior,
    PipLayout,
    PipPosition,
    S3Destination,
    Stage,
    StorageConfiguration,
    VideoAspectRatio,
    VideoFillMode,
)
from ivsrt_runtime import rules
from ivsrt_runtime.calls import RequestFailed


@pytest.mark.parametrize(
    "build, message",
    [
        pytest.param(
            lambda s: Composition(s, "C", stage=imported_stage(s), destinations=[]),
            "T/C: destinations must have at least 1 items, got: []",
            id="no-destination",
        ),
        pytest.param(
            lambda s: Composition(s, "C", stage=imported_stage(s), destinations=[ChannelDestination(channel=STAGE_ARN)]),
            "T/C: destinations[0].channel must match the pattern "
            "arn:aws:ivs:[a-z0-9-]+:[0-9]+:channel/[a-zA-Z0-9-]+, got: '" + STAGE_ARN + "'",
            id="channel-arn",
        ),
        pytest.param(
            lambda s: Composition(
                s,
                "C",
                stage=imported_stage(s),
                destinations=[s3_destination(s, target_segment_duration=cdk.Duration.seconds(11))],
            ),
            "T/C: destinations[0].target_segment_duration (seconds) must be between 2 and 10, got: 11",
            id="segment",
        ),
        pytest.param(
            lambda s: Composition(
                s, "C", stage=imported_stage(s), destinations=[s3_destination(s)], layout=PipLayout(pip_width=0)
            ),
            "T/C: layout.pip_width must be at least 1, got: 0",
            id="pip-width",
        ),
        pytest.param(
            lambda s: Composition(
                s,
                "C",
                stage=imported_stage(s),
                destinations=[
                    s3_destination(s),
                    S3Destination(
                        storage_configuration=StorageConfiguration.from_storage_configuration_arn(s, "S2", STORAGE_ARN),
                        encoder_configuration=EncoderConfiguration.from_encoder_configuration_arn(s, "E2", ENCODER_ARN),
                    ),
                ],
            ),
            "T/C: destinations must have at most one S3Destination, got: 2",
            id="two-s3",
        ),
        pytest.param(
            lambda s: Composition(
                s,
                "C",
                stage=imported_stage(s),
                destinations=[
                    s3_destination(s, target_segment_duration=cdk.Duration.minutes(cdk.Token.as_number(cdk.Aws.ACCOUNT_ID)))
                ],
            ),
            "T/C: a Duration made from a deploy-time value must use Duration.seconds(), got: Duration.minutes(<token>)",
            id="duration-token-path",
        ),
        pytest.param(
            lambda s: Composition(
                s, "C", stage=imported_stage(s), destinations=[s3_destination(s, thumbnail_interval=cdk.Duration.days(2))]
            ),
            "T/C: destinations[0].thumbnail_interval (seconds) must be between 1 and 86400, got: 172800",
            id="thumbnail-interval",
        ),
        pytest.param(
            lambda s: Composition(
                s,
                "C",
                stage=imported_stage(s),
                destinations=[s3_destination(s)],
                layout=GridLayout(participant_order_attribute="not ok"),
            ),
            "T/C: layout.participant_order_attribute must match the pattern [a-zA-Z0-9-_]*, got: 'not ok'",
            id="grid-attribute",
        ),
        pytest.param(
            lambda s: Composition(s, "C", stage=imported_stage(s), destinations={"s3": "x"}),
            "T/C: destinations must be a list of ChannelDestination or S3Destination, got: {'s3': 'x'}",
            id="destinations-type",
        ),
        pytest.param(
            lambda s: Composition(s, "C", stage=imported_stage(s), destinations=[s3_destination(s)], layout={"grid": {}}),
            "T/C: layout must be a GridLayout or a PipLayout, got: {'grid': {}}",
            id="layout-type",
        ),
    ],
)
def test_rule(build, message):
    expect(message, build)


def test_composition_properties_every_layout_option_and_both_destinations():
    st = new_stack()
    channel = ivs.CfnChannel(st, "Channel")
    composition = Composition(
        st,
        "Program",
        stage=imported_stage(st),
        layout=PipLayout(
            featured_participant_attribute="host",
            participant_order_attribute="order",
            pip_participant_attribute="guest",
            pip_behavior=PipBehavior.DYNAMIC,
            pip_position=PipPosition.TOP_LEFT,
            pip_offset=10,
            pip_width=320,
            pip_height=180,
            grid_gap=4,
            omit_stopped_video=True,
            video_fill_mode=VideoFillMode.CONTAIN,
        ),
        destinations=[
            ChannelDestination(channel=channel, name="live"),
            s3_destination(
                st, target_segment_duration=cdk.Duration.seconds(4), thumbnail_interval=cdk.Duration.minutes(1), name="vod"
            ),
        ],
    )
    template = Template.from_stack(st)
    template.has_resource_properties(
        "Custom::IvsRealtimeComposition",
        {
            "ServiceToken": {
                "Fn::GetAtt": [Match.string_like_regexp("^IvsRealtimeProviderAsyncProviderframeworkonEvent"), "Arn"]
            },
            "stageArn": STAGE_ARN,
            "layout": {
                "pip": {
                    "featuredParticipantAttribute": "host",
                    "participantOrderAttribute": "order",
                    "pipParticipantAttribute": "guest",
                    "pipBehavior": "DYNAMIC",
                    "pipPosition": "TOP_LEFT",
                    "pipOffset": 10,
                    "pipWidth": 320,
                    "pipHeight": 180,
                    "gridGap": 4,
                    "omitStoppedVideo": True,
                    "videoFillMode": "CONTAIN",
                }
            },
            "destinations": [
                {"name": "live", "channel": {"channelArn": {"Fn::GetAtt": ["Channel", "Arn"]}}},
                {
                    "name": "vod",
                    "s3": {
                        "storageConfigurationArn": STORAGE_ARN,
                        "encoderConfigurationArns": [ENCODER_ARN],
                        "recordingConfiguration": {"hlsConfiguration": {"targetSegmentDurationSeconds": 4}},
                        "thumbnailConfigurations": [{"targetIntervalSeconds": 60}],
                    },
                },
            ],
        },
    )
    # Only compositions pay for the waiter: one state machine, polling every 5 s for 15 minutes.
    template.resource_count_is("AWS::StepFunctions::StateMachine", 1)
    assert composition.composition_arn


def test_grid_layout_and_a_stack_without_compositions_has_no_waiter():
    st = new_stack()
    Composition(
        st,
        "C",
        stage=imported_stage(st),
        destinations=[s3_destination(st)],
        layout=GridLayout(video_aspect_ratio=VideoAspectRatio.SQUARE, grid_gap=0),
    )
    Template.from_stack(st).has_resource_properties(
        "Custom::IvsRealtimeComposition", {"layout": {"grid": {"videoAspectRatio": "SQUARE", "gridGap": 0}}}
    )
    plain = new_stack()
    Stage(plain, "Stage")
    Template.from_stack(plain).resource_count_is("AWS::StepFunctions::StateMachine", 0)


def test_layout_and_enum_fields_match_the_model():
    layout = rules.COMPOSITION.property_shape("layout")
    for enum_type, shape in (
        (VideoFillMode, rules.shape_at(layout, "grid", "videoFillMode")),
        (VideoAspectRatio, rules.shape_at(layout, "grid", "videoAspectRatio")),
        (PipBehavior, rules.shape_at(layout, "pip", "pipBehavior")),
        (PipPosition, rules.shape_at(layout, "pip", "pipPosition")),
        (IngestProtocol, rules.INGEST_CONFIGURATION.property_shape("ingestProtocol")),
    ):
        assert [e.value for e in enum_type] == shape.enum


def test_more_compositions_on_a_stage_than_the_quota_are_warned_about():
    st = new_stack()
    stage = Stage.from_stage_arn(st, "Stage", "arn:aws:ivs:eu-west-1:123456789012:stage/AbCd")
    same_stage = Stage.from_stage_arn(st, "SameStage", "arn:aws:ivs:eu-west-1:123456789012:stage/AbCd")
    for index in range(6):  # two imports of one stage count together
        Composition(
            st,
            f"Comp{index}",
            stage=stage if index % 2 else same_stage,
            destinations=[s3_destination(st)]
            if index == 0
            else [
                S3Destination(
                    storage_configuration=st.node.find_child("Storage"), encoder_configuration=st.node.find_child("Encoder")
                )
            ],
        )
    assert warnings_of(st) == [
        f"this is composition 6 on {stage.node.path}: IVS allows 5 per stage (a service quota), so this one would "
        "fail to start with ServiceQuotaExceededException unless the quota was raised "
        "[ack: constructs-ivsrt:compositionsPerStageQuota]"
    ]


@pytest.mark.usefixtures("provider_role")  # its calls held to the provider's own IAM policy
def test_composition_lifecycle(cfn, ivs, stage_with_recording):
    v1 = {**stage_with_recording, "tags": {"show": "weekly"}}
    ivs.state.compositions.start_seconds = 30.0  # STARTING for 0.3 s: the waiter's first answer is "not yet"
    created = cfn.create(COMPOSITION, v1)
    arn = created["PhysicalResourceId"]
    # The waiter asked until the composition was ACTIVE: STARTING first, then ACTIVE.
    answers = [poll["IsComplete"] for poll in cfn.polls]
    assert answers[0] is False and answers[-1] is True and answers.count(True) == 1
    ivs.state.compositions.start_seconds = 5.0
    assert created["Data"]["State"] == "ACTIVE"
    composition = only(ivs, "Composition")
    assert composition["state"] == "ACTIVE" and user_tags(composition) == {"show": "weekly"}
    # Strings from CloudFormation arrived as the model's types, deep in the destinations.
    s3 = composition["destinations"][0]["configuration"]["s3"]
    assert s3["recordingConfiguration"]["hlsConfiguration"]["targetSegmentDurationSeconds"] == 4

    v2 = {**v1, "tags": {"show": "daily"}}  # tag-only: in place
    assert cfn.update(COMPOSITION, arn, v1, v2)["PhysicalResourceId"] == arn
    assert user_tags(only(ivs, "Composition")) == {"show": "daily"}

    v3 = {**v2, "layout": {"pip": {"pipPosition": "TOP_LEFT"}}}  # no Update API: a new composition
    replaced = cfn.update(COMPOSITION, arn, v2, v3)
    new_arn = replaced["PhysicalResourceId"]
    assert new_arn != arn and replaced["Data"]["State"] == "ACTIVE"
    assert {r["arn"]: r["state"] for r in resources(ivs, "Composition")} == {arn: "ACTIVE", new_arn: "ACTIVE"}

    assert cfn.update(COMPOSITION, new_arn, v3, v2)["PhysicalResourceId"] == arn  # rollback adopts the original
    ivs.state.compositions.stop_seconds = 30.0  # STOPPING for 0.3 s
    ivs.rate_limits.reset()  # full buckets: no throttled Get outlasts the stop
    cfn.delete(COMPOSITION, new_arn)
    # Delete waited through STOPPING until the service had stopped it.
    answers = [poll["IsComplete"] for poll in cfn.polls]
    assert answers[0] is False and answers[-1] is True and answers.count(True) == 1
    assert {r["arn"]: r["state"] for r in resources(ivs, "Composition")} == {arn: "ACTIVE", new_arn: "STOPPED"}
    ivs.state.compositions.stop_seconds = 5.0

    cfn.delete(COMPOSITION, arn)
    cfn.delete(COMPOSITION, arn)
    assert arns(ivs, "Composition") == []


def test_a_retried_start_never_starts_two(cfn, ivs, stage_with_recording):
    # The response is lost: botocore retries with the same idempotency token.
    ivs.inject(Fault("drop_after_success", "StartComposition"))
    arn = make(cfn, COMPOSITION, stage_with_recording, request_id="req-1")
    # The whole invocation delivered again (same CloudFormation request): still the same one.
    assert make(cfn, COMPOSITION, stage_with_recording, request_id="req-1") == arn
    assert arns(ivs, "Composition") == [arn]
    assert ivs.state.calls.count("StartComposition") == 3


def test_the_waiters_polls_and_the_stop_ride_out_throttling(cfn, ivs, stage_with_recording):
    ivs.inject(Fault("throttle", "GetComposition", times=3), Fault("throttle", "StopComposition", times=3))
    arn = make(cfn, COMPOSITION, stage_with_recording)
    assert only(ivs, "Composition")["state"] == "ACTIVE"
    cfn.delete(COMPOSITION, arn)
    assert arns(ivs, "Composition") == []
    assert ivs.state.calls.count("StopComposition") == 4 and ivs.state.calls.count("GetComposition") >= 5


def test_failed_composition_fails_the_create_and_is_stopped(cfn, ivs, stage_with_recording):
    ivs.state.compositions.fail_next = 1
    with pytest.raises(RequestFailed) as caught:
        cfn.create(COMPOSITION, stage_with_recording)
    message = str(caught.value)
    assert "\n" not in message
    assert re.fullmatch(
        r"Composition arn:aws:ivs:\S+:composition/\S+ is FAILED: destination program FAILED "
        r"\(the API reports no reason; see the 'IVS Composition State Change' event in EventBridge\)",
        message,
    ), message
    assert resources(ivs, "Composition") == []  # stopped, and so removed by the service
    # CloudFormation's rollback then deletes the failed resource: a success.
    failed_arn = message.split()[1]
    cfn.delete(COMPOSITION, failed_arn)


def test_composition_ended_by_the_service_is_started_again_on_update(cfn, ivs, stage_with_recording):
    v1 = {**stage_with_recording, "tags": {"a": "1"}}
    arn = make(cfn, COMPOSITION, v1)
    ivs.state.end_composition(arn)  # the stage emptied: IVS stops it
    v2 = {**v1, "tags": {"a": "2"}}
    new_arn = cfn.update(COMPOSITION, arn, v1, v2)["PhysicalResourceId"]
    assert new_arn != arn
    live = [r for r in resources(ivs, "Composition") if r["state"] == "ACTIVE"]
    assert [r["arn"] for r in live] == [new_arn] and user_tags(live[0]) == {"a": "2"}
    cfn.delete(COMPOSITION, arn)  # CloudFormation's cleanup of the ended one: a success
    cfn.delete(COMPOSITION, new_arn)
    assert arns(ivs, "Composition") == []


def test_composition_on_a_missing_stage_fails_in_one_line(cfn, ivs, stage_with_recording):
    missing = {**stage_with_recording, "stageArn": "arn:aws:ivs:us-east-1:123456789012:stage/gone"}
    with pytest.raises(RequestFailed) as caught:
        cfn.create(COMPOSITION, missing)
    assert str(caught.value).startswith(
        "StartComposition failed for Custom::IvsRealtimeComposition Resource: ResourceNotFoundException"
    )
    assert resources(ivs, "Composition") == []


def test_storage_configuration_used_by_a_composition_is_in_use(cfn, ivs, stage_with_recording):
    arn = make(cfn, COMPOSITION, stage_with_recording)
    storage = stage_with_recording["destinations"][0]["s3"]["storageConfigurationArn"]
    cfn.timeout_seconds = 20.5  # the handler gives up waiting for the conflict at once
    with pytest.raises(RequestFailed) as caught:
        cfn.delete(STORAGE, storage)
    assert "ConflictException" in str(caught.value)
    cfn.timeout_seconds = 300.0
    cfn.delete(COMPOSITION, arn)
    cfn.delete(STORAGE, storage)


def test_delete_that_met_a_conflict_while_starting_stops_again(cfn, ivs, stage_with_recording):
    arn = make(cfn, COMPOSITION, stage_with_recording)
    ivs.inject(Fault("error", "StopComposition", code="ConflictException"))
    cfn.delete(COMPOSITION, arn)
    assert ivs.state.calls.count("StopComposition") == 2
    assert arns(ivs, "Composition") == []


def test_rollback_stops_a_replacement_that_never_started_and_is_no_longer_tracked(cfn, ivs, stage_with_recording):
    v1, v2 = stage_with_recording, {**stage_with_recording, "layout": {"pip": {}}}
    original = make(cfn, COMPOSITION, v1)
    ivs.state.compositions.start_seconds = 10_000  # the new one stays STARTING: the waiter times out
    stuck = cfn.update(COMPOSITION, original, v1, v2, wait=False)["PhysicalResourceId"]
    assert stuck != original
    ivs.state.compositions.start_seconds = 5.0
    # CloudFormation rolls back from the failed update to the physical id it still tracks.
    assert cfn.update(COMPOSITION, original, v2, v1)["PhysicalResourceId"] == original
    assert running(ivs) == [original]  # the untracked one is stopping, not left running


def test_rollback_leaves_the_replacement_cloudformation_tracks_to_cloudformation(cfn, ivs, stage_with_recording):
    v1, v2 = stage_with_recording, {**stage_with_recording, "layout": {"pip": {}}}
    original = make(cfn, COMPOSITION, v1)
    replacement = cfn.update(COMPOSITION, original, v1, v2)["PhysicalResourceId"]
    # Another resource failed: the rollback goes from the replacement back to the original...
    assert cfn.update(COMPOSITION, replacement, v2, v1)["PhysicalResourceId"] == original
    # ...and the replacement is CloudFormation's to delete (or keep, under UpdateReplacePolicy: Retain).
    assert running(ivs) == sorted([original, replacement])
    cfn.delete(COMPOSITION, replacement)
    assert running(ivs) == [original]


def test_updating_back_to_a_kept_compositions_properties_stops_nothing(cfn, ivs, stage_with_recording):
    """A composition kept running (RemovalPolicy.RETAIN on replacement) is adopted by a later
    update back to its properties; the current one is CloudFormation's to delete."""
    v1, v2 = stage_with_recording, {**stage_with_recording, "layout": {"pip": {}}}
    kept = make(cfn, COMPOSITION, v1)
    current = cfn.update(COMPOSITION, kept, v1, v2)["PhysicalResourceId"]  # kept is retained, not deleted
    assert cfn.update(COMPOSITION, current, v2, v1)["PhysicalResourceId"] == kept
    assert running(ivs) == sorted([kept, current])


def test_composition_that_ends_before_it_is_active_fails_with_the_documented_reason(cfn, ivs, stage_with_recording):
    ivs.state.compositions.start_seconds = 10_000
    arn = cfn.create(COMPOSITION, stage_with_recording, wait=False)["PhysicalResourceId"]
    ivs.state.end_composition(arn)  # its stage had no participant
    with pytest.raises(RequestFailed) as caught:
        cfn.settle(cfn.last_event, {"PhysicalResourceId": arn})
    assert str(caught.value) == (
        f"Composition {arn} is STOPPING (IVS ends a composition on its own: a minute after its start if its "
        "stage has no participant, a minute after the last one leaves, or when a destination fails)"
    )
    assert running(ivs) == []


COMPOSITION_ARN = "arn:aws:ivs:eu-west-1:123456789012:composition/AbCd"


def test_a_composition_rule_matches_its_compositions_state_changes_only():
    st = new_stack()
    composition = Composition.from_composition_arn(st, "Program", COMPOSITION_ARN)
    composition.on_state_change("All")
    composition.on_state_change(
        "Failures", event_names=[CompositionStateEvent.SESSION_FAILURE, CompositionStateEvent.DESTINATION_FAILURE]
    )
    patterns = rule_patterns(st)
    every, failures = (
        next(p for logical_id, p in patterns.items() if logical_id.startswith(f"Program{name}")) for name in ("All", "Failures")
    )
    for name in CompositionStateEvent:
        event = ivs_event("IVS Composition State Change", name.value, COMPOSITION_ARN, stage_arn=STAGE_ARN)
        assert every.matches_event(event)
        assert failures.matches_event(event) == name.value.endswith("Failure"), name
        assert not every.matches_event({**event, "resources": [STAGE_ARN]})  # a stage's event
    assert not every.matches_event(ivs_event("IVS Stage Update", "Session Start", COMPOSITION_ARN))
