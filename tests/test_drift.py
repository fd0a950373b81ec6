"""Drift detection, correction and reconcile (issue 20): the real handler records each resource's
desired state in Parameter Store at the local endpoint; changes made out of band through real
boto3 over HTTP; the detector (ivsrt_runtime.drift_check) and the CLI's report (ivsrt_cli.drift)."""

from __future__ import annotations

import argparse
import io
import json
from typing import Any

import boto3
import pytest

from conftest import COMPOSITION, ENCODER, INGEST, PUBLIC_KEY, STACK_ID, STAGE, STORAGE
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
    args = argparse.Namespace(stacks=[], json="--json" in options, revert="--revert" in options,
                              delete_orphans="--delete-orphans" in options)
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
    deps = make_dependencies(resource_type, lambda kind, props: cfn.create(kind, props, logical_id=f"Dep{len(stacks.resources)}")
                             ["PhysicalResourceId"])
    body = {**lifecycle(resource_type, deps).first, "tags": tags}
    arn = cfn.create(resource_type, body, logical_id="Subject")["PhysicalResourceId"]
    return stacks.add("Subject", resource_type, arn), body


def test_the_desired_state_is_recorded_and_removed_with_the_resource(cfn, ivs):
    arn = cfn.create(STAGE, {"name": "hall", "tags": {"team": "video"}}, logical_id="Hall")["PhysicalResourceId"]
    parameter = boto3.client("ssm", endpoint_url=ivs.url).get_parameter(Name=f"/constructs-ivsrt/desired/{STACK}/Hall")
    recorded = json.loads(parameter["Parameter"]["Value"])
    assert recorded == {"version": 1, "type": STAGE, "arn": arn, "stackId": STACK_ID, "logicalId": "Hall",
                        "properties": {"name": "hall"}, "tags": {"team": "video"}}
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

    client_delete = getattr(client, f"{'stop' if resource_type == COMPOSITION else 'delete'}_{rules.noun[0].lower()}"
                            f"{''.join('_' + c.lower() if c.isupper() else c for c in rules.noun[1:])}")
    client_delete(arn=arn)
    if resource_type == COMPOSITION:
        ivs.state.compositions = type(ivs.state.compositions)(stop_seconds=0)
    code, document = as_json(stacks)
    assert code == 1 and statuses(document)["Subject"] == "DELETED"


def test_revert_puts_a_stage_back_in_place(cfn, ivs, client):
    stacks = Stacks()
    arn = stacks.add("Hall", STAGE, cfn.create(STAGE, {"name": "hall", "tags": {"team": "video"}},
                                                logical_id="Hall")["PhysicalResourceId"])
    client.update_stage(arn=arn, name="renamed")
    client.tag_resource(resourceArn=arn, tags={"extra": "1"})
    code, text = report(stacks, "--revert")
    assert code == 1 and "reverted" in text and "restore" not in text
    assert as_json(stacks) == (0, {"stacks": [{"stack": STACK, "resources": [
        {"logical_id": "Hall", "type": STAGE, "arn": arn, "status": "IN_SYNC", "differences": []}], "orphans": []}]})
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
        {"path": "stageArn", "expected": stage, "actual": other}]
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
    assert lines[:4] == [f"Stack {STACK}", "  STATUS   LOGICAL ID  TYPE                  ARN",
                         f"  IN_SYNC  Synced      Stage                 {synced}",
                         f"  DELETED  Gone        EncoderConfiguration  {gone}"]
    assert lines[4] == "  1 in sync, 1 deleted, 0 orphan(s)"
    assert lines[5].startswith(f"  restore what cannot be corrected in place: cdk deploy {STACK} --context "
                               "constructs-ivsrt:reconcile=")


def test_a_reconcile_update_costs_one_get_when_nothing_drifted(cfn, ivs):
    props = {"name": "hall", "tags": {"team": "video"}}
    arn = cfn.create(STAGE, {**props, "reconcile": "1"}, logical_id="Hall")["PhysicalResourceId"]
    ivs.state.calls.clear()
    assert cfn.update(STAGE, arn, {**props, "reconcile": "1"}, {**props, "reconcile": "2"},
                      logical_id="Hall")["PhysicalResourceId"] == arn
    assert ivs.state.calls == ["GetStage"]


def test_a_reconcile_update_restores_what_was_deleted_or_replaced(cfn, ivs, client):
    props = {"name": "hall", "tags": {"team": "video"}}
    arn = cfn.create(STAGE, {**props, "reconcile": "1"}, logical_id="Hall")["PhysicalResourceId"]
    client.update_stage(arn=arn, name="renamed")
    client.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert cfn.update(STAGE, arn, {**props, "reconcile": "1"}, {**props, "reconcile": "2"},
                      logical_id="Hall")["PhysicalResourceId"] == arn  # in place
    assert client.get_stage(arn=arn)["stage"]["name"] == "hall"
    client.delete_stage(arn=arn)
    restored = cfn.update(STAGE, arn, {**props, "reconcile": "2"}, {**props, "reconcile": "3"}, logical_id="Hall")
    new = restored["PhysicalResourceId"]
    assert new != arn and client.get_stage(arn=new)["stage"]["tags"]["team"] == "video"
    encoder = cfn.create(ENCODER, {"name": "e", "reconcile": "1"}, logical_id="Enc")["PhysicalResourceId"]
    with ivs.state.lock:
        ivs.state.resources[encoder]["name"] = "changed"
    replaced = cfn.update(ENCODER, encoder, {"name": "e", "reconcile": "1"}, {"name": "e", "reconcile": "2"},
                          logical_id="Enc")["PhysicalResourceId"]
    assert replaced != encoder and client.get_encoder_configuration(arn=replaced)["encoderConfiguration"]["name"] == "e"
