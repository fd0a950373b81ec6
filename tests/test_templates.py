"""What every construct shares in the template: one provider and its IAM, removal policies, tags,
imports and grants, cdk-nag and cfn-lint over the sample app. Each construct's own properties are
tested in its own module (test_stage.py, ...)."""

from __future__ import annotations

import inspect
import json
import typing
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Capture, Match, Template
from conftest import P384_KEY_A, tag_list
from constructs import Construct
from synth import (
    ENV,
    new_stack,
    recording,
    render,
    s3_destination,
    warnings_of,
)

import app as sample_app
from constructs_ivsrt import (
    AutoParticipantRecording,
    Composition,
    EncoderConfiguration,
    IngestConfiguration,
    IngestProtocol,
    PublicKey,
    RecordingMediaType,
    Stage,
    StorageConfiguration,
    ThumbnailConfiguration,
    ThumbnailRecordingMode,
    ThumbnailStorage,
    Video,
)
from constructs_ivsrt._asset import lambda_asset_dir
from constructs_ivsrt._provider import handler_actions, list_actions
from ivsrt_runtime import rules

STAGE, ENCODER, STORAGE = (
    "Custom::IvsRealtimeStage",
    "Custom::IvsRealtimeEncoderConfiguration",
    "Custom::IvsRealtimeStorageConfiguration",
)
ROOT = Path(__file__).resolve().parent.parent


def sample_context(**extra) -> dict:
    """cdk.json's context (feature flags), as the CDK CLI passes it to app.py."""
    return {**json.loads((ROOT / "cdk.json").read_text())["context"], **extra}


@pytest.fixture(scope="module")
def sample() -> Template:
    app = cdk.App(context=sample_context(environment="test"))
    return Template.from_stack(sample_app.build(app))


def test_sample_app_stage_properties(sample):
    storage_arn = Capture()
    sample.has_resource_properties(
        STAGE,
        {
            "name": "town-hall",
            "autoParticipantRecordingConfiguration": {
                "storageConfigurationArn": {"Ref": storage_arn},
                "mediaTypes": ["AUDIO_VIDEO"],
                "thumbnailConfiguration": {"targetIntervalSeconds": 30, "storage": ["LATEST"]},
                "recordingReconnectWindowSeconds": 60,
                "hlsConfiguration": {"targetSegmentDurationSeconds": 6},
            },
            "tags": tag_list({"team": "live-events", "project": "constructs-ivsrt-sample", "environment": "test"}),
        },
    )
    assert storage_arn.as_string().startswith("RecordingStorage")


def test_sample_app_storage_and_encoder_properties(sample):
    sample.has_resource_properties(
        STORAGE,
        {
            "name": Match.string_like_regexp("^IvsRealtimeSample-RecordingStorage-[0-9A-F]{8}$"),
            "s3": {"bucketName": {"Ref": Match.string_like_regexp("^Recordings")}},
            "tags": tag_list({"project": "constructs-ivsrt-sample", "environment": "test"}),
        },
    )
    sample.has_resource_properties(
        ENCODER,
        {
            "video": {"width": 1280, "height": 720, "framerate": 30, "bitrate": 2500000},
            "tags": tag_list({"project": "constructs-ivsrt-sample", "environment": "test"}),
        },
    )


def test_sample_app_outputs_the_arns_and_endpoints(sample):
    outputs = sample.find_outputs("*")
    for name in (
        "StageArn",
        "StageWhipEndpoint",
        "StageEventsEndpoint",
        "StageRtmpsEndpoint",
        "StorageConfigurationArn",
        "EncoderConfigurationArn",
    ):
        assert name in outputs
    stage_id = outputs["StageArn"]["Value"]["Ref"]
    assert outputs["StageWhipEndpoint"]["Value"] == {"Fn::GetAtt": [stage_id, "WhipEndpoint"]}


def test_one_provider_per_stack_however_many_resources():
    stack = new_stack("Test")
    bucket = s3.Bucket(stack, "Bucket")
    storage = StorageConfiguration(stack, "Storage", bucket=bucket)
    for i in range(3):
        Stage(stack, f"Stage{i}", auto_participant_recording=AutoParticipantRecording(storage_configuration=storage))
    EncoderConfiguration(stack, "Encoder1")
    EncoderConfiguration(stack, "Encoder2")
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::Lambda::Function", 2)  # our handler + the framework's onEvent
    tokens = {
        str(r["Properties"]["ServiceToken"]) for t in (STAGE, ENCODER, STORAGE) for r in template.find_resources(t).values()
    }
    assert len(tokens) == 1
    handler = template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": "handler.on_event"}})
    assert len(handler) == 1
    assert next(iter(handler.values()))["Properties"]["Runtime"] == "python3.14"


def test_handler_policy_names_exactly_the_calls_it_makes():
    # A stack of stages may touch stages only: the policy grows with the types declared.
    stack = new_stack("Test")
    Stage(stack, "Stage")
    template = Template.from_stack(stack)
    actions, arns, desired_arn = Capture(), Capture(), Capture()
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    # Its own log group only (no managed AWSLambdaBasicExecutionRole).
                    {
                        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                        "Effect": "Allow",
                        "Resource": {"Fn::GetAtt": [Match.string_like_regexp("^IvsRealtimeProviderOnEventLogs"), "Arn"]},
                    },
                    # List operations take no resource ARN.
                    {"Action": "ivs:ListStages", "Effect": "Allow", "Resource": "*"},
                    # The drift detector's desired-state parameters: this stack's own path only.
                    {
                        "Action": ["ssm:PutParameter", "ssm:GetParameter", "ssm:DeleteParameter"],
                        "Effect": "Allow",
                        "Resource": desired_arn,
                    },
                    {"Action": actions, "Effect": "Allow", "Resource": arns},
                ]
            },
            "Roles": [{"Ref": Match.string_like_regexp("^IvsRealtimeProviderOnEventRole")}],
        },
    )
    for role in template.find_resources("AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]
    assert render(arns.as_object()) == "arn:${AWS::Partition}:ivs:eu-west-1:123456789012:stage/*"
    assert render(desired_arn.as_object()) == (
        "arn:${AWS::Partition}:ssm:eu-west-1:123456789012:parameter/constructs-ivsrt/desired/${AWS::StackName}/*"
    )
    assert (
        actions.as_array()
        == list(handler_actions(rules.STAGE))
        == [
            "ivs:CreateStage",
            "ivs:GetStage",
            "ivs:UpdateStage",
            "ivs:DeleteStage",
            "ivs:TagResource",
            "ivs:UntagResource",
        ]
    )
    assert list_actions(rules.STAGE) == ("ivs:ListStages",)


def test_custom_resources_wait_for_the_handler_policy():
    """Each custom resource references the framework function, which waits for the handler's
    role and policy: so no event reaches the handler before its permissions exist."""
    stack = new_stack("Test")
    Stage(stack, "Stage")
    template = Template.from_stack(stack)
    stage = next(iter(template.find_resources(STAGE).values()))
    framework_id = stage["Properties"]["ServiceToken"]["Fn::GetAtt"][0]
    framework = template.to_json()["Resources"][framework_id]
    assert any(d.startswith("IvsRealtimeProviderOnEventRoleDefaultPolicy") for d in framework["DependsOn"])
    assert "DependsOn" not in stage


@pytest.mark.parametrize(
    "factory, resource_type",
    [
        (lambda s: Stage(s, "R"), STAGE),
        (lambda s: EncoderConfiguration(s, "R"), ENCODER),
        (lambda s: StorageConfiguration(s, "R", bucket=s3.Bucket.from_bucket_name(s, "B", "bucket-x")), STORAGE),
    ],
)
def test_removal_policy_defaults_to_destroy_and_can_retain(factory, resource_type):
    stack = new_stack("Test")
    factory(stack)
    Template.from_stack(stack).has_resource(resource_type, {"DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"})

    stack = new_stack("Test")
    factory(stack).apply_removal_policy(cdk.RemovalPolicy.RETAIN)
    Template.from_stack(stack).has_resource(resource_type, {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"})


def test_removal_policy_prop():
    stack = new_stack("Test")
    Stage(stack, "S", removal_policy=cdk.RemovalPolicy.RETAIN)
    Template.from_stack(stack).has_resource(STAGE, {"DeletionPolicy": "Retain"})


@pytest.mark.parametrize("scope_of_tag", ["app", "stack", "parent"])
def test_tags_of_any_enclosing_scope_reach_every_resource(scope_of_tag):
    app = cdk.App()
    stack = cdk.Stack(app, "Tagged", env=ENV)
    group = Construct(stack, "Group")
    storage = StorageConfiguration(group, "Storage", bucket=s3.Bucket(stack, "Bucket"), tags={"own": "s"})
    Stage(group, "Stage", tags={"own": "t"}, auto_participant_recording=AutoParticipantRecording(storage_configuration=storage))
    EncoderConfiguration(group, "Encoder")
    target = {"app": app, "stack": stack, "parent": group}[scope_of_tag]
    cdk.Tags.of(target).add("cost-center", "42")
    template = Template.from_stack(stack)
    for resource_type in (STAGE, ENCODER, STORAGE):
        template.has_resource_properties(resource_type, {"tags": Match.array_with(tag_list({"cost-center": "42"}))})
    template.has_resource_properties(STAGE, {"tags": tag_list({"own": "t", "cost-center": "42"})})


def test_tags_removed_with_tags_of_remove():
    stack = new_stack("Test")
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


def test_import_by_arn_and_grants():
    stack = new_stack("Test")
    arn = "arn:aws:ivs:eu-west-1:123456789012:stage/AbCdEf12"
    stage = Stage.from_stage_arn(stack, "Imported", arn)
    assert stage.stage_arn == arn
    assert stage.env.region == "eu-west-1" and stage.env.account == "123456789012"
    role = iam.Role(stack, "Backend", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    grant = stage.grant_create_participant_token(role)
    assert isinstance(grant, iam.Grant)
    encoder = EncoderConfiguration.from_encoder_configuration_arn(
        stack, "Enc", "arn:aws:ivs:eu-west-1:123456789012:encoder-configuration/Xy"
    )
    encoder.grant_read(role)
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    {"Action": "ivs:CreateParticipantToken", "Effect": "Allow", "Resource": arn},
                    {
                        "Action": "ivs:GetEncoderConfiguration",
                        "Effect": "Allow",
                        "Resource": "arn:aws:ivs:eu-west-1:123456789012:encoder-configuration/Xy",
                    },
                ]
            }
        },
    )


def test_lambda_asset_hash_ignores_bytecode_caches(tmp_path):
    def asset_hash() -> str:
        stack = new_stack("Test")
        Stage(stack, "S")
        functions = Template.from_stack(stack).find_resources(
            "AWS::Lambda::Function", {"Properties": {"Handler": "handler.on_event"}}
        )
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

    recording = rules.STAGE.property_shape("autoParticipantRecordingConfiguration")
    assert [m.value for m in RecordingMediaType] == rules.shape_at(recording, "mediaTypes").member.enum
    thumbnails = rules.shape_at(recording, "thumbnailConfiguration")
    assert [m.value for m in ThumbnailRecordingMode] == thumbnails.members["recordingMode"].enum
    assert [m.value for m in ThumbnailStorage] == thumbnails.members["storage"].member.enum
    assert set(Video.__dataclass_fields__) == set(rules.ENCODER_CONFIGURATION.property_shape("video").members)


CDK_MADE_DEPENDS_ON = ("AWS::Lambda::Function", "AWS::StepFunctions::StateMachine")


def test_sample_template_passes_cfn_lint(sample):
    """No errors. The only warnings allowed are W3005 on functions and state machines: aws-cdk-lib
    always adds DependsOn on their roles besides the GetAtt (not ours to change)."""
    import json

    from cfnlint.api import lint_all

    template = sample.to_json()
    matches = lint_all(json.dumps(template))
    unexpected = [
        str(m)
        for m in matches
        if m.rule.id[0] in "EW"  # informational (I*) rules are advice, not findings
        and not (m.rule.id == "W3005" and template["Resources"][m.path[1]]["Type"] in CDK_MADE_DEPENDS_ON)
    ]
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
    stack = new_stack("Test")
    Stage(stack, "S", tags={"a": 5, "stack": cdk.Aws.STACK_NAME})  # type: ignore[dict-item]
    with pytest.raises(Exception, match=r"/S: tags\['a'\] must be a string, got: 5") as caught:
        Template.from_stack(stack)
    assert "stack" not in str(caught.value)


def test_an_acknowledgment_that_cannot_be_rendered_never_fails_synth():
    """The cdk-nag acknowledgments are cosmetic: an ARN they cannot render is left unacknowledged."""
    from constructs_ivsrt._provider import _acknowledge, _wildcard_finding

    stack = new_stack("Test")
    unrenderable = cdk.Fn.sub("arn:aws:ivs:${AWS::Region}:123456789012:stage/*")
    assert _wildcard_finding(stack, unrenderable) is None
    _acknowledge(stack, [(None, "nothing to acknowledge")])
    Template.from_stack(stack)


def test_policy_per_type_names_exactly_the_calls_and_arns():
    """Written out by hand, not derived: what the handler needs per ARN type on AWS, including
    StartComposition's authorization on the resources it uses (Service Authorization Reference)."""
    st = new_stack()
    stage = Stage(st, "Stage")
    IngestConfiguration(st, "Ingest", stage=stage)
    PublicKey(st, "Key", public_key_material=P384_KEY_A)
    Composition(st, "Comp", stage=stage, destinations=[s3_destination(st)])
    statements = Template.from_stack(st).find_resources("AWS::IAM::Policy")
    handler_policy = next(p for k, p in statements.items() if k.startswith("IvsRealtimeProviderOnEventRole"))
    by_segment: dict[str, set[str]] = {}
    for statement in handler_policy["Properties"]["PolicyDocument"]["Statement"][3:]:  # after logs, lists, SSM
        segment = statement["Resource"]["Fn::Join"][1][-1].split(":")[-1].split("/")[0]
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        by_segment.setdefault(segment, set()).update(actions)
    tagging = {"ivs:TagResource", "ivs:UntagResource"}
    assert by_segment == {
        "stage": {"ivs:CreateStage", "ivs:GetStage", "ivs:UpdateStage", "ivs:DeleteStage", "ivs:StartComposition"} | tagging,
        "ingest-configuration": {
            "ivs:CreateIngestConfiguration",
            "ivs:GetIngestConfiguration",
            "ivs:UpdateIngestConfiguration",
            "ivs:DeleteIngestConfiguration",
        }
        | tagging,
        "public-key": {"ivs:ImportPublicKey", "ivs:GetPublicKey", "ivs:DeletePublicKey"} | tagging,
        "composition": {"ivs:StartComposition", "ivs:GetComposition", "ivs:StopComposition"} | tagging,
        "encoder-configuration": {"ivs:StartComposition"},
        "storage-configuration": {"ivs:StartComposition"},
        "channel": {"ivs:StartComposition"},
    }
    lists = handler_policy["Properties"]["PolicyDocument"]["Statement"][1]
    assert lists == {
        "Action": ["ivs:ListStages", "ivs:ListIngestConfigurations", "ivs:ListPublicKeys", "ivs:ListCompositions"],
        "Effect": "Allow",
        "Resource": "*",
    }


def test_framework_functions_log_at_fatal_only():
    """The framework logs raw Invoke responses (a stream key, as byte codes): keep them out."""
    st = new_stack()
    stage = Stage(st, "Stage")
    IngestConfiguration(st, "Ingest", stage=stage)
    Composition(st, "Comp", stage=stage, destinations=[s3_destination(st)])
    functions = Template.from_stack(st).find_resources("AWS::Lambda::Function")
    framework = [f for f in functions.values() if f["Properties"]["Handler"].startswith("framework.")]
    assert len(framework) == 4  # onEvent twice (sync, async), isComplete, onTimeout
    assert {f["Properties"]["LoggingConfig"]["ApplicationLogLevel"] for f in framework} == {"FATAL"}


@pytest.mark.parametrize(
    "make, grant, actions",
    [
        (
            lambda st: IngestConfiguration.from_ingest_configuration_arn(
                st, "I", "arn:aws:ivs:eu-west-1:123456789012:ingest-configuration/AbCd"
            ),
            "grant_read",
            "ivs:GetIngestConfiguration",
        ),
        (
            lambda st: PublicKey.from_public_key_arn(st, "K", "arn:aws:ivs:eu-west-1:123456789012:public-key/AbCd"),
            "grant_read",
            "ivs:GetPublicKey",
        ),
        (
            lambda st: Composition.from_composition_arn(st, "C", "arn:aws:ivs:eu-west-1:123456789012:composition/AbCd"),
            "grant_read",
            "ivs:GetComposition",
        ),
        (
            lambda st: Composition.from_composition_arn(st, "C", "arn:aws:ivs:eu-west-1:123456789012:composition/AbCd"),
            "grant_stop",
            "ivs:StopComposition",
        ),
    ],
)
def test_imports_and_grants_name_the_exact_action_and_arn(make, grant, actions):
    st = new_stack()
    imported = make(st)
    role = iam.Role(st, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    result = getattr(imported, grant)(role)
    assert isinstance(result, iam.Grant) and result.success
    arn = imported._arn
    Template.from_stack(st).has_resource_properties(
        "AWS::IAM::Policy", {"PolicyDocument": {"Statement": [{"Action": actions, "Effect": "Allow", "Resource": arn}]}}
    )
    assert imported.env.region == "eu-west-1" and imported.env.account == "123456789012"


def test_tags_of_reach_every_new_type():
    app = cdk.App()
    st = cdk.Stack(app, "T", env=ENV)
    stage = Stage(st, "Stage")
    IngestConfiguration(st, "Ingest", stage=stage)
    PublicKey(st, "Key", public_key_material=P384_KEY_A)
    Composition(st, "Comp", stage=stage, destinations=[s3_destination(st)])
    cdk.Tags.of(app).add("cost-center", "42")
    template = Template.from_stack(st)
    for resource_type in (
        "Custom::IvsRealtimeIngestConfiguration",
        "Custom::IvsRealtimePublicKey",
        "Custom::IvsRealtimeComposition",
    ):
        template.has_resource_properties(resource_type, {"tags": tag_list({"cost-center": "42"})})


def test_sample_stream_key_is_not_an_output():
    import json
    from pathlib import Path

    import app as sample_app

    context = json.loads((Path(sample_app.__file__).parent / "cdk.json").read_text())["context"]
    template = Template.from_stack(sample_app.build(cdk.App(context=context)))
    outputs = template.to_json()["Outputs"]
    assert not [o for o in outputs.values() if "StreamKey" in str(o)]
    assert {"CompositionArn", "StudioParticipantId", "TokenSigningKeyFingerprint", "TokenVendorFunction"} <= set(outputs)


def test_snapshot_is_warned_about_and_means_destroy():
    st = new_stack()
    stage = Stage(st, "Stage", removal_policy=cdk.RemovalPolicy.SNAPSHOT)
    assert stage.removal_policy == cdk.RemovalPolicy.DESTROY
    Template.from_stack(st).has_resource("Custom::IvsRealtimeStage", {"DeletionPolicy": "Delete"})
    assert [w.split(" [ack:")[0] for w in warnings_of(st)] == [
        "RemovalPolicy.SNAPSHOT means nothing for an IVS Real-Time resource (there is no snapshot of it): the "
        "resource is deleted, as with RemovalPolicy.DESTROY"
    ]


MANAGED_TYPES = [
    Stage,
    EncoderConfiguration,
    StorageConfiguration,
    IngestConfiguration,
    PublicKey,
    Composition,
]


@pytest.mark.parametrize("cls", MANAGED_TYPES, ids=lambda cls: cls.__name__)
def test_each_declared_prop_is_a_constructor_argument_and_a_typed_attribute(cls):
    """A prop is declared once, ``name: type = api(...)`` on the class: that is its FIELDS entry
    (the declaration leaves the class, as a dataclass's does), and the constructor's keyword
    argument of the same name is its value. The one at the API's ``name`` is generated when not given."""
    parameters = inspect.signature(cls.__init__).parameters
    assert cls.FIELDS and set(cls.FIELDS) <= set(parameters), set(cls.FIELDS) - set(parameters)
    assert set(cls.FIELDS) <= set(typing.get_type_hints(cls)), "each declared prop is a typed attribute"
    assert not any(name in vars(cls) for name in cls.FIELDS)
    assert cls.NAME_PROP == next((name for name, spec in cls.FIELDS.items() if spec.path == ("name",)), None)
    assert (cls.NAME_PROP is None) == (cls is Composition)


def test_the_declared_props_are_the_attributes_as_given_the_name_generated():
    st = new_stack()
    video = Video(width=640)
    encoder = EncoderConfiguration(st, "Encoder", video=video)
    stage = Stage(st, "Stage", stage_name="mine")
    ingest = IngestConfiguration(st, "Ingest", stage=stage, user_id="u")
    (generated,) = [r["Properties"]["name"] for r in Template.from_stack(st).find_resources(ENCODER).values()]
    assert (encoder.video, encoder.encoder_configuration_name) == (video, generated)
    assert (stage.stage_name, stage.auto_participant_recording) == ("mine", None)
    assert (ingest.stage, ingest.user_id, ingest.ingest_protocol, ingest.redundant_ingest) == (
        stage,
        "u",
        IngestProtocol.RTMPS,
        None,
    )


def test_grant_names_any_actions_on_the_resource():
    st = new_stack()
    stage = Stage(st, "Stage")
    role = iam.Role(st, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    stage.grant(role, "ivs:ListParticipantReplicas", "ivs:StartParticipantReplication")
    Template.from_stack(st).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    {
                        "Action": ["ivs:ListParticipantReplicas", "ivs:StartParticipantReplication"],
                        "Effect": "Allow",
                        "Resource": {"Ref": Match.string_like_regexp("^Stage")},
                    }
                ]
            }
        },
    )


def test_an_empty_value_is_sent_as_written_but_an_empty_video_is_no_video():
    """{} is what the user wrote (leaving it out would replace an ingest configuration whose
    attributes were {}); only Video() with no field means the service's defaults."""
    st = new_stack()
    IngestConfiguration(st, "Ingest", attributes={})
    Stage(st, "Stage", auto_participant_recording=recording(st, thumbnails=ThumbnailConfiguration()))
    EncoderConfiguration(st, "Encoder", video=Video())
    template = Template.from_stack(st)
    template.has_resource_properties("Custom::IvsRealtimeIngestConfiguration", {"attributes": {}})
    template.has_resource_properties(
        "Custom::IvsRealtimeStage", {"autoParticipantRecordingConfiguration": {"thumbnailConfiguration": {}}}
    )
    template.has_resource_properties("Custom::IvsRealtimeEncoderConfiguration", {"video": Match.absent()})


def test_sample_app_watches_its_stage(sample):
    sample.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    sample.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/IVSRealTime",
            "MetricName": "DownloadPacketLoss",
            "Statistic": "Average",
            "Threshold": 5,
            "EvaluationPeriods": 3,
            "ComparisonOperator": "GreaterThanThreshold",
            "Dimensions": [{"Name": "Stage", "Value": Match.any_value()}],
        },
    )
