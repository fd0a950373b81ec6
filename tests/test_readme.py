"""The README's two commands (the second is CI's; the first, run in a clean clone, does the main job),
and the docs' examples, run as written."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from ivsrt_runtime.rules import RESOURCES

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    blocks = re.findall(r"```(?:bash|sh|shell|console)?\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    lines = [line.strip().lstrip("$ ").strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second():
    first, second = readme_commands()[:2]
    assert (first, second) == ("make demo", "make test")
    assert second in (ROOT / ".ci" / "run").read_text()


@pytest.mark.slow
def test_first_command_does_the_main_job_in_a_clean_clone(tmp_path):
    """`make demo` in a fresh clone of what is committed. The install step is what this suite's own
    `make test` just did (same Makefile), so the clone borrows its venv and node_modules and make
    is told they are up to date; everything else (synth with the CDK CLI, deploy) runs for real."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    for installed in (".venv", "node_modules"):
        (clone / installed).symlink_to(ROOT / installed)
    result = subprocess.run(
        ["make", "-o", ".venv/.installed", "-o", "node_modules/.installed", readme_commands()[0].split()[1]],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    managed = len(RESOURCES)  # the sample app declares one of each IVS resource type
    assert f"== deploy: {managed} change(s)" in out
    assert out.count("  create   ") == managed
    for resource_type in RESOURCES:
        assert f"create   {resource_type} " in out
    assert f"== update (environment: demo -> staging): {managed} change(s)" in out
    assert out.count("(changed: tags)") == managed
    assert "environment=staging" in out
    assert f"== destroy: {managed} change(s)" in out
    after_destroy = out.split(f"== destroy: {managed} change(s)")[1]
    assert after_destroy.count("  delete   ") == managed
    # The composition is stopped, and IVS lists a stopped one for a few minutes.
    assert "-- at the endpoint: 0 live resource(s), 1 stopped composition(s), listed until IVS deletes them" in after_destroy


def test_the_quick_start_synthesizes(tmp_path):
    """The README's quick start, run as written."""
    from aws_cdk.assertions import Template

    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    (example,) = [block for block in blocks if "app.synth()" in block]
    namespace: dict = {}
    exec(example.replace("cdk.App()", f"cdk.App(outdir={str(tmp_path)!r})"), namespace)  # noqa: S102 - our own README
    template = Template.from_stack(namespace["stack"])
    for resource_type in ("Custom::IvsRealtimeStage", "Custom::IvsRealtimeStorageConfiguration"):
        template.has_resource_properties(resource_type, {"tags": [{"Key": "team", "Value": "video"}]})


def test_the_guides_token_api_example_synthesizes():
    """The guide's HTTP API + JWT authorizer in front of the token vendor, run as written."""
    import aws_cdk as cdk
    from aws_cdk.assertions import Match, Template

    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "guide.md").read_text(), re.S)
    (example,) = [block for block in blocks if "HttpJwtAuthorizer" in block]
    stack = cdk.Stack(cdk.App(), "TokenApi")
    exec(example, {"stack": stack})  # noqa: S102 - our own README's code
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::ApiGatewayV2::Authorizer", {"AuthorizerType": "JWT"})
    template.has_resource_properties("AWS::ApiGatewayV2::Route", {"RouteKey": "POST /token", "AuthorizationType": "JWT"})
    template.has_resource_properties(
        "AWS::Lambda::Function", {"Environment": {"Variables": Match.object_like({"TOKEN_USER_ID_CLAIM": "sub"})}}
    )
