"""IAM at the local endpoint (ivsrt_local.iam): a function's policies from its template, evaluated
as IAM evaluates them, on the requests signed with credentials bound to it."""

from __future__ import annotations

import dataclasses
import os

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_lambda as lambda_
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import STAGE, STORAGE

from constructs_ivsrt import ParticipantTokenSigningKey, ParticipantTokenVendor, Stage
from ivsrt_local.iam import (
    ALLOWED,
    EXPLICIT_DENY,
    IMPLICIT_DENY,
    Principal,
    Statement,
    UnsupportedPolicy,
    decide,
    statements_of,
)
from ivsrt_local.testing import local_ivs_realtime  # noqa: F401  (the fixture, imported as users do)

STAGE_ARN = "arn:aws:ivs:us-east-1:123456789012:stage/AbCd"
ROLE = "arn:aws:sts::123456789012:assumed-role/backend-role/backend"


def allow(actions, resources="*", **more) -> Statement:
    return Statement.from_json({"Effect": "Allow", "Action": actions, "Resource": resources, **more})


@pytest.mark.parametrize(
    "statements, action, resource, decision",
    [
        ([allow("ivs:Get*")], "ivs:GetStage", STAGE_ARN, ALLOWED),
        ([allow("IVS:getstage")], "ivs:GetStage", STAGE_ARN, ALLOWED),  # actions: case-insensitive
        ([allow("ivs:Get*")], "ivs:DeleteStage", STAGE_ARN, IMPLICIT_DENY),
        ([allow("ivs:GetStage", "arn:aws:ivs:*:*:stage/*")], "ivs:GetStage", STAGE_ARN, ALLOWED),
        (
            [allow("ivs:GetStage", "arn:aws:ivs:*:*:stage/*")],
            "ivs:GetStage",
            "arn:aws:ivs:us-east-1:123456789012:encoder-configuration/AbCd",
            IMPLICIT_DENY,
        ),
        ([allow("ivs:GetStage", "arn:aws:ivs:*:*:stage/abcd")], "ivs:GetStage", STAGE_ARN, IMPLICIT_DENY),  # case-sensitive
        ([allow("ivs:GetStage", "arn:aws:ivs:us-*:*:stage/Ab?d")], "ivs:GetStage", STAGE_ARN, ALLOWED),
        # A wildcard covers one part of the ARN: the region part's * does not reach into the account.
        ([allow("ivs:GetStage", "arn:aws:ivs:*:stage/*")], "ivs:GetStage", STAGE_ARN, IMPLICIT_DENY),
        (
            [allow("ivs:*"), Statement.from_json({"Effect": "Deny", "Action": "ivs:DeleteStage", "Resource": "*"})],
            "ivs:DeleteStage",
            STAGE_ARN,
            EXPLICIT_DENY,
        ),
        (
            [Statement.from_json({"Effect": "Allow", "NotAction": "ivs:Delete*", "Resource": "*"})],
            "ivs:DeleteStage",
            STAGE_ARN,
            IMPLICIT_DENY,
        ),
        (
            [Statement.from_json({"Effect": "Allow", "NotAction": "ivs:Delete*", "Resource": "*"})],
            "kms:Sign",
            "arn:aws:kms:us-east-1:123456789012:key/k",
            ALLOWED,
        ),
        (
            [Statement.from_json({"Effect": "Allow", "Action": "ivs:*", "NotResource": STAGE_ARN})],
            "ivs:GetStage",
            STAGE_ARN,
            IMPLICIT_DENY,
        ),
    ],
    ids=[
        "action-wildcard",
        "action-case",
        "other-action",
        "resource-wildcard",
        "other-type",
        "resource-case",
        "question-mark",
        "wildcard-stays-in-its-part",
        "explicit-deny-wins",
        "not-action",
        "not-action-elsewhere",
        "not-resource",
    ],
)
def test_actions_and_resources_match_as_iam_matches_them(statements, action, resource, decision):
    assert decide(statements, action, resource, {}) == decision


@pytest.mark.parametrize(
    "condition, context, decision",
    [
        ({"StringEquals": {"aws:ResourceTag/team": "live"}}, {"aws:resourcetag/team": "live"}, ALLOWED),
        ({"StringEquals": {"aws:ResourceTag/team": "live"}}, {"aws:resourcetag/team": "vod"}, IMPLICIT_DENY),
        # A key missing from the request: a plain operator is false, a negated one or ...IfExists true.
        ({"StringEquals": {"aws:ResourceTag/team": "live"}}, {}, IMPLICIT_DENY),
        ({"StringNotEquals": {"aws:ResourceTag/team": "live"}}, {}, ALLOWED),
        ({"StringEqualsIfExists": {"aws:ResourceTag/team": "live"}}, {}, ALLOWED),
        ({"Null": {"aws:RequestTag/team": "false"}}, {}, IMPLICIT_DENY),
        ({"StringLike": {"aws:RequestedRegion": ["eu-*", "us-*"]}}, {"aws:requestedregion": "us-east-1"}, ALLOWED),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}}, {"aws:tagkeys": ["team"]}, ALLOWED),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}}, {"aws:tagkeys": ["team", "cost"]}, IMPLICIT_DENY),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}}, {"aws:tagkeys": ["cost"]}, IMPLICIT_DENY),
    ],
    ids=[
        "equal",
        "unequal",
        "missing-key",
        "missing-key-negated",
        "if-exists",
        "null",
        "like-any-of",
        "for-all-values",
        "for-all-values-one-outside",
        "for-any-value",
    ],
)
def test_conditions_are_evaluated_as_iam_evaluates_them(condition, context, decision):
    assert decide([allow("ivs:TagResource", Condition=condition)], "ivs:TagResource", STAGE_ARN, context) == decision


def test_a_condition_operator_it_cannot_evaluate_is_refused_when_the_policy_is_read():
    with pytest.raises(UnsupportedPolicy, match="cannot evaluate the condition operator 'IpAddress'"):
        statements_of(
            {
                "Statement": {
                    "Effect": "Allow",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
                }
            }
        )


def _client(ivs, service, key):
    return boto3.client(
        service,
        endpoint_url=ivs.url,
        aws_access_key_id=key,
        aws_secret_access_key="s",
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}),
    )


def _denied(call) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call()
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
    return caught.value


def test_the_endpoint_answers_a_call_outside_the_policy_as_aws_does(ivs):
    principal = Principal(
        ROLE,
        "arn:aws:iam::123456789012:role/backend-role",
        statements_of(
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["ivs:CreateStage", "ivs:GetStage"],
                        "Resource": "arn:aws:ivs:us-east-1:*:stage/*",
                    },
                    {"Effect": "Allow", "Action": "kms:CreateKey", "Resource": "*"},
                ]
            }
        ),
    )
    key = ivs.iam.enforce(principal)
    ivs_realtime, kms = _client(ivs, "ivs-realtime", key), _client(ivs, "kms", key)
    arn = ivs_realtime.create_stage(name="s")["stage"]["arn"]
    assert ivs_realtime.get_stage(arn=arn)["stage"]["arn"] == arn
    error = _denied(lambda: ivs_realtime.delete_stage(arn=arn))
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error.response["Error"]["Message"] == (
        f"User: {ROLE} is not authorized to perform: ivs:DeleteStage on resource: {arn} "
        "because no identity-based policy allows the ivs:DeleteStage action"
    )
    _denied(lambda: ivs_realtime.list_stages())  # a List is on "*", which the policy does not name
    key_id = kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    error = _denied(lambda: kms.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="ECDSA_SHA_384"))
    assert error.response["Error"]["Message"] == (
        f"User: {ROLE} is not authorized to perform: kms:Sign on resource: "
        f"arn:aws:kms:us-east-1:123456789012:key/{key_id} because no identity-based policy allows the kms:Sign action"
    )
    # Credentials bound to no principal are not checked; nor is anything once the endpoint is reset.
    unbound = _client(ivs, "ivs-realtime", "AKIDUNBOUND")
    unbound.delete_stage(arn=arn)
    ivs.reset()
    _client(ivs, "ivs-realtime", key).list_stages()


def test_a_provider_policy_missing_an_action_fails_the_lifecycle(cfn, ivs, provider_principal):
    """What the enforced lifecycle tests (conftest.provider_role) would catch: the provider's
    policy without ivs:UntagResource, and a tag change that must untag."""
    kept = tuple(
        dataclasses.replace(s, actions=tuple(a for a in s.actions or () if a != "ivs:UntagResource"))
        for s in provider_principal.statements
    )
    assert kept != provider_principal.statements
    ivs.iam.enforce(dataclasses.replace(provider_principal, statements=kept), os.environ["AWS_ACCESS_KEY_ID"])
    arn = cfn.create(STAGE, {"name": "s", "tags": {"a": "1"}})["PhysicalResourceId"]
    with pytest.raises(Exception, match="AccessDeniedException"):
        cfn.update(STAGE, arn, {"name": "s", "tags": {"a": "1"}}, {"name": "s", "tags": {"b": "2"}})


def test_the_enforced_provider_may_not_touch_another_accounts_resources(cfn, ivs, provider_role):
    """The enforcement the lifecycle tests run under is real: the provider's role names its
    types' ARNs in its own account and region only."""
    arn = cfn.create(STORAGE, {"name": "r", "s3": {"bucketName": "b-1"}})["PhysicalResourceId"]
    other_account = arn.replace(":123456789012:", ":210987654321:")
    with pytest.raises(
        Exception, match=f"not authorized to perform: ivs:DeleteStorageConfiguration on resource: {other_account} because"
    ):
        cfn.delete(STORAGE, other_account)
    cfn.delete(STORAGE, arn)


def test_a_backend_without_grant_sign_is_refused_by_the_local_kms(local_ivs_realtime, tmp_path):  # noqa: F811
    """The issue's trial: one backend granted kms:Sign, one not; both pass synth and deploy, and
    only the one granted signs. The token vendor's role, by its construct, may read its stage only."""
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    stack = cdk.Stack(app, "Live", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    stage = Stage(stack, "Stage")
    key = ParticipantTokenSigningKey(stack, "Signing")
    code = lambda_.Code.from_inline("def handler(event, context):\n    return None\n")
    backend, forgetful = (
        lambda_.Function(stack, name, runtime=lambda_.Runtime.PYTHON_3_13, handler="index.handler", code=code)
        for name in ("Backend", "Forgetful")
    )
    key.grant_sign(backend)
    vendor = ParticipantTokenVendor(stack, "Vendor", stage=stage, signing_key=key)
    local_ivs_realtime.deploy(app)
    key_arn = local_ivs_realtime.deployed(key).data["Arn"]
    stage_arn = local_ivs_realtime.deployed(stage).physical_id
    config = Config(retries={"total_max_attempts": 1})

    def sign(credentials):
        kms = boto3.client("kms", config=config, **credentials)
        return kms.sign(KeyId=key_arn, Message=b"header.payload", SigningAlgorithm="ECDSA_SHA_384")

    assert sign(local_ivs_realtime.credentials_for("Live/Backend"))["KeyId"] == key_arn
    error = _denied(lambda: sign(local_ivs_realtime.credentials_for(forgetful)))
    assert error.response["Error"]["Message"].startswith("User: arn:aws:sts::123456789012:assumed-role/live-forgetful")
    assert f"kms:Sign on resource: {key_arn} because no identity-based policy allows" in error.response["Error"]["Message"]

    environment = local_ivs_realtime.environment_for("Live/Vendor")  # the one function inside the vendor
    assert environment["AWS_ENDPOINT_URL_KMS"] == local_ivs_realtime.endpoint.url
    as_vendor = boto3.client(
        "ivs-realtime",
        config=config,
        endpoint_url=environment["AWS_ENDPOINT_URL_IVS_REALTIME"],
        region_name=environment["AWS_REGION"],
        aws_access_key_id=environment["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"],
    )
    assert as_vendor.get_stage(arn=stage_arn)["stage"]["arn"] == stage_arn
    _denied(lambda: as_vendor.create_participant_token(stageArn=stage_arn))  # it signs instead
    assert sign(local_ivs_realtime.credentials_for(vendor))["KeyId"] == key_arn
    with pytest.raises(KeyError, match="no function at .Live/Nothing. in the app deployed last; name one of: Live/Backend"):
        local_ivs_realtime.credentials_for("Live/Nothing")


def test_the_endpoint_holds_cloudformation_calls_to_the_policy_too(ivs):
    """Adoption's DescribeStackResources (the provider's role has it on "*" when a stack adopts)."""
    allowed = Principal(
        ROLE,
        "arn:aws:iam::123456789012:role/provider-role",
        statements_of({"Statement": [{"Effect": "Allow", "Action": "cloudformation:DescribeStackResources", "Resource": "*"}]}),
    )
    stage = "arn:aws:ivs:us-east-1:123456789012:stage/Lobby"
    with pytest.raises(ClientError) as caught:  # allowed: CloudFormation's own answer
        _client(ivs, "cloudformation", ivs.iam.enforce(allowed)).describe_stack_resources(PhysicalResourceId=stage)
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    denied = Principal(ROLE, "arn:aws:iam::123456789012:role/backend-role", statements_of({"Statement": []}))
    with pytest.raises(ClientError) as caught:
        _client(ivs, "cloudformation", ivs.iam.enforce(denied)).describe_stack_resources(PhysicalResourceId=stage)
    error = caught.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDenied", 403)
    assert error["Error"]["Message"] == (
        f"User: {ROLE} is not authorized to perform: cloudformation:DescribeStackResources on resource: * "
        "because no identity-based policy allows the cloudformation:DescribeStackResources action"
    )
