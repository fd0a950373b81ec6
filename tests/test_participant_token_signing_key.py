"""ParticipantTokenSigningKey: its template (the KMS key, the IVS public key named by it, the
grants) and what policy-as-code says of it. Its lifecycle is in test_token_signing.py."""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import Validations, aws_iam as iam
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks

from constructs_ivsrt import ParticipantTokenSigningKey, ParticipantTokenVendor, Stage
from synth import new_stack


def _statements(template: Template, policy_prefix: str) -> list[dict]:
    return [statement for logical_id, policy in template.find_resources("AWS::IAM::Policy").items()
            if logical_id.startswith(policy_prefix) for statement in policy["Properties"]["PolicyDocument"]["Statement"]]


def test_the_key_is_p384_for_signing_and_the_provider_may_read_its_public_half_only():
    st = new_stack()
    key = ParticipantTokenSigningKey(st, "Signer", public_key_name="token-signer")
    template = Template.from_stack(st)
    template.has_resource_properties("AWS::KMS::Key", {"KeySpec": "ECC_NIST_P384", "KeyUsage": "SIGN_VERIFY"})
    key_id = st.get_logical_id(key.key.node.default_child)
    template.has_resource_properties("Custom::IvsRealtimePublicKey", {
        "name": "token-signer", "kmsKeyArn": {"Fn::GetAtt": [key_id, "Arn"]},
        "publicKeyMaterial": Match.absent()})
    kms_statements = [s for s in _statements(template, "IvsRealtimeProviderOnEventRole") if "kms" in json.dumps(s)]
    assert kms_statements == [{"Action": "kms:GetPublicKey", "Effect": "Allow",
                               "Resource": {"Fn::GetAtt": [key_id, "Arn"]}}]
    assert st.resolve(key.public_key_arn) == {"Ref": st.get_logical_id(
        key.node.find_child("PublicKey").node.find_child("Resource").node.default_child)}


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
    assert [s["Action"] for s in _statements(template, "BackendDefaultPolicy")] == ["kms:Sign"]
    template.has_resource_properties("AWS::Lambda::Function", {"Environment": {"Variables": Match.object_like({
        "TOKEN_SIGNING_KEY_ARN": {"Fn::GetAtt": [st.get_logical_id(key.key.node.default_child), "Arn"]},
        "TOKEN_PUBLIC_KEY_ARN": Match.any_value()})}})


def test_cdk_nag_finds_nothing_unacknowledged_in_the_signing_key():
    """Users inherit no unexplained finding (the AwsSolutions pack, as the sample app's test runs it)."""
    app = cdk.App()
    st = cdk.Stack(app, "Keys", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    ParticipantTokenSigningKey(st, "Signer")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()  # raises ValidationFailed listing every unacknowledged finding
