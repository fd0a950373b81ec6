"""ParticipantTokenSigningKey: its template (the KMS key, the IVS public key named by it, the
grants), what policy-as-code says of it, and a deploy by the local runner. The provider's part of
its lifecycle, and signing, are in test_token_signing.py."""

from __future__ import annotations

import json

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import Validations
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template
from botocore.exceptions import ClientError
from cdk_nag import AwsSolutionsChecks
from synth import new_stack

from constructs_ivsrt import ParticipantTokenSigningKey, ParticipantTokenVendor, Stage
from ivsrt_local.testing import local_ivs_realtime  # noqa: F401  (a pytest fixture)
from ivsrt_runtime import key_ring
from ivsrt_runtime.signing import sign_participant_token


def _statements(template: Template, policy_prefix: str) -> list[dict]:
    return [
        statement
        for logical_id, policy in template.find_resources("AWS::IAM::Policy").items()
        if logical_id.startswith(policy_prefix)
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_key_is_p384_for_signing_and_the_provider_may_read_its_public_half_only():
    st = new_stack()
    key = ParticipantTokenSigningKey(st, "Signer", public_key_name="token-signer")
    template = Template.from_stack(st)
    template.has_resource_properties("AWS::KMS::Key", {"KeySpec": "ECC_NIST_P384", "KeyUsage": "SIGN_VERIFY"})
    key_id = st.get_logical_id(key.key.node.default_child)
    template.has_resource_properties(
        key_ring.RESOURCE_TYPE,
        {
            key_ring.PUBLIC_KEY_NAME: "token-signer",
            key_ring.KMS_KEY_ARN: {"Fn::GetAtt": [key_id, "Arn"]},
            key_ring.GENERATION: 1,
            "publicKeyMaterial": Match.absent(),
        },
    )
    kms_statements = [s for s in _statements(template, "IvsRealtimeProviderOnEventRole") if "kms" in json.dumps(s)]
    assert kms_statements == [{"Action": "kms:GetPublicKey", "Effect": "Allow", "Resource": {"Fn::GetAtt": [key_id, "Arn"]}}]
    ring = st.get_logical_id(key.node.find_child("Ring"))
    assert st.resolve(key.public_key_arn) == {"Fn::GetAtt": [ring, "PublicKeyArn"]}


def test_grant_sign_and_a_signing_vendor_never_create_participant_tokens():
    st = new_stack()
    stage = Stage(st, "Stage")
    key = ParticipantTokenSigningKey(st, "Signer")
    ParticipantTokenVendor(st, "Tokens", stage=stage, signing_key=key)
    backend = iam.Role(st, "Backend", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    key.grant_sign(backend)
    template = Template.from_stack(st)
    vendor = _statements(template, "TokensRole")
    actions = [statement["Action"] for statement in vendor]
    assert "kms:Sign" in actions and "ivs:GetStage" in actions
    assert "ivs:CreateParticipantToken" not in json.dumps(actions)
    assert [s["Action"] for s in _statements(template, "BackendDefaultPolicy")] == ["kms:Sign", "ssm:GetParameter"]
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({key_ring.PARAMETER_ENV: st.resolve(key.ring_parameter_name)})}},
    )


def test_cdk_nag_finds_nothing_unacknowledged_in_the_signing_key():
    """Users inherit no unexplained finding (the AwsSolutions pack, as the sample app's test runs it)."""
    app = cdk.App()
    st = cdk.Stack(app, "Keys", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    ParticipantTokenSigningKey(st, "Signer")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()  # raises ValidationFailed listing every unacknowledged finding


def test_the_runner_deploys_the_key_and_its_public_half_and_tokens_it_signs_admit(local_ivs_realtime, tmp_path):  # noqa: F811
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    stack = cdk.Stack(app, "Live", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    stage = Stage(stack, "Stage", stage_name="show")
    ParticipantTokenSigningKey(stack, "Signer", public_key_name="signer")
    changes = local_ivs_realtime.deploy(app)
    assert sorted((c.action, c.resource_type) for c in changes["Live"]) == [
        ("create", "AWS::KMS::Key"),
        ("create", key_ring.RESOURCE_TYPE),
        ("create", "Custom::IvsRealtimeStage"),
    ]
    endpoint = local_ivs_realtime.endpoint
    (key_arn,) = endpoint.kms.keys
    (public_key,) = local_ivs_realtime.resources("PublicKey")
    (live,) = local_ivs_realtime.resources("Stage")
    kms = boto3.client("kms", endpoint_url=endpoint.url, region_name="eu-west-1")
    signed = sign_participant_token(
        kms,
        key_id=key_arn,
        public_key_arn=public_key["arn"],
        stage_arn=live["arn"],
        whip_url=live["endpoints"]["whip"],
        events_url=live["endpoints"]["events"],
        user_id="ada",
    )
    assert endpoint.join(live["arn"], signed.token)["userId"] == "ada"
    assert stage.stage_name == "show"
    local_ivs_realtime.destroy()
    assert local_ivs_realtime.resources() == []
    # As on AWS: CloudFormation schedules the KMS key's deletion (30 days), and it signs no more.
    assert kms.describe_key(KeyId=key_arn)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    with pytest.raises(ClientError) as caught:
        sign_participant_token(
            kms,
            key_id=key_arn,
            public_key_arn=public_key["arn"],
            stage_arn=live["arn"],
            whip_url=live["endpoints"]["whip"],
            events_url=live["endpoints"]["events"],
        )
    assert caught.value.response["Error"] == {"Code": "KMSInvalidStateException", "Message": f"{key_arn} is pending deletion."}


def test_a_retained_signing_key_stays_enabled_after_destroy(local_ivs_realtime, tmp_path):  # noqa: F811
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    stack = cdk.Stack(app, "Kept", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    ParticipantTokenSigningKey(stack, "Signer", removal_policy=cdk.RemovalPolicy.RETAIN)
    local_ivs_realtime.deploy(app)
    local_ivs_realtime.destroy()
    (key,) = local_ivs_realtime.endpoint.kms.keys.values()
    assert key.state == "Enabled"
