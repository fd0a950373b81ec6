"""The local endpoint speaks the API as botocore's model describes it, through plain boto3."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from conftest import Fault, resources
from constructs_ivsrt.local.endpoint import LocalIvsRealtime


@pytest.fixture
def client(ivs):
    return boto3.client("ivs-realtime", endpoint_url=ivs.url, region_name="eu-central-1",
                        config=Config(retries={"mode": "standard", "total_max_attempts": 1}))


def error_of(call, **params):
    with pytest.raises(ClientError) as caught:
        call(**params)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_create_get_list_tag_untag_delete(client, ivs):
    stage = client.create_stage(name="s1", tags={"a": "1"})["stage"]
    assert stage["arn"].startswith("arn:aws:ivs:eu-central-1:123456789012:stage/")  # region from the signature
    assert set(stage["endpoints"]) == {"events", "whip", "rtmp", "rtmps"}
    assert client.get_stage(arn=stage["arn"])["stage"]["name"] == "s1"
    assert [s["arn"] for s in client.list_stages()["stages"]] == [stage["arn"]]
    client.tag_resource(resourceArn=stage["arn"], tags={"b": "2"})
    client.untag_resource(resourceArn=stage["arn"], tagKeys=["a"])
    assert client.list_tags_for_resource(resourceArn=stage["arn"])["tags"] == {"b": "2"}
    client.delete_stage(arn=stage["arn"])
    assert error_of(client.get_stage, arn=stage["arn"])[0] == "ResourceNotFoundException"


def test_encoder_defaults_are_filled_in(client):
    video = client.create_encoder_configuration(name="e")["encoderConfiguration"]["video"]
    assert video == {"width": 1280, "height": 720, "framerate": 30.0, "bitrate": 2500000}


def test_input_is_validated_by_the_model(client):
    code, message = error_of(client.create_encoder_configuration, video={"width": 5000})
    assert code == "ValidationException"
    assert message == "CreateEncoderConfiguration.video.width must be between 2 and 1920, got: 5000"


def test_what_botocore_would_refuse_is_refused_on_the_wire_too(ivs):
    """A client other than boto3 (or an old one) may send what boto3 refuses before sending:
    botocore's ParamValidator runs at the endpoint as well as the model's other rules."""
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{ivs.url}/CreateEncoderConfiguration", method="POST",
                                     data=json.dumps({"video": {"width": 1280.0}}).encode())
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 400
    assert caught.value.headers["x-amzn-ErrorType"].startswith("ValidationException")
    message = json.load(caught.value)["message"]
    assert "Invalid type for parameter video.width, value: 1280.0" in message
    assert resources(ivs) == []


def test_storage_in_use_is_a_conflict(client):
    storage = client.create_storage_configuration(s3={"bucketName": "b-1"})["storageConfiguration"]["arn"]
    client.create_stage(autoParticipantRecordingConfiguration={"storageConfigurationArn": storage})
    assert error_of(client.delete_storage_configuration, arn=storage)[0] == "ConflictException"


def test_stage_with_unknown_storage_is_rejected(client):
    missing = "arn:aws:ivs:eu-central-1:123456789012:storage-configuration/nope"
    assert error_of(client.create_stage, autoParticipantRecordingConfiguration={"storageConfigurationArn": missing})[0] \
        == "ValidationException"


def test_quota():
    with LocalIvsRealtime(quotas={"EncoderConfiguration": 1}) as server:
        c = boto3.client("ivs-realtime", endpoint_url=server.url, region_name="us-east-1")
        c.create_encoder_configuration()
        code, message = error_of(c.create_encoder_configuration)
        assert code == "ServiceQuotaExceededException"
        assert message == "Quota of 1 EncoderConfiguration resources per account and region reached"


def test_drop_after_success_acts_but_does_not_answer(client, ivs):
    ivs.inject(Fault("drop_after_success", "CreateStage"))
    with pytest.raises(ConnectionClosedError):
        client.create_stage(name="dropped")
    assert [r["name"] for r in resources(ivs)] == ["dropped"]  # the work was done


def test_faults_are_per_operation_and_counted(client, ivs):
    ivs.inject(Fault("throttle", "GetStage", times=1))
    arn = client.create_stage()["stage"]["arn"]  # not affected
    assert error_of(client.get_stage, arn=arn)[0] == "ThrottlingException"
    assert client.get_stage(arn=arn)["stage"]["arn"] == arn  # used up


def test_unknown_fault_kind_is_rejected(ivs):
    with pytest.raises(ValueError, match="fault kind must be one of"):
        ivs.inject(Fault("explode"))


def test_control_plane_over_http(ivs):
    import json
    import urllib.request

    request = urllib.request.Request(f"{ivs.url}/_local/faults", method="POST",
                                     data=json.dumps([{"kind": "server_error", "operation": "ListStages"}]).encode())
    assert json.load(urllib.request.urlopen(request))["faults"][0]["kind"] == "server_error"
    state = json.load(urllib.request.urlopen(f"{ivs.url}/_local/state"))
    assert state == {"resources": [], "calls": [], "throttled": {}}
