"""The local endpoint speaks the API as botocore's model describes it, through plain boto3."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError
from conftest import Fault, resources

from ivsrt_local.endpoint import LocalIvsRealtime, RateLimits
from ivsrt_local.resource_types import TYPES
from ivsrt_runtime import rules


@pytest.fixture
def client(ivs):
    return boto3.client(
        "ivs-realtime",
        endpoint_url=ivs.url,
        region_name="eu-central-1",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


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


def test_every_resource_type_has_its_entry_in_the_endpoints_table():
    assert set(TYPES) == {r.noun for r in rules.RESOURCES.values()}


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

    request = urllib.request.Request(
        f"{ivs.url}/CreateEncoderConfiguration", method="POST", data=json.dumps({"video": {"width": 1280.0}}).encode()
    )
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
    assert (
        error_of(client.create_stage, autoParticipantRecordingConfiguration={"storageConfigurationArn": missing})[0]
        == "ValidationException"
    )


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

    request = urllib.request.Request(
        f"{ivs.url}/_local/faults", method="POST", data=json.dumps([{"kind": "server_error", "operation": "ListStages"}]).encode()
    )
    assert json.load(urllib.request.urlopen(request))["faults"][0]["kind"] == "server_error"
    state = json.load(urllib.request.urlopen(f"{ivs.url}/_local/state"))
    assert state == {"resources": [], "calls": [], "throttled": {}, "ssm_calls": [], "stacks": []}


class FrozenClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    "operation, rate",
    [
        ("CreateStage", 5),
        ("GetStage", 5),
        ("ListStages", 5),
        ("DeleteStage", 5),
        ("StartComposition", 5),
        ("TagResource", 10),
        ("UntagResource", 10),
        ("ListTagsForResource", 10),
        ("ImportPublicKey", 3),
        ("GetPublicKey", 3),
        ("ListPublicKeys", 3),
        ("DeletePublicKey", 3),
        ("CreateParticipantToken", 50),
    ],
)
def test_each_operation_has_a_bucket_of_its_documented_rate(operation, rate):
    """One second's worth at once, then one more per 1/rate seconds; other operations unaffected."""
    clock = FrozenClock()
    limits = RateLimits(clock=clock)
    assert [limits.admit(operation) for _ in range(rate + 1)] == [True] * rate + [False]
    assert limits.admit("GetStageSession")  # its own bucket
    clock.now += 1.001 / rate  # a whole token (1 / rate alone can fall short by a rounding)
    assert limits.admit(operation) and not limits.admit(operation)
    clock.now += 10  # refills to the burst, not beyond
    assert sum(limits.admit(operation) for _ in range(3 * rate)) == rate
    assert limits.throttled[operation] == 1 + 1 + 2 * rate


def test_rate_limits_scale_and_turn_off():
    doubled, off, slowed = RateLimits(2.0, FrozenClock()), RateLimits(0, FrozenClock()), RateLimits(0.1, FrozenClock())
    assert sum(doubled.admit("CreateStage") for _ in range(20)) == 10
    assert sum(slowed.admit("CreateStage") for _ in range(20)) == 1  # half a call per second: one at a time
    slowed.clock.now += 2
    assert slowed.admit("CreateStage")
    assert sum(off.admit("CreateStage") for _ in range(1000)) == 1000


def test_every_rate_quota_names_an_operation_of_the_model():
    assert set(rules.RATE_QUOTAS) <= set(rules.service_model().operation_names)


def test_a_throttled_call_gets_the_services_answer(client, ivs, monkeypatch):
    monkeypatch.setattr(ivs.rate_limits, "clock", FrozenClock())  # no refill: exactly the burst gets through
    for index in range(5):
        client.create_stage(name=f"s{index}")
    with pytest.raises(ClientError) as caught:
        client.create_stage(name="one-too-many")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert caught.value.response["Error"] == {"Code": "ThrottlingException", "Message": "Rate exceeded"}
    assert len(resources(ivs)) == 5 and ivs.rate_limits.throttled == {"CreateStage": 1}
    assert client.list_stages()["stages"]  # another operation, another bucket


def test_resource_quotas_are_the_services_defaults(client, ivs):
    ivs.rate_limits.reset(scale=0)  # the quota is the point, not the rate
    for index in range(5):
        client.create_storage_configuration(s3={"bucketName": f"b-{index}"})
    code, message = error_of(client.create_storage_configuration, s3={"bucketName": "b-6"})
    assert (code, message) == (
        "ServiceQuotaExceededException",
        "Quota of 5 StorageConfiguration resources per account and region reached",
    )
    assert LocalIvsRealtime().state.quotas == {
        "Stage": 1000,
        "EncoderConfiguration": 20,
        "StorageConfiguration": 5,
        "IngestConfiguration": 100,
        "PublicKey": 3,
        "Composition": 20,
    }


def test_a_stage_holds_at_most_five_compositions(client, ivs):
    ivs.rate_limits.reset(scale=0)  # the quota is the point, not the rate
    stage = client.create_stage()["stage"]["arn"]
    other = client.create_stage()["stage"]["arn"]
    storage = client.create_storage_configuration(s3={"bucketName": "b-1"})["storageConfiguration"]["arn"]
    encoder = client.create_encoder_configuration()["encoderConfiguration"]["arn"]
    destinations = [{"s3": {"storageConfigurationArn": storage, "encoderConfigurationArns": [encoder]}}]
    for _ in range(5):
        client.start_composition(stageArn=stage, destinations=destinations)
    code, message = error_of(client.start_composition, stageArn=stage, destinations=destinations)
    assert (code, message) == ("ServiceQuotaExceededException", f"Quota of 5 Composition resources per stage reached for {stage}")
    client.start_composition(stageArn=other, destinations=destinations)


def _cloudformation(ivs, region="us-east-1"):
    return boto3.client(
        "cloudformation", endpoint_url=ivs.url, region_name=region, config=Config(retries={"total_max_attempts": 1})
    )


def test_describe_stack_resources_answers_from_the_runners_stacks(ivs):
    """Adoption's question (ivsrt_runtime.adopt.holder_of), in CloudFormation's XML, read by botocore."""
    import json
    import urllib.request

    stack_id = "arn:aws:cloudformation:us-east-1:123456789012:stack/Media/local"
    stage = "arn:aws:ivs:us-east-1:123456789012:stage/Lobby"
    told = {
        "stacks": [
            {
                "stackName": "Media",
                "stackId": stack_id,
                "region": "us-east-1",
                "resources": {"Lobby": {"physicalId": stage, "type": "Custom::IvsRealtimeStage", "status": "CREATE_COMPLETE"}},
            }
        ]
    }
    request = urllib.request.Request(f"{ivs.url}/_local/stacks", method="POST", data=json.dumps(told).encode())
    assert json.load(urllib.request.urlopen(request))["stacks"][0]["resources"] == ["Lobby"]
    cloudformation = _cloudformation(ivs)
    (found,) = cloudformation.describe_stack_resources(PhysicalResourceId=stage)["StackResources"]
    assert {k: found[k] for k in ("StackName", "StackId", "LogicalResourceId", "PhysicalResourceId", "ResourceStatus")} == {
        "StackName": "Media",
        "StackId": stack_id,
        "LogicalResourceId": "Lobby",
        "PhysicalResourceId": stage,
        "ResourceStatus": "CREATE_COMPLETE",
    }
    assert found["ResourceType"] == "Custom::IvsRealtimeStage" and found["Timestamp"].year >= 2024
    assert cloudformation.describe_stack_resources(StackName="Media")["StackResources"][0]["LogicalResourceId"] == "Lobby"
    assert ivs.cloudformation.calls == ["cloudformation:DescribeStackResources"] * 2

    def refused(call, code="ValidationError"):
        with pytest.raises(ClientError) as caught:
            call()
        assert caught.value.response["Error"]["Code"] == code
        return caught.value.response["Error"]["Message"]

    other = "arn:aws:ivs:us-east-1:123456789012:stage/Kept"
    assert refused(lambda: cloudformation.describe_stack_resources(PhysicalResourceId=other)) == (
        f"Stack for {other} does not exist"
    )
    # Another region's stacks are not found there, as CloudFormation's.
    assert refused(lambda: _cloudformation(ivs, "eu-west-1").describe_stack_resources(PhysicalResourceId=stage))
    assert refused(lambda: cloudformation.describe_stack_resources(StackName="Gone")) == "Stack with id Gone does not exist"
    assert "not both" in refused(lambda: cloudformation.describe_stack_resources(StackName="Media", PhysicalResourceId=stage))
    assert refused(lambda: cloudformation.describe_stacks(), "InvalidAction")
    # A destroyed stack (told with no resources) is gone: what it retained is in no stack.
    told["stacks"][0]["resources"] = {}
    urllib.request.urlopen(urllib.request.Request(f"{ivs.url}/_local/stacks", method="POST", data=json.dumps(told).encode()))
    assert (
        refused(lambda: cloudformation.describe_stack_resources(PhysicalResourceId=stage)) == f"Stack for {stage} does not exist"
    )
