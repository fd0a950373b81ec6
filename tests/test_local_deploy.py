"""The local deploy runner: synthesized templates in, CloudFormation-like events to the real handler."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from conftest import Fault, resources, stack_template, user_tags

from constructs_ivsrt import (
    AutoParticipantRecording,
    EncoderConfiguration,
    IngestConfiguration,
    Stage,
    StorageConfiguration,
    Video,
)
from ivsrt_local import graph as graph_module
from ivsrt_local.assembly import read_assembly, select_stacks
from ivsrt_local.deployer import LocalDeployer
from ivsrt_local.stack_state import DeployError, StackState

ENV = cdk.Environment(account="123456789012", region="us-east-1")


def synth(
    tmp_path,
    version: str,
    *,
    width: int = 1280,
    stage_name: str = "live",
    encoder: bool = True,
    retain_stage: bool = False,
    tag: str = "a",
    recording: bool = True,
    tags_on: dict[str, dict[str, str]] | None = None,
):
    outdir = tmp_path / version
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "Runner", env=ENV)
    storage = StorageConfiguration(stack, "Storage", bucket=s3.Bucket(stack, "Bucket"))
    Stage(
        stack,
        "Stage",
        stage_name=stage_name,
        auto_participant_recording=AutoParticipantRecording(storage_configuration=storage) if recording else None,
        removal_policy=cdk.RemovalPolicy.RETAIN if retain_stage else cdk.RemovalPolicy.DESTROY,
    )
    for construct_id, tags in (tags_on or {}).items():
        for key, value in tags.items():
            cdk.Tags.of(stack.node.find_child(construct_id)).add(key, value)
    if encoder:
        EncoderConfiguration(stack, "Encoder", video=Video(width=width, height=720))
    cdk.Tags.of(app).add("version", tag)
    app.synth()
    return stack_template(outdir, "Runner")


@pytest.fixture
def deployer(handler, ivs):
    return LocalDeployer(StackState("Runner", "us-east-1"), handler)


def by_noun(ivs):
    found = {}
    for resource in resources(ivs):
        found.setdefault(resource["_noun"], []).append(resource)
    return found


def test_create_then_tag_update_then_destroy(tmp_path, deployer, ivs):
    changes = deployer.deploy(synth(tmp_path, "v1"))
    assert sorted(c.action for c in changes) == ["create"] * 3
    stage = by_noun(ivs)["Stage"][0]
    storage = by_noun(ivs)["StorageConfiguration"][0]
    assert stage["autoParticipantRecordingConfiguration"]["storageConfigurationArn"] == storage["arn"]
    assert user_tags(stage) == {"version": "a"}
    assert storage["s3"]["bucketName"] == "runner-bucket83908e77"  # the stand-in name of the bucket

    changes = deployer.deploy(synth(tmp_path, "v2", tag="b"))
    assert sorted(c.action for c in changes) == ["update"] * 3
    assert all(user_tags(r) == {"version": "b"} for r in resources(ivs))

    deployer.destroy()
    assert resources(ivs) == []


def test_replacement_deletes_the_old_resource_after_success(tmp_path, deployer, ivs):
    deployer.deploy(synth(tmp_path, "v1"))
    old = by_noun(ivs)["EncoderConfiguration"][0]["arn"]
    changes = deployer.deploy(synth(tmp_path, "v2", width=1920))
    assert [c.action for c in changes] == ["replace", "delete"]  # the deploy, then its cleanup
    encoders = by_noun(ivs)["EncoderConfiguration"]
    assert len(encoders) == 1 and encoders[0]["arn"] != old and encoders[0]["video"]["width"] == 1920
    assert deployer.changes[-1].action == "delete" and deployer.changes[-1].physical_id == old


def test_failed_deployment_rolls_back_to_the_previous_state(tmp_path, deployer, ivs):
    deployer.deploy(synth(tmp_path, "v1"))
    before = sorted((r["arn"], r["name"]) for r in resources(ivs))
    # The encoder is replaced first; then the stage's rename fails: the replacement is rolled back.
    ivs.inject(Fault("error", "UpdateStage", code="AccessDeniedException"))
    with pytest.raises(DeployError, match="rolled back: UpdateStage failed .*AccessDeniedException"):
        deployer.deploy(synth(tmp_path, "v2", width=1920, stage_name="renamed"))
    assert [c.action for c in deployer.changes[-1:]] == ["delete"]  # the replacement, after the swapped Update
    assert sorted((r["arn"], r["name"]) for r in resources(ivs)) == before
    stage_state = next(r for r in deployer.state.resources.values() if r.resource_type == "Custom::IvsRealtimeStage")
    assert stage_state.properties["name"] == "live"


def test_the_update_that_failed_partway_is_rolled_back_too(tmp_path, deployer, ivs):
    """UpdateStage succeeds, then TagResource fails: CloudFormation's rollback sends the failed
    resource's old properties back to it, so the rename is undone."""
    deployer.deploy(synth(tmp_path, "v1"))
    ivs.inject(Fault("error", "TagResource", code="AccessDeniedException"))
    with pytest.raises(DeployError, match="rolled back: TagResource failed .*AccessDeniedException"):
        deployer.deploy(synth(tmp_path, "v2", stage_name="renamed", tags_on={"Stage": {"team": "video"}}))
    stage = by_noun(ivs)["Stage"][0]
    assert (stage["name"], user_tags(stage)) == ("live", {"version": "a"})
    assert deployer.state.resources[stage_id(deployer)].properties["name"] == "live"


def test_a_failed_deploy_rollback_keeps_a_retained_resource_and_deletes_the_rest(tmp_path, deployer, ivs):
    # Created in order: encoder configuration, stage, then the storage configuration fails.
    ivs.inject(Fault("error", "CreateStorageConfiguration", code="AccessDeniedException"))
    with pytest.raises(DeployError, match="rolled back: CreateStorageConfiguration failed"):
        deployer.deploy(synth(tmp_path, "v1", retain_stage=True, recording=False))
    assert [r["_noun"] for r in resources(ivs)] == ["Stage"]
    assert sorted(c.action for c in deployer.changes) == ["delete", "retain"]
    assert deployer.state.resources == {}


def test_a_failed_rollback_leaves_a_state_that_says_what_exists(tmp_path, deployer, ivs):
    """The rollback's delete of the encoder configuration fails: it stays in the stack's record,
    the stage rolled back before it does not, and destroy then removes what is left."""
    ivs.inject(
        Fault("error", "CreateStorageConfiguration", code="AccessDeniedException"),
        Fault("error", "DeleteEncoderConfiguration", code="AccessDeniedException"),
    )
    with pytest.raises(
        DeployError,
        match=r"failed \(CreateStorageConfiguration .*\) and so did its rollback: "
        r"DeleteEncoderConfiguration failed",
    ):
        deployer.deploy(synth(tmp_path, "v1", recording=False))
    assert [r.resource_type for r in deployer.state.resources.values()] == ["Custom::IvsRealtimeEncoderConfiguration"]
    assert [r["_noun"] for r in resources(ivs)] == ["EncoderConfiguration"]
    deployer.destroy()
    assert resources(ivs) == [] and deployer.state.resources == {}


def test_a_failed_rollback_after_a_replacement_still_knows_the_original(tmp_path, deployer, ivs):
    """The encoder configuration is replaced, the stage's update fails, and so does the stage's
    rollback: the original encoder configuration is no logical id's any more, yet the state
    keeps it (superseded), so destroy still deletes it. One event at a time, so that the stage's
    rollback fails before the encoder configuration's starts."""
    deployer.concurrency = 1
    deployer.deploy(synth(tmp_path, "v1"))
    ivs.inject(Fault("error", "UpdateStage", code="AccessDeniedException", times=2))
    with pytest.raises(DeployError, match="and so did its rollback: UpdateStage failed"):
        deployer.deploy(synth(tmp_path, "v2", width=1920, stage_name="renamed"))
    assert len(by_noun(ivs)["EncoderConfiguration"]) == 2
    assert [r.resource_type for r in deployer.state.superseded] == ["Custom::IvsRealtimeEncoderConfiguration"]
    deployer.destroy()
    assert resources(ivs) == [] and deployer.state.superseded == []


def test_a_superseded_original_adopted_back_by_a_later_deploy_is_kept(tmp_path, deployer, ivs):
    """After that failed rollback, deploying the first version again adopts the original encoder
    configuration (same owner and properties): it is the logical id's again, so the cleanup
    deletes the replacement, not the original."""
    deployer.concurrency = 1
    deployer.deploy(synth(tmp_path, "v1"))
    original = by_noun(ivs)["EncoderConfiguration"][0]["arn"]
    ivs.inject(Fault("error", "UpdateStage", code="AccessDeniedException", times=2))
    with pytest.raises(DeployError, match="and so did its rollback"):
        deployer.deploy(synth(tmp_path, "v2", width=1920, stage_name="renamed"))
    deployer.deploy(synth(tmp_path, "v1-again"))
    assert [r["arn"] for r in by_noun(ivs)["EncoderConfiguration"]] == [original]
    assert deployer.state.superseded == []
    assert by_noun(ivs)["Stage"][0]["name"] == "live"


def test_a_rollback_sends_nothing_to_a_resource_whose_record_alone_changed(tmp_path, deployer, ivs):
    """The stage's removal policy changes (no event), then the storage configuration's update
    fails: the rollback restores the stage's record without an Update CloudFormation never sent."""
    deployer.deploy(synth(tmp_path, "v1", recording=False))
    ivs.inject(Fault("error", "TagResource", code="AccessDeniedException"))
    ivs.state.calls.clear()
    with pytest.raises(DeployError, match="rolled back: TagResource failed"):
        deployer.deploy(synth(tmp_path, "v2", recording=False, retain_stage=True, tags_on={"Storage": {"x": "y"}}))
    assert not [call for call in ivs.state.calls if "Stage" in call]
    assert deployer.state.resources[stage_id(deployer)].deletion_policy == "Delete"


def test_replaced_originals_go_by_their_update_replace_policy(tmp_path, deployer, ivs):
    template = synth(tmp_path, "v1")
    deployer.deploy(template)
    template = synth(tmp_path, "v2", width=1920)
    encoder_id = next(k for k in template["Resources"] if k.startswith("Encoder"))
    template["Resources"][encoder_id]["UpdateReplacePolicy"] = "Retain"
    changes = deployer.deploy(template)
    assert [c.action for c in changes] == ["replace", "retain"]
    assert len(by_noun(ivs)["EncoderConfiguration"]) == 2 and deployer.state.superseded == []


def stage_id(deployer) -> str:
    return next(k for k, r in deployer.state.resources.items() if r.resource_type == "Custom::IvsRealtimeStage")


def test_removed_resource_is_deleted(tmp_path, deployer, ivs):
    deployer.deploy(synth(tmp_path, "v1"))
    changes = deployer.deploy(synth(tmp_path, "v2", encoder=False))
    assert [(c.action, c.resource_type) for c in changes] == [("delete", "Custom::IvsRealtimeEncoderConfiguration")]
    assert "EncoderConfiguration" not in by_noun(ivs)
    assert deployer.changes[-1].action == "delete"


def test_retained_resource_survives_destroy(tmp_path, deployer, ivs):
    deployer.deploy(synth(tmp_path, "v1", retain_stage=True, recording=False))
    actions = {c.resource_type: c.action for c in deployer.destroy()}
    assert actions == {
        "Custom::IvsRealtimeStage": "retain",
        "Custom::IvsRealtimeEncoderConfiguration": "delete",
        "Custom::IvsRealtimeStorageConfiguration": "delete",
    }
    assert [r["_noun"] for r in resources(ivs)] == ["Stage"]


def test_storage_used_by_a_retained_stage_cannot_be_destroyed(tmp_path, deployer, ivs, handler):
    """As on AWS: the service refuses (ConflictException), and says so in one line."""
    deployer.deploy(synth(tmp_path, "v1", retain_stage=True))
    deployer.framework.timeout_seconds = handler.ANSWER_MARGIN_SECONDS + 3
    with pytest.raises(
        DeployError,
        match=r"^destroy failed at Storage: DeleteStorageConfiguration failed "
        r".*ConflictException: .* is in use by arn:aws:ivs:.*:stage/",
    ):
        deployer.destroy()
    # What could not be deleted stays in the stack's record, so destroy can be run again.
    assert any(r.resource_type == "Custom::IvsRealtimeStorageConfiguration" for r in deployer.state.resources.values())


def test_unknown_stack_is_a_clear_error(tmp_path):
    synth(tmp_path, "v1")
    with pytest.raises(DeployError, match="no stack 'Nope' in .*; stacks: Runner"):
        select_stacks(read_assembly(tmp_path / "v1"), ["Nope"])


def synth_composition(tmp_path, version: str, *, width: int, composition: bool):
    from constructs_ivsrt import Composition, S3Destination

    outdir = tmp_path / version
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "Runner", env=ENV)
    storage = StorageConfiguration(stack, "Storage", bucket=s3.Bucket(stack, "Bucket"))
    stage = Stage(stack, "Stage")
    encoder = EncoderConfiguration(stack, "Encoder", video=Video(width=width, height=720))
    if composition:
        Composition(
            stack,
            "Program",
            stage=stage,
            destinations=[S3Destination(storage_configuration=storage, encoder_configuration=encoder)],
        )
    app.synth()
    return stack_template(outdir, "Runner")


def test_cleanup_deletes_in_reverse_dependency_order_of_the_old_stack(tmp_path, deployer, ivs):
    """The composition is removed and the encoder configuration it used is replaced: the
    composition must go first, or the old encoder configuration would still be in use."""
    deployer.deploy(synth_composition(tmp_path, "v1", width=1280, composition=True))
    deployer.deploy(synth_composition(tmp_path, "v2", width=640, composition=False))
    cleanup = [c for c in deployer.changes if c.action in ("delete", "delete-failed")]
    assert [(c.action, c.resource_type) for c in cleanup] == [
        ("delete", "Custom::IvsRealtimeComposition"),
        ("delete", "Custom::IvsRealtimeEncoderConfiguration"),
    ]
    live = [r for r in resources(ivs) if r.get("state") != "STOPPED"]
    assert sorted(r["_noun"] for r in live) == ["EncoderConfiguration", "Stage", "StorageConfiguration"]
    assert live_video(ivs) == 640


def test_a_composition_that_fails_to_start_is_deleted_by_the_rollback(tmp_path, deployer, ivs):
    """onEvent answered with the composition's ARN, then the waiting failed: CloudFormation
    knows the physical id, so the rollback sends its Delete (and deletes the rest)."""
    ivs.state.compositions.fail_next = 1
    with pytest.raises(DeployError, match="rolled back: .*FAILED"):
        deployer.deploy(synth_composition(tmp_path, "v1", width=1280, composition=True))
    deleted = [c.resource_type for c in deployer.changes if c.action == "delete"]
    assert deleted[0] == "Custom::IvsRealtimeComposition" and len(deleted) == 4
    assert [r for r in resources(ivs) if r.get("state") != "STOPPED"] == []
    assert deployer.state.resources == {}


def test_no_value_removes_the_property(deployer):
    from ivsrt_local.resolver import Resolver

    resolved = Resolver(deployer.state).resolve(
        {"name": {"Ref": "AWS::NoValue"}, "items": ["a", {"Ref": "AWS::NoValue"}], "kept": "x"}
    )
    assert resolved == {"items": ["a"], "kept": "x"}


def live_video(ivs) -> int:
    return next(r["video"]["width"] for r in resources(ivs) if r["_noun"] == "EncoderConfiguration")


class RecordingHandler:
    """A stand-in for the Lambda handler that records what was in flight at once."""

    def __init__(self, barrier_parties: int = 0, seconds: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.in_flight: set[str] = set()
        self.most_at_once = 0
        self.started: list[tuple[str, set[str]]] = []  # (logical id, done when it started)
        self.done: set[str] = set()
        self.barrier = threading.Barrier(barrier_parties) if barrier_parties else None
        self.seconds = seconds

    def on_event(self, event, context):
        logical_id = event["LogicalResourceId"]
        with self.lock:
            self.started.append((logical_id, set(self.done)))
            self.in_flight.add(logical_id)
            self.most_at_once = max(self.most_at_once, len(self.in_flight))
        if self.barrier and logical_id.startswith("Stage"):
            self.barrier.wait(timeout=10)  # broken unless all the stages are in flight together
        time.sleep(self.seconds)
        with self.lock:
            self.in_flight.discard(logical_id)
            self.done.add(logical_id)
        arn = event.get("PhysicalResourceId") or f"arn:aws:ivs:us-east-1:123456789012:stage/{logical_id}"
        return {"PhysicalResourceId": arn, "Data": {"Arn": arn}}


# Three independent stages, and an ingest configuration on the first.
FAN_OUT = {
    "Resources": {
        **{f"Stage{i}": {"Type": "Custom::IvsRealtimeStage", "Properties": {"name": f"s{i}"}} for i in range(3)},
        "Ingest": {
            "Type": "Custom::IvsRealtimeIngestConfiguration",
            "Properties": {"stageArn": {"Fn::GetAtt": ["Stage0", "Arn"]}},
        },
    }
}


def test_every_ready_resource_starts_at_once_and_dependents_wait():
    handler = RecordingHandler(barrier_parties=3)
    deployer = LocalDeployer(StackState("Runner", "us-east-1"), handler)
    deployer.deploy(FAN_OUT)
    assert handler.most_at_once == 3
    assert [done for logical_id, done in handler.started if logical_id == "Ingest"][0] >= {"Stage0"}
    handler.started.clear()
    handler.done.clear()
    deployer.destroy()  # the ingest configuration before the stage it uses; the stages together
    started = dict(handler.started)
    assert started["Ingest"] == set() and "Ingest" in started["Stage0"]


def test_concurrency_bounds_the_events_in_flight():
    handler = RecordingHandler(seconds=0.05)
    deployer = LocalDeployer(StackState("Runner", "us-east-1"), handler, concurrency=1)
    deployer.deploy(FAN_OUT)
    assert handler.most_at_once == 1


def test_progress_is_printed_while_events_are_in_flight(monkeypatch):
    monkeypatch.setattr(graph_module, "PROGRESS_SECONDS", 0.01)
    lines: list[str] = []
    deployer = LocalDeployer(StackState("Runner", "us-east-1"), RecordingHandler(seconds=0.2), progress=lines.append)
    deployer.deploy(FAN_OUT)
    # Never more than three in flight here (the ingest configuration waits for its stage): named.
    assert lines and all(
        re.fullmatch(
            r"  deploy: \d/4 done, [1-3] in flight \((Ingest|Stage\d)(, Stage\d)*\), "
            r"0 failed \(\d+ s\)",
            line,
        )
        for line in lines
    ), lines


class EnvironmentSeen(RecordingHandler):
    """Records the region and credentials the handler finds in its environment."""

    def on_event(self, event, context):
        self.seen = {k: os.environ.get(k) for k in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID")}
        return super().on_event(event, context)


def test_the_handler_finds_its_stacks_region_and_the_process_gets_its_environment_back(monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    before = dict(os.environ)
    handler = EnvironmentSeen()
    deployer = LocalDeployer(StackState("Paris", "eu-west-3"), handler)
    deployer.deploy(FAN_OUT)
    assert handler.seen == {"AWS_REGION": "eu-west-3", "AWS_DEFAULT_REGION": "eu-west-3", "AWS_ACCESS_KEY_ID": "local"}
    assert dict(os.environ) == before
    deployer.destroy()
    assert dict(os.environ) == before


def test_each_environment_has_a_client_of_its_own(handler):
    """Threads play Lambda execution environments: one client each, reused by the same one."""
    clients = []
    thread = threading.Thread(target=lambda: clients.append(handler.ivs_client()))
    thread.start()
    thread.join()
    assert handler.ivs_client() is handler.ivs_client() and clients[0] is not handler.ivs_client()


def test_tags_known_only_at_deploy_time_synthesize_and_reach_the_resource(tmp_path, deployer, ivs):
    """A stack name, a parameter as a value and as a key: CloudFormation resolves them, the
    handler checks them with the same rules as any tag."""
    app = cdk.App(outdir=str(tmp_path / "v1"))
    stack = cdk.Stack(app, "Runner", env=ENV)
    team = cdk.CfnParameter(stack, "Team", default="video")
    Stage(stack, "Stage", tags={"stack": cdk.Aws.STACK_NAME})
    cdk.Tags.of(app).add("team", team.value_as_string)
    cdk.Tags.of(app).add(team.value_as_string, "owner")
    app.synth()
    deployer.deploy(stack_template(tmp_path / "v1", "Runner"))
    assert user_tags(by_noun(ivs)["Stage"][0]) == {"stack": "Runner", "team": "video", "video": "owner"}


def test_a_deploy_time_tag_that_breaks_a_rule_fails_the_deploy_in_one_line(tmp_path, deployer, ivs):
    def synth_with_key(version: str, key_of: Callable[[cdk.Stack], str]) -> cdk.App:
        app = cdk.App(outdir=str(tmp_path / version))
        stack = cdk.Stack(app, "Runner", env=ENV)
        cdk.Tags.of(stack).add(key_of(stack), "x")
        Stage(stack, "Stage")
        return app

    with pytest.raises(Exception, match="tags key must contain only letters"):
        synth_with_key("v1", lambda stack: "bad~key").synth()  # known at synth: refused there
    synth_with_key("v2", lambda stack: cdk.CfnParameter(stack, "Key", default="bad~key").value_as_string).synth()
    with pytest.raises(DeployError) as caught:
        deployer.deploy(stack_template(tmp_path / "v2", "Runner"))
    assert "\n" not in str(caught.value)
    assert "tags key must contain only letters, numbers, spaces and _ . : / = + - @, got: 'bad~key'" in str(caught.value)
    assert resources(ivs) == []


def test_a_circular_dependency_left_in_the_graph_is_an_error_not_silence():
    from ivsrt_local.graph import run_graph

    with pytest.raises(DeployError, match="circular dependency among A, B"):
        run_graph({"A": lambda: 1, "B": lambda: 2, "C": lambda: 3}, {"A": ["B"], "B": ["A"]})


def test_a_failed_destroy_names_the_resource_that_failed(tmp_path, deployer, ivs):
    deployer.deploy(synth(tmp_path, "v1", encoder=False, recording=False))
    ivs.inject(Fault("error", "DeleteStage", code="AccessDeniedException"))
    with pytest.raises(DeployError, match=r"^destroy failed at Stage: DeleteStage failed"):
        deployer.destroy()


def test_creates_cancelled_by_a_failure_are_rolled_back_by_their_identity(tmp_path, deployer, ivs):
    """The encoder configuration fails while the stage's Create is still in flight: CloudFormation
    cancels that Create and rolls it back with a Delete of a physical id it made up; the handler
    finds what the Create made by its identity tag and deletes it."""
    ivs.inject(
        Fault("latency", "CreateStage", seconds=2.0),  # still in flight when the failure comes
        Fault("error", "CreateEncoderConfiguration", code="AccessDeniedException"),
    )
    with pytest.raises(DeployError, match="rolled back: CreateEncoderConfiguration failed"):
        deployer.deploy(synth(tmp_path, "v1", recording=False))
    assert resources(ivs) == [] and deployer.state.resources == {}
    made_up = [c.physical_id for c in deployer.changes if c.action == "delete" and c.logical_id.startswith("Stage")]
    assert len(made_up) == 1 and not made_up[0].startswith("arn:")


# ---------------------------------------------------------------------------------------------
# The runner for any app, from the command line: several stacks, cross-stack references, the
# stack's own region, no AWS variables set, a private state file, one line for a mistake.
# ---------------------------------------------------------------------------------------------


def two_stack_app(outdir) -> None:
    app = cdk.App(outdir=str(outdir))
    env = cdk.Environment(account="123456789012", region="eu-west-1")
    media = cdk.Stack(app, "Media", env=env)
    stage = Stage(media, "Stage")
    studio = cdk.Stack(app, "Studio", env=env)
    IngestConfiguration(studio, "Encoder", stage=stage)  # a cross-stack reference: Export and Fn::ImportValue
    app.synth()


def run_cli(*args: str, cwd, endpoint_url: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # a fresh shell: no region, no keys
    env["AWS_ENDPOINT_URL_IVS_REALTIME"] = endpoint_url
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # the activated venv (Node 24)
    return subprocess.run(
        [sys.executable, "-m", "ivsrt_local", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_the_runner_deploys_and_destroys_any_app_from_the_command_line(tmp_path, ivs):
    two_stack_app(tmp_path / "cdk.out")
    deployed = run_cli("deploy", cwd=tmp_path, endpoint_url=ivs.url)
    assert deployed.returncode == 0, deployed.stderr
    assert deployed.stdout.index("== Media (eu-west-1)") < deployed.stdout.index("== Studio (eu-west-1)")
    made = {r["_noun"]: r for r in resources(ivs)}
    assert made["IngestConfiguration"]["stageArn"] == made["Stage"]["arn"]
    assert made["Stage"]["arn"].startswith("arn:aws:ivs:eu-west-1:")  # the stack's region, though none was set
    for state in (tmp_path / ".local-deploy").glob("*.json"):
        assert stat.S_IMODE(state.stat().st_mode) == 0o600  # it holds stream keys

    refused = run_cli("destroy", "Media", cwd=tmp_path, endpoint_url=ivs.url)
    assert refused.returncode == 1 and refused.stderr.strip() == (
        "error: stack Media cannot be destroyed: Studio still imports its exports"
    )
    destroyed = run_cli("destroy", cwd=tmp_path, endpoint_url=ivs.url)
    assert destroyed.returncode == 0, destroyed.stderr
    assert destroyed.stdout.index("== Studio") < destroyed.stdout.index("== Media")
    assert resources(ivs) == []


@pytest.mark.parametrize(
    "args, said",
    [
        (("deploy", "Nope"), "error: no stack 'Nope' in the assembly; stacks: Media, Studio"),
        (("deploy", "--assembly", "missing"), "error: no cloud assembly at missing (run `cdk synth` first, or pass --assembly)"),
        (("destroy", "Nope"), "error: no deployed stack 'Nope' in .local-deploy; deployed: none"),
        (
            ("deploy", "--endpoint-is-dead"),
            "error: nothing answers at AWS_ENDPOINT_URL_IVS_REALTIME=http://127.0.0.1:9 ([Errno 111] Connection refused)",
        ),
    ],
)
def test_a_users_mistake_is_one_line(tmp_path, ivs, args, said):
    two_stack_app(tmp_path / "cdk.out")
    dead = "--endpoint-is-dead" in args
    result = run_cli(
        *(a for a in args if a != "--endpoint-is-dead"), cwd=tmp_path, endpoint_url="http://127.0.0.1:9" if dead else ivs.url
    )
    assert (result.returncode, result.stderr.strip()) == (1, said)


@pytest.mark.slow
def test_the_runner_reads_stages_list_parameters_substitutions_and_same_named_stacks(tmp_path, ivs):
    """A cdk.Stage's stacks (a nested assembly), one stack name in two regions (two states), a
    CommaDelimitedList parameter, Fn::Sub in a tag."""
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    for region in ("us-east-1", "eu-west-1"):
        stage = cdk.Stage(app, f"Prod-{region}", env=cdk.Environment(account="123456789012", region=region))
        stack = cdk.Stack(stage, "Video", stack_name="Video")
        media = cdk.CfnParameter(stack, "Media", type="CommaDelimitedList", default="AUDIO_ONLY")
        storage = StorageConfiguration(stack, "Storage", bucket=s3.Bucket(stack, "Bucket"))
        Stage(
            stack,
            "Stage",
            auto_participant_recording=AutoParticipantRecording(storage_configuration=storage, media_types=media.value_as_list),
        )
        cdk.Tags.of(stack).add("where", cdk.Fn.sub("${AWS::Region}-${AWS::StackName}"))
    app.synth()
    deployed = run_cli("deploy", cwd=tmp_path, endpoint_url=ivs.url)
    assert deployed.returncode == 0, deployed.stderr
    stages = sorted(
        (r["arn"].split(":")[3], r["autoParticipantRecordingConfiguration"]["mediaTypes"], user_tags(r)["where"])
        for r in resources(ivs, "Stage")
    )
    assert stages == [("eu-west-1", ["AUDIO_ONLY"], "eu-west-1-Video"), ("us-east-1", ["AUDIO_ONLY"], "us-east-1-Video")]
    assert run_cli("destroy", "Video", cwd=tmp_path, endpoint_url=ivs.url).returncode == 0
    assert resources(ivs) == []
