"""IngestConfiguration: its template (the stream key is a secret), its validation and its lifecycle."""

from __future__ import annotations

import re

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template
from conftest import INGEST, STAGE, Fault, arns, make, only, resources, tag_list, user_tags
from synth import ENV, STAGE_ARN, expect, logical_id_of, new_stack

from constructs_ivsrt import IngestConfiguration, IngestProtocol, Stage
from ivsrt_runtime.calls import RequestFailed
from ivsrt_runtime.rules import INGEST_CONFIGURATION

STREAM_KEY = re.compile(INGEST_CONFIGURATION.resource_shape.members["streamKey"].metadata["pattern"])


@pytest.mark.parametrize(
    "build, message",
    [
        pytest.param(
            lambda s: IngestConfiguration(s, "I", ingest_protocol=IngestProtocol.RTMP),
            "T/I: insecure_ingest must be true when ingest_protocol is RTMP, got: None",
            id="rtmp-insecure",
        ),
        pytest.param(
            lambda s: IngestConfiguration(s, "I", ingest_protocol="SRT"),
            "T/I: ingest_protocol must be one of RTMP, RTMPS, got: 'SRT'",
            id="protocol",
        ),
        pytest.param(
            lambda s: IngestConfiguration(s, "I", user_id="u" * 129),
            f"T/I: user_id must have at most 128 characters, got: '{'u' * 129}'",
            id="user-id",
        ),
        pytest.param(
            lambda s: IngestConfiguration(s, "I", ingest_configuration_name="a b"),
            "T/I: ingest_configuration_name must match the pattern [a-zA-Z0-9-_]*, got: 'a b'",
            id="ingest-name",
        ),
        pytest.param(
            lambda s: IngestConfiguration.from_ingest_configuration_arn(s, "X", STAGE_ARN),
            "T/X: ingest_configuration_arn must match the pattern "
            "arn:aws:ivs:[a-z0-9-]+:[0-9]+:ingest-configuration/[a-zA-Z0-9-]+, got: '" + STAGE_ARN + "'",
            id="ingest-arn",
        ),
        pytest.param(
            lambda s: IngestConfiguration(s, "I", attributes={"bio": "é" * 600}),
            "T/I: attributes must have at most 1024 bytes in all (keys and values, UTF-8), got: 1203 bytes",
            id="ingest-attributes-1kb",
        ),
    ],
)
def test_rule(build, message):
    expect(message, build)


def test_ingest_configuration_properties_and_secret_attribute():
    st = new_stack()
    stage = Stage(st, "Stage")
    ingest = IngestConfiguration(
        st, "Studio", stage=stage, user_id="enc-1", attributes={"role": "studio"}, redundant_ingest=True, tags={"team": "live"}
    )
    key_output = cdk.CfnOutput(st, "Key", value=ingest.participant_id)
    template = Template.from_stack(st)
    template.has_resource_properties(
        "Custom::IvsRealtimeIngestConfiguration",
        {
            "name": ingest.ingest_configuration_name,
            "stageArn": {"Ref": Match.string_like_regexp("^Stage")},
            "userId": "enc-1",
            "attributes": {"role": "studio"},
            "ingestProtocol": "RTMPS",
            "redundantIngest": True,
            "tags": tag_list({"team": "live"}),
        },
    )
    logical_id = logical_id_of(st, ingest)
    assert "deleteOptions" not in template.to_json()["Resources"][logical_id]["Properties"]
    assert st.resolve(key_output.value) == {"Fn::GetAtt": [logical_id, "ParticipantId"]}
    # The stream key is a SecretValue: CDK will not let it be written where secrets do not belong.
    assert isinstance(ingest.stream_key, cdk.SecretValue)
    assert st.resolve(ingest.stream_key.unsafe_unwrap()) == {"Fn::GetAtt": [logical_id, "StreamKey"]}


def test_force_delete_is_a_delete_option_of_the_resource():
    st = new_stack()
    IngestConfiguration(st, "Studio", force_delete=True)
    Template.from_stack(st).has_resource_properties("Custom::IvsRealtimeIngestConfiguration", {"deleteOptions": {"force": True}})


def test_stream_key_goes_into_a_secret_but_not_into_an_output():
    from aws_cdk import aws_secretsmanager as secretsmanager

    st = new_stack()
    ingest = IngestConfiguration(st, "Studio", stage=Stage(st, "Stage"))
    secretsmanager.Secret(st, "Key", secret_string_value=ingest.stream_key)
    Template.from_stack(st).has_resource_properties(
        "AWS::SecretsManager::Secret", {"SecretString": {"Fn::GetAtt": [logical_id_of(st, ingest), "StreamKey"]}}
    )
    # With checkSecretUsage (set in cdk.json), CDK refuses a SecretValue used as plain text.
    app = cdk.App(context={"@aws-cdk/core:checkSecretUsage": True})
    leaky = cdk.Stack(app, "Leaky", env=ENV)
    with pytest.raises(Exception, match="unsafeUnwrap"):
        cdk.CfnOutput(leaky, "Leak", value=IngestConfiguration(leaky, "Studio").stream_key.to_string())
        app.synth()


@pytest.mark.usefixtures("provider_role")  # its calls held to the provider's own IAM policy
def test_ingest_configuration_lifecycle(cfn, ivs):
    stage_a, stage_b = make(cfn, STAGE, {"name": "a"}), make(cfn, STAGE, {"name": "b"})
    v1 = {
        "name": "studio",
        "stageArn": stage_a,
        "userId": "encoder-1",
        "attributes": {"role": "studio"},
        "ingestProtocol": "RTMPS",
        "tags": {"team": "live"},
    }
    created = cfn.create(INGEST, v1)
    arn = created["PhysicalResourceId"]
    ingest = only(ivs, "IngestConfiguration")
    assert ingest["stageArn"] == stage_a and ingest["attributes"] == {"role": "studio"}
    assert user_tags(ingest) == {"team": "live"}
    # The stream key is an attribute, masked by CloudFormation (NoEcho), in the model's format.
    assert created["NoEcho"] is True
    assert STREAM_KEY.fullmatch(created["Data"]["StreamKey"])
    assert created["Data"]["ParticipantId"] == ingest["participantId"]
    assert created["Data"]["RedundantIngestCredentialsStreamKey"] == ""

    # Tag-only: in place, and the attributes (stream key included) still come back.
    v2 = {**v1, "tags": {"team": "broadcast"}}
    updated = cfn.update(INGEST, arn, v1, v2)
    assert updated["PhysicalResourceId"] == arn
    assert updated["Data"]["StreamKey"] == created["Data"]["StreamKey"]
    assert user_tags(only(ivs, "IngestConfiguration")) == {"team": "broadcast"}

    # Another stage and redundant ingest: in place (UpdateIngestConfiguration), same key.
    v3 = {**v2, "stageArn": stage_b, "redundantIngest": True}
    moved = cfn.update(INGEST, arn, v2, v3)
    assert moved["PhysicalResourceId"] == arn
    assert only(ivs, "IngestConfiguration")["stageArn"] == stage_b
    assert "UpdateIngestConfiguration" in ivs.state.calls

    # A new user id: replacement, with a new stream key; the old one is CloudFormation's to delete.
    v4 = {**v3, "userId": "encoder-2"}
    replaced = cfn.update(INGEST, arn, v3, v4)
    new_arn = replaced["PhysicalResourceId"]
    assert new_arn != arn and replaced["Data"]["StreamKey"] != created["Data"]["StreamKey"]
    assert arns(ivs, "IngestConfiguration") == sorted([arn, new_arn])

    # Rollback: the original is adopted (List summaries carry no tags: found by Get), not remade.
    rolled_back = cfn.update(INGEST, new_arn, v4, v3)
    assert rolled_back["PhysicalResourceId"] == arn
    cfn.delete(INGEST, new_arn)
    assert arns(ivs, "IngestConfiguration") == [arn]
    assert user_tags(only(ivs, "IngestConfiguration")) == {"team": "broadcast"}

    cfn.delete(INGEST, arn)
    cfn.delete(INGEST, arn)  # again: already gone is success
    assert resources(ivs, "IngestConfiguration") == []


def test_ingest_redundancy_turned_off_by_removing_the_prop_is_an_in_place_false(cfn, ivs):
    """A removed boolean goes back to false; "" (what a removed string is sent as) is not a
    boolean, and botocore would refuse the update before sending it."""
    stage = make(cfn, STAGE, {"name": "a"})
    v1 = {"name": "studio", "stageArn": stage, "ingestProtocol": "RTMPS", "redundantIngest": "true"}
    arn = make(cfn, INGEST, v1)
    assert only(ivs, "IngestConfiguration")["redundantIngest"] is True
    v2 = {k: v for k, v in v1.items() if k != "redundantIngest"}
    assert cfn.update(INGEST, arn, v1, v2)["PhysicalResourceId"] == arn
    assert only(ivs, "IngestConfiguration")["redundantIngest"] is False


def test_an_ingest_configuration_being_published_to_is_deleted_only_with_force(cfn, ivs, handler):
    """The service refuses the delete while an encoder publishes, unless forced: without
    force_delete the handler waits (bounded) and then says what to do; with it, it is gone."""
    stage = make(cfn, STAGE, {"name": "a"})
    props = {"name": "studio", "stageArn": stage, "ingestProtocol": "RTMPS"}
    arn = make(cfn, INGEST, props)
    ivs.state.set_publishing(arn)
    cfn.timeout_seconds = handler.ANSWER_MARGIN_SECONDS + 0.5  # give up on the conflict at once
    with pytest.raises(
        RequestFailed,
        match=r"ConflictException: .* a participant is publishing "
        r"\(gave up after \d+s; force_delete=True disconnects the publisher\)",
    ):
        cfn.delete(INGEST, arn, props)
    assert arns(ivs, "IngestConfiguration") == [arn]
    cfn.delete(INGEST, arn, {**props, "deleteOptions": {"force": "true"}})  # CloudFormation's string
    assert resources(ivs, "IngestConfiguration") == []


def test_ingest_create_whose_response_was_lost_is_adopted(cfn, ivs):
    stage = make(cfn, STAGE, {"name": "s"})
    ivs.inject(Fault("drop_after_success", "CreateIngestConfiguration"))
    arn = make(cfn, INGEST, {"name": "studio", "stageArn": stage, "ingestProtocol": "RTMPS"})
    assert arns(ivs, "IngestConfiguration") == [arn]
    assert ivs.state.calls.count("CreateIngestConfiguration") == 1
