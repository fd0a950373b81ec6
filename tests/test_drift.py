"""Drift detection, correction and reconcile (issue 20): the real handler records each resource's
desired state in Parameter Store at the local endpoint; changes made out of band through real
boto3 over HTTP; the detector (ivsrt_runtime.drift_check) and the CLI's report (ivsrt_cli.drift)."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import COMPOSITION, ENCODER, INGEST, PUBLIC_KEY, STACK_ID, STAGE, STORAGE, Fault

from ivsrt_cli import drift as cli
from ivsrt_local.scenarios import lifecycle, make_dependencies
from ivsrt_runtime import clients, desired
from ivsrt_runtime.drift_check import Stack, StackResource
from ivsrt_runtime.rules import RESOURCES

STACK = desired.stack_name_of(STACK_ID)


class Stacks:
    """A StackSource of one stack: the logical ids and physical ids a test's events made."""

    def __init__(self) -> None:
        self.resources: dict[str, StackResource] = {}

    def add(self, logical_id: str, resource_type: str, arn: str) -> str:
        self.resources[logical_id] = StackResource(logical_id, resource_type, arn)
        return arn

    def stacks(self, names: list[str]) -> list[Stack]:
        return [Stack(STACK, STACK_ID, tuple(self.resources.values()))]


def report(stacks: Stacks, *options: str) -> tuple[int, str]:
    args = argparse.Namespace(
        stacks=[], json="--json" in options, revert="--revert" in options, delete_orphans="--delete-orphans" in options
    )
    out = io.StringIO()
    return cli.execute(args, stacks, clients.ivs_client, clients.ssm_client, out), out.getvalue()


def as_json(stacks: Stacks, *options: str) -> tuple[int, dict[str, Any]]:
    code, text = report(stacks, "--json", *options)
    return code, json.loads(text)


def statuses(document: dict[str, Any]) -> dict[str, str]:
    return {r["logical_id"]: r["status"] for r in document["stacks"][0]["resources"]}


@pytest.fixture
def client(ivs):
    return boto3.client("ivs-realtime", endpoint_url=ivs.url)


def deploy_one(cfn, stacks: Stacks, resource_type: str, tags: dict[str, str]) -> tuple[str, dict[str, Any]]:
    deps = make_dependencies(
        resource_type, lambda kind, props: cfn.create(kind, props, logical_id=f"Dep{len(stacks.resources)}")["PhysicalResourceId"]
    )
    body = {**lifecycle(resource_type, deps).first, "tags": tags}
    arn = cfn.create(resource_type, body, logical_id="Subject")["PhysicalResourceId"]
    return stacks.add("Subject", resource_type, arn), body


def test_the_desired_state_is_recorded_and_removed_with_the_resource(cfn, ivs):
    arn = cfn.create(STAGE, {"name": "hall", "tags": {"team": "video"}}, logical_id="Hall")["PhysicalResourceId"]
    parameter = boto3.client("ssm", endpoint_url=ivs.url).get_parameter(Name=f"/constructs-ivsrt/desired/{STACK}/Hall")
    recorded = json.loads(parameter["Parameter"]["Value"])
    assert recorded == {
        "version": 1,
        "type": STAGE,
        "arn": arn,
        "stackId": STACK_ID,
        "logicalId": "Hall",
        "properties": {"name": "hall"},
        "tags": {"team": "video"},
    }
    cfn.send("Delete", STAGE, physical_id=arn, logical_id="Hall")
    assert ivs.ssm.parameters == {}


@pytest.mark.parametrize("resource_type", [STAGE, ENCODER, STORAGE, INGEST, PUBLIC_KEY, COMPOSITION])
def test_every_kind_of_drift_on_every_type(cfn, ivs, client, resource_type):
    stacks = Stacks()
    arn, body = deploy_one(cfn, stacks, resource_type, {"team": "video", "tier": "gold"})
    assert as_json(stacks) == (0, as_json(stacks)[1])
    assert statuses(as_json(stacks)[1])["Subject"] == "IN_SYNC"

    client.tag_resource(resourceArn=arn, tags={"team": "audio", "added": "x"})  # changed, added
    client.untag_resource(resourceArn=arn, tagKeys=["tier"])  # removed
    rules = RESOURCES[resource_type]
    prop = "stageArn" if resource_type == COMPOSITION else "name"
    with ivs.state.lock:  # a property changed out of band (the API has no Update for most types)
        ivs.state.resources[arn][prop] = "renamed" if prop == "name" else "arn:aws:ivs:us-east-1:123456789012:stage/Zz"
    code, document = as_json(stacks)
    subject = next(r for r in document["stacks"][0]["resources"] if r["logical_id"] == "Subject")
    assert code == 1 and subject["status"] == "MODIFIED" and subject["type"] == resource_type and subject["arn"] == arn
    assert subject["differences"] == [
        {"path": prop, "expected": body[prop], "actual": ivs.state.resources[arn][prop]},
        {"path": "tags.added", "expected": None, "actual": "x"},
        {"path": "tags.team", "expected": "video", "actual": "audio"},
        {"path": "tags.tier", "expected": "gold", "actual": None},
    ]
    replaces = prop in rules.replacing_properties
    code, text = report(stacks)
    assert f"{prop}: expected {json.dumps(body[prop])}, actual" in text
    restore = "restore what cannot be corrected in place: cdk deploy Provider --context constructs-ivsrt:reconcile="
    assert (restore in text) == replaces

    client_delete = getattr(
        client,
        f"{'stop' if resource_type == COMPOSITION else 'delete'}_{rules.noun[0].lower()}"
        f"{''.join('_' + c.lower() if c.isupper() else c for c in rules.noun[1:])}",
    )
    client_delete(arn=arn)
    if resource_type == COMPOSITION:
        ivs.state.compositions = type(ivs.state.compositions)(stop_seconds=0)
    code, document = as_json(stacks)
    assert code == 1 and statuses(document)["Subject"] == "DELETED"


def test_revert_puts_a_stage_back_in_place(cfn, ivs, client):
    stacks = Stacks()
    arn = stacks.add(
        "Hall", STAGE, cfn.create(STAGE, {"name": "hall", "tags": {"team": "video"}}, logical_id="Hall")["PhysicalResourceId"]
    )
    client.update_stage(arn=arn, name="renamed")
    client.tag_resource(resourceArn=arn, tags={"extra": "1"})
    code, text = report(stacks, "--revert")
    assert code == 1 and "reverted" in text and "restore" not in text
    assert as_json(stacks) == (
        0,
        {
            "stacks": [
                {
                    "stack": STACK,
                    "resources": [{"logical_id": "Hall", "type": STAGE, "arn": arn, "status": "IN_SYNC", "differences": []}],
                    "orphans": [],
                }
            ]
        },
    )
    stage = client.get_stage(arn=arn)["stage"]
    assert stage["name"] == "hall" and "extra" not in stage["tags"]


def test_an_ingest_configuration_is_reverted_in_place(cfn, ivs, client):
    stacks = Stacks()
    stage = stacks.add("S", STAGE, cfn.create(STAGE, {"name": "s"}, logical_id="S")["PhysicalResourceId"])
    other = cfn.create(STAGE, {"name": "o"}, logical_id="O")["PhysicalResourceId"]
    body = {"name": "i", "stageArn": stage, "userId": "a", "ingestProtocol": "RTMPS"}
    arn = stacks.add("I", INGEST, cfn.create(INGEST, body, logical_id="I")["PhysicalResourceId"])
    client.update_ingest_configuration(arn=arn, stageArn=other)
    code, document = as_json(stacks, "--revert")
    assert code == 1 and document["stacks"][0]["resources"][1]["differences"] == [
        {"path": "stageArn", "expected": stage, "actual": other}
    ]
    assert client.get_ingest_configuration(arn=arn)["ingestConfiguration"]["stageArn"] == stage
    assert as_json(stacks)[0] == 0


def test_orphans_are_found_and_deleted(cfn, ivs):
    """A cancelled create's leftover: a second resource carrying the stack resource's identity."""
    stacks = Stacks()
    leftover = cfn.create(STAGE, {"name": "hall"}, logical_id="Hall")["PhysicalResourceId"]
    arn = stacks.add("Hall", STAGE, cfn.create(STAGE, {"name": "hall"}, logical_id="Hall")["PhysicalResourceId"])
    code, document = as_json(stacks)
    assert code == 1 and document["stacks"][0]["orphans"] == [{"arn": leftover, "type": STAGE}]
    code, text = report(stacks, "--delete-orphans")
    assert f"  ORPHAN   -           Stage  {leftover}\n      deleted" in text
    assert [r["arn"] for r in ivs.state.snapshot()] == [arn]
    assert as_json(stacks)[0] == 0


def test_no_recorded_desired_state_is_an_error(cfn, ivs):
    stacks = Stacks()
    stacks.add("Hall", STAGE, cfn.create(STAGE, {"name": "hall"}, logical_id="Hall")["PhysicalResourceId"])
    ivs.ssm.parameters.clear()
    code, text = report(stacks)
    assert code == 2 and "UNKNOWN" in text and "no desired state recorded" in text


def test_the_table(cfn, ivs, client):
    stacks = Stacks()
    synced = stacks.add("Synced", STAGE, cfn.create(STAGE, {"name": "a"}, logical_id="Synced")["PhysicalResourceId"])
    gone = stacks.add("Gone", ENCODER, cfn.create(ENCODER, {"name": "e"}, logical_id="Gone")["PhysicalResourceId"])
    client.delete_encoder_configuration(arn=gone)
    code, text = report(stacks)
    lines = text.splitlines()
    assert lines[:4] == [
        f"Stack {STACK}",
        "  STATUS   LOGICAL ID  TYPE                  ARN",
        f"  IN_SYNC  Synced      Stage                 {synced}",
        f"  DELETED  Gone        EncoderConfiguration  {gone}",
    ]
    assert lines[4] == "  1 in sync, 1 deleted, 0 orphan(s)"
    assert lines[5].startswith(
        f"  restore what cannot be corrected in place: cdk deploy {STACK} --context constructs-ivsrt:reconcile="
    )


def test_a_reconcile_update_costs_one_get_when_nothing_drifted(cfn, ivs):
    props = {"name": "hall", "tags": {"team": "video"}}
    arn = cfn.create(STAGE, {**props, "reconcile": "1"}, logical_id="Hall")["PhysicalResourceId"]
    ivs.state.calls.clear()
    assert (
        cfn.update(STAGE, arn, {**props, "reconcile": "1"}, {**props, "reconcile": "2"}, logical_id="Hall")["PhysicalResourceId"]
        == arn
    )
    assert ivs.state.calls == ["GetStage"]


def test_a_reconcile_update_restores_what_was_deleted_or_replaced(cfn, ivs, client):
    props = {"name": "hall", "tags": {"team": "video"}}
    arn = cfn.create(STAGE, {**props, "reconcile": "1"}, logical_id="Hall")["PhysicalResourceId"]
    client.update_stage(arn=arn, name="renamed")
    client.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert (
        cfn.update(STAGE, arn, {**props, "reconcile": "1"}, {**props, "reconcile": "2"}, logical_id="Hall")["PhysicalResourceId"]
        == arn
    )  # in place
    assert client.get_stage(arn=arn)["stage"]["name"] == "hall"
    client.delete_stage(arn=arn)
    restored = cfn.update(STAGE, arn, {**props, "reconcile": "2"}, {**props, "reconcile": "3"}, logical_id="Hall")
    new = restored["PhysicalResourceId"]
    assert new != arn and client.get_stage(arn=new)["stage"]["tags"]["team"] == "video"
    encoder = cfn.create(ENCODER, {"name": "e", "reconcile": "1"}, logical_id="Enc")["PhysicalResourceId"]
    with ivs.state.lock:
        ivs.state.resources[encoder]["name"] = "changed"
    replaced = cfn.update(ENCODER, encoder, {"name": "e", "reconcile": "1"}, {"name": "e", "reconcile": "2"}, logical_id="Enc")[
        "PhysicalResourceId"
    ]
    assert replaced != encoder and client.get_encoder_configuration(arn=replaced)["encoderConfiguration"]["name"] == "e"


# ---------------------------------------------------------------------------------------------
# python -m ivsrt_local drift: the runner's stacks, in a process of its own
# ---------------------------------------------------------------------------------------------


def two_region_app(outdir: Path) -> Path:
    """Media (us-east-1): two stages and an encoder configuration; Studio (eu-west-1): a stage."""
    import aws_cdk as cdk

    from constructs_ivsrt import EncoderConfiguration, Stage, Video

    app = cdk.App(outdir=str(outdir))
    media = cdk.Stack(app, "Media", env=cdk.Environment(account="123456789012", region="us-east-1"))
    Stage(media, "Hall", stage_name="hall", tags={"team": "video"})
    Stage(media, "Lobby", stage_name="lobby")
    EncoderConfiguration(media, "Hd", video=Video(width=1280, height=720))
    studio = cdk.Stack(app, "Studio", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    Stage(studio, "Booth", stage_name="booth")
    return Path(app.synth().directory)


def local_drift(state_dir: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # a fresh shell: no region, no keys
    env["AWS_ENDPOINT_URL_IVS_REALTIME"] = url
    return subprocess.run(
        [sys.executable, "-m", "ivsrt_local", "drift", "--state-dir", str(state_dir), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_local_drift_through_the_runner_in_two_regions(tmp_path, ivs):
    """Deployed by the runner, changed out of band with boto3, then ``python -m ivsrt_local
    drift``: the report of both regions' stacks at once, revert, orphans deleted."""
    from ivsrt_local.assembly import read_assembly, select_stacks
    from ivsrt_local.deploy import deploy_stacks, deployed_stacks
    from ivsrt_runtime.rules import IDENTITY_TAG

    state_dir = tmp_path / "state"
    deploy_stacks(select_stacks(read_assembly(two_region_app(tmp_path / "cdk.out")), []), state_dir, "us-east-1")
    deployed = {
        s.stack_name: {k: r.physical_id for k, r in s.resources.items() if r.resource_type in RESOURCES}
        for s in deployed_stacks(state_dir).values()
    }
    media, booth = deployed["Media"], deployed["Studio"]["Booth"]
    east, west = (boto3.client("ivs-realtime", endpoint_url=ivs.url, region_name=r) for r in ("us-east-1", "eu-west-1"))
    east.update_stage(arn=media["Hall"], name="renamed")
    east.tag_resource(resourceArn=media["Hall"], tags={"team": "audio"})
    identity = east.get_stage(arn=media["Lobby"])["stage"]["tags"][IDENTITY_TAG]
    leftover = east.create_stage(name="leftover", tags={IDENTITY_TAG: identity})["stage"]["arn"]
    west.delete_stage(arn=booth)

    found = local_drift(state_dir, ivs.url, "--json")
    assert found.returncode == 1, found.stderr
    assert json.loads(found.stdout) == {
        "stacks": [
            {
                "stack": "Media",
                "resources": [
                    {
                        "logical_id": "Hall",
                        "type": STAGE,
                        "arn": media["Hall"],
                        "status": "MODIFIED",
                        "differences": [
                            {"path": "name", "expected": "hall", "actual": "renamed"},
                            {"path": "tags.team", "expected": "video", "actual": "audio"},
                        ],
                    },
                    {"logical_id": "Hd", "type": ENCODER, "arn": media["Hd"], "status": "IN_SYNC", "differences": []},
                    {"logical_id": "Lobby", "type": STAGE, "arn": media["Lobby"], "status": "IN_SYNC", "differences": []},
                ],
                "orphans": [{"arn": leftover, "type": STAGE}],
            },
            {
                "stack": "Studio",
                "resources": [{"logical_id": "Booth", "type": STAGE, "arn": booth, "status": "DELETED", "differences": []}],
                "orphans": [],
            },
        ]
    }
    assert "error" not in found.stderr

    corrected = local_drift(state_dir, ivs.url, "--revert", "--delete-orphans")
    assert corrected.returncode == 1, corrected.stderr  # what was found, before the corrections
    text = corrected.stdout
    assert f"  MODIFIED  Hall        Stage                 {media['Hall']}\n" in text
    assert '      name: expected "hall", actual "renamed" (in place)\n' in text
    assert f"  ORPHAN    -           Stage                 {leftover}\n      deleted\n" in text
    assert f"  DELETED  Booth       Stage  {booth}\n      not reverted: deleted (see the restore command)\n" in text
    assert "  restore what cannot be corrected in place: cdk deploy Studio --context constructs-ivsrt:reconcile=" in text
    assert "restore what cannot be corrected in place: cdk deploy Media " not in text
    assert east.get_stage(arn=media["Hall"])["stage"]["name"] == "hall"
    assert east.get_stage(arn=media["Hall"])["stage"]["tags"]["team"] == "video"
    assert leftover not in [s["arn"] for s in east.list_stages()["stages"]]

    in_sync = local_drift(state_dir, ivs.url, "Media", "--json")
    assert in_sync.returncode == 0, in_sync.stderr
    assert {r["logical_id"]: r["status"] for r in json.loads(in_sync.stdout)["stacks"][0]["resources"]} == {
        "Hall": "IN_SYNC",
        "Hd": "IN_SYNC",
        "Lobby": "IN_SYNC",
    }
    assert json.loads(in_sync.stdout)["stacks"][0]["orphans"] == []
    assert local_drift(state_dir, ivs.url, "--json").returncode == 1  # Booth: deleted, for a reconcile deploy


def test_local_drift_names_what_is_not_deployed(tmp_path, ivs):
    refused = local_drift(tmp_path / "empty", ivs.url, "Nope")
    assert (refused.returncode, refused.stderr.strip()) == (
        2,
        f"error: no deployed stack 'Nope' in {tmp_path / 'empty'}; deployed: none",
    )
    nothing = local_drift(tmp_path / "empty", ivs.url, "--json")
    assert (nothing.returncode, json.loads(nothing.stdout)) == (0, {"stacks": []})
    assert nothing.stderr == "no deployed stacks to check\n"
    nothing = local_drift(tmp_path / "empty", ivs.url)
    assert (nothing.returncode, nothing.stdout, nothing.stderr) == (0, "", "no deployed stacks to check\n")


class InFlight:
    """An IVS client that counts the GetStage calls in flight at once (each held 50 ms)."""

    def __init__(self, client: Any) -> None:
        self.client, self.lock, self.now, self.most = client, threading.Lock(), 0, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def get_stage(self, **params: Any) -> Any:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            time.sleep(0.05)
            return self.client.get_stage(**params)
        finally:
            with self.lock:
                self.now -= 1


def test_the_detector_observes_a_few_resources_at_once_in_their_order(cfn, ivs, client):
    from ivsrt_runtime import calls
    from ivsrt_runtime.drift_check import CONCURRENCY, Detector

    stacks = Stacks()
    for index in range(9):
        stacks.add(f"S{index}", STAGE, cfn.create(STAGE, {"name": f"s{index}"}, logical_id=f"S{index}")["PhysicalResourceId"])
    client.update_stage(arn=stacks.resources["S7"].physical_id, name="renamed")
    [stack] = stacks.stacks([])
    ssm = calls.Request(get_client=clients.ssm_client, subject="Parameter Store")

    def check(concurrency: int) -> tuple[int, list[tuple[str, str]], list[str]]:
        counting, lines = InFlight(clients.ivs_client()), []
        detector = Detector(
            calls.Request(get_client=lambda: counting, subject="IVS Real-Time"), ssm, lines.append, concurrency=concurrency
        )
        report = detector.check(stack)
        return counting.most, [(r.logical_id, r.status) for r in report.resources], lines

    expected = [(f"S{index}", "MODIFIED" if index == 7 else "IN_SYNC") for index in range(9)]
    assert check(1) == (1, expected, [f"{STACK}: 9/9 resources observed"])
    assert CONCURRENCY == 4 and check(CONCURRENCY) == (4, expected, [f"{STACK}: 9/9 resources observed"])

    ivs.inject(Fault("error", "GetStage", code="AccessDeniedException"))
    with pytest.raises(calls.RequestFailed, match="^GetStage failed for IVS Real-Time: AccessDeniedException"):
        check(CONCURRENCY)
    with pytest.raises(ValueError, match="concurrency must be 1 or more, got: 0"):
        Detector(ssm, ssm, concurrency=0)
