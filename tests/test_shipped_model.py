"""The deployed handler must work with a botocore older than the model we build against.

The test runs the real handler in a fresh interpreter whose botocore has *no* ivs-realtime model
at all (a copy of botocore with that folder removed, first on sys.path): every call can only
succeed through the model the function ships on AWS_DATA_PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import botocore

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import sys, json
import botocore
assert botocore.__file__.startswith(sys.argv[1]), botocore.__file__
import handler  # lambda/handler.py, on PYTHONPATH as in the function
props = {"name": "old-runtime", "autoParticipantRecordingConfiguration": {"storageConfigurationArn": "",
         "recordParticipantReplicas": "true"}, "tags": {"k": "v"}}
event = {"RequestType": "Create", "ResourceType": "Custom::IvsRealtimeStage", "LogicalResourceId": "S",
         "ResourceProperties": props}
created = handler.on_event(event, None)
handler.on_event({**event, "RequestType": "Delete", "PhysicalResourceId": created["PhysicalResourceId"]}, None)
print(json.dumps(created))
"""


def test_handler_uses_the_model_it_ships(tmp_path, endpoint):
    stripped = tmp_path / "site" / "botocore"
    source = Path(botocore.__file__).parent
    shutil.copytree(source, stripped, ignore=shutil.ignore_patterns("ivs-realtime", "__pycache__"), symlinks=True)
    assert not (stripped / "data" / "ivs-realtime").exists()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(ROOT / "lambda")]),
        "AWS_ENDPOINT_URL_IVS_REALTIME": endpoint.url,
    }
    env.pop("AWS_DATA_PATH", None)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(stripped.parent)], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert '"PhysicalResourceId": "arn:aws:ivs:' in result.stdout


def test_without_the_shipped_model_it_would_not_work(tmp_path):
    """The control: the stripped botocore really lacks the service."""
    stripped = tmp_path / "site" / "botocore"
    shutil.copytree(
        Path(botocore.__file__).parent, stripped, ignore=shutil.ignore_patterns("ivs-realtime", "__pycache__"), symlinks=True
    )
    script = "import boto3; boto3.client('ivs-realtime', region_name='us-east-1')"
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    env.pop("AWS_DATA_PATH", None)
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "UnknownServiceError" in result.stderr


# Each construct's module holds its lifecycle tests (and its synth tests, which run too).
LIFECYCLE_FILES = [
    f"tests/test_{name}.py"
    for name in ("stage", "encoder_configuration", "storage_configuration", "ingest_configuration", "public_key", "composition")
]
FLOOR = Path(sys.prefix) / "lambda-floor"  # requirements-lambda-floor.txt, installed by `make install`
FLOOR_VERSION = next(
    line.split("==")[1]
    for line in (ROOT / "requirements-lambda-floor.txt").read_text().splitlines()
    if line.startswith("botocore==")
)


def test_lifecycles_pass_with_the_oldest_botocore_we_support(tmp_path):
    """Every lifecycle scenario, of all six types, in a fresh interpreter whose boto3 and botocore
    are an old release (first on sys.path): its code meets our newer model and endpoint rules, and
    its own model knows neither ingest configurations nor public keys."""
    assert FLOOR.is_dir(), f"{FLOOR} is missing: run `make install`"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FLOOR), str(ROOT)])}
    env.pop("AWS_DATA_PATH", None)
    version = subprocess.run(
        [sys.executable, "-c", "import boto3, botocore; print(botocore.__version__, boto3.__version__)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert version.stdout.split() == [FLOOR_VERSION, FLOOR_VERSION]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--basetemp",
            str(tmp_path / "pytest"),
            "tests/test_lifecycle.py",
            *LIFECYCLE_FILES,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout
