"""The pytest fixture users import to test their own app against the local endpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_

from constructs_ivsrt import EncoderConfiguration, ParticipantTokenSigningKey, Stage
from ivsrt_local import testing
from ivsrt_local.testing import local_ivs_realtime  # noqa: F401  (the fixture, imported as users do)


def test_a_users_app_deploys_and_destroys_with_the_fixture(local_ivs_realtime, tmp_path):  # noqa: F811
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    stack = cdk.Stack(app, "Video", env=cdk.Environment(account="123456789012", region="ap-south-1"))
    Stage(stack, "Stage", stage_name="show")
    EncoderConfiguration(stack, "Encoder")
    changes = local_ivs_realtime.deploy(app)
    assert sorted(c.action for c in changes["Video"]) == ["create", "create"]
    (stage,) = local_ivs_realtime.resources("Stage")
    assert stage["name"] == "show" and stage["arn"].startswith("arn:aws:ivs:ap-south-1:")
    local_ivs_realtime.destroy()
    assert local_ivs_realtime.resources() == []


def test_the_fixture_leaves_the_environment_as_it_found_it(tmp_path):
    before = dict(os.environ)
    os.environ.pop("AWS_REGION", None)
    unset = dict(os.environ)
    fixture = testing.local_ivs_realtime.__wrapped__(tmp_path)  # the fixture's generator, driven by hand
    deployment = next(fixture)
    os.environ.update(AWS_REGION="eu-north-1", AWS_ACCESS_KEY_ID="changed")  # what the runner does
    assert deployment.endpoint.url == os.environ["AWS_ENDPOINT_URL_IVS_REALTIME"] == os.environ["AWS_ENDPOINT_URL_KMS"]
    for _ in fixture:
        pass
    assert dict(os.environ) == unset
    os.environ.clear()
    os.environ.update(before)


def test_a_test_reads_what_was_deployed_by_construct_and_by_output(local_ivs_realtime, tmp_path):  # noqa: F811
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    stack = cdk.Stack(app, "Video", env=cdk.Environment(account="123456789012", region="ap-south-1"))
    stage = Stage(stack, "Hall", stage_name="hall")
    key = ParticipantTokenSigningKey(stack, "Signing")
    cdk.CfnOutput(stack, "Whip", value=stage.endpoints.whip)
    cdk.CfnOutput(stack, "HallArn", value=stage.stage_arn)
    local_ivs_realtime.deploy(app)
    (at_endpoint,) = local_ivs_realtime.resources("Stage")
    hall = local_ivs_realtime.deployed(stage)
    assert hall.physical_id == at_endpoint["arn"] and hall.data["Name"] == "hall"
    outputs = local_ivs_realtime.outputs("Video")
    assert outputs == {"Whip": at_endpoint["endpoints"]["whip"], "HallArn": at_endpoint["arn"]}
    key_arn = local_ivs_realtime.deployed(key).data["Arn"]  # a KMS key's physical id is its key id
    assert key_arn in {k.arn for k in local_ivs_realtime.endpoint.kms.keys.values()}
    local_ivs_realtime.destroy()
    with pytest.raises(KeyError, match="stack Video is not deployed"):
        local_ivs_realtime.deployed(stage)


BACKEND = """
from ivsrt_runtime.signer import sign_token


def handler(event, context):
    signed = sign_token(user_id=event["userId"])
    return {"token": signed.token}
"""


def test_a_functions_own_code_runs_in_a_subprocess_with_its_deployed_environment(local_ivs_realtime, tmp_path):  # noqa: F811
    """docs/testing.md's way to run your function's code: environment_for gives its resolved
    variables (the signer's among them) and credentials held to its role."""
    backend = tmp_path / "backend"
    backend.mkdir()
    (backend / "app.py").write_text(BACKEND)
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    stack = cdk.Stack(app, "Video", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    hall = Stage(stack, "Hall")
    key = ParticipantTokenSigningKey(stack, "Signing")
    function = lambda_.Function(
        stack, "Backend", runtime=lambda_.Runtime.PYTHON_3_12, handler="app.handler", code=lambda_.Code.from_asset(str(backend))
    )
    key.add_to_function(function, stages=[hall])
    local_ivs_realtime.deploy(app)
    environment = local_ivs_realtime.environment_for(function)
    assert json.loads(environment["IVSRT_STAGES"])[0]["arn"] == local_ivs_realtime.deployed(hall).physical_id
    assert environment["AWS_REGION"] == "eu-west-1"

    def run() -> subprocess.CompletedProcess[str]:
        script = "import json, app; print(json.dumps(app.handler({'userId': 'ada'}, None)))"
        return subprocess.run(
            [sys.executable, "-c", script],
            cwd=backend,
            capture_output=True,
            text=True,
            env={**os.environ, **environment, "PYTHONPATH": str(backend)},
            timeout=120,
        )

    signed = run()
    assert signed.returncode == 0, signed.stderr[-2000:]
    token = json.loads(signed.stdout.splitlines()[-1])["token"]
    assert local_ivs_realtime.endpoint.join(local_ivs_realtime.deployed(hall).physical_id, token)["userId"] == "ada"


@pytest.fixture
def no_region(monkeypatch):
    """A machine with no AWS configuration: no region in the environment (put back afterwards)."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)


def test_the_fixture_gives_a_tests_own_calls_a_region(no_region, local_ivs_realtime):  # noqa: F811
    """docs/testing.md's revocation, in the test's process: it reaches the fixture's endpoint."""
    from ivsrt_runtime.revocation import revoke_connection_token

    revoke_connection_token("room-1")
    assert "room-1" in local_ivs_realtime.endpoint.state.revoked_connection_tokens


def test_a_client_that_cannot_be_made_is_a_one_line_request_failure(no_region, monkeypatch):
    import boto3

    from ivsrt_runtime.calls import Request, RequestFailed, call

    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    request = Request(get_client=lambda: boto3.client("ivs-realtime"), subject="connection token room-1")
    with pytest.raises(RequestFailed) as caught:
        call(request, "RevokeConnectionToken", tokenId="room-1")
    assert str(caught.value) == "RevokeConnectionToken failed for connection token room-1: You must specify a region."


def test_invoke_runs_a_deployed_function_as_lambda_does(local_ivs_realtime, tmp_path):  # noqa: F811
    """docs/testing.md: the vendor's answer, from its synthesized asset, with its environment and
    credentials; a handler's error is its last line."""
    from constructs_ivsrt import ParticipantTokenVendor

    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    stack = cdk.Stack(app, "Live", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    stage = Stage(stack, "Stage")
    key = ParticipantTokenSigningKey(stack, "Signer")
    vendor = ParticipantTokenVendor(stack, "Tokens", stage=stage, signing_key=key, connection_tokens=True)
    local_ivs_realtime.deploy(app)
    answer = local_ivs_realtime.invoke(vendor.function, {"userId": "ada"})
    endpoint = local_ivs_realtime.endpoint
    (live,) = local_ivs_realtime.resources("Stage")
    joined = endpoint.join(live["arn"], answer["token"], connection_token=answer["connectionToken"])
    assert joined["userId"] == "ada"
    with pytest.raises(testing.InvocationFailed) as caught:
        local_ivs_realtime.invoke("Live/Tokens", {"userId": "ada", "role": "admin"})
    assert str(caught.value) == "ivsrt_runtime.tokens.BadRequest: request may set only userId, attributes, got: role"
