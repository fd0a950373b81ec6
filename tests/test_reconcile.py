"""Reconcile from the constructs' side (issue 20, items 3 and 4): the ``reconcile`` property every
managed resource gets from the context ``constructs-ivsrt:reconcile`` (the restore command) or on
every deploy (``constructs-ivsrt:reconcile-on-deploy`` / ``IvsRealtimeProvider.reconcile_on_deploy``),
its template, and what the handler does with it through the local runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template
from conftest import resources, stack_template, user_tags

from constructs_ivsrt import (
    EncoderConfiguration,
    IngestConfiguration,
    IvsRealtimeProvider,
    IvsRealtimeValidationError,
    Stage,
    StorageConfiguration,
    Video,
)
from ivsrt_local.deployer import LocalDeployer
from ivsrt_local.stack_state import StackState

ENV = cdk.Environment(account="123456789012", region="us-east-1")
TOKEN = "20261205T155815Z"
MANAGED = (
    "Custom::IvsRealtimeStage",
    "Custom::IvsRealtimeEncoderConfiguration",
    "Custom::IvsRealtimeStorageConfiguration",
    "Custom::IvsRealtimeIngestConfiguration",
)


def app_with(
    context: dict[str, Any] | None = None, *, outdir: Path | None = None, on_deploy: bool = False, width: int = 1280
) -> tuple[cdk.App, cdk.Stack]:
    app = cdk.App(context=context or {}, **({"outdir": str(outdir)} if outdir else {}))
    stack = cdk.Stack(app, "Media", env=ENV)
    stage = Stage(stack, "Hall", stage_name="hall", tags={"team": "video"})
    StorageConfiguration(stack, "Storage", bucket=s3.Bucket(stack, "Bucket"))
    EncoderConfiguration(stack, "Hd", video=Video(width=width, height=720))
    IngestConfiguration(stack, "Ingest", stage=stage)
    if on_deploy:  # after the resources: the value is read at synth
        IvsRealtimeProvider.of(stack).reconcile_on_deploy()
    return app, stack


def reconcile_values(stack: cdk.Stack) -> dict[str, Any]:
    template = Template.from_stack(stack).to_json()
    return {
        logical_id: resource["Properties"].get("reconcile")
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] in MANAGED
    }


def test_without_the_context_no_resource_has_the_property():
    _, stack = app_with()
    template = Template.from_stack(stack)
    for resource_type in MANAGED:
        template.has_resource_properties(resource_type, {"reconcile": Match.absent()})


def test_the_restore_token_goes_to_every_managed_resource():
    _, stack = app_with({"constructs-ivsrt:reconcile": TOKEN})
    assert reconcile_values(stack) == {"Hall": TOKEN, "Storage": TOKEN, "Hd": TOKEN, "Ingest": TOKEN}
    # And nothing else changes.
    _, plain = app_with()
    with_token = Template.from_stack(stack).to_json()
    for resource in with_token["Resources"].values():
        resource.get("Properties", {}).pop("reconcile", None)
    assert with_token == Template.from_stack(plain).to_json()


def test_reconcile_on_deploy_is_new_on_every_synth():
    for make in (
        lambda: app_with({"constructs-ivsrt:reconcile-on-deploy": "true"})[1],  # --context: a string
        lambda: app_with({"constructs-ivsrt:reconcile-on-deploy": True})[1],  # cdk.json: a boolean
        lambda: app_with(on_deploy=True)[1],
    ):  # one stack
        first, second = reconcile_values(make()), reconcile_values(make())
        assert len(set(first.values())) == 1 and None not in first.values()
        assert set(first.values()) != set(second.values())


def test_reconcile_on_deploy_is_per_stack_and_the_token_wins():
    app = cdk.App()
    on, off = (cdk.Stack(app, name, env=ENV) for name in ("On", "Off"))
    Stage(on, "Hall")
    Stage(off, "Hall")
    IvsRealtimeProvider.of(on).reconcile_on_deploy()
    assert reconcile_values(on)["Hall"] is not None and reconcile_values(off)["Hall"] is None
    _, stack = app_with({"constructs-ivsrt:reconcile": TOKEN, "constructs-ivsrt:reconcile-on-deploy": "true"}, on_deploy=True)
    assert set(reconcile_values(stack).values()) == {TOKEN}
    _, stack = app_with({"constructs-ivsrt:reconcile-on-deploy": "false"})
    assert set(reconcile_values(stack).values()) == {None}
    _, stack = app_with({"constructs-ivsrt:reconcile-on-deploy": False})
    assert set(reconcile_values(stack).values()) == {None}
    _, stack = app_with({"constructs-ivsrt:reconcile-on-deploy": "True"})
    assert None not in reconcile_values(stack).values()


@pytest.mark.parametrize("value", ["yes", "1", "on", "", 1, "maybe"])
def test_reconcile_on_deploy_takes_only_true_or_false(value):
    """Anything else fails the synth in one line (a "yes" silently meaning off went unnoticed),
    a restore token given as well included."""
    for context in ({}, {"constructs-ivsrt:reconcile": TOKEN}):
        with pytest.raises(IvsRealtimeValidationError) as caught:
            app_with({**context, "constructs-ivsrt:reconcile-on-deploy": value})
        assert str(caught.value) == (
            'context constructs-ivsrt:reconcile-on-deploy must be true or false (a boolean, or the string "true" '
            f'or "false"), got: {value!r}'
        )


# ---------------------------------------------------------------------------------------------
# Through the runner: CloudFormation sends each resource an Update in which only reconcile changed
# ---------------------------------------------------------------------------------------------


def synth(tmp_path: Path, version: str, **options: Any) -> dict[str, Any]:
    app, _ = app_with(outdir=tmp_path / version, **options)
    app.synth()
    return stack_template(tmp_path / version, "Media")


def test_the_restore_deploy_brings_back_what_was_deleted_or_replaced(tmp_path, handler, ivs):
    deployer = LocalDeployer(StackState("Media", "us-east-1"), handler)
    deployer.deploy(synth(tmp_path, "v1"))
    client = boto3.client("ivs-realtime", endpoint_url=ivs.url)
    arns = {r.resource_type: r.physical_id for r in deployer.state.resources.values()}
    client.delete_encoder_configuration(arn=arns["Custom::IvsRealtimeEncoderConfiguration"])
    client.update_stage(arn=arns["Custom::IvsRealtimeStage"], name="renamed")

    assert {c.action for c in deployer.deploy(synth(tmp_path, "v2"))} == set()  # the template did not change
    changes = deployer.deploy(synth(tmp_path, "v3", context={"constructs-ivsrt:reconcile": TOKEN}))
    actions = {(c.resource_type, c.action) for c in changes}
    assert ("Custom::IvsRealtimeEncoderConfiguration", "replace") in actions
    assert ("Custom::IvsRealtimeStage", "update") in actions
    encoder = next(r for r in resources(ivs, "EncoderConfiguration"))
    assert encoder["arn"] != arns["Custom::IvsRealtimeEncoderConfiguration"] and encoder["video"]["width"] == 1280
    assert client.get_stage(arn=arns["Custom::IvsRealtimeStage"])["stage"]["name"] == "hall"


def test_reconcile_on_deploy_corrects_drift_and_costs_one_get_when_nothing_drifted(tmp_path, handler, ivs):
    deployer = LocalDeployer(StackState("Media", "us-east-1"), handler)
    deployer.deploy(synth(tmp_path, "v1", on_deploy=True))
    arns = {r.resource_type: r.physical_id for r in deployer.state.resources.values()}
    stage = arns["Custom::IvsRealtimeStage"]
    client = boto3.client("ivs-realtime", endpoint_url=ivs.url)
    client.update_stage(arn=stage, name="renamed")
    client.tag_resource(resourceArn=stage, tags={"team": "audio"})

    changes = deployer.deploy(synth(tmp_path, "v2", on_deploy=True))  # the same app, deployed again
    assert sorted(c.action for c in changes) == ["update"] * 4
    corrected = client.get_stage(arn=stage)["stage"]
    assert corrected["name"] == "hall" and user_tags(corrected) == {"team": "video"}

    ivs.state.calls.clear()
    ivs.ssm.calls.clear()
    changes = deployer.deploy(synth(tmp_path, "v3", on_deploy=True))
    assert sorted(c.action for c in changes) == ["update"] * 4
    # Nothing drifted: one Get per resource, and the desired state written again (one PutParameter).
    assert sorted(ivs.state.calls) == ["GetEncoderConfiguration", "GetIngestConfiguration", "GetStage", "GetStorageConfiguration"]
    assert ivs.ssm.calls == ["ssm:PutParameter"] * 4
    assert {r.physical_id for r in deployer.state.resources.values()} == set(arns.values())


def test_a_real_change_with_the_switch_on_is_an_ordinary_update(tmp_path, handler, ivs):
    """With other properties changed too, the Update is the ordinary one (a replacement here)."""
    deployer = LocalDeployer(StackState("Media", "us-east-1"), handler)
    deployer.deploy(synth(tmp_path, "v1", on_deploy=True))
    old = next(r for r in resources(ivs, "EncoderConfiguration"))["arn"]
    changes = deployer.deploy(synth(tmp_path, "v2", on_deploy=True, width=1920))
    assert ("Custom::IvsRealtimeEncoderConfiguration", "replace") in {(c.resource_type, c.action) for c in changes}
    encoder = next(r for r in resources(ivs, "EncoderConfiguration"))
    assert encoder["arn"] != old and encoder["video"]["width"] == 1920
