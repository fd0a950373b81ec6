"""The GitOps example (docs/gitops.md): the GitHub Actions workflow checked against GitHub's
workflow schema (vendored in check-jsonschema) with ShellCheck on every script, its rules (least
privilege, pinned actions, the plan comment, the nightly drift job); the drift gate's script; the CDK
Pipelines app synthesized in-process, its drift gate and plan steps and their roles. Offline."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from ruamel.yaml import YAML

from ivsrt_cli.main import main as ivsrt

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "gitops"
WORKFLOW = EXAMPLE / ".github" / "workflows" / "ivs.yml"
GATE = EXAMPLE / "scripts" / "ivs-drift-gate.sh"
BIN = Path(sys.executable).parent
# Any attempt to reach the network fails at once.
OFFLINE = {**os.environ, "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}


def load_workflow() -> dict[str, Any]:
    return YAML(typ="safe", pure=True).load(WORKFLOW.read_text())  # YAML 1.2: the key `on` stays a string


def run_scripts(workflow: dict[str, Any]) -> dict[str, str]:
    """Every `run:` script, by `job/step name`."""
    return {
        f"{job_id}/{step.get('name') or index}": step["run"]
        for job_id, job in workflow["jobs"].items()
        for index, step in enumerate(job["steps"])
        if "run" in step
    }


def check_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        env=OFFLINE,
        timeout=60,
    )


def shellcheck(script: str, shell: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "shellcheck"), "--shell", shell, "--severity", "style", "-"],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
    )


# The workflow


def test_the_workflow_matches_githubs_workflow_schema(tmp_path):
    result = check_schema(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr
    # The check has teeth: a misspelt permission, an unknown key.
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("pull-requests: write", "pull-request: write", 1))
    assert check_schema(broken).returncode == 1
    broken.write_text(WORKFLOW.read_text().replace("timeout-minutes: 60", "timeout-minute: 60", 1))
    assert check_schema(broken).returncode == 1


def test_every_run_script_passes_shellcheck():
    """As GitHub runs them (`shell: bash` is `bash -eo pipefail`), and with no `${{ }}` inside: an
    expression's value reaches a script through `env`, never as text (script injection)."""
    workflow = load_workflow()
    assert workflow["defaults"]["run"]["shell"] == "bash"
    for name, script in run_scripts(workflow).items():
        assert "${{" not in script, name
        result = shellcheck("set -eo pipefail\n" + script, "bash")
        assert result.returncode == 0, f"{name}:\n{result.stdout}"


def test_the_drift_gate_script_passes_shellcheck():
    result = shellcheck(GATE.read_text(), "bash")
    assert result.returncode == 0, result.stdout
    assert os.access(GATE, os.X_OK)


def test_the_workflow_asks_for_the_least_and_pins_each_action():
    workflow = load_workflow()
    assert workflow["permissions"] == {}
    jobs = workflow["jobs"]
    assert {job_id: job["permissions"] for job_id, job in jobs.items()} == {
        "plan": {"contents": "read", "id-token": "write", "pull-requests": "write"},
        "deploy": {"contents": "read", "id-token": "write"},
        "drift": {"contents": "read", "id-token": "write", "issues": "write"},
    }
    text = WORKFLOW.read_text()
    uses = re.findall(r"uses: (\S+)(.*)", text)
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), f"{action}: not pinned to a commit"
        assert re.fullmatch(r" # v\d+\.\d+\.\d+", comment), f"{action}: say which release the commit is"
    for job_id, job in jobs.items():
        credentials = [step for step in job["steps"] if step.get("uses", "").startswith("aws-actions/")]
        assert len(credentials) == 1, job_id
        assert credentials[0]["with"]["role-to-assume"] == f"${{{{ vars.AWS_{job_id.upper()}_ROLE_ARN }}}}"
        assert all(
            step["with"]["persist-credentials"] is False
            for step in job["steps"]
            if step.get("uses", "").startswith("actions/checkout@")
        ), job_id
        assert job["timeout-minutes"] <= 60


def test_the_workflow_plans_pull_requests_deploys_merges_and_checks_drift_nightly():
    workflow = load_workflow()
    assert set(workflow["on"]) == {"pull_request", "push", "schedule", "workflow_dispatch"}
    assert workflow["on"]["schedule"][0]["cron"]
    jobs, scripts = workflow["jobs"], run_scripts(workflow)

    assert "github.event_name == 'pull_request'" in jobs["plan"]["if"]
    assert "cdk diff --app cdk.out --method template" in scripts["plan/cdk diff"]
    assert "ivsrt plan --deployed --new cdk.out --markdown --fail-on-replace > plan.md" in scripts["plan/ivsrt plan"]
    comment = scripts["plan/Comment on the pull request"]
    assert 'gh pr comment "$PR" --edit-last --body-file comment.md' in comment

    deploy = jobs["deploy"]
    assert "github.event_name == 'push'" in deploy["if"]
    assert deploy["concurrency"] == {"group": "ivs-deploy", "cancel-in-progress": False}
    names = [step.get("name") for step in deploy["steps"]]
    assert names.index("Drift gate") < names.index("Deploy")
    assert "scripts/ivs-drift-gate.sh" in scripts["deploy/Drift gate"]
    assert "constructs-ivsrt:reconcile=$RECONCILE" in scripts["deploy/Synth"]  # the restore deployment

    drift = jobs["drift"]
    assert "github.event_name == 'schedule'" in drift["if"]
    assert drift["concurrency"]["group"] == deploy["concurrency"]["group"]  # never in the middle of a deployment
    # Through the gate's script: before the first deployment, a stack not deployed is skipped, not an error.
    assert 'scripts/ivs-drift-gate.sh "${names[@]}" > drift.txt || status=$?' in scripts["drift/ivsrt drift"]
    assert 'exit "$status"' in scripts["drift/ivsrt drift"]
    issue = next(step for step in drift["steps"] if step.get("name") == "Open or update the drift issue")
    assert issue["if"] == "failure() && steps.drift.outputs.status == '1'"


# The drift gate's script, with stand-ins for the AWS CLI and ivsrt


def fake_command(directory: Path, name: str, script: str) -> None:
    path = directory / name
    path.write_text("#!/usr/bin/env bash\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def gate(tmp_path):
    """Runs the gate with `aws` answering from $DEPLOYED / $DENIED and `ivsrt` recording its
    arguments and exiting with $DRIFT_EXIT."""
    fakes = tmp_path / "bin"
    fakes.mkdir()
    calls = tmp_path / "ivsrt-calls"
    fake_command(
        fakes,
        "aws",
        """
stack=$4
if [[ " $DENIED " == *" $stack "* ]]; then
  echo "An error occurred (AccessDenied) when calling the DescribeStacks operation: no" >&2
  exit 254
fi
if [[ " $DEPLOYED " == *" $stack "* ]]; then echo '{"Stacks": []}'; exit 0; fi
echo "An error occurred (ValidationError) when calling the DescribeStacks operation: Stack with id $stack does not exist" >&2
exit 254
""",
    )
    fake_command(fakes, "ivsrt", f'echo "$*" >> {calls}\nexit "${{DRIFT_EXIT:-0}}"\n')

    def run(*args: str, deployed: str = "", denied: str = "", drift_exit: int = 0) -> tuple[int, list[str], str]:
        env = {
            **os.environ,
            "PATH": f"{fakes}:{os.environ['PATH']}",
            "DEPLOYED": deployed,
            "DENIED": denied,
            "DRIFT_EXIT": str(drift_exit),
        }
        result = subprocess.run([shutil.which("bash"), str(GATE), *args], capture_output=True, text=True, env=env, timeout=30)
        made = calls.read_text().splitlines() if calls.exists() else []
        calls.unlink(missing_ok=True)
        return result.returncode, made, result.stderr

    return run


def test_the_gate_checks_the_deployed_stacks_and_fails_on_drift(gate):
    assert gate("--json", "Media", "Backstage", deployed="Media Backstage")[:2] == (0, ["drift --json Media Backstage"])
    assert gate("--json", "Media", deployed="Media", drift_exit=1)[:2] == (1, ["drift --json Media"])
    assert gate("Media", deployed="Media", drift_exit=2)[:2] == (2, ["drift Media"])


def test_the_gate_passes_a_stack_not_deployed_yet_and_fails_on_any_other_error(gate):
    status, calls, stderr = gate("Media", "New", deployed="Media")
    assert (status, calls) == (0, ["drift Media"])
    assert "New: not deployed yet, nothing to check" in stderr
    assert gate("New")[:2] == (0, [])  # the first deployment
    status, calls, stderr = gate("Media", denied="Media")
    assert (status, calls) == (2, [])  # never "in sync" for want of a permission
    assert "AccessDenied" in stderr
    assert gate("--json")[0] == 2  # no stack named


# The CDK Pipelines app


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """The example's pipeline stack, synthesized in this process (the session's jsii runtime)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gitops_pipeline_app", EXAMPLE / "pipeline_app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    outdir = tmp_path_factory.mktemp("pipeline")
    app = cdk.App(outdir=str(outdir))
    stack = module.build(app)
    app.synth()
    return module, Template.from_stack(stack), outdir


def project_of(template: Template, commands: list[str]) -> tuple[str, dict[str, Any]]:
    """The CodeBuild project whose build phase runs exactly `commands`."""
    for logical_id, project in template.find_resources("AWS::CodeBuild::Project").items():
        spec = json.loads(project["Properties"]["Source"]["BuildSpec"])
        if spec["phases"].get("build", {}).get("commands") == commands:
            return logical_id, spec
    raise AssertionError(f"no CodeBuild project runs {commands}")


def test_the_pipeline_stage_runs_the_drift_gate_then_the_plan_before_deploying(pipeline):
    _, template, _ = pipeline
    (resource,) = template.find_resources("AWS::CodePipeline::Pipeline").values()
    stages = {stage["Name"]: stage["Actions"] for stage in resource["Properties"]["Stages"]}
    assert [(action["Name"], action["RunOrder"]) for action in stages["Prod"]] == [
        ("DriftGate", 1),
        ("Plan", 2),
        ("Media.Prepare", 3),
        ("Media.Deploy", 4),
    ]
    assert stages["Source"][0]["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"


def test_the_drift_gate_fails_the_stage_on_drift(pipeline):
    module, template, _ = pipeline
    _, spec = project_of(template, ["bash scripts/ivs-drift-gate.sh --json Prod-Media"])
    assert spec["phases"]["install"]["commands"] == ["python3 -m pip install -r requirements.txt"]
    script = "\n".join(spec["phases"]["install"]["commands"] + spec["phases"]["build"]["commands"])
    assert shellcheck(script, "sh").returncode == 0  # CodeBuild's shell
    assert module.GATE_SCRIPT == str(GATE.relative_to(EXAMPLE))


def policy_of(template: Template, project_id: str) -> list[dict[str, Any]]:
    """The statements of the policies on the project's service role."""
    role = template.find_resources("AWS::CodeBuild::Project")[project_id]["Properties"]["ServiceRole"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def grants(template: Template, project_id: str) -> dict[str, Any]:
    """Each action the project's role may take, with its resources."""
    return {
        action: resolved(statement["Resource"])
        for statement in policy_of(template, project_id)
        for action in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    }


def reads(granted: dict[str, Any]) -> dict[str, Any]:
    """The grants for what the example's steps call (the rest every CDK Pipelines step gets)."""
    return {action: resource for action, resource in granted.items() if action.split(":")[0] in ("cloudformation", "ssm", "ivs")}


def resolved(resource: Any) -> Any:
    """An ARN as CDK writes it in the stack's region (``arn:`` ``AWS::Partition`` ...) read in aws."""
    if isinstance(resource, list):
        return [resolved(item) for item in resource]
    if isinstance(resource, dict) and "Fn::Join" in resource:
        parts = ["aws" if part == {"Ref": "AWS::Partition"} else part for part in resource["Fn::Join"][1]]
        if all(isinstance(part, str) for part in parts):
            return "".join(parts)
    return resource


def test_the_drift_gate_can_read_and_nothing_more(pipeline):
    """CloudFormation reads on its stack, its stack's desired state, the detector's IVS calls (as
    the runtime names them); besides that only what every CDK Pipelines step gets (logs, reports,
    the artifact bucket)."""
    from ivsrt_runtime.rules import RESOURCES

    _, template, _ = pipeline
    project_id, _ = project_of(template, ["bash scripts/ivs-drift-gate.sh --json Prod-Media"])
    statements = grants(template, project_id)
    stack = "arn:aws:cloudformation:us-east-1:111111111111:stack/Prod-Media/*"
    parameters = "arn:aws:ssm:us-east-1:111111111111:parameter/constructs-ivsrt/desired/Prod-Media"
    assert reads(statements) == {
        "cloudformation:DescribeStacks": stack,
        "cloudformation:ListStackResources": stack,
        "cloudformation:GetTemplate": stack,
        "cloudformation:ListStacks": "*",
        "ssm:GetParametersByPath": [parameters, parameters + "/*"],
        **{f"ivs:{operation}": "*" for rules in RESOURCES.values() for operation in (rules.get_operation, rules.list_operation)},
        "ivs:ListTagsForResource": "*",
    }
    assert not [
        action
        for action in statements
        if action.split(":")[0] not in ("cloudformation", "ssm", "ivs", "logs", "codebuild", "s3", "kms")
    ]
    assert not [action for action in statements if action.split(":")[1] in ("*", "Put*", "Delete*")]


def test_the_plan_step_reads_the_synthesized_stage(pipeline):
    """Its command plans the stage's stack from the stage's folder of the synth's assembly."""
    _, template, outdir = pipeline
    project_id, spec = project_of(template, ["ivsrt plan --deployed --new cdk.out/assembly-Prod Prod-Media"])
    stack = "arn:aws:cloudformation:us-east-1:111111111111:stack/Prod-Media/*"
    assert reads(grants(template, project_id)) == {"cloudformation:DescribeStacks": stack, "cloudformation:GetTemplate": stack}
    assembly = outdir / "assembly-Prod"
    assert ivsrt(["plan", "--old", str(assembly), "--new", str(assembly), "Prod-Media", "--json"]) == 0
    Template.from_json(json.loads(next(assembly.glob("*.template.json")).read_text())).resource_count_is(
        "Custom::IvsRealtimeStage", 3
    )
