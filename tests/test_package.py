"""The library as a dependency: a wheel installed into another app's venv, and deterministic synth."""

from __future__ import annotations

import filecmp
import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import P384_KEY_A

from ivsrt_runtime.rules import RESOURCES

ROOT = Path(__file__).resolve().parent.parent

OTHER_APP = """
import json, sys
import aws_cdk as cdk
from aws_cdk import aws_iam as iam, aws_ivs as ivs, aws_s3 as s3
import constructs_ivsrt
from constructs_ivsrt import (AutoParticipantRecording, ChannelDestination, Composition, EncoderConfiguration,
                              GridLayout, IngestConfiguration, ParticipantTokenVendor, PublicKey, S3Destination,
                              Stage, StorageConfiguration, Video)

KEY = @KEY@
app = cdk.App()
stack = cdk.Stack(app, "Consumer", env=cdk.Environment(account="123456789012", region="eu-west-1"))
storage = StorageConfiguration(stack, "Storage", bucket=s3.Bucket(stack, "Bucket"))
stage = Stage(stack, "Stage", auto_participant_recording=AutoParticipantRecording(storage_configuration=storage))
encoder = EncoderConfiguration(stack, "Encoder", video=Video(width=640, height=360))
Composition(stack, "Program", stage=stage, layout=GridLayout(grid_gap=2), destinations=[
    ChannelDestination(channel=ivs.CfnChannel(stack, "Channel"), encoder_configuration=encoder),
    S3Destination(storage_configuration=storage, encoder_configuration=encoder)])
IngestConfiguration(stack, "Studio", stage=stage)
PublicKey(stack, "Signer", public_key_material=KEY)
ParticipantTokenVendor(stack, "Tokens", stage=stage)
imported = Stage.from_stage_arn(stack, "Imported", "arn:aws:ivs:eu-west-1:123456789012:stage/AbCd")
role = iam.Role(stack, "Backend", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
stage.grant_create_participant_token(role)
imported.grant_read(role)
cdk.Tags.of(app).add("owner", "consumer")
app.synth()
print(json.dumps({"package": constructs_ivsrt.__file__}))
"""


def test_wheel_installed_into_another_apps_venv_synthesizes(tmp_path):
    """pip install of the built wheel; the handler code comes from inside the installed package.

    The new venv borrows this project's installed dependencies through a .pth file (aws-cdk-lib is
    large; installing it again proves nothing about this package), but not this repository:
    constructs_ivsrt can only come from the wheel.
    """
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), str(ROOT), str(ROOT / "ivsrt_local")],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    wheel = next(wheels.glob("constructs_ivsrt-*.whl"))
    harness = next(wheels.glob("constructs_ivsrt_local-*.whl"))
    version = wheel.name.split("-")[1]
    metadata = zipfile.ZipFile(wheel).read(f"constructs_ivsrt-{version}.dist-info/METADATA").decode()
    # The [local] extra is the harness's own distribution, built from ivsrt_local/, at the same version.
    assert f'Requires-Dist: constructs-ivsrt-local=={version}; extra == "local"' in metadata
    assert harness.name.startswith(f"constructs_ivsrt_local-{version}-")
    shipped = zipfile.ZipFile(wheel).namelist()
    assert "constructs_ivsrt/py.typed" in shipped  # type checkers read its annotations
    assert {
        "ivsrt_runtime/rules.py",
        "ivsrt_runtime/models/ivs-realtime/2020-07-14/service-2.json",
        "constructs_ivsrt/_lambda/handler.py",
        "constructs_ivsrt/_lambda/token_vendor.py",
        "constructs_ivsrt/_lambda/drift_watch.py",
        "constructs_ivsrt/_lambda/signing_keys.py",
        "constructs_ivsrt/_native/_jsii/native@0.1.0.jsii.tgz",  # the TypeScript class every resource is
    } <= set(shipped)
    # The local harness is a distribution of its own (the [local] extra), and the runtime ships once.
    assert not [name for name in shipped if name.startswith(("ivsrt_local/", "constructs_ivsrt/local/", "tests/"))]
    assert not [name for name in shipped if name.startswith("constructs_ivsrt/_lambda/ivsrt_runtime/")]

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel), str(harness)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )

    app_dir = tmp_path / "consumer"
    app_dir.mkdir()
    (app_dir / "app.py").write_text(OTHER_APP.replace("@KEY@", repr(P384_KEY_A)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["CDK_OUTDIR"] = str(app_dir / "cdk.out")
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # where a wheel stages its Lambda asset
    result = subprocess.run([str(python), "app.py"], cwd=app_dir, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    package = Path(json.loads(result.stdout.strip().splitlines()[-1])["package"])
    assert venv in package.parents  # the wheel's copy, not this repository's

    template = json.loads((app_dir / "cdk.out" / "Consumer.template.json").read_text())
    types = {r["Type"] for r in template["Resources"].values()}
    assert set(RESOURCES) <= types  # every construct
    assert {"AWS::StepFunctions::StateMachine", "AWS::Lambda::Function"} <= types
    handler = next(
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == "handler.on_event"
    )
    asset = app_dir / "cdk.out" / f"asset.{handler['Properties']['Code']['S3Key'].split('.')[0]}"
    assert (asset / "handler.py").is_file()
    assert (asset / "ivsrt_runtime" / "models" / "ivs-realtime" / "2020-07-14" / "service-2.json").is_file()
    # Same files, so the same asset hash, whether the package comes from a wheel or this checkout.
    assert _differences(filecmp.dircmp(asset, ROOT / "lambda", ignore=["__pycache__"])) == []
    # The staged folder is kept after synth (with asset staging disabled, templates point at it).
    (staged,) = (tmp_path / "cache" / "constructs-ivsrt").glob("lambda-*")
    assert _differences(filecmp.dircmp(staged, ROOT / "lambda", ignore=["__pycache__"])) == []
    # The harness from its wheel: the CLI runs, and is the installed copy.
    cli = subprocess.run(
        [str(python), "-c", "import ivsrt_local.__main__ as m, sys; print(m.__file__); m.main(['--help'])"],
        cwd=app_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0 and "deploy" in cli.stdout, cli.stderr[-2000:]
    assert venv in Path(cli.stdout.splitlines()[0]).parents


def _differences(comparison: filecmp.dircmp) -> list[str]:
    """Files that differ or are on one side only, in every folder of the comparison."""
    found = [*comparison.diff_files, *comparison.left_only, *comparison.right_only, *comparison.funny_files]
    for sub in comparison.subdirs.values():
        found += _differences(sub)
    return found


@pytest.mark.slow
def test_synth_is_byte_identical_across_processes(tmp_path):
    """Two synths of the sample app, in fresh interpreters with different hash seeds: every file
    of the cloud assembly (templates, manifest, assets and their hashes) is the same."""
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / f"synth-{seed}"
        env = {
            **os.environ,
            "PYTHONHASHSEED": seed,
            "CDK_OUTDIR": str(out),
            "CDK_CONTEXT_JSON": json.dumps(json.loads((ROOT / "cdk.json").read_text())["context"]),
        }
        subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
        outputs.append(out)
    first = sorted(p.relative_to(outputs[0]) for p in outputs[0].rglob("*") if p.is_file())
    second = sorted(p.relative_to(outputs[1]) for p in outputs[1].rglob("*") if p.is_file())
    assert first == second and first
    different = [str(p) for p in first if (outputs[0] / p).read_bytes() != (outputs[1] / p).read_bytes()]
    assert different == []


DIFFED_APP = """
import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from constructs_ivsrt import AutoParticipantRecording, EncoderConfiguration, Stage, StorageConfiguration, Video
app = cdk.App()
stack = cdk.Stack(app, "Diffed")
storage = StorageConfiguration(stack, "Storage", bucket=s3.Bucket(stack, "Bucket"))
Stage(stack, "Stage", stage_name=app.node.try_get_context("stageName") or "one",
      auto_participant_recording=AutoParticipantRecording(storage_configuration=storage))
EncoderConfiguration(stack, "Encoder", video=Video(width=640, height=360))
cdk.Tags.of(app).add("team", "video")
app.synth()
"""


@pytest.mark.slow
def test_cdk_diff_of_a_prop_change_touches_only_that_resource(tmp_path):
    """The real CDK CLI, offline: a stage rename shows as one in-place property change."""
    (tmp_path / "app.py").write_text(DIFFED_APP)
    cli = str(ROOT / "node_modules" / ".bin" / "cdk")
    app = f"{sys.executable} app.py"
    env = {
        **os.environ,
        "CDK_DISABLE_VERSION_CHECK": "1",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    run = dict(cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    subprocess.run([cli, "synth", "--quiet", "--no-notices", "--app", app, "-o", "before"], check=True, **run)
    diff = subprocess.run(
        [
            cli,
            "diff",
            "--no-notices",
            "--app",
            app,
            "-c",
            "stageName=two",
            "-o",
            "after",
            "--template",
            "before/Diffed.template.json",
        ],
        **run,
    )
    output = diff.stdout + diff.stderr
    changed = [line for line in output.splitlines() if line.startswith(("[~]", "[+]", "[-]"))]
    assert changed == ["[~] Custom::IvsRealtimeStage Stage Stage"], output
    assert "[-] one" in output and "[+] two" in output
    assert "Number of stacks with differences: 1" in output
