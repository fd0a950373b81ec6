"""The TypeScript class (native/): the packed assembly the package ships is what native/ builds,
and a resource made with it renders its tags and properties with no call into Python at synth."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import aws_cdk as cdk
import jsii._kernel

from constructs_ivsrt._native import SharedProperties, TaggableCustomResource, TaggableCustomResourceProps

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "constructs_ivsrt" / "_native" / "_jsii" / "native@0.1.0.jsii.tgz"


def test_the_shipped_assembly_is_what_native_builds(tmp_path):
    """`make native`'s steps in a copy of native/: npm ci (the lockfile's jsii and TypeScript), jsii,
    npm pack. The pack is byte for byte reproducible, so a stale tarball (native/src changed, not
    rebuilt) fails here."""
    build = tmp_path / "native"
    shutil.copytree(ROOT / "native", build, ignore=shutil.ignore_patterns("node_modules", "lib", ".jsii", "tsconfig.json"))
    env = {**os.environ, "npm_config_audit": "false", "npm_config_fund": "false", "npm_config_loglevel": "error"}
    for command in (["npm", "ci"], ["npm", "run", "build"], ["npm", "pack", "--silent", "--pack-destination", str(tmp_path)]):
        done = subprocess.run(command, cwd=build, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{' '.join(command)}: {done.stdout}{done.stderr}"
    built = (tmp_path / "constructs-ivsrt-native-0.1.0.tgz").read_bytes()
    assert hashlib.sha256(built).hexdigest() == hashlib.sha256(SHIPPED.read_bytes()).hexdigest(), (
        "constructs_ivsrt/_native/_jsii is not what native/ builds: run `make native`"
    )


def test_tags_properties_removal_policy_and_warnings_render_without_a_call_into_python(monkeypatch):
    calls = []
    handle = jsii._kernel._handle_callback
    monkeypatch.setattr(jsii._kernel, "_handle_callback", lambda kernel, cb: calls.append(cb) or handle(kernel, cb))
    app = cdk.App()
    stack = cdk.Stack(app, "Native")
    shared = SharedProperties()
    resource = TaggableCustomResource(
        stack,
        "Thing",
        TaggableCustomResourceProps(
            type="Custom::Thing",
            properties={"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:f", "name": "a"},
            tags_property="tags",
            initial_tags={"team": "live"},
            removal_policy=cdk.RemovalPolicy.RETAIN,
            warnings={"test:warning": "look"},
            shared=shared,
        ),
    )
    shared.set("reconcile", "r1")  # after the resource: still rendered
    cdk.Tags.of(stack).add("env", "test")
    assembly = app.synth()
    template = assembly.get_stack_by_name("Native").template["Resources"]["Thing"]
    assert template == {
        "Type": "Custom::Thing",
        "Properties": {
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:f",
            "name": "a",
            "reconcile": "r1",
            "tags": [{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "live"}],
        },
        "UpdateReplacePolicy": "Retain",
        "DeletionPolicy": "Retain",
    }
    assert [m.entry.data for m in assembly.get_stack_by_name("Native").messages] == ["look [ack: test:warning]"]
    assert TaggableCustomResource.resolved_tags_of([resource]) == [template["Properties"]["tags"]]
    assert calls == []
