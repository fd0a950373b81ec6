"""ivsrt plan: what a deployment will do to each IVS resource, from two synths of one app, from
the deployed stack (CloudFormation's GetTemplate) and from the local runner's state."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_s3 as s3
from botocore.stub import Stubber

from constructs_ivsrt import (
    Composition,
    EncoderConfiguration,
    IngestConfiguration,
    S3Destination,
    Stage,
    StorageConfiguration,
    Video,
)
from ivsrt_cli.assembly import read_stacks
from ivsrt_cli.main import main as ivsrt
from ivsrt_cli.planner import (
    ADOPT_ARN_REFUSED,
    PropertyChange,
    ResourceChange,
    StackPlan,
    assembly_templates,
    deployed_templates,
    plan_stacks,
    plan_template,
    render_json,
    render_markdown,
    render_text,
)

ENV = cdk.Environment(account="123456789012", region="eu-west-1")


def synth_media(outdir: Path, *, v2: bool) -> Path:
    """One app in two versions: v2 renames the stage, tags the storage configuration differently,
    raises the encoder's bitrate (which the composition uses), drops Lobby and adds Backstage."""
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "Media", env=ENV)
    storage = StorageConfiguration(stack, "Storage", bucket=s3.Bucket(stack, "Bucket"))
    cdk.Tags.of(storage).add("cost-centre", "b" if v2 else "a")
    stage = Stage(stack, "Stage", stage_name="all-hands" if v2 else "town-hall")
    encoder = EncoderConfiguration(stack, "Encoder", video=Video(width=1280, height=720, bitrate=3_000_000 if v2 else 2_500_000))
    Composition(
        stack, "Program", stage=stage, destinations=[S3Destination(storage_configuration=storage, encoder_configuration=encoder)]
    )
    IngestConfiguration(stack, "Studio", stage=stage)
    Stage(stack, "Backstage" if v2 else "Lobby")
    app.synth()
    return outdir


@pytest.fixture(scope="module")
def assemblies(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("plan")
    return synth_media(root / "cdk.out.base", v2=False), synth_media(root / "cdk.out", v2=True)


def by_id(changes) -> dict[str, tuple[str, list[str]]]:
    return {
        c.logical_id: (c.action, [p.name + (f" via {','.join(p.via)}" if p.via else "") for p in c.properties]) for c in changes
    }


def test_two_synths(assemblies):
    old, new = assemblies
    [plan] = plan_stacks(read_stacks(new).values(), assembly_templates(old))
    assert (plan.stack_name, plan.deployed) == ("Media", True)
    assert by_id(plan.changes) == {
        "Encoder": ("replace", ["video"]),  # cdk diff says "[~] video.bitrate"
        "Program": ("replace", ["destinations via Encoder"]),  # its text is the same, the ARN it names is not
        "Stage": ("update", ["name"]),
        "Storage": ("update", ["tags"]),  # tags never replace, though its other properties all do
        "Backstage": ("create", []),
        "Lobby": ("delete", []),
        "Studio": ("none", []),  # it names the stage, which keeps its ARN
    }
    assert plan.summary == "1 to create, 2 to update in place, 2 to REPLACE (new ARN), 1 to delete, 1 unchanged"


def test_the_markdown_for_a_pull_request(assemblies):
    old, new = assemblies
    assert (
        render_markdown(plan_stacks(read_stacks(new).values(), assembly_templates(old)))
        == """\
### IVS Real-Time plan: `Media`

1 to create, 2 to update in place, 2 to REPLACE (new ARN), 1 to delete, 1 unchanged.

| Change | Resource | Type | Properties |
| --- | --- | --- | --- |
| **REPLACE** | **`Encoder`** | EncoderConfiguration | **video** |
| **REPLACE** | **`Program`** | Composition | **destinations** (via `Encoder` replaced) |
| update in place | `Stage` | Stage | name |
| update in place | `Storage` | StorageConfiguration | tags |
| create | `Backstage` | Stage |  |
| delete | `Lobby` | Stage |  |

REPLACE: a new resource with a new ARN is made; CloudFormation deletes the old one once the deployment has succeeded.
"""
    )


def test_the_guide_shows_this_very_plan(assemblies):
    guide = (Path(__file__).resolve().parent.parent / "docs" / "guide.md").read_text()
    [shown] = re.findall(r"```markdown\n(### IVS Real-Time plan.*?)```", guide, re.S)
    old, new = assemblies
    assert shown == render_markdown(plan_stacks(read_stacks(new).values(), assembly_templates(old)))


def test_a_stack_not_deployed_is_all_creates_and_the_same_synth_no_changes(assemblies, capsys):
    old, new = assemblies
    assert ivsrt(["plan", "--old", str(old), "--new", str(old)]) == 0
    assert capsys.readouterr().out == (
        "Media: 0 to create, 0 to update in place, 0 to REPLACE (new ARN), 0 to delete, 6 unchanged\n"
    )
    [plan] = plan_stacks(read_stacks(new).values(), lambda stack: None)
    assert not plan.deployed and {c.action for c in plan.changes} == {"create"} and plan.count("create") == 6


def test_the_text_table_and_the_exit_codes(assemblies, capsys):
    old, new = assemblies
    assert ivsrt(["plan", "--old", str(old), "--new", str(new), "Media"]) == 0
    assert (
        capsys.readouterr().out
        == """\
Media: 1 to create, 2 to update in place, 2 to REPLACE (new ARN), 1 to delete, 1 unchanged
  REPLACE  Encoder    EncoderConfiguration  video
  REPLACE  Program    Composition           destinations (via Encoder replaced)
  update   Stage      Stage                 name
  update   Storage    StorageConfiguration  tags
  create   Backstage  Stage
  delete   Lobby      Stage
"""
    )
    assert ivsrt(["plan", "--old", str(old), "--new", str(new), "--fail-on-replace", "--json"]) == 1
    counts = json.loads(capsys.readouterr().out)["stacks"][0]["counts"]
    assert counts == {"create": 1, "adopt": 0, "update": 2, "replace": 2, "delete": 1, "none": 1}
    assert ivsrt(["plan", "--old", str(old), "--new", str(new), "Nope"]) == 2
    assert capsys.readouterr().err == "ivsrt plan: error: no stack 'Nope' in the assembly; stacks: Media\n"
    assert ivsrt(["plan", "--old", str(old.parent / "missing"), "--new", str(new)]) == 2
    assert "no cloud assembly at" in capsys.readouterr().err


# --- the rules, on hand-written templates --------------------------------------------------------

TOKEN = {"Fn::GetAtt": ["ProviderOnEvent", "Arn"]}


def template(**resources) -> dict:
    return {
        "Resources": {
            logical_id: {"Type": f"Custom::IvsRealtime{kind}", "Properties": {"ServiceToken": TOKEN, **props}, **policies}
            for logical_id, (kind, props, policies) in resources.items()
        }
    }


def one(kind: str, old: dict, new: dict, old_policies=None, new_policies=None) -> ResourceChange:
    [change] = plan_template(template(R=(kind, old, old_policies or {})), template(R=(kind, new, new_policies or {})))
    return change


@pytest.mark.parametrize(
    "kind, old, new, action, names",
    [
        # CloudFormation sends every scalar as a string: the same value either way.
        ("EncoderConfiguration", {"video": {"bitrate": 2500000}}, {"video": {"bitrate": "2500000"}}, "none", []),
        ("Stage", {}, {"ServiceToken": "another function"}, "none", []),  # not the resource's
        (
            "Stage",
            {"tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]},
            {"tags": [{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "1"}]},
            "none",
            [],
        ),  # a map: order is no change
        ("Stage", {"tags": [{"Key": "a", "Value": "1"}]}, {"tags": [{"Key": "a", "Value": "2"}]}, "update", ["tags"]),
        (
            "Composition",
            {"stageArn": "arn:aws:ivs:eu-west-1:1:stage/A"},
            {"stageArn": "arn:aws:ivs:eu-west-1:1:stage/B"},
            "replace",
            ["stageArn"],
        ),
        (
            "IngestConfiguration",
            {"stageArn": "arn:aws:ivs:eu-west-1:1:stage/A"},
            {"stageArn": "arn:aws:ivs:eu-west-1:1:stage/B", "deleteOptions": {"force": "true"}},
            "update",
            ["stageArn", "deleteOptions"],
        ),  # how it is deleted is no reason to replace it
        ("IngestConfiguration", {"deleteOptions": {"force": True}}, {"deleteOptions": {"force": "true"}}, "none", []),
        (
            "IngestConfiguration",
            {"stageArn": "A", "userId": "a"},
            {"stageArn": "B", "userId": "b", "insecureIngest": "true"},
            "replace",
            ["insecureIngest", "userId"],
        ),  # only those that force it; stageArn alone would be in place
        ("PublicKey", {"kmsKeyArn": {"Ref": "KeyA"}}, {"kmsKeyArn": {"Ref": "KeyB"}}, "replace", ["kmsKeyArn"]),
        ("Stage", {"name": {"Ref": "AWS::StackName"}}, {"name": {"Ref": "AWS::StackName"}}, "none", []),
    ],
)
def test_what_changes_and_what_replaces(kind, old, new, action, names):
    change = one(kind, old, new)
    assert (change.action, [p.name for p in change.properties]) == (action, names)


def test_a_kept_original_and_a_kept_deletion_are_said():
    replaced = one(
        "EncoderConfiguration", {"video": {"width": 1}}, {"video": {"width": 2}}, new_policies={"UpdateReplacePolicy": "Retain"}
    )
    assert replaced.kept == "UpdateReplacePolicy: Retain"
    [deleted] = plan_template(template(R=("Stage", {}, {"DeletionPolicy": "RetainExceptOnCreate"})), template())
    assert (deleted.action, deleted.kept) == ("delete", "DeletionPolicy: RetainExceptOnCreate")


def test_a_reference_changes_only_through_a_replaced_resource():
    """Fn::GetAtt and Fn::Sub count as references too; a chain of replacements is followed."""

    def app(bitrate: int, name: str) -> dict:
        return template(
            Encoder=("EncoderConfiguration", {"video": {"bitrate": bitrate}}, {}),
            Stage=("Stage", {"name": name}, {}),
            Program=(
                "Composition",
                {
                    "stageArn": {"Fn::GetAtt": ["Stage", "Arn"]},
                    "destinations": [{"s3": {"encoderConfigurationArns": [{"Ref": "Encoder"}]}}],
                },
                {},
            ),
            Studio=(
                "IngestConfiguration",
                {"stageArn": {"Ref": "Stage"}, "attributes": {"program": {"Fn::Sub": "${Program.Arn}"}}},
                {},
            ),
        )

    changes = plan_template(app(1, "a"), app(2, "b"))
    assert by_id(changes) == {
        "Encoder": ("replace", ["video"]),
        "Program": ("replace", ["destinations via Encoder"]),
        "Studio": ("replace", ["attributes via Program"]),
        "Stage": ("update", ["name"]),
    }
    assert changes[2] == ResourceChange(
        "Studio", "Custom::IvsRealtimeIngestConfiguration", "replace", (PropertyChange("attributes", ("Program",)),)
    )


def test_a_logical_id_of_another_type_is_a_delete_and_a_create():
    changes = plan_template(template(R=("Stage", {}, {})), template(R=("EncoderConfiguration", {}, {})))
    assert [(c.action, c.resource_type) for c in changes] == [
        ("create", "Custom::IvsRealtimeEncoderConfiguration"),
        ("delete", "Custom::IvsRealtimeStage"),
    ]


HELD = "arn:aws:ivs:eu-west-1:123456789012:stage/AbCdEf"


def test_an_adoption_is_shown_as_adopt_not_create():
    """adopt_arn takes over the resource at that ARN: the reviewer must not read "a new ARN"."""
    old = template(Lobby=("Stage", {"name": "lobby"}, {}), Hd=("Stage", {}, {}))
    new = template(
        Lobby=("Stage", {"name": "lobby"}, {}),
        Hall=("Stage", {"name": "hall", "adoptArn": HELD}, {"DeletionPolicy": "Retain"}),
        Hd=("EncoderConfiguration", {"adoptArn": {"Ref": "HdArn"}}, {}),  # another type at the id: a delete and an adopt
        Backstage=("Stage", {}, {}),
    )
    changes = plan_template(old, new)
    assert [(c.action, c.logical_id, c.adopts) for c in changes] == [
        ("create", "Backstage", ""),
        ("adopt", "Hall", HELD),
        ("adopt", "Hd", '{"Ref": "HdArn"}'),
        ("delete", "Hd", ""),
        ("none", "Lobby", ""),
    ]
    [plan] = [StackPlan("Media", "Media", True, changes)]
    assert plan.summary == (
        "1 to create, 2 to adopt (existing ARN kept), 0 to update in place, 0 to REPLACE (new ARN), 1 to delete, 1 unchanged"
    )
    assert "| adopt | `Hall` | Stage | existing ARN kept: `" + HELD + "` |" in render_markdown([plan])
    assert f"  adopt   Hall       Stage                 existing ARN kept: {HELD}\n" in render_text([plan])
    [hall] = [c for c in json.loads(render_json([plan]))["stacks"][0]["changes"] if c["logicalId"] == "Hall"]
    assert (hall["action"], hall["adoptArn"]) == ("adopt", HELD)
    # Not deployed yet: an adoption is still an adoption.
    assert [c.action for c in plan_template(None, new) if c.logical_id == "Hall"] == ["adopt"]


def test_a_changed_adopt_arn_is_shown_as_the_handler_will_refuse_it():
    other = HELD.replace("AbCdEf", "Other")
    for old_props in ({"name": "hall", "adoptArn": HELD}, {"name": "hall"}):
        change = one("Stage", old_props, {"name": "hall", "adoptArn": other})
        assert (change.action, change.properties) == ("update", (PropertyChange("adoptArn", (), ADOPT_ARN_REFUSED),))
        [plan] = [StackPlan("Media", "Media", True, (change,))]
        assert render_text([plan]).splitlines()[1] == (
            "  update  R  Stage  adoptArn (refused at deploy: adopt_arn cannot change on a resource the stack "
            "already has, unless to its own ARN)"
        )
        [shown] = json.loads(render_json([plan]))["stacks"][0]["changes"][0]["properties"]
        assert shown == {"name": "adoptArn", "via": [], "note": ADOPT_ARN_REFUSED}
    assert one("Stage", {"adoptArn": HELD}, {"adoptArn": HELD}).action == "none"  # set once, kept: nothing
    removed = one("Stage", {"adoptArn": HELD}, {})  # removing it changes only the default removal policy
    assert (removed.action, removed.properties) == ("update", (PropertyChange("adoptArn"),))


# --- the deployed stack: CloudFormation's GetTemplate -------------------------------------------


def test_the_deployed_template_is_cloudformations(assemblies):
    old, new = assemblies
    client = boto3.client("cloudformation", region_name="eu-west-1")
    stubber = Stubber(client)
    deployed = json.dumps(read_stacks(old)["Media"].template)
    stubber.add_response("get_template", {"TemplateBody": deployed}, {"StackName": "Media"})
    stubber.add_client_error("get_template", "ValidationError", "Stack with id Media does not exist", 400)
    regions = []
    source = deployed_templates(lambda region: regions.append(region) or client)
    with stubber:
        [plan] = plan_stacks(read_stacks(new).values(), source)
        [not_deployed] = plan_stacks(read_stacks(new).values(), source)
    assert regions == ["eu-west-1"]  # the stack's region, one client for it
    assert plan.deployed and plan.count("replace") == 2
    assert not not_deployed.deployed and not_deployed.count("create") == 6


class FakeCloudFormation(BaseHTTPRequestHandler):
    """GetTemplate as CloudFormation answers it (the query protocol): Media's is TEMPLATE."""

    TEMPLATE = ""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        if form.get("StackName") == ["Media"]:
            status, body = (
                200,
                (
                    '<GetTemplateResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><GetTemplateResult>'
                    f"<TemplateBody>{escape(self.TEMPLATE)}</TemplateBody></GetTemplateResult>"
                    "<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetTemplateResponse>"
                ),
            )
        else:
            status, body = (
                400,
                (
                    '<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type>'
                    "<Code>ValidationError</Code><Message>Stack with id Other does not exist</Message></Error>"
                    "<RequestId>2</RequestId></ErrorResponse>"
                ),
            )
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body.encode())))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args) -> None:
        pass


def test_the_command_against_a_deployed_stack_in_a_pull_request(assemblies):
    """The console script's module in a subprocess, with credentials and
    AWS_ENDPOINT_URL_CLOUDFORMATION from the environment, as a CI job runs it."""
    old, new = assemblies
    FakeCloudFormation.TEMPLATE = json.dumps(read_stacks(old)["Media"].template)
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeCloudFormation)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {**os.environ, "AWS_ENDPOINT_URL_CLOUDFORMATION": f"http://127.0.0.1:{server.server_port}"}
        done = subprocess.run(
            [sys.executable, "-m", "ivsrt_cli.main", "plan", "--deployed", "--new", str(new), "--markdown", "--fail-on-replace"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.shutdown()
    assert (done.returncode, done.stderr) == (1, "")
    assert done.stdout == render_markdown(plan_stacks(read_stacks(new).values(), assembly_templates(old)))


# --- locally: the runner's state ------------------------------------------------------------------


def test_the_local_plan_reads_what_the_runner_deployed(assemblies, ivs, handler, tmp_path, capsys):
    from ivsrt_local.__main__ import main as ivsrt_local
    from ivsrt_local.assembly import read_assembly, select_stacks
    from ivsrt_local.deploy import deploy_stacks

    old, new = assemblies
    deploy_stacks(select_stacks(read_assembly(old), []), tmp_path, "eu-west-1", handler=handler)
    with pytest.raises(SystemExit) as exited:
        ivsrt_local(["plan", "--assembly", str(new), "--state-dir", str(tmp_path), "--markdown"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == render_markdown(plan_stacks(read_stacks(new).values(), assembly_templates(old)))

    state = json.loads((tmp_path / "Media.json").read_text())
    del state["template"]  # a state an older runner wrote
    (tmp_path / "Media.json").write_text(json.dumps(state))
    with pytest.raises(SystemExit) as exited:
        ivsrt_local(["plan", "--assembly", str(new), "--state-dir", str(tmp_path)])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        f"python -m ivsrt_local plan: error: the state of stack Media ({tmp_path / 'Media.json'}) records no template "
        "(a runner before `plan` deployed it): deploy it once more\n"
    )
