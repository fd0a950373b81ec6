"""Your own function signs participant tokens: ``ParticipantTokenSigningKey.add_to_function``
gives it the signer layer (``ivsrt_runtime``), the environment ``ivsrt_runtime.signer`` reads and
the ``kms:Sign`` grant. The last test runs such a function from its synthesized asset and layer
under the oldest boto3 we support, and joins with the token it signs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template
from synth import ENV, new_stack

from constructs_ivsrt import IvsRealtimeValidationError, ParticipantTokenSigningKey, Stage
from constructs_ivsrt._asset import lambda_asset_dir, signer_layer_dir
from ivsrt_local.deploy import deployed_stacks
from ivsrt_local.resolver import Resolver
from ivsrt_local.testing import local_ivs_realtime  # noqa: F401  (a pytest fixture)
from ivsrt_runtime import key_ring, signer
from ivsrt_runtime.signing import TokenRequestError

ROOT = Path(__file__).resolve().parent.parent
FLOOR = Path(sys.prefix) / "lambda-floor"  # requirements-lambda-floor.txt, installed by `make install`
FLOOR_VERSION = next(
    line.split("==")[1]
    for line in (ROOT / "requirements-lambda-floor.txt").read_text().splitlines()
    if line.startswith("botocore==")
)

# The guide's lines: the stack's, and the function's code.
GUIDE_BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "guide.md").read_text(), re.S)
(GUIDE_WIRING,) = [block for block in GUIDE_BLOCKS if "add_to_function" in block]
(USER_CODE,) = [block for block in GUIDE_BLOCKS if "from ivsrt_runtime.signer import sign_token" in block]


def _python_function(scope, id: str) -> lambda_.Function:
    return lambda_.Function(
        scope, id, runtime=lambda_.Runtime.PYTHON_3_12, handler="app.handler", code=lambda_.Code.from_inline(USER_CODE)
    )


def test_a_wired_function_gets_the_layer_its_environment_and_kms_sign_only():
    stack = new_stack()
    stage, other = Stage(stack, "Stage"), Stage(stack, "Backstage")
    key = ParticipantTokenSigningKey(stack, "Signer")
    api, chat = _python_function(stack, "Api"), _python_function(stack, "Chat")
    grant = key.add_to_function(api, stages=[stage, other])
    key.add_to_function(chat, stages=[stage])
    assert isinstance(grant, iam.Grant)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::Lambda::LayerVersion", 1)  # one per stack
    layer = stack.get_logical_id(stack.node.find_child("IvsRealtimeSignerLayer").node.default_child)
    key_arn = {"Fn::GetAtt": [stack.get_logical_id(key.key.node.default_child), "Arn"]}
    parameter_arn = stack.resolve(key.ring_parameter_arn)
    function = template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": "app.handler"}})
    api_properties = function[stack.get_logical_id(api.node.default_child)]["Properties"]
    assert api_properties["Layers"] == [{"Ref": layer}]
    variables = api_properties["Environment"]["Variables"]
    # The ring's parameter, not a generation's keys: a rotation does not redeploy the function.
    assert variables[key_ring.PARAMETER_ENV] == stack.resolve(key.ring_parameter_name)
    assert variables[signer.STAGES_ENV] == stack.resolve(
        stack.to_json_string(
            [{"arn": s.stage_arn, "whip": s.endpoints.whip, "events": s.endpoints.events} for s in (stage, other)]
        )
    )
    policies = template.find_resources(
        "AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": stack.get_logical_id(api.role.node.default_child)}]}}
    )
    (policy,) = policies.values()
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "kms:Sign", "Effect": "Allow", "Resource": key_arn},
        {"Action": "ssm:GetParameter", "Effect": "Allow", "Resource": parameter_arn},
    ]  # no IVS permission


def test_the_layer_holds_ivsrt_runtime_under_python_without_bytecode_and_its_hash_is_stable():
    staged = signer_layer_dir()
    assert (staged / "python" / "ivsrt_runtime" / "signer.py").is_file()
    assert (staged / "python" / "ivsrt_runtime" / "models").is_dir()  # rules reads the shipped model
    assert [p for p in staged.rglob("*") if p.name == "__pycache__" or p.suffix == ".pyc"] == []
    cache = lambda_asset_dir() / "ivsrt_runtime" / "__pycache__"
    created = not cache.exists()
    cache.mkdir(exist_ok=True)
    stray = cache / "stray-layer-test.cpython-311.pyc"
    stray.write_bytes(b"not code")
    try:
        assert signer_layer_dir.__wrapped__() == staged  # staged afresh: the same files, the same folder
    finally:
        stray.unlink()
        if created:
            cache.rmdir()


@pytest.mark.parametrize(
    "wire, message",
    [
        (
            lambda stack, key, stage: key.add_to_function(
                lambda_.Function(
                    stack,
                    "Node",
                    runtime=lambda_.Runtime.NODEJS_22_X,
                    handler="app.handler",
                    code=lambda_.Code.from_inline("exports.handler = 1"),
                ),
                stages=[stage],
            ),
            "T/Signer: add_to_function: function must have a Python runtime, got: nodejs22.x (T/Node)",
        ),
        (
            lambda stack, key, stage: key.add_to_function(_python_function(stack, "Api"), stages=[]),
            "T/Signer: add_to_function: stages must name at least one stage, got: []",
        ),
        (
            lambda stack, key, stage: key.add_to_function(_python_function(stack, "Api"), stages=stage),
            "T/Signer: add_to_function: stages must be a list of Stage, got: {stage!r}",
        ),
        (
            lambda stack, key, stage: key.add_to_function(
                _python_function(stack, "Api"),
                stages=[Stage.from_stage_arn(stack, "Imported", "arn:aws:ivs:eu-west-1:123456789012:stage/AbCd")],
            ),
            "T/Signer: add_to_function: stages[0] must be a Stage of this app (a token names the stage's endpoints, "
            "which an imported stage does not have), got: an imported stage, arn:aws:ivs:eu-west-1:123456789012:stage/AbCd",
        ),
    ],
    ids=["node-function", "no-stage", "one-stage-not-a-list", "imported-stage"],
)
def test_what_cannot_sign_is_refused_with_the_rule(wire, message):
    stack = new_stack()
    stage, key = Stage(stack, "Stage"), ParticipantTokenSigningKey(stack, "Signer")
    with pytest.raises(IvsRealtimeValidationError) as caught:
        wire(stack, key, stage)
    assert str(caught.value) == message.format(stage=stage)


def test_a_function_is_wired_once():
    stack = new_stack()
    stage = Stage(stack, "Stage")
    first, second = ParticipantTokenSigningKey(stack, "Signer"), ParticipantTokenSigningKey(stack, "Next")
    api = _python_function(stack, "Api")
    first.add_to_function(api, stages=[stage])
    with pytest.raises(IvsRealtimeValidationError) as caught:
        second.add_to_function(api, stages=[stage])
    assert str(caught.value) == (
        "T/Next: add_to_function: T/Api is wired to sign already (by T/Signer): wire a function once, with all its stages"
    )


STAGE_A = "arn:aws:ivs:eu-west-1:123456789012:stage/A"
STAGE_B = "arn:aws:ivs:eu-west-1:123456789012:stage/B"


def _environment(*stage_arns: str) -> dict[str, str]:
    return {
        key_ring.PARAMETER_ENV: "/constructs-ivsrt/signing-keys/Live/c8",
        signer.STAGES_ENV: json.dumps([{"arn": arn, "whip": "https://w", "events": "wss://e"} for arn in stage_arns]),
    }


def test_sign_token_names_a_stage_of_the_function_and_says_what_is_missing():
    with pytest.raises(TokenRequestError) as caught:
        signer.sign_token(environment=_environment(STAGE_A, STAGE_B))
    assert str(caught.value) == f"stage_arn is required: the function signs for 2 stages ({STAGE_A}, {STAGE_B})"
    with pytest.raises(TokenRequestError) as caught:
        signer.sign_token(STAGE_B, environment=_environment(STAGE_A))
    assert str(caught.value) == f"stage_arn must be one of the function's stages ({STAGE_A}), got: {STAGE_B!r}"
    with pytest.raises(signer.SignerNotConfigured) as missing:
        signer.sign_token(environment={signer.STAGES_ENV: _environment(STAGE_A)[signer.STAGES_ENV]})
    assert str(missing.value) == (
        "IVSRT_SIGNING_KEY_PARAMETER is not set: wire the function with "
        "ParticipantTokenSigningKey.add_to_function(function, stages=[...])"
    )
    assert signer.stages(_environment(STAGE_A, STAGE_B)) == {
        STAGE_A: {"whip": "https://w", "events": "wss://e"},
        STAGE_B: {"whip": "https://w", "events": "wss://e"},
    }


# ---------------------------------------------------------------------------------------------
# The function as Lambda runs it: its asset, the layer, the oldest boto3
# ---------------------------------------------------------------------------------------------

RUN_HANDLER = """
import json, sys
import boto3, botocore, ivsrt_runtime
print(json.dumps({"versions": [boto3.__version__, botocore.__version__], "runtime": ivsrt_runtime.__file__,
                  "answer": __import__("app").handler(json.loads(sys.argv[1]), None)}))
"""


def _asset_dir(assembly: Path, properties: dict, code_key: str) -> Path:
    """A function's or layer's synthesized asset: cdk.out/asset.<hash>, the hash its S3 key names."""
    return assembly / f"asset.{properties[code_key]['S3Key'].removesuffix('.zip')}"


def test_the_guides_function_signs_from_its_asset_under_the_oldest_boto3_and_its_token_admits(local_ivs_realtime, tmp_path):  # noqa: F811
    """The guide's lines as written: the stack's wiring and the function's code."""
    assert FLOOR.is_dir(), f"{FLOOR} is missing: run `make install`"
    code = tmp_path / "api"
    code.mkdir()
    (code / "app.py").write_text(USER_CODE)
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    stack = cdk.Stack(app, "Video", env=ENV)
    stage = Stage(stack, "Stage", stage_name="town-hall")
    key = ParticipantTokenSigningKey(stack, "Signer", public_key_name="signer")
    namespace = {"self": stack, "lambda_": lambda_, "key": key, "stage": stage}
    exec(GUIDE_WIRING.replace('"api"', repr(str(code))), namespace)  # noqa: S102 - our own guide's code
    api = namespace["api"]
    local_ivs_realtime.deploy(app)  # the stage and both keys; the function itself is played below

    assembly = tmp_path / "cdk.out"
    template = json.loads((assembly / "Video.template.json").read_text())
    function = template["Resources"][stack.get_logical_id(api.node.default_child)]["Properties"]
    (layer,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::LayerVersion"]
    state = deployed_stacks(local_ivs_realtime.state_dir)["Video"]
    environment = Resolver(state, template.get("Parameters", {})).resolve(function["Environment"]["Variables"])
    task, opt = _asset_dir(assembly, function, "Code"), _asset_dir(assembly, layer, "Content")
    # As Lambda orders them: the function's code, the layers' python/, then the runtime's boto3.
    # No site-packages' .pth files (-S): the checkout's editable ivsrt_runtime is out of reach.
    site_packages = next(p for p in sys.path if p.endswith("site-packages") and p.startswith(sys.prefix))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_DATA_PATH", "PYTHON"))},
        **environment,
        "PYTHONPATH": os.pathsep.join([str(task), str(opt / "python"), str(FLOOR), site_packages]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_REGION": "eu-west-1",  # Lambda sets both
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL_KMS": local_ivs_realtime.endpoint.url,
        "AWS_ENDPOINT_URL_SSM": local_ivs_realtime.endpoint.url,  # the key's ring
    }
    result = subprocess.run(
        [sys.executable, "-S", "-c", RUN_HANDLER, json.dumps({"userId": "ada"})],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    ran = json.loads(result.stdout)
    assert ran["versions"] == [FLOOR_VERSION, FLOOR_VERSION]
    assert ran["runtime"] == str(opt / "python" / "ivsrt_runtime" / "__init__.py")
    assert not list(opt.rglob("__pycache__"))  # the asset stays as synthesized
    (live,) = local_ivs_realtime.resources("Stage")
    joined = local_ivs_realtime.endpoint.join(live["arn"], ran["answer"]["token"])
    assert (joined["participantId"], joined["userId"]) == (ran["answer"]["participantId"], "ada")
