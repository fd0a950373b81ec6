"""Templates and synth-time validation of IngestConfiguration, PublicKey, Composition and
ParticipantTokenVendor: properties, attributes, grants, imports, the policy per type, and one
message per rule (construct path, prop, rule, value)."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ivs as ivs
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template

from conftest import P256_KEY, P384_KEY_A, tag_list
from constructs_ivsrt import (
    ChannelDestination,
    Composition,
    EncoderConfiguration,
    GridLayout,
    IngestConfiguration,
    IngestProtocol,
    IvsRealtimeValidationError,
    ParticipantTokenCapability,
    ParticipantTokenVendor,
    PipBehavior,
    PipLayout,
    PipPosition,
    PublicKey,
    AutoParticipantRecording,
    S3Destination,
    Stage,
    StorageConfiguration,
    VideoAspectRatio,
    VideoFillMode,
)
from ivsrt_runtime import rules

ENV = cdk.Environment(account="123456789012", region="eu-west-1")
STAGE_ARN = "arn:aws:ivs:eu-west-1:123456789012:stage/AbCd"
STORAGE_ARN = "arn:aws:ivs:eu-west-1:123456789012:storage-configuration/AbCd"
ENCODER_ARN = "arn:aws:ivs:eu-west-1:123456789012:encoder-configuration/AbCd"
CHANNEL_ARN = "arn:aws:ivs:eu-west-1:123456789012:channel/AbCd"


def new_stack() -> cdk.Stack:
    return cdk.Stack(cdk.App(), "T", env=ENV)


def s3_destination(st: cdk.Stack, **fields) -> S3Destination:
    return S3Destination(
        storage_configuration=StorageConfiguration.from_storage_configuration_arn(st, "Storage", STORAGE_ARN),
        encoder_configuration=EncoderConfiguration.from_encoder_configuration_arn(st, "Encoder", ENCODER_ARN),
        **fields)


def logical_id_of(st: cdk.Stack, construct) -> str:
    return st.get_logical_id(construct.node.find_child("Resource").node.default_child)


def imported_stage(st: cdk.Stack):
    return Stage.from_stage_arn(st, "Stage", STAGE_ARN)


# ---------------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------------

def test_ingest_configuration_properties_and_secret_attribute():
    st = new_stack()
    stage = Stage(st, "Stage")
    ingest = IngestConfiguration(st, "Studio", stage=stage, user_id="enc-1", attributes={"role": "studio"},
                                 redundant_ingest=True, tags={"team": "live"})
    key_output = cdk.CfnOutput(st, "Key", value=ingest.participant_id)
    template = Template.from_stack(st)
    template.has_resource_properties("Custom::IvsRealtimeIngestConfiguration", {
        "name": ingest.ingest_configuration_name, "stageArn": {"Ref": Match.string_like_regexp("^Stage")}, "userId": "enc-1",
        "attributes": {"role": "studio"}, "ingestProtocol": "RTMPS", "redundantIngest": True, "tags": tag_list({"team": "live"}),
    })
    logical_id = logical_id_of(st, ingest)
    assert "deleteOptions" not in template.to_json()["Resources"][logical_id]["Properties"]
    assert st.resolve(key_output.value) == {"Fn::GetAtt": [logical_id, "ParticipantId"]}
    # The stream key is a SecretValue: CDK will not let it be written where secrets do not belong.
    assert isinstance(ingest.stream_key, cdk.SecretValue)
    assert st.resolve(ingest.stream_key.unsafe_unwrap()) == {"Fn::GetAtt": [logical_id, "StreamKey"]}


def test_force_delete_is_a_delete_option_of_the_resource():
    st = new_stack()
    IngestConfiguration(st, "Studio", force_delete=True)
    Template.from_stack(st).has_resource_properties("Custom::IvsRealtimeIngestConfiguration",
                                                    {"deleteOptions": {"force": True}})


def test_public_key_properties_and_fingerprint():
    st = new_stack()
    key = PublicKey(st, "Signer", public_key_material=P384_KEY_A, public_key_name="signer")
    Template.from_stack(st).has_resource_properties("Custom::IvsRealtimePublicKey", {
        "name": "signer", "publicKeyMaterial": P384_KEY_A})
    assert st.resolve(key.fingerprint) == {"Fn::GetAtt": [logical_id_of(st, key), "Fingerprint"]}


def test_composition_properties_every_layout_option_and_both_destinations():
    st = new_stack()
    channel = ivs.CfnChannel(st, "Channel")
    composition = Composition(
        st, "Program", stage=imported_stage(st),
        layout=PipLayout(featured_participant_attribute="host", participant_order_attribute="order",
                         pip_participant_attribute="guest", pip_behavior=PipBehavior.DYNAMIC,
                         pip_position=PipPosition.TOP_LEFT, pip_offset=10, pip_width=320, pip_height=180,
                         grid_gap=4, omit_stopped_video=True, video_fill_mode=VideoFillMode.CONTAIN),
        destinations=[
            ChannelDestination(channel=channel, name="live"),
            s3_destination(st, target_segment_duration=cdk.Duration.seconds(4),
                           thumbnail_interval=cdk.Duration.minutes(1), name="vod"),
        ])
    template = Template.from_stack(st)
    template.has_resource_properties("Custom::IvsRealtimeComposition", {
        "ServiceToken": {"Fn::GetAtt": [Match.string_like_regexp("^IvsRealtimeProviderAsyncProviderframeworkonEvent"), "Arn"]},
        "stageArn": STAGE_ARN,
        "layout": {"pip": {"featuredParticipantAttribute": "host", "participantOrderAttribute": "order",
                           "pipParticipantAttribute": "guest", "pipBehavior": "DYNAMIC", "pipPosition": "TOP_LEFT",
                           "pipOffset": 10, "pipWidth": 320, "pipHeight": 180, "gridGap": 4,
                           "omitStoppedVideo": True, "videoFillMode": "CONTAIN"}},
        "destinations": [
            {"name": "live", "channel": {"channelArn": {"Fn::GetAtt": ["Channel", "Arn"]}}},
            {"name": "vod", "s3": {"storageConfigurationArn": STORAGE_ARN, "encoderConfigurationArns": [ENCODER_ARN],
                                   "recordingConfiguration": {"hlsConfiguration": {"targetSegmentDurationSeconds": 4}},
                                   "thumbnailConfigurations": [{"targetIntervalSeconds": 60}]}},
        ],
    })
    # Only compositions pay for the waiter: one state machine, polling every 5 s for 15 minutes.
    template.resource_count_is("AWS::StepFunctions::StateMachine", 1)
    assert composition.composition_arn


def test_grid_layout_and_a_stack_without_compositions_has_no_waiter():
    st = new_stack()
    Composition(st, "C", stage=imported_stage(st), destinations=[s3_destination(st)],
                layout=GridLayout(video_aspect_ratio=VideoAspectRatio.SQUARE, grid_gap=0))
    Template.from_stack(st).has_resource_properties("Custom::IvsRealtimeComposition", {
        "layout": {"grid": {"videoAspectRatio": "SQUARE", "gridGap": 0}}})
    plain = new_stack()
    Stage(plain, "Stage")
    Template.from_stack(plain).resource_count_is("AWS::StepFunctions::StateMachine", 0)


def test_layout_and_enum_fields_match_the_model():
    layout = rules.COMPOSITION.member("layout")
    for enum_type, shape in ((VideoFillMode, rules.shape_at(layout, "grid", "videoFillMode")),
                             (VideoAspectRatio, rules.shape_at(layout, "grid", "videoAspectRatio")),
                             (PipBehavior, rules.shape_at(layout, "pip", "pipBehavior")),
                             (PipPosition, rules.shape_at(layout, "pip", "pipPosition")),
                             (IngestProtocol, rules.INGEST_CONFIGURATION.member("ingestProtocol"))):
        assert [e.value for e in enum_type] == shape.enum


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
    for statement in handler_policy["Properties"]["PolicyDocument"]["Statement"][2:]:
        segment = statement["Resource"]["Fn::Join"][1][-1].split(":")[-1].split("/")[0]
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        by_segment.setdefault(segment, set()).update(actions)
    tagging = {"ivs:TagResource", "ivs:UntagResource"}
    assert by_segment == {
        "stage": {"ivs:CreateStage", "ivs:GetStage", "ivs:UpdateStage", "ivs:DeleteStage", "ivs:StartComposition"} | tagging,
        "ingest-configuration": {"ivs:CreateIngestConfiguration", "ivs:GetIngestConfiguration",
                                 "ivs:UpdateIngestConfiguration", "ivs:DeleteIngestConfiguration"} | tagging,
        "public-key": {"ivs:ImportPublicKey", "ivs:GetPublicKey", "ivs:DeletePublicKey"} | tagging,
        "composition": {"ivs:StartComposition", "ivs:GetComposition", "ivs:StopComposition"} | tagging,
        "encoder-configuration": {"ivs:StartComposition"},
        "storage-configuration": {"ivs:StartComposition"},
        "channel": {"ivs:StartComposition"},
    }
    lists = handler_policy["Properties"]["PolicyDocument"]["Statement"][1]
    assert lists == {"Action": ["ivs:ListStages", "ivs:ListIngestConfigurations", "ivs:ListPublicKeys",
                                "ivs:ListCompositions"], "Effect": "Allow", "Resource": "*"}


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


@pytest.mark.parametrize("make, grant, actions", [
    (lambda st: IngestConfiguration.from_ingest_configuration_arn(
        st, "I", "arn:aws:ivs:eu-west-1:123456789012:ingest-configuration/AbCd"), "grant_read", "ivs:GetIngestConfiguration"),
    (lambda st: PublicKey.from_public_key_arn(st, "K", "arn:aws:ivs:eu-west-1:123456789012:public-key/AbCd"),
     "grant_read", "ivs:GetPublicKey"),
    (lambda st: Composition.from_composition_arn(st, "C", "arn:aws:ivs:eu-west-1:123456789012:composition/AbCd"),
     "grant_read", "ivs:GetComposition"),
    (lambda st: Composition.from_composition_arn(st, "C", "arn:aws:ivs:eu-west-1:123456789012:composition/AbCd"),
     "grant_stop", "ivs:StopComposition"),
])
def test_imports_and_grants_name_the_exact_action_and_arn(make, grant, actions):
    st = new_stack()
    imported = make(st)
    role = iam.Role(st, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    result = getattr(imported, grant)(role)
    assert isinstance(result, iam.Grant) and result.success
    arn = imported._arn
    Template.from_stack(st).has_resource_properties("AWS::IAM::Policy", {
        "PolicyDocument": {"Statement": [{"Action": actions, "Effect": "Allow", "Resource": arn}]}})
    assert imported.env.region == "eu-west-1" and imported.env.account == "123456789012"


def test_token_vendor_function_is_granted_only_token_creation_on_its_stage():
    st = new_stack()
    stage = Stage(st, "Stage")
    vendor = ParticipantTokenVendor(st, "Tokens", stage=stage, token_duration=cdk.Duration.minutes(90),
                                    capabilities=[ParticipantTokenCapability.SUBSCRIBE], user_id_claim="sub")
    backend = iam.Role(st, "Backend", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    vendor.grant_invoke(backend)
    template = Template.from_stack(st)
    template.has_resource_properties("AWS::Lambda::Function", {
        "Handler": "token_vendor.create_token",
        "Environment": {"Variables": {"STAGE_ARN": {"Ref": Match.string_like_regexp("^Stage")},
                                      "TOKEN_DURATION_MINUTES": "90", "TOKEN_CAPABILITIES": "SUBSCRIBE",
                                      "TOKEN_USER_ID_CLAIM": "sub"}}})
    template.has_resource_properties("AWS::IAM::Policy", {
        "PolicyDocument": {"Statement": Match.array_with([
            {"Action": "ivs:CreateParticipantToken", "Effect": "Allow",
             "Resource": {"Ref": Match.string_like_regexp("^Stage")}}])},
        "Roles": [{"Ref": Match.string_like_regexp("^TokensRole")}]})
    assert vendor.grant.success


def test_tags_of_reach_every_new_type():
    app = cdk.App()
    st = cdk.Stack(app, "T", env=ENV)
    stage = Stage(st, "Stage")
    IngestConfiguration(st, "Ingest", stage=stage)
    PublicKey(st, "Key", public_key_material=P384_KEY_A)
    Composition(st, "Comp", stage=stage, destinations=[s3_destination(st)])
    cdk.Tags.of(app).add("cost-center", "42")
    template = Template.from_stack(st)
    for resource_type in ("Custom::IvsRealtimeIngestConfiguration", "Custom::IvsRealtimePublicKey",
                          "Custom::IvsRealtimeComposition"):
        template.has_resource_properties(resource_type, {"tags": tag_list({"cost-center": "42"})})


# ---------------------------------------------------------------------------------------------
# Validation: one message per rule
# ---------------------------------------------------------------------------------------------

def expect(message: str, build) -> None:
    with pytest.raises(IvsRealtimeValidationError) as caught:
        build(new_stack())
    assert str(caught.value) == message


@pytest.mark.parametrize("build, message", [
    pytest.param(lambda s: IngestConfiguration(s, "I", ingest_protocol=IngestProtocol.RTMP),
                 "T/I: insecure_ingest must be true when ingest_protocol is RTMP, got: None", id="rtmp-insecure"),
    pytest.param(lambda s: IngestConfiguration(s, "I", ingest_protocol="SRT"),
                 "T/I: ingest_protocol must be one of RTMP, RTMPS, got: 'SRT'", id="protocol"),
    pytest.param(lambda s: IngestConfiguration(s, "I", user_id="u" * 129),
                 f"T/I: user_id must have at most 128 characters, got: '{'u' * 129}'", id="user-id"),
    pytest.param(lambda s: IngestConfiguration(s, "I", ingest_configuration_name="a b"),
                 "T/I: ingest_configuration_name must match the pattern [a-zA-Z0-9-_]*, got: 'a b'", id="ingest-name"),
    pytest.param(lambda s: IngestConfiguration.from_ingest_configuration_arn(s, "X", STAGE_ARN),
                 "T/X: ingest_configuration_arn must match the pattern "
                 "arn:aws:ivs:[a-z0-9-]+:[0-9]+:ingest-configuration/[a-zA-Z0-9-]+, got: '" + STAGE_ARN + "'",
                 id="ingest-arn"),
    pytest.param(lambda s: PublicKey(s, "K", public_key_material="ssh-ed25519 AAAA"),
                 "T/K: public_key_material must match the pattern "
                 + rules.PUBLIC_KEY.member("publicKeyMaterial").metadata["pattern"] + ", got: 'ssh-ed25519 AAAA'",
                 id="pem-armour"),
    pytest.param(lambda s: PublicKey(s, "K", public_key_material=P256_KEY),
                 "T/K: public_key_material must be an ECDSA P-384 (secp384r1) public key, as IVS verifies "
                 "ES384-signed tokens, got: a 91-byte key of another type or curve", id="pem-curve"),
    pytest.param(lambda s: PublicKey(s, "K", public_key_material=P384_KEY_A.replace("MHYw", "M!Yw")),
                 "T/K: public_key_material must match the pattern "
                 + rules.PUBLIC_KEY.member("publicKeyMaterial").metadata["pattern"] + ", got: "
                 + repr(P384_KEY_A.replace("MHYw", "M!Yw")), id="pem-base64"),
    pytest.param(lambda s: Composition(s, "C", stage=imported_stage(s), destinations=[]),
                 "T/C: destinations must have at least 1 items, got: []", id="no-destination"),
    pytest.param(lambda s: Composition(s, "C", stage=imported_stage(s),
                                       destinations=[ChannelDestination(channel=STAGE_ARN)]),
                 "T/C: destinations[0].channel must match the pattern "
                 "arn:aws:ivs:[a-z0-9-]+:[0-9]+:channel/[a-zA-Z0-9-]+, got: '" + STAGE_ARN + "'", id="channel-arn"),
    pytest.param(lambda s: Composition(s, "C", stage=imported_stage(s), destinations=[
        s3_destination(s, target_segment_duration=cdk.Duration.seconds(11))]),
                 "T/C: destinations[0].target_segment_duration (seconds) must be between 2 and 10, got: 11",
                 id="segment"),
    pytest.param(lambda s: Composition(s, "C", stage=imported_stage(s), destinations=[s3_destination(s)],
                                       layout=PipLayout(pip_width=0)),
                 "T/C: layout.pip_width must be at least 1, got: 0", id="pip-width"),
    pytest.param(lambda s: Composition(s, "C", stage=imported_stage(s), destinations=[s3_destination(s), S3Destination(
        storage_configuration=StorageConfiguration.from_storage_configuration_arn(s, "S2", STORAGE_ARN),
        encoder_configuration=EncoderConfiguration.from_encoder_configuration_arn(s, "E2", ENCODER_ARN))]),
                 "T/C: destinations must have at most one S3Destination, got: 2", id="two-s3"),
    pytest.param(lambda s: Composition(s, "C", stage=imported_stage(s), destinations=[
        s3_destination(s, target_segment_duration=cdk.Duration.minutes(cdk.Token.as_number(cdk.Aws.ACCOUNT_ID)))]),
                 "T/C: a Duration made from a deploy-time value must use Duration.seconds(), "
                 "got: Duration.minutes(<token>)", id="duration-token-path"),
    pytest.param(lambda s: Composition(s, "C", stage=imported_stage(s), destinations=[
        s3_destination(s, thumbnail_interval=cdk.Duration.days(2))]),
                 "T/C: destinations[0].thumbnail_interval (seconds) must be between 1 and 86400, got: 172800",
                 id="thumbnail-interval"),
    pytest.param(lambda s: Composition(s, "C", stage=imported_stage(s), destinations=[s3_destination(s)],
                                       layout=GridLayout(participant_order_attribute="not ok")),
                 "T/C: layout.participant_order_attribute must match the pattern [a-zA-Z0-9-_]*, got: 'not ok'",
                 id="grid-attribute"),
    pytest.param(lambda s: ParticipantTokenVendor(s, "V", stage=imported_stage(s), allowed_attribute_keys="displayName"),
                 "T/V: allowed_attribute_keys must be a list of str, got: 'displayName'",
                 id="attribute-keys-string"),
    pytest.param(lambda s: ParticipantTokenVendor(s, "V", stage=imported_stage(s), token_duration=cdk.Duration.days(15)),
                 "T/V: token_duration (minutes) must be between 1 and 20160, got: 21600", id="token-duration"),
    pytest.param(lambda s: ParticipantTokenVendor(s, "V", stage=imported_stage(s), token_duration=cdk.Duration.seconds(90)),
                 "T/V: token_duration (minutes) must be a whole number, got: 1.5", id="token-duration-whole"),
    pytest.param(lambda s: ParticipantTokenVendor(s, "V", stage=imported_stage(s), capabilities=[]),
                 "T/V: capabilities must name PUBLISH and/or SUBSCRIBE, each at most once, got: []", id="no-capability"),
    pytest.param(lambda s: ParticipantTokenVendor(s, "V", stage=imported_stage(s), capabilities=["PUBLISH", "PUBLISH"]),
                 "T/V: capabilities must name PUBLISH and/or SUBSCRIBE, each at most once, got: ['PUBLISH', 'PUBLISH']",
                 id="capability-twice"),
    pytest.param(lambda s: Composition(s, "C", stage=imported_stage(s), destinations={"s3": "x"}),
                 "T/C: destinations must be a list of ChannelDestination or S3Destination, got: {'s3': 'x'}",
                 id="destinations-type"),
    pytest.param(lambda s: Composition(s, "C", stage=imported_stage(s), destinations=[s3_destination(s)],
                                       layout={"grid": {}}),
                 "T/C: layout must be a GridLayout or a PipLayout, got: {'grid': {}}", id="layout-type"),
    pytest.param(lambda s: ParticipantTokenVendor(s, "V", stage=imported_stage(s), user_id_claim=" "),
                 "T/V: user_id_claim must be a claim name, got: ' '", id="user-id-claim"),
    pytest.param(lambda s: IngestConfiguration(s, "I", attributes={"bio": "é" * 600}),
                 "T/I: attributes must have at most 1024 bytes in all (keys and values, UTF-8), got: 1203 bytes",
                 id="ingest-attributes-1kb"),
])
def test_rule(build, message):
    expect(message, build)


def test_sample_stream_key_is_not_an_output():
    import json
    from pathlib import Path

    import app as sample_app

    context = json.loads((Path(sample_app.__file__).parent / "cdk.json").read_text())["context"]
    template = Template.from_stack(sample_app.build(cdk.App(context=context)))
    outputs = template.to_json()["Outputs"]
    assert not [o for o in outputs.values() if "StreamKey" in str(o)]
    assert {"CompositionArn", "StudioParticipantId", "TokenSigningKeyFingerprint", "TokenVendorFunction"} <= set(outputs)


def test_stream_key_goes_into_a_secret_but_not_into_an_output():
    from aws_cdk import aws_secretsmanager as secretsmanager

    st = new_stack()
    ingest = IngestConfiguration(st, "Studio", stage=Stage(st, "Stage"))
    secretsmanager.Secret(st, "Key", secret_string_value=ingest.stream_key)
    Template.from_stack(st).has_resource_properties("AWS::SecretsManager::Secret", {
        "SecretString": {"Fn::GetAtt": [logical_id_of(st, ingest), "StreamKey"]}})
    # With checkSecretUsage (set in cdk.json), CDK refuses a SecretValue used as plain text.
    app = cdk.App(context={"@aws-cdk/core:checkSecretUsage": True})
    leaky = cdk.Stack(app, "Leaky", env=ENV)
    with pytest.raises(Exception, match="unsafeUnwrap"):
        cdk.CfnOutput(leaky, "Leak", value=IngestConfiguration(leaky, "Studio").stream_key.to_string())
        app.synth()


# ---------------------------------------------------------------------------------------------
# Warnings at synth for what would bite at deploy time, and grant().
# ---------------------------------------------------------------------------------------------

def warnings_of(st: cdk.Stack) -> list[str]:
    return [str(w.entry.data) for w in Annotations.from_stack(st).find_warning("*", Match.any_value())]


def test_a_retained_stage_recording_to_a_destroyed_storage_configuration_is_warned_about():
    st = new_stack()
    storage = StorageConfiguration(st, "Storage", bucket=s3.Bucket(st, "Bucket"))
    Stage(st, "Kept", removal_policy=cdk.RemovalPolicy.RETAIN,
          auto_participant_recording=AutoParticipantRecording(storage_configuration=storage))
    kept_storage = StorageConfiguration(st, "KeptStorage", bucket=s3.Bucket(st, "Bucket2"),
                                        removal_policy=cdk.RemovalPolicy.RETAIN)
    Stage(st, "AlsoKept", removal_policy=cdk.RemovalPolicy.RETAIN,
          auto_participant_recording=AutoParticipantRecording(storage_configuration=kept_storage))
    Stage(st, "Destroyed", auto_participant_recording=AutoParticipantRecording(storage_configuration=storage))
    kept_later = Stage(st, "KeptLater", auto_participant_recording=AutoParticipantRecording(storage_configuration=storage))
    kept_later.apply_removal_policy(cdk.RemovalPolicy.RETAIN)  # read at synth, not when the stage was made
    freed_storage = StorageConfiguration(st, "FreedStorage", bucket=s3.Bucket(st, "Bucket3"))
    Stage(st, "KeptToo", removal_policy=cdk.RemovalPolicy.RETAIN,
          auto_participant_recording=AutoParticipantRecording(storage_configuration=freed_storage))
    freed_storage.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
    warnings = warnings_of(st)
    assert len(warnings) == 2
    assert all(w.startswith(f"this stage is kept on delete (RETAIN) but records to {storage.node.path}, which the "
                            "stack deletes") for w in warnings)


def test_more_compositions_on_a_stage_than_the_quota_are_warned_about():
    st = new_stack()
    stage = Stage.from_stage_arn(st, "Stage", "arn:aws:ivs:eu-west-1:123456789012:stage/AbCd")
    same_stage = Stage.from_stage_arn(st, "SameStage", "arn:aws:ivs:eu-west-1:123456789012:stage/AbCd")
    for index in range(6):  # two imports of one stage count together
        Composition(st, f"Comp{index}", stage=stage if index % 2 else same_stage,
                    destinations=[s3_destination(st)] if index == 0 else
                    [S3Destination(storage_configuration=st.node.find_child("Storage"),
                                   encoder_configuration=st.node.find_child("Encoder"))])
    assert warnings_of(st) == [
        f"this is composition 6 on {stage.node.path}: IVS allows 5 per stage (a service quota), so this one would "
        "fail to start with ServiceQuotaExceededException unless the quota was raised "
        "[ack: constructs-ivsrt:compositionsPerStageQuota]"]


def test_snapshot_is_warned_about_and_means_destroy():
    st = new_stack()
    stage = Stage(st, "Stage", removal_policy=cdk.RemovalPolicy.SNAPSHOT)
    assert stage.removal_policy == cdk.RemovalPolicy.DESTROY
    Template.from_stack(st).has_resource("Custom::IvsRealtimeStage", {"DeletionPolicy": "Delete"})
    assert [w.split(" [ack:")[0] for w in warnings_of(st)] == [
        "RemovalPolicy.SNAPSHOT means nothing for an IVS Real-Time resource (there is no snapshot of it): the "
        "resource is deleted, as with RemovalPolicy.DESTROY"]


def test_grant_names_any_actions_on_the_resource():
    st = new_stack()
    stage = Stage(st, "Stage")
    role = iam.Role(st, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    stage.grant(role, "ivs:ListParticipantReplicas", "ivs:StartParticipantReplication")
    Template.from_stack(st).has_resource_properties("AWS::IAM::Policy", {"PolicyDocument": {"Statement": [{
        "Action": ["ivs:ListParticipantReplicas", "ivs:StartParticipantReplication"], "Effect": "Allow",
        "Resource": {"Ref": Match.string_like_regexp("^Stage")}}]}})
