"""Compositions on a clock, and compositions in flight when a deployment fails.

The endpoint's compositions start, stop and leave the list by themselves, as the service's do; a
Delete is complete only once what it stopped has stopped, the Delete of a cancelled Create (a
physical id CloudFormation made up) included; the runner's rollback deletes each resource only
after everything that depends on it is deleted and complete. Six compositions on one stage (the
sixth over the per-stage quota) then fail in one line and roll back completely.
"""

from __future__ import annotations

import json
import re
import urllib.request

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from conftest import COMPOSITION, resources, stack_template

from constructs_ivsrt import Composition, EncoderConfiguration, S3Destination, Stage, StorageConfiguration
from ivsrt_local.deployer import LocalDeployer
from ivsrt_local.endpoint import LocalIvsRealtime, checked_composition_speed
from ivsrt_local.stack_state import DeployError, StackState
from ivsrt_local.testing import local_ivs_realtime  # noqa: F401  (the users' fixture)

ENV = cdk.Environment(account="123456789012", region="us-east-1")


def compositions_on_one_stage(outdir, count: int) -> cdk.App:
    """An encoder configuration, a storage configuration, a stage and ``count`` compositions on it."""
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "Show", env=ENV)
    storage = StorageConfiguration(stack, "Storage", bucket=s3.Bucket(stack, "Bucket"))
    encoder = EncoderConfiguration(stack, "Encoder")
    stage = Stage(stack, "Stage")
    for index in range(count):
        Composition(
            stack,
            f"Program{index}",
            stage=stage,
            destinations=[S3Destination(storage_configuration=storage, encoder_configuration=encoder)],
        )
    return app


def six_compositions(tmp_path) -> dict:
    compositions_on_one_stage(tmp_path / "six", 6).synth()
    return stack_template(tmp_path / "six", "Show")


def live(ivs) -> list[dict]:
    return [r for r in resources(ivs) if r.get("state") != "STOPPED"]


# ---------------------------------------------------------------------------------------------
# The endpoint's clock
# ---------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(ivs, monkeypatch) -> Clock:
    """The session endpoint's clock, moved by hand (its compositions run TEST_COMPOSITION_SPEED
    times faster: 5 of the service's seconds are 0.05 s)."""
    fake = Clock()
    monkeypatch.setattr(ivs.state, "clock", fake)
    return fake


def test_a_composition_starts_stops_and_leaves_the_list_by_itself_on_the_clock(ivs, clock):
    ivs.rate_limits.reset(scale=0)  # the clock is the point, not the rate
    client = _client(ivs)
    stage = client.create_stage()["stage"]["arn"]
    storage = client.create_storage_configuration(s3={"bucketName": "b-1"})["storageConfiguration"]["arn"]
    encoder = client.create_encoder_configuration()["encoderConfiguration"]["arn"]
    destinations = [{"s3": {"storageConfigurationArn": storage, "encoderConfigurationArns": [encoder]}}]
    arn = client.start_composition(stageArn=stage, destinations=destinations)["composition"]["arn"]

    def state() -> tuple[str, list[str]]:
        composition = client.get_composition(arn=arn)["composition"]
        return composition["state"], [d["state"] for d in composition["destinations"]]

    assert state() == ("STARTING", ["STARTING"])
    clock.now += 0.045  # 4.5 of the service's seconds
    assert state() == ("STARTING", ["STARTING"])
    clock.now += 0.01
    assert state() == ("ACTIVE", ["ACTIVE"])
    client.stop_composition(arn=arn)
    assert state() == ("STOPPING", ["STOPPING"])
    assert error_code(client.delete_encoder_configuration, arn=encoder) == "ConflictException"  # still used
    clock.now += 0.06
    # Stopped by itself, without a read in between (the list is the first to look), and listed.
    assert [(c["arn"], c["state"]) for c in client.list_compositions()["compositions"]] == [(arn, "STOPPED")]
    client.delete_encoder_configuration(arn=encoder)  # a stopped composition uses nothing
    clock.now += 2.9  # listed for 300 of the service's seconds after it stopped
    assert state() == ("STOPPED", ["STOPPED"])
    clock.now += 0.1
    assert client.list_compositions()["compositions"] == []
    assert error_code(client.get_composition, arn=arn) == "ResourceNotFoundException"


def test_several_steps_pass_at_once_and_each_begins_when_the_last_ended(ivs, clock):
    ivs.rate_limits.reset(scale=0)
    client = _client(ivs)
    stage = client.create_stage()["stage"]["arn"]
    storage = client.create_storage_configuration(s3={"bucketName": "b-1"})["storageConfiguration"]["arn"]
    encoder = client.create_encoder_configuration()["encoderConfiguration"]["arn"]
    destinations = [{"s3": {"storageConfigurationArn": storage, "encoderConfigurationArns": [encoder]}}]
    ivs.state.compositions.fail_next = 1
    failing = client.start_composition(stageArn=stage, destinations=destinations)["composition"]["arn"]
    clock.now += 0.06 + 2.9  # FAILED 2.91 s ago: still listed
    assert client.get_composition(arn=failing)["composition"]["state"] == "FAILED"
    clock.now += 0.1
    assert client.list_compositions()["compositions"] == []


def test_the_composition_clock_is_set_by_argument_control_plane_and_a_checked_speed(ivs):
    assert LocalIvsRealtime(composition_speed=4).state.composition_speed == 4.0
    for wrong in (0, -1, "fast", float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"^composition_speed must be a number above 0 \(1 is the service's pace\)"):
            checked_composition_speed(wrong)
    request = urllib.request.Request(
        f"{ivs.url}/_local/compositions", method="POST", data=json.dumps({"speed": 2, "stop_seconds": 1.5}).encode()
    )
    with urllib.request.urlopen(request) as response:
        answer = json.loads(response.read())
    assert answer == {"start_seconds": 5.0, "stop_seconds": 1.5, "listed_after_end_seconds": 300.0, "fail_next": 0, "speed": 2.0}
    ivs.reset()  # the speed the endpoint was started with, again
    assert ivs.state.composition_speed == 100.0 and ivs.state.compositions.stop_seconds == 5.0


# ---------------------------------------------------------------------------------------------
# The handler: a Delete is complete once what it stopped has stopped
# ---------------------------------------------------------------------------------------------


def test_the_delete_of_a_cancelled_create_is_complete_only_once_what_it_stopped_has_stopped(cfn, ivs, stage_with_recording):
    """CloudFormation cancelled the Create while the composition was starting, and rolls it back
    with a Delete of a physical id it made up: the handler finds the composition by its identity
    and stops it; the encoder configuration's Delete comes next, so the Delete must wait."""
    ivs.state.compositions.start_seconds = 10_000  # still starting when the Delete comes
    ivs.state.compositions.stop_seconds = 30.0  # STOPPING for 0.3 s
    arn = cfn.create(COMPOSITION, stage_with_recording, logical_id="Program", wait=False)["PhysicalResourceId"]
    ivs.rate_limits.reset()  # full buckets: no throttled List outlasts the stop
    cfn.send("Delete", COMPOSITION, stage_with_recording, physical_id="Test-Program-1A2B3C4D5E6F", logical_id="Program")
    answers = [poll["IsComplete"] for poll in cfn.polls]
    assert answers[0] is False and answers[-1] is True and answers.count(True) == 1
    assert [(r["arn"], r["state"]) for r in resources(ivs, "Composition")] == [(arn, "STOPPED")]
    assert ivs.state.calls.count("StopComposition") == 1


def test_the_delete_of_a_cancelled_create_that_made_nothing_is_complete_at_once(cfn, ivs, stage_with_recording):
    cfn.send("Delete", COMPOSITION, stage_with_recording, physical_id="Test-Program-1A2B3C4D5E6F", logical_id="Program")
    assert [poll["IsComplete"] for poll in cfn.polls] == [True]
    assert "StopComposition" not in ivs.state.calls


# ---------------------------------------------------------------------------------------------
# The runner: six compositions on one stage
# ---------------------------------------------------------------------------------------------

QUOTA_FAILURE = re.compile(
    r"deployment failed and was rolled back: StartComposition failed for Custom::IvsRealtimeComposition "
    r"Program\w+: ServiceQuotaExceededException: Quota of 5 Composition resources per stage reached for "
    r"arn:aws:ivs:us-east-1:123456789012:stage/\w+ \(quota: Compositions per account and region, default 20 "
    r"and 5 per stage; request an increase in Service Quotas\)"
)


@pytest.mark.parametrize("starting_seconds", [5.0, 150.0], ids=["started", "still starting at the failure"])
def test_six_compositions_on_one_stage_fail_on_the_quota_and_roll_back_completely(tmp_path, handler, ivs, starting_seconds):
    """The sixth composition fails on the per-stage quota while the others start (or have
    started): the deploy fails in one line naming the quota; the rollback deletes every
    composition (those still starting by their identity: CloudFormation cancelled their Creates)
    and only then what they used, which is then free at the first try; nothing is left but
    stopped compositions, and a later destroy has nothing to do."""
    ivs.state.compositions.start_seconds = starting_seconds
    deployer = LocalDeployer(StackState("Show", "us-east-1"), handler)
    with pytest.raises(DeployError) as caught:
        deployer.deploy(six_compositions(tmp_path))
    assert "\n" not in str(caught.value) and QUOTA_FAILURE.fullmatch(str(caught.value)), str(caught.value)
    assert deployer.state.resources == {} and live(ivs) == []
    assert [r["state"] for r in resources(ivs)] == ["STOPPED"] * 5
    for operation in ("DeleteEncoderConfiguration", "DeleteStorageConfiguration", "DeleteStage"):
        assert ivs.state.calls.count(operation) == 1, operation  # no conflict: nothing still used it
    deleted = [c for c in deployer.changes if c.action == "delete" and c.resource_type == COMPOSITION]
    assert len(deleted) == 5
    if starting_seconds > 5.0:  # cancelled: rolled back by made-up physical ids
        assert not any(c.physical_id.startswith("arn:") for c in deleted)
    assert deployer.destroy() == []


def test_the_rollback_deletes_a_resource_only_after_its_dependents_completed(tmp_path, handler, ivs):
    """Each Delete the rollback sends starts only once the Deletes of everything that depends on
    it have completed, waiting included (the compositions' until STOPPED)."""
    ivs.state.compositions.start_seconds = 150.0
    sent: list[tuple[str, str, frozenset[str]]] = []  # (request type, logical id, completed when it was sent)
    completed: set[str] = set()

    class Recording:
        def on_event(self, event, context):
            sent.append((event["RequestType"], event["LogicalResourceId"], frozenset(completed)))
            return handler.on_event(event, context)

        def is_complete(self, event, context):
            answer = handler.is_complete(event, context)
            if answer["IsComplete"] and event["RequestType"] == "Delete":
                completed.add(event["LogicalResourceId"])
            return answer

    deployer = LocalDeployer(StackState("Show", "us-east-1"), Recording())
    with pytest.raises(DeployError):
        deployer.deploy(six_compositions(tmp_path))
    deletes = {logical_id: done for request, logical_id, done in sent if request == "Delete"}
    programs = {logical_id for logical_id in deletes if logical_id.startswith("Program")}
    assert len(programs) == 5
    for used in ("Encoder", "Storage", "Stage"):
        (logical_id,) = [k for k in deletes if k.startswith(used)]
        assert programs <= deletes[logical_id], f"{logical_id} deleted before {programs - deletes[logical_id]}"
    assert live(ivs) == []


def test_the_documented_assertion_holds_for_an_app_with_a_composition(local_ivs_realtime, tmp_path):  # noqa: F811
    local_ivs_realtime.deploy(compositions_on_one_stage(tmp_path / "cdk.out", 1))
    assert [r["state"] for r in local_ivs_realtime.resources("Composition")] == ["ACTIVE"]
    local_ivs_realtime.destroy()
    assert local_ivs_realtime.live_resources() == []
    assert [r["state"] for r in local_ivs_realtime.resources()] == ["STOPPED"]  # listed a while, as on AWS


def _client(ivs):
    import boto3

    return boto3.client("ivs-realtime", endpoint_url=ivs.url, region_name="us-east-1")


def error_code(method, **params) -> str:
    from botocore.exceptions import ClientError

    try:
        method(**params)
    except ClientError as error:
        return error.response["Error"]["Code"]
    raise AssertionError(f"{method.__name__} succeeded")
