"""What the constructs put in the template: properties, one provider, IAM, removal, tags, grants."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Capture, Match, Template
from constructs import Construct

import app as sample_app
from conftest import tag_list
from constructs_ivsrt import (
    AutoParticipantRecording,
    EncoderConfiguration,
    RecordingMediaType,
    Stage,
    StorageConfiguration,
    ThumbnailConfiguration,
    ThumbnailRecordingMode,
    ThumbnailStorage,
    Video,
)
from constructs_ivsrt._asset import lambda_asset_dir
from ivsrt_runtime import rules
from constructs_ivsrt._provider import handler_actions, list_actions

STAGE, ENCODER, STORAGE = (
    "Custom::IvsRealtimeStage", "Custom::IvsRealtimeEncoderConfiguration", "Custom::IvsRealtimeStorageConfiguration")
ENV = cdk.Environment(account="123456789012", region="eu-west-1")
ROOT = Path(__file__).resolve().parent.parent


def render(value) -> str:
    """A template string value with its Fn::Join / Ref written out, for readable assertions."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return "${" + value["Ref"] + "}"
    separator, parts = value["Fn::Join"]
    return separator.join(render(p) for p in parts)


def new_stack(name: str = "Test") -> cdk.Stack:
    return cdk.Stack(cdk.App(), name, env=ENV)


def sample_context(**extra) -> dict:
    """cdk.json's context (feature flags), as the CDK CLI passes it to app.py."""
    return {**json.loads((ROOT / "cdk.json").read_text())["context"], **extra}


@pytest.fixture(scope="module")
def sample() -> Template:
    app = cdk.App(context=sample_context(environment="test"))
    return Template.from_stack(sample_app.build(app))


def test_sample_app_stage_properties(sample):
    storage_arn = Capture()
    sample.has_resource_properties(STAGE, {
        "name": "town-hall",
        "autoParticipantRecordingConfiguration": {
            "storageConfigurationArn": {"Ref": storage_arn},
            "mediaTypes": ["AUDIO_VIDEO"],
            "thumbnailConfiguration": {"targetIntervalSeconds": 30, "storage": ["LATEST"]},
            "recordingReconnectWindowSeconds": 60,
            "hlsConfiguration": {"targetSegmentDurationSeconds": 6},
        },
        "tags": tag_list({"team": "live-events", "project": "constructs-ivsrt-sample", "environment": "test"}),
    })
    assert storage_arn.as_string().startswith("RecordingStorage")


def test_sample_app_storage_and_encoder_properties(sample):
    sample.has_resource_properties(STORAGE, {
        "name": Match.string_like_regexp("^IvsRealtimeSample-RecordingStorage-[0-9A-F]{8}$"),
        "s3": {"bucketName": {"Ref": Match.string_like_regexp("^Recordings")}},
        "tags": tag_list({"project": "constructs-ivsrt-sample", "environment": "test"}),
    })
    sample.has_resource_properties(ENCODER, {
        "video": {"width": 1280, "height": 720, "framerate": 30, "bitrate": 2500000},
        "tags": tag_list({"project": "constructs-ivsrt-sample", "environment": "test"}),
    })


def test_sample_app_outputs_the_arns_and_endpoints(sample):
    outputs = sample.find_outputs("*")
    for name in ("StageArn", "StageWhipEndpoint", "StageEventsEndpoint", "StageRtmpsEndpoint",
                 "StorageConfigurationArn", "EncoderConfigurationArn"):
        assert name in outputs
    stage_id = outputs["StageArn"]["Value"]["Ref"]
    assert outputs["StageWhipEndpoint"]["Value"] == {"Fn::GetAtt": [stage_id, "WhipEndpoint"]}


def test_one_provider_per_stack_however_many_resources():
    stack = new_stack()
    bucket = s3.Bucket(stack, "Bucket")
    storage = StorageConfiguration(stack, "Storage", bucket=bucket)
    for i in range(3):
        Stage(stack, f"Stage{i}", auto_participant_recording=AutoParticipantRecording(storage_configuration=storage))
    EncoderConfiguration(stack, "Encoder1")
    EncoderConfiguration(stack, "Encoder2")
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::Lambda::Function", 2)  # our handler + the framework's onEvent
    tokens = {str(r["Properties"]["ServiceToken"]) for t in (STAGE, ENCODER, STORAGE)
              for r in template.find_resources(t).values()}
    assert len(tokens) == 1
    handler = template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": "handler.on_event"}})
    assert len(handler) == 1
    assert next(iter(handler.values()))["Properties"]["Runtime"] == "python3.14"


def test_handler_policy_names_exactly_the_calls_it_makes():
    # A stack of stages may touch stages only: the policy grows with the types declared.
    stack = new_stack()
    Stage(stack, "Stage")
    template = Template.from_stack(stack)
    actions, arns = Capture(), Capture()
    template.has_resource_properties("AWS::IAM::Policy", {
        "PolicyDocument": {"Statement": [
            # Its own log group only (no managed AWSLambdaBasicExecutionRole).
            {"Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Effect": "Allow",
             "Resource": {"Fn::GetAtt": [Match.string_like_regexp("^IvsRealtimeProviderOnEventLogs"), "Arn"]}},
            # List operations take no resource ARN.
            {"Action": "ivs:ListStages", "Effect": "Allow", "Resource": "*"},
            {"Action": actions, "Effect": "Allow", "Resource": arns},
        ]},
        "Roles": [{"Ref": Match.string_like_regexp("^IvsRealtimeProviderOnEventRole")}],
    })
    for role in template.find_resources("AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]
    assert render(arns.as_object()) == "arn:${AWS::Partition}:ivs:eu-west-1:123456789012:stage/*"
    assert actions.as_array() == list(handler_actions(rules.STAGE)) == [
        "ivs:CreateStage", "ivs:GetStage", "ivs:UpdateStage", "ivs:DeleteStage", "ivs:TagResource", "ivs:UntagResource",
    ]
    assert list_actions(rules.STAGE) == ("ivs:ListStages",)

def test_storage_configuration_may_edit_only_its_bucket_policy():
    stack = new_stack()
    bucket = s3.Bucket(stack, "Bucket")
    StorageConfiguration(stack, "Storage", bucket=bucket)
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::IAM::Policy", {"PolicyDocument": {"Statement": Match.array_with([{
        "Action": ["s3:GetBucketLocation", "s3:GetBucketPolicy", "s3:PutBucketPolicy"],
        "Effect": "Allow",
        "Resource": {"Fn::GetAtt": [Match.string_like_regexp("^Bucket"), "Arn"]},
    }])}})


def test_custom_resources_wait_for_the_handler_policy():
    """Each custom resource references the framework function, which waits for the handler's
    role and policy: so no event reaches the handler before its permissions exist."""
    stack = new_stack()
    Stage(stack, "Stage")
    template = Template.from_stack(stack)
    stage = next(iter(template.find_resources(STAGE).values()))
    framework_id = stage["Properties"]["ServiceToken"]["Fn::GetAtt"][0]
    framework = template.to_json()["Resources"][framework_id]
    assert any(d.startswith("IvsRealtimeProviderOnEventRoleDefaultPolicy") for d in framework["DependsOn"])
    assert "DependsOn" not in stage


def test_bucket_policy_carries_the_ivs_statement_and_comes_first():
    stack = new_stack()
    bucket = s3.Bucket(stack, "Bucket", enforce_ssl=True)
    StorageConfiguration(stack, "Storage", bucket=bucket)
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::S3::BucketPolicy", {"PolicyDocument": {"Statement": Match.array_with([{
        "Sid": "IvsRealtimeRecordingWrite",
        "Action": "s3:PutObject",
        "Effect": "Allow",
        "Principal": {"Service": "ivs-composite.eu-west-1.amazonaws.com"},
        "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
        "Resource": Match.any_value(),
    }])}})
    storage = next(iter(template.find_resources(STORAGE).values()))
    assert any(d.startswith("BucketPolicy") for d in storage["DependsOn"])


def test_imported_bucket_policy_is_left_alone():
    stack = new_stack()
    StorageConfiguration(stack, "Storage", bucket=s3.Bucket.from_bucket_name(stack, "B", "existing-bucket"))
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::S3::BucketPolicy", 0)
    template.has_resource_properties(STORAGE, {"s3": {"bucketName": "existing-bucket"}})


@pytest.mark.parametrize("factory, resource_type", [
    (lambda s: Stage(s, "R"), STAGE),
    (lambda s: EncoderConfiguration(s, "R"), ENCODER),
    (lambda s: StorageConfiguration(s, "R", bucket=s3.Bucket.from_bucket_name(s, "B", "bucket-x")), STORAGE),
])
def test_removal_policy_defaults_to_destroy_and_can_retain(factory, resource_type):
    stack = new_stack()
    factory(stack)
    Template.from_stack(stack).has_resource(resource_type, {"DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"})

    stack = new_stack()
    factory(stack).apply_removal_policy(cdk.RemovalPolicy.RETAIN)
    Template.from_stack(stack).has_resource(resource_type, {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"})


def test_removal_policy_prop():
    stack = new_stack()
    Stage(stack, "S", removal_policy=cdk.RemovalPolicy.RETAIN)
    Template.from_stack(stack).has_resource(STAGE, {"DeletionPolicy": "Retain"})


@pytest.mark.parametrize("scope_of_tag", ["app", "stack", "parent"])
def test_tags_of_any_enclosing_scope_reach_every_resource(scope_of_tag):
    app = cdk.App()
    stack = cdk.Stack(app, "Tagged", env=ENV)
    group = Construct(stack, "Group")
    storage = StorageConfiguration(group, "Storage", bucket=s3.Bucket(stack, "Bucket"), tags={"own": "s"})
    Stage(group, "Stage", tags={"own": "t"},
          auto_participant_recording=AutoParticipantRecording(storage_configuration=storage))
    EncoderConfiguration(group, "Encoder")
    target = {"app": app, "stack": stack, "parent": group}[scope_of_tag]
    cdk.Tags.of(target).add("cost-center", "42")
    template = Template.from_stack(stack)
    for resource_type in (STAGE, ENCODER, STORAGE):
        template.has_resource_properties(resource_type, {"tags": Match.array_with(tag_list({"cost-center": "42"}))})
    template.has_resource_properties(STAGE, {"tags": tag_list({"own": "t", "cost-center": "42"})})


def test_no_tags_means_no_tags_property_and_no_recording():
    stack = new_stack()
    Stage(stack, "Plain", stage_name="plain")
    Template.from_stack(stack).has_resource_properties(STAGE, {
        "name": "plain", "tags": Match.absent(), "autoParticipantRecordingConfiguration": Match.absent()})


def test_tags_removed_with_tags_of_remove():
    stack = new_stack()
    Stage(stack, "S", tags={"keep": "1", "drop": "2"})
    cdk.Tags.of(stack).remove("drop")
    Template.from_stack(stack).has_resource_properties(STAGE, {"tags": tag_list({"keep": "1"})})


def test_generated_names_come_from_the_construct_path_and_differ_per_stack():
    names = []
    for stack_name in ("One", "Two"):
        stack = new_stack(stack_name)
        names.append(Stage(stack, "Stage").stage_name)
    assert names[0] != names[1]
    assert names[0].startswith("One-Stage-")


def test_full_recording_configuration_renders_every_field():
    stack = new_stack()
    storage = StorageConfiguration.from_storage_configuration_arn(
        stack, "Imported", "arn:aws:ivs:eu-west-1:123456789012:storage-configuration/AbCdEf")
    Stage(stack, "S", auto_participant_recording=AutoParticipantRecording(
        storage_configuration=storage,
        media_types=[RecordingMediaType.AUDIO_ONLY],
        thumbnails=ThumbnailConfiguration(recording_mode=ThumbnailRecordingMode.INTERVAL,
                                          target_interval=cdk.Duration.minutes(2),
                                          storage=[ThumbnailStorage.SEQUENTIAL, ThumbnailStorage.LATEST]),
        reconnect_window=cdk.Duration.seconds(0),
        hls_target_segment_duration=cdk.Duration.seconds(2),
        record_participant_replicas=False,
    ))
    Template.from_stack(stack).has_resource_properties(STAGE, {"autoParticipantRecordingConfiguration": {
        "storageConfigurationArn": "arn:aws:ivs:eu-west-1:123456789012:storage-configuration/AbCdEf",
        "mediaTypes": ["AUDIO_ONLY"],
        "thumbnailConfiguration": {"recordingMode": "INTERVAL", "targetIntervalSeconds": 120,
                                   "storage": ["SEQUENTIAL", "LATEST"]},
        "recordingReconnectWindowSeconds": 0,
        "hlsConfiguration": {"targetSegmentDurationSeconds": 2},
        "recordParticipantReplicas": False,
    }})


def test_stage_attributes_are_tokens_for_the_arn_and_endpoints():
    stack = new_stack()
    stage = Stage(stack, "S")
    logical_id = stack.get_logical_id(stage.node.find_child("Resource").node.default_child)
    assert stack.resolve(stage.stage_arn) == {"Ref": logical_id}
    for name, attribute in (("whip", "WhipEndpoint"), ("events", "EventsEndpoint"),
                            ("rtmp", "RtmpEndpoint"), ("rtmps", "RtmpsEndpoint")):
        assert stack.resolve(getattr(stage.endpoints, name)) == {"Fn::GetAtt": [logical_id, attribute]}


def test_import_by_arn_and_grants():
    stack = new_stack()
    arn = "arn:aws:ivs:eu-west-1:123456789012:stage/AbCdEf12"
    stage = Stage.from_stage_arn(stack, "Imported", arn)
    assert stage.stage_arn == arn
    assert stage.env.region == "eu-west-1" and stage.env.account == "123456789012"
    role = iam.Role(stack, "Backend", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    grant = stage.grant_create_participant_token(role)
    assert isinstance(grant, iam.Grant)
    encoder = EncoderConfiguration.from_encoder_configuration_arn(
        stack, "Enc", "arn:aws:ivs:eu-west-1:123456789012:encoder-configuration/Xy")
    encoder.grant_read(role)
    Template.from_stack(stack).has_resource_properties("AWS::IAM::Policy", {"PolicyDocument": {"Statement": [
        {"Action": "ivs:CreateParticipantToken", "Effect": "Allow", "Resource": arn},
        {"Action": "ivs:GetEncoderConfiguration", "Effect": "Allow",
         "Resource": "arn:aws:ivs:eu-west-1:123456789012:encoder-configuration/Xy"},
    ]}})


def test_grant_read_on_a_managed_stage_names_its_actions():
    stack = new_stack()
    stage = Stage(stack, "S")
    role = iam.Role(stack, "Reader", assumed_by=iam.AccountRootPrincipal())
    stage.grant_read(role)
    stage.grant_disconnect_participant(role)
    Template.from_stack(stack).has_resource_properties("AWS::IAM::Policy", {
        "Roles": [{"Ref": Match.string_like_regexp("^Reader")}],
        "PolicyDocument": {"Statement": [
            {"Action": ["ivs:GetStage", "ivs:GetStageSession", "ivs:ListStageSessions", "ivs:GetParticipant",
                        "ivs:ListParticipants", "ivs:ListParticipantEvents"],
             "Effect": "Allow", "Resource": {"Ref": Match.string_like_regexp("^S")}},
            {"Action": "ivs:DisconnectParticipant", "Effect": "Allow",
             "Resource": {"Ref": Match.string_like_regexp("^S")}},
        ]}})


def test_lambda_asset_hash_ignores_bytecode_caches(tmp_path):
    def asset_hash() -> str:
        stack = new_stack()
        Stage(stack, "S")
        functions = Template.from_stack(stack).find_resources(
            "AWS::Lambda::Function", {"Properties": {"Handler": "handler.on_event"}})
        return next(iter(functions.values()))["Properties"]["Code"]["S3Key"]

    before = asset_hash()
    cache = lambda_asset_dir() / "ivsrt_runtime" / "__pycache__"
    created = not cache.exists()
    cache.mkdir(exist_ok=True)
    stray = cache / "stray-test-file.cpython-311.pyc"
    stray.write_bytes(b"not code")
    try:
        assert asset_hash() == before
    finally:
        stray.unlink()
        if created:
            cache.rmdir()


def test_enums_match_the_model():
    from ivsrt_runtime import rules

    recording = rules.STAGE.member("autoParticipantRecordingConfiguration")
    assert [m.value for m in RecordingMediaType] == rules.shape_at(recording, "mediaTypes").member.enum
    thumbnails = rules.shape_at(recording, "thumbnailConfiguration")
    assert [m.value for m in ThumbnailRecordingMode] == thumbnails.members["recordingMode"].enum
    assert [m.value for m in ThumbnailStorage] == thumbnails.members["storage"].member.enum
    assert set(Video.__dataclass_fields__) == set(rules.ENCODER_CONFIGURATION.member("video").members)


CDK_MADE_DEPENDS_ON = ("AWS::Lambda::Function", "AWS::StepFunctions::StateMachine")


def test_sample_template_passes_cfn_lint(sample):
    """No errors. The only warnings allowed are W3005 on functions and state machines: aws-cdk-lib
    always adds DependsOn on their roles besides the GetAtt (not ours to change)."""
    import json

    from cfnlint.api import lint_all

    template = sample.to_json()
    matches = lint_all(json.dumps(template))
    unexpected = [str(m) for m in matches
                  if m.rule.id[0] in "EW"  # informational (I*) rules are advice, not findings
                  and not (m.rule.id == "W3005" and template["Resources"][m.path[1]]["Type"] in CDK_MADE_DEPENDS_ON)]
    assert unexpected == []


def test_sample_app_passes_cdk_nag_aws_solutions():
    """The AwsSolutions pack reports nothing: findings are fixed, or acknowledged in code with a
    reason (the library's own in _provider.py, the sample's in app.py)."""
    from aws_cdk import Validations
    from cdk_nag import AwsSolutionsChecks

    app = cdk.App(context=sample_context())
    sample_app.build(app)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()  # raises ValidationFailed listing every unacknowledged finding


def test_library_acknowledgments_come_with_reasons():
    """A bare stack with every construct passes too: users inherit no unexplained findings."""
    from aws_cdk import Validations
    from cdk_nag import AwsSolutionsChecks

    app = cdk.App()
    stack = cdk.Stack(app, "Bare", env=ENV)
    storage = StorageConfiguration(stack, "Storage", bucket=s3.Bucket.from_bucket_name(stack, "B", "bucket-x"))
    Stage(stack, "Stage", auto_participant_recording=AutoParticipantRecording(storage_configuration=storage))
    EncoderConfiguration(stack, "Encoder")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()


def test_a_tag_value_that_is_no_string_fails_synth_but_a_deploy_time_value_does_not():
    stack = new_stack()
    Stage(stack, "S", tags={"a": 5, "stack": cdk.Aws.STACK_NAME})  # type: ignore[dict-item]
    with pytest.raises(Exception, match=r"/S: tags\['a'\] must be a string, got: 5") as caught:
        Template.from_stack(stack)
    assert "stack" not in str(caught.value)


def test_an_acknowledgment_that_cannot_be_rendered_never_fails_synth():
    """The cdk-nag acknowledgments are cosmetic: an ARN they cannot render is left unacknowledged."""
    from constructs_ivsrt._provider import _acknowledge, _wildcard_finding

    stack = new_stack()
    unrenderable = cdk.Fn.sub("arn:aws:ivs:${AWS::Region}:123456789012:stage/*")
    assert _wildcard_finding(stack, unrenderable) is None
    _acknowledge(stack, [(None, "nothing to acknowledge")])
    Template.from_stack(stack)
