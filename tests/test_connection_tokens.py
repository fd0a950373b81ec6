"""Connection tokens (a RealTimeConnection's): signed with KMS (ivsrt_runtime.signing), checked
against the IVS Real-Time User Guide's schema with ``cryptography`` and by the local endpoint
(``LocalIvsRealtime.connect``), revoked by id (ivsrt_runtime.revocation, RevokeConnectionToken)."""

from __future__ import annotations

import base64
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template
from botocore.config import Config
from conftest import PUBLIC_KEY, STAGE, make
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from synth import new_stack

from constructs_ivsrt import ParticipantTokenSigningKey, ParticipantTokenVendor, Stage
from ivsrt_local.testing import local_ivs_realtime  # noqa: F401  (a pytest fixture)
from ivsrt_local.tokens import TokenRefused
from ivsrt_runtime.calls import RequestFailed
from ivsrt_runtime.keys import pem
from ivsrt_runtime.revocation import revoke_connection_token
from ivsrt_runtime.signing import TokenRequestError, _signed_jwt, sign_connection_token
from ivsrt_runtime.tokens import CONNECTION_DURATION_ENV

ROOT = Path(__file__).resolve().parent.parent
# The User Guide's schema ("Connection Tokens"): all mandatory, and only these.
SCHEMA_CLAIMS = {"exp", "iat", "jti", "account_id", "region", "events_url", "version"}
FOUR_WEEKS = 4 * 7 * 24 * 3600


@pytest.fixture
def kms(ivs):
    return boto3.client("kms", endpoint_url=ivs.url, config=Config(retries={"total_max_attempts": 1}))


@pytest.fixture
def signing_key(kms, cfn) -> tuple[str, str]:
    """A KMS key, and the ARN of its public half imported into IVS."""
    key = kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    material = pem(kms.get_public_key(KeyId=key)["PublicKey"])
    return key, make(cfn, PUBLIC_KEY, {"name": "connections", "publicKeyMaterial": material})


def _part(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _verified_by_schema(token: str, kms, key: str) -> tuple[dict, dict]:
    """Header and claims, once the ES384 signature verifies with KMS's public key (as any JWT
    library checks it: ECDSA P-384 over SHA-384 of the signing input, r and s of 48 bytes)."""
    header_part, claims_part, signature_part = token.split(".")
    signature = _part(signature_part)
    assert len(signature) == 96
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key)["PublicKey"])
    public.verify(
        encode_dss_signature(int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big")),
        f"{header_part}.{claims_part}".encode(),
        ec.ECDSA(hashes.SHA384()),
    )
    return json.loads(_part(header_part)), json.loads(_part(claims_part))


def test_a_connection_token_is_the_guides_schema_signed_es384(ivs, kms, signing_key):
    key, public_key = signing_key
    _, _, _, region, account, _ = public_key.split(":")
    calls = len(ivs.state.calls)
    signed = sign_connection_token(kms, key_id=key, public_key_arn=public_key, now=1_800_000_000)
    assert ivs.state.calls[calls:] == ["kms:Sign"]  # no IVS call
    header, claims = _verified_by_schema(signed.token, kms, key)
    assert header == {"alg": "ES384", "typ": "JWT", "kid": public_key}
    assert set(claims) == SCHEMA_CLAIMS
    assert claims == {
        "exp": 1_800_000_000 + 12 * 3600,  # the default: 12 hours, as a participant token's
        "iat": 1_800_000_000,
        "jti": signed.token_id,
        "account_id": account,
        "region": region,
        "events_url": "wss://global.events.live-video.net",
        "version": "1.0",
    }
    assert signed.expiration_time == claims["exp"]
    assert 1 <= len(signed.token_id) <= 64 and all(c.isalnum() or c in "-_" for c in signed.token_id)


def test_four_weeks_at_most_and_a_given_token_id(ivs, kms, signing_key):
    key, public_key = signing_key
    signed = sign_connection_token(kms, key_id=key, public_key_arn=public_key, duration_minutes=40320, token_id="room-1_A")
    _, claims = _verified_by_schema(signed.token, kms, key)
    assert claims["exp"] - claims["iat"] == FOUR_WEEKS and claims["jti"] == "room-1_A"
    assert ivs.connect(signed.token)["tokenId"] == "room-1_A"


def test_what_breaks_a_rule_is_refused_before_kms_is_asked(signing_key):
    _, public_key = signing_key

    class NoKms:
        def sign(self, **params):
            raise AssertionError("KMS was asked")

    def refused(**kw):
        with pytest.raises(TokenRequestError) as error:
            sign_connection_token(NoKms(), **{"key_id": "k", "public_key_arn": public_key, **kw})
        return str(error.value)

    assert refused(duration_minutes=40321) == "duration_minutes must be between 1 and 40320 (four weeks), got: 40321"
    assert refused(duration_minutes=0).startswith("duration_minutes must be between 1 and 40320")
    assert refused(duration_minutes=1.5) == "duration_minutes must be a whole number of minutes, got: 1.5"
    assert refused(duration_minutes=cdk.Duration.hours(1)).endswith("(pass duration.to_minutes())")
    assert refused(token_id="a" * 65).startswith("token_id must be 1 to 64 letters")
    assert refused(token_id="").startswith("token_id must be 1 to 64 letters")
    assert refused(token_id="a.b").startswith("token_id must be 1 to 64 letters")
    everything = refused(public_key_arn="arn:aws:kms:eu-west-1:123456789012:key/x", duration_minutes=99999, token_id="x y")
    assert [part.split(" ")[0] for part in everything.split("; ")] == ["public_key_arn", "duration_minutes", "token_id"]


def test_the_endpoint_admits_a_valid_connection_token_and_refuses_the_rest(ivs, kms, signing_key):
    key, public_key = signing_key
    signed = sign_connection_token(kms, key_id=key, public_key_arn=public_key, duration_minutes=60)
    _, _, _, region, account, _ = public_key.split(":")
    assert ivs.connect(signed.token) == {
        "tokenId": signed.token_id,
        "accountId": account,
        "region": region,
        "expirationTime": signed.expiration_time,
    }
    expired = sign_connection_token(kms, key_id=key, public_key_arn=public_key, duration_minutes=60, now=time.time() - 7200)
    with pytest.raises(TokenRefused, match="expired at"):
        ivs.connect(expired.token)
    other = kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    forged = sign_connection_token(kms, key_id=other, public_key_arn=public_key)
    with pytest.raises(TokenRefused, match="the signature does not verify"):
        ivs.connect(forged.token)
    _, claims = _verified_by_schema(signed.token, kms, key)

    def resigned(**changes):  # signed by the right key, with claims off the schema
        return _signed_jwt(kms, key, public_key, {k: v for k, v in {**claims, **changes}.items() if v is not None})

    with pytest.raises(TokenRefused, match="claims a connection token may not have: resource"):
        ivs.connect(resigned(resource="arn:aws:ivs:x"))
    with pytest.raises(TokenRefused, match="claims missing: region"):
        ivs.connect(resigned(region=None))
    with pytest.raises(TokenRefused, match="account_id and region must be the signing key's"):
        ivs.connect(resigned(account_id="210987654321"))
    with pytest.raises(TokenRefused, match="events_url must be"):
        ivs.connect(resigned(events_url="wss://elsewhere"))
    with pytest.raises(TokenRefused, match="at most four weeks after iat"):
        ivs.connect(resigned(exp=claims["iat"] + FOUR_WEEKS + 1))
    with pytest.raises(TokenRefused, match="version must be"):
        ivs.connect(resigned(version="2.0"))


def test_a_revoked_connection_token_is_refused_and_the_others_still_connect(ivs, kms, signing_key):
    key, public_key = signing_key
    revoked, kept = (sign_connection_token(kms, key_id=key, public_key_arn=public_key) for _ in range(2))
    assert ivs.connect(revoked.token)
    calls = len(ivs.state.calls)
    revoke_connection_token(revoked.token_id)
    assert ivs.state.calls[calls:] == ["RevokeConnectionToken"]
    with pytest.raises(TokenRefused, match=f"the connection token {revoked.token_id} was revoked"):
        ivs.connect(revoked.token)
    assert ivs.connect(kept.token)["tokenId"] == kept.token_id
    with pytest.raises(TokenRequestError, match="token_id must be 1 to 64"):
        revoke_connection_token("not/an id")
    assert ivs.state.calls[calls:] == ["RevokeConnectionToken"]  # refused before the call
    ivs.reset()
    assert not ivs.state.revoked_connection_tokens


FLOOR = Path(sys.prefix) / "lambda-floor"  # requirements-lambda-floor.txt, installed by `make install`
FLOOR_SCRIPT = """
import sys, boto3
assert boto3.__file__.startswith(sys.argv[1]), boto3.__file__
from ivsrt_runtime.revocation import revoke_connection_token
revoke_connection_token(sys.argv[2])
print(boto3.__version__)
"""


def test_revoking_works_with_lambdas_older_boto3(endpoint):
    """In a fresh interpreter whose boto3 and botocore are the floor release, the helper calls
    RevokeConnectionToken through the shipped model."""
    assert FLOOR.is_dir(), f"{FLOOR} is missing: run `make install`"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FLOOR), str(ROOT / "lambda")]), "AWS_REGION": "eu-west-1"}
    env.pop("AWS_DATA_PATH", None)
    result = subprocess.run(
        [sys.executable, "-c", FLOOR_SCRIPT, str(FLOOR), "floor-token"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "floor-token" in endpoint.state.revoked_connection_tokens
    endpoint.state.revoked_connection_tokens.discard("floor-token")


def test_grant_revoke_allows_revoke_connection_token_only():
    st = new_stack()
    key = ParticipantTokenSigningKey(st, "Signer")
    backend = iam.Role(st, "Backend", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    key.grant_revoke(backend)
    statements = [
        statement
        for logical_id, policy in Template.from_stack(st).find_resources("AWS::IAM::Policy").items()
        if logical_id.startswith("BackendDefaultPolicy")
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert statements == [{"Action": "ivs:RevokeConnectionToken", "Effect": "Allow", "Resource": "*"}]


def test_revoking_a_connection_token_disconnects_the_participants_connected_with_it(ivs, kms, signing_key, cfn):
    """IVS "disconnects any participant currently connected with the revoked token": locally, the
    participants joined through it leave ``connected()``; the others stay."""
    key, public_key = signing_key
    stage = cfn.create(STAGE, {"name": "hall"})["PhysicalResourceId"]
    client = boto3.client("ivs-realtime", endpoint_url=ivs.url, config=Config(retries={"total_max_attempts": 1}))

    def participant_token(user_id: str) -> str:
        return client.create_participant_token(stageArn=stage, userId=user_id)["participantToken"]["token"]

    first, second = (sign_connection_token(kms, key_id=key, public_key_arn=public_key) for _ in range(2))
    joined = {
        user: ivs.join(stage, participant_token(user), connection_token=connection.token)
        for user, connection in (("ada", first), ("bob", first), ("cy", second))
    }
    assert joined["ada"]["connectionTokenId"] == first.token_id
    alone = ivs.join(stage, participant_token("dee"))  # no RealTimeConnection
    assert [(p["userId"], p["connectionTokenId"]) for p in ivs.connected(stage)] == [
        ("ada", first.token_id),
        ("bob", first.token_id),
        ("cy", second.token_id),
        ("dee", None),
    ]
    revoke_connection_token(first.token_id)
    assert [p["participantId"] for p in ivs.connected()] == [joined["cy"]["participantId"], alone["participantId"]]
    with pytest.raises(TokenRefused, match=f"the connection token {first.token_id} was revoked"):
        ivs.connect(first.token)
    with pytest.raises(TokenRefused, match=f"the connection token {first.token_id} was revoked"):
        ivs.join(stage, participant_token("eve"), connection_token=first.token)
    assert [p["userId"] for p in ivs.connected(stage)] == ["cy", "dee"]
    # A connection is for its account and region's stages only.
    elsewhere = stage.replace(":us-east-1:", ":eu-west-1:")
    with pytest.raises(TokenRefused, match="the connection is for account 123456789012 in us-east-1, not the stage's"):
        ivs.join(elsewhere, participant_token("fay"), connection_token=second.token)
    ivs.reset()
    assert ivs.connected() == []


def test_grant_revoke_lets_a_function_revoke_under_the_local_iam(local_ivs_realtime, tmp_path):  # noqa: F811
    """Two functions at the endpoint, held to their roles' policies: the one granted grant_revoke
    revokes; the other is refused in one line, and nothing is revoked."""
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    stack = cdk.Stack(app, "Live", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    key = ParticipantTokenSigningKey(stack, "Signing")
    code = lambda_.Code.from_inline("def handler(event, context):\n    return None\n")
    revoker, other = (
        lambda_.Function(stack, name, runtime=lambda_.Runtime.PYTHON_3_13, handler="index.handler", code=code)
        for name in ("Revoker", "Other")
    )
    key.grant_revoke(revoker)
    local_ivs_realtime.deploy(app)

    def as_function(function):
        credentials = local_ivs_realtime.credentials_for(function)
        return lambda: boto3.client(
            "ivs-realtime",
            endpoint_url=local_ivs_realtime.endpoint.url,
            config=Config(retries={"total_max_attempts": 1}),
            **credentials,
        )

    revoke_connection_token("room-1", client=as_function(revoker))
    assert "room-1" in local_ivs_realtime.endpoint.state.revoked_connection_tokens
    with pytest.raises(RequestFailed) as caught:
        revoke_connection_token("room-2", client=as_function(other))
    message = str(caught.value)
    assert (
        message.startswith("RevokeConnectionToken failed for connection token room-2: AccessDeniedException")
        and "\n" not in message
    )
    assert "is not authorized to perform: ivs:RevokeConnectionToken on resource: *" in message
    assert "room-2" not in local_ivs_realtime.endpoint.state.revoked_connection_tokens


VENDOR_SCRIPT = "import json, token_vendor; print(json.dumps(token_vendor.create_token({'userId': 'ada'}, None)))"


def test_the_vendor_hands_out_a_connection_token_beside_the_participant_token(local_ivs_realtime, tmp_path):  # noqa: F811
    """The real vendor function (its entry, in a fresh interpreter with its deployed environment
    and credentials held to its role): a connection token of the guide's schema, signed by the
    vendor's key, which the endpoint admits, and through which the participant joins."""
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    stack = cdk.Stack(app, "Live", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    stage = Stage(stack, "Hall")
    key = ParticipantTokenSigningKey(stack, "Signing")
    vendor = ParticipantTokenVendor(
        stack, "Vendor", stage=stage, signing_key=key, connection_tokens=True, connection_token_duration=cdk.Duration.days(3)
    )
    local_ivs_realtime.deploy(app)
    endpoint = local_ivs_realtime.endpoint
    environment = local_ivs_realtime.environment_for(vendor)
    assert environment[CONNECTION_DURATION_ENV] == str(3 * 24 * 60)
    calls = len(endpoint.state.calls)
    run = subprocess.run(
        [sys.executable, "-c", VENDOR_SCRIPT],
        env={**os.environ, **environment, "PYTHONPATH": str(ROOT / "lambda")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    answer = json.loads(run.stdout.splitlines()[-1])
    assert endpoint.state.calls[calls:] == ["GetStage", "kms:Sign", "kms:Sign"]  # one more kms:Sign, no IVS token call
    assert set(answer) == {
        "token",
        "participantId",
        "userId",
        "expirationTime",
        "connectionToken",
        "connectionTokenId",
        "connectionTokenExpirationTime",
    }
    key_arn = local_ivs_realtime.deployed(key).data["Arn"]
    public_key = local_ivs_realtime.resources("PublicKey")[0]["arn"]
    kms = boto3.client("kms", endpoint_url=endpoint.url, region_name="eu-west-1")
    header, claims = _verified_by_schema(answer["connectionToken"], kms, key_arn)
    assert header == {"alg": "ES384", "typ": "JWT", "kid": public_key}
    assert set(claims) == SCHEMA_CLAIMS
    assert (claims["jti"], claims["account_id"], claims["region"]) == (answer["connectionTokenId"], "123456789012", "eu-west-1")
    assert (claims["events_url"], claims["version"], claims["exp"] - claims["iat"]) == (
        "wss://global.events.live-video.net",
        "1.0",
        3 * 24 * 3600,
    )
    expires = datetime.datetime.fromisoformat(answer["connectionTokenExpirationTime"])
    assert expires.tzinfo is not None and expires.timestamp() == claims["exp"]
    assert endpoint.connect(answer["connectionToken"])["tokenId"] == answer["connectionTokenId"]
    stage_arn = local_ivs_realtime.deployed(stage).physical_id
    joined = endpoint.join(stage_arn, answer["token"], connection_token=answer["connectionToken"])
    assert (joined["userId"], joined["connectionTokenId"]) == ("ada", answer["connectionTokenId"])
