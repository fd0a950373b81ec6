"""Adoption (issue 20, item 6): ``adopt_arn`` on Stage, EncoderConfiguration, StorageConfiguration,
IngestConfiguration and PublicKey. The template (synth), the handler's Create that takes the
resource over or refuses in one line, and through the runner: kept on destroy, moved between stacks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template
from conftest import ENCODER, IDENTITY_TAG, STACK_ID, STAGE, resources, stack_template, user_tags
from synth import expect

from constructs_ivsrt import (
    EncoderConfiguration,
    IngestConfiguration,
    PublicKey,
    Stage,
    StorageConfiguration,
)
from ivsrt_local.deployer import LocalDeployer
from ivsrt_local.scenarios import P384_KEY_A
from ivsrt_local.stack_state import DeployError, StackState
from ivsrt_local.testing import local_ivs_realtime  # noqa: F401  (the fixture, as users import it)
from ivsrt_runtime.calls import RequestFailed
from ivsrt_runtime.rules import owner_digest

ENV = cdk.Environment(account="123456789012", region="us-east-1")
EU_STAGE = "arn:aws:ivs:eu-west-1:123456789012:stage/AbCd"


# ---------------------------------------------------------------------------------------------
# Synth
# ---------------------------------------------------------------------------------------------


def test_the_template_carries_adopt_arn_and_keeps_the_resource_by_default():
    stack = cdk.Stack(cdk.App(), "T", env=ENV)
    bucket = s3.Bucket(stack, "Bucket")
    arn = "arn:aws:ivs:us-east-1:123456789012:{}/AbCd"
    Stage(stack, "Stage", adopt_arn=arn.format("stage"))
    EncoderConfiguration(stack, "Encoder", adopt_arn=arn.format("encoder-configuration"))
    StorageConfiguration(stack, "Storage", bucket=bucket, adopt_arn=arn.format("storage-configuration"))
    IngestConfiguration(
        stack, "Ingest", adopt_arn=arn.format("ingest-configuration"), removal_policy=cdk.RemovalPolicy.DESTROY
    )  # an explicit policy wins
    PublicKey(stack, "Key", public_key_material=P384_KEY_A, adopt_arn=arn.format("public-key"))
    Stage(stack, "Plain")
    template = Template.from_stack(stack)
    for logical_id, segment in (
        ("Stage", "stage"),
        ("Encoder", "encoder-configuration"),
        ("Storage", "storage-configuration"),
        ("Key", "public-key"),
    ):
        template.has_resource(
            template.to_json()["Resources"][logical_id]["Type"],
            {
                "Properties": Match.object_like({"adoptArn": arn.format(segment)}),
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
            },
        )
    resources_ = template.to_json()["Resources"]
    assert resources_["Ingest"]["DeletionPolicy"] == "Delete" and resources_["Ingest"]["Properties"]["adoptArn"]
    assert "adoptArn" not in resources_["Plain"]["Properties"] and resources_["Plain"]["DeletionPolicy"] == "Delete"
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [{"Action": "cloudformation:DescribeStackResources", "Effect": "Allow", "Resource": "*"}]
                )
            }
        },
    )


def test_adopt_arn_is_checked_at_synth():
    expect(
        "T/Stage: adopt_arn must match the pattern arn:aws:ivs:[a-z0-9-]+:[0-9]+:stage/[a-zA-Z0-9-]+, "
        "got: 'arn:aws:ivs:eu-west-1:123456789012:encoder-configuration/AbCd'",
        lambda st: Stage(st, "Stage", adopt_arn="arn:aws:ivs:eu-west-1:123456789012:encoder-configuration/AbCd"),
    )
    expect(
        "T/Stage: adopt_arn must be in the stack's account 123456789012 (a stack manages resources of its own "
        "region and account), got: 'arn:aws:ivs:eu-west-1:999999999999:stage/AbCd'",
        lambda st: Stage(st, "Stage", adopt_arn="arn:aws:ivs:eu-west-1:999999999999:stage/AbCd"),
    )
    expect(
        "T/Stage: adopt_arn must be in the stack's region eu-west-1 (a stack manages resources of its own "
        "region and account), got: 'arn:aws:ivs:us-east-1:123456789012:stage/AbCd'",
        lambda st: Stage(st, "Stage", adopt_arn="arn:aws:ivs:us-east-1:123456789012:stage/AbCd"),
    )
    Stage(cdk.Stack(cdk.App(), "Agnostic"), "Stage", adopt_arn=EU_STAGE)  # a stack of any region: not checked


# ---------------------------------------------------------------------------------------------
# The handler's Create
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def client(ivs):
    return boto3.client("ivs-realtime", endpoint_url=ivs.url)


def test_a_stage_is_adopted_converged_and_tagged(cfn, ivs, client):
    arn = client.create_stage(name="old", tags={"team": "audio", "stale": "1"})["stage"]["arn"]
    result = cfn.create(STAGE, {"name": "hall", "tags": {"team": "video"}, "adoptArn": arn}, logical_id="Hall")
    assert result["PhysicalResourceId"] == arn and result["Data"]["Name"] == "hall"
    stage = client.get_stage(arn=arn)["stage"]
    assert stage["name"] == "hall" and user_tags(stage) == {"team": "video"}
    assert stage["tags"][IDENTITY_TAG].startswith(owner_digest(STACK_ID, "Hall") + ".")
    assert len(resources(ivs, "Stage")) == 1
    parameter = boto3.client("ssm", endpoint_url=ivs.url).get_parameter(Name="/constructs-ivsrt/desired/Provider/Hall")
    recorded = json.loads(parameter["Parameter"]["Value"])
    assert (recorded["arn"], recorded["properties"], recorded["tags"]) == (arn, {"name": "hall"}, {"team": "video"})


def test_adopting_what_is_already_as_wanted_costs_a_get_and_a_tag(cfn, ivs, client):
    arn = client.create_stage(name="hall")["stage"]["arn"]
    ivs.state.calls.clear()
    cfn.create(STAGE, {"name": "hall", "adoptArn": arn}, logical_id="Hall")
    assert ivs.state.calls == ["GetStage", "TagResource"]


def test_adopting_nothing_is_refused(cfn, ivs):
    arn = "arn:aws:ivs:us-east-1:123456789012:stage/Gone"
    with pytest.raises(RequestFailed) as caught:
        cfn.create(STAGE, {"name": "hall", "adoptArn": arn}, logical_id="Hall")
    assert str(caught.value) == f"Cannot adopt {arn} for {STAGE} Hall: no such Stage (adopt_arn)"


def test_a_resource_another_stack_resource_holds_is_refused(cfn, ivs, client):
    arn = cfn.create(STAGE, {"name": "lobby"}, logical_id="Lobby")["PhysicalResourceId"]
    # What the runner tells the endpoint after a deploy (these events come without one): the
    # endpoint's DescribeStackResources then lists the stage in stack Provider.
    ivs.cloudformation.put(
        {
            "stackName": "Provider",
            "stackId": STACK_ID,
            "region": "us-east-1",
            "resources": {"Lobby": {"physicalId": arn, "type": STAGE}},
        }
    )
    before = client.get_stage(arn=arn)["stage"]
    with pytest.raises(RequestFailed) as caught:
        cfn.create(STAGE, {"name": "hall", "adoptArn": arn}, logical_id="Hall")
    assert str(caught.value) == (
        f"Cannot adopt {arn} for {STAGE} Hall: it belongs to Lobby of stack Provider; "
        "remove it from that stack first (RemovalPolicy.RETAIN, then delete the construct there)"
    )
    assert client.get_stage(arn=arn)["stage"] == before  # untouched


def test_a_replacing_property_that_differs_is_refused(cfn, ivs, client):
    arn = client.create_encoder_configuration(name="hd", video={"width": 1280, "height": 720})["encoderConfiguration"]["arn"]
    with pytest.raises(RequestFailed) as caught:
        cfn.create(ENCODER, {"name": "hd", "video": {"width": 1920, "height": 720}, "adoptArn": arn}, logical_id="Hd")
    assert str(caught.value) == (
        f"Cannot adopt {arn} for {ENCODER} Hd: it differs in what cannot change in place "
        "(video.width: wanted 1920, it has 1280); make the props its values, or drop "
        "adopt_arn to create a new one"
    )
    assert IDENTITY_TAG not in client.get_encoder_configuration(arn=arn)["encoderConfiguration"]["tags"]


def test_adopt_arn_cannot_change_on_an_existing_resource(cfn, ivs, client):
    arn = client.create_stage(name="hall")["stage"]["arn"]
    other = client.create_stage(name="other")["stage"]["arn"]
    cfn.create(STAGE, {"name": "hall", "adoptArn": arn}, logical_id="Hall")
    with pytest.raises(RequestFailed) as caught:
        cfn.update(STAGE, arn, {"name": "hall", "adoptArn": arn}, {"name": "hall", "adoptArn": other}, logical_id="Hall")
    assert str(caught.value) == (
        f"{STAGE} Hall ({arn}): adopt_arn cannot change on a resource the stack already has "
        f"({arn}), got: {other!r}; to adopt another resource, give it a new construct id "
        "(a new stack resource)"
    )
    # Removed (or left as it was): an ordinary update of the same resource.
    assert (
        cfn.update(STAGE, arn, {"name": "hall", "adoptArn": arn}, {"name": "renamed"}, logical_id="Hall")["PhysicalResourceId"]
        == arn
    )


# ---------------------------------------------------------------------------------------------
# Through the runner: kept on destroy, moved between stacks
# ---------------------------------------------------------------------------------------------


def synth_stack(tmp_path: Path, version: str, name: str, build: Callable[[cdk.Stack], Any]) -> dict[str, Any]:
    app = cdk.App(outdir=str(tmp_path / version))
    build(cdk.Stack(app, name, env=ENV))
    app.synth()
    return stack_template(tmp_path / version, name)


def test_an_adopted_resource_is_kept_when_the_stack_is_destroyed(tmp_path, handler, ivs, client):
    kept = client.create_stage(name="kept")["stage"]["arn"]
    gone = client.create_encoder_configuration(name="gone")["encoderConfiguration"]["arn"]
    deployer = LocalDeployer(StackState("Media", "us-east-1"), handler)
    deployer.deploy(
        synth_stack(
            tmp_path,
            "v1",
            "Media",
            lambda st: (
                Stage(st, "Hall", stage_name="hall", adopt_arn=kept),
                EncoderConfiguration(
                    st, "Hd", encoder_configuration_name="gone", adopt_arn=gone, removal_policy=cdk.RemovalPolicy.DESTROY
                ),
            ),
        )
    )
    assert {r.physical_id for r in deployer.state.resources.values()} == {kept, gone}
    actions = {c.logical_id: c.action for c in deployer.destroy()}
    assert actions == {"Hall": "retain", "Hd": "delete"}
    assert [r["arn"] for r in resources(ivs)] == [kept]


def test_a_resource_moves_between_stacks_with_its_arn(tmp_path, handler, ivs, client):
    """Kept by the old stack (RETAIN) when it leaves it, adopted by the new one: same ARN. The
    endpoint's DescribeStackResources answers from the stacks the runner told it."""
    old = LocalDeployer(StackState("Old", "us-east-1"), handler)
    old.deploy(
        synth_stack(
            tmp_path, "o1", "Old", lambda st: Stage(st, "Hall", stage_name="hall", removal_policy=cdk.RemovalPolicy.RETAIN)
        )
    )
    arn = old.state.resources["Hall"].physical_id

    new = LocalDeployer(StackState("New", "us-east-1"), handler)
    adopting = synth_stack(
        tmp_path, "n1", "New", lambda st: Stage(st, "Main", stage_name="main", adopt_arn=arn, tags={"team": "video"})
    )
    with pytest.raises(Exception, match=r"Cannot adopt .* it belongs to Hall of stack Old"):
        new.deploy(adopting)  # still the old stack's

    assert [c.action for c in old.deploy(synth_stack(tmp_path, "o2", "Old", lambda st: None))] == ["retain"]
    new.deploy(adopting)
    assert new.state.resources["Main"].physical_id == arn
    stage = client.get_stage(arn=arn)["stage"]
    assert stage["name"] == "main" and user_tags(stage) == {"team": "video"}
    assert stage["tags"][IDENTITY_TAG].startswith(
        owner_digest("arn:aws:cloudformation:us-east-1:123456789012:stack/New/local", "Main") + "."
    )
    assert len(resources(ivs, "Stage")) == 1


def test_through_the_runner_a_stage_another_stack_holds_is_refused_until_that_stack_is_gone(local_ivs_realtime, tmp_path):  # noqa: F811
    """The new user's trial: the real handler, through real boto3, asks the local endpoint (never
    AWS) which stack holds the ARN; the runner told it its stacks."""

    def app(version: str, adopt: str | None = None) -> tuple[cdk.App, Stage, Stage | None]:
        app = cdk.App(outdir=str(tmp_path / version))
        lobby = Stage(cdk.Stack(app, "Media", env=ENV), "Lobby", stage_name="lobby", removal_policy=cdk.RemovalPolicy.RETAIN)
        hall = Stage(cdk.Stack(app, "Studio", env=ENV), "Hall", stage_name="hall", adopt_arn=adopt) if adopt else None
        return app, lobby, hall

    first, lobby, _ = app("v1")
    local_ivs_realtime.deploy(first)
    arn = local_ivs_realtime.deployed(lobby).physical_id
    second, _, hall = app("v2", arn)
    started = time.monotonic()
    with pytest.raises(DeployError) as caught:
        local_ivs_realtime.deploy(second, ["Studio"])
    assert time.monotonic() - started < 10  # answered at once, not retried until the function's deadline
    assert (
        f"Cannot adopt {arn} for {STAGE} Hall: it belongs to Lobby of stack Media; remove it from that "
        "stack first (RemovalPolicy.RETAIN, then delete the construct there)"
    ) in str(caught.value)
    assert local_ivs_realtime.endpoint.cloudformation.calls == ["cloudformation:DescribeStackResources"]

    assert [c.action for c in local_ivs_realtime.destroy(["Media"])["Media"]] == ["retain"]  # kept, in no stack now
    local_ivs_realtime.deploy(second, ["Studio"])
    assert local_ivs_realtime.deployed(hall).physical_id == arn
    assert [r["name"] for r in local_ivs_realtime.resources("Stage")] == ["hall"]
