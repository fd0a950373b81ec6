"""The token-vending function: the real function, real boto3, the local endpoint."""

from __future__ import annotations

import json
import os

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template
from conftest import STAGE, Fault
from synth import expect, imported_stage, new_stack

from constructs_ivsrt import ParticipantTokenCapability, ParticipantTokenSigningKey, ParticipantTokenVendor, Stage
from ivsrt_runtime.tokens import CONNECTION_DURATION_ENV

STAGE_ARN_MISSING = "arn:aws:ivs:us-east-1:123456789012:stage/gone"


@pytest.fixture
def vendor(cfn, monkeypatch):
    from ivsrt_runtime import tokens as token_vendor

    stage = cfn.create(STAGE, {"name": "s"})["PhysicalResourceId"]
    monkeypatch.setenv("STAGE_ARN", stage)
    monkeypatch.setenv("TOKEN_DURATION_MINUTES", "120")
    monkeypatch.setenv("TOKEN_CAPABILITIES", "PUBLISH,SUBSCRIBE")
    return token_vendor


def test_direct_invoke_mints_a_token_with_the_deployments_settings(vendor, ivs):
    answer = vendor.create_token({"userId": "alice", "attributes": {"displayName": "Alice"}})
    assert set(answer) == {"token", "participantId", "userId", "expirationTime"}
    minted = ivs.state.tokens[answer["token"]]  # the token the service minted, with the deployment's settings
    assert (minted["stageArn"], minted["duration"], minted["capabilities"]) == (
        os.environ["STAGE_ARN"],
        120,
        ["PUBLISH", "SUBSCRIBE"],
    )
    assert (minted["userId"], minted["attributes"], minted["participantId"]) == (
        "alice",
        {"displayName": "Alice"},
        answer["participantId"],
    )
    assert answer["userId"] == "alice"
    assert ivs.state.calls[-1] == "CreateParticipantToken"


def test_http_invoke_answers_json_and_never_caches(vendor, ivs):
    answer = vendor.create_token({"body": json.dumps({"userId": "bob"}), "requestContext": {}})
    assert answer["statusCode"] == 200 and answer["headers"]["Cache-Control"] == "no-store"
    assert ivs.state.tokens[json.loads(answer["body"])["token"]]["userId"] == "bob"


@pytest.mark.parametrize(
    "body, message",
    [
        ({"userId": "x", "duration": 20160}, "request may set only userId, attributes, got: duration"),
        ({"capabilities": ["PUBLISH"]}, "request may set only userId, attributes, got: capabilities"),
        ({"userId": "u" * 129}, "request.userId must have at most 128 characters"),
        ({"attributes": ["not", "a", "map"]}, "request.attributes must be a map"),
    ],
)
def test_a_caller_cannot_choose_what_the_deployment_fixes_or_break_the_model(vendor, ivs, body, message):
    calls = len(ivs.state.calls)
    answer = vendor.create_token({"body": json.dumps(body)})
    assert answer["statusCode"] == 400 and json.loads(answer["body"])["message"].startswith(message)
    with pytest.raises(vendor.BadRequest, match=message.replace("[", r"\[")):
        vendor.create_token(body)
    assert len(ivs.state.calls) == calls  # rejected before any call


def test_a_missing_stage_is_one_line(vendor, monkeypatch):
    monkeypatch.setenv("STAGE_ARN", STAGE_ARN_MISSING)
    with pytest.raises(vendor.RequestFailed) as caught:
        vendor.create_token({"userId": "x"})
    assert str(caught.value).startswith(f"CreateParticipantToken failed for {STAGE_ARN_MISSING}: ResourceNotFoundException")


def test_attribute_keys_can_be_limited_by_the_deployment(vendor, ivs, monkeypatch):
    monkeypatch.setenv("TOKEN_ALLOWED_ATTRIBUTE_KEYS", "displayName")
    token = vendor.create_token({"attributes": {"displayName": "Ann"}})["token"]
    assert ivs.state.tokens[token]["attributes"] == {"displayName": "Ann"}
    answer = vendor.create_token({"body": json.dumps({"attributes": {"speaker": "true"}})})
    assert answer["statusCode"] == 400
    assert json.loads(answer["body"])["message"] == "attributes may have only the keys displayName, got: speaker"


def test_an_api_failure_over_http_is_a_502_without_details(vendor, monkeypatch):
    monkeypatch.setenv("STAGE_ARN", STAGE_ARN_MISSING)
    answer = vendor.create_token({"body": json.dumps({"userId": "x"})})
    assert answer["statusCode"] == 502 and json.loads(answer["body"]) == {"message": "could not create a participant token"}


def test_expiration_time_is_iso_8601(vendor):
    from datetime import datetime

    expires = vendor.create_token({"userId": "x"})["expirationTime"]
    assert datetime.fromisoformat(expires).tzinfo is not None


@pytest.mark.parametrize(
    "event, message",
    [
        (None, "request must be a JSON object, got: NoneType"),
        (42, "request must be a JSON object, got: int"),
        ({"body": "not json"}, "body must be JSON"),
        ({"body": "[1]"}, "body must be a JSON object"),
    ],
)
def test_malformed_requests_are_one_line_errors(vendor, event, message):
    if isinstance(event, dict):
        assert json.loads(vendor.create_token(event)["body"]) == {"message": message}
    else:
        with pytest.raises(vendor.BadRequest, match=message):
            vendor.create_token(event)


def test_base64_and_already_parsed_http_bodies(vendor):
    import base64

    encoded = base64.b64encode(json.dumps({"userId": "b64"}).encode()).decode()
    assert vendor.create_token({"body": encoded, "isBase64Encoded": True})["statusCode"] == 200
    assert vendor.create_token({"body": {"userId": "dict"}, "requestContext": {}})["statusCode"] == 200


def http_api_event(body: dict, method: str = "POST", claims: dict | None = None) -> dict:
    """An HTTP API (payload 2.0) request, with a JWT authorizer's claims if given."""
    context = {"http": {"method": method}}
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": claims}}
    return {"body": json.dumps(body), "requestContext": context}


def test_only_post_mints_a_token(vendor, ivs):
    answer = vendor.create_token(http_api_event({"userId": "x"}, method="GET"))
    assert answer["statusCode"] == 405 and json.loads(answer["body"]) == {"message": "method must be POST, got: GET"}
    rest = vendor.create_token({"httpMethod": "DELETE", "body": None, "requestContext": {}})
    assert rest["statusCode"] == 405
    assert "CreateParticipantToken" not in ivs.state.calls


def test_with_a_user_id_claim_the_caller_joins_as_itself_only(vendor, ivs, monkeypatch):
    monkeypatch.setenv("TOKEN_USER_ID_CLAIM", "sub")
    answer = vendor.create_token(http_api_event({"attributes": {"displayName": "Alice"}}, claims={"sub": "alice"}))
    assert answer["statusCode"] == 200 and json.loads(answer["body"])["userId"] == "alice"
    # REST API with a Cognito authorizer, and a Lambda authorizer's context, name it too.
    rest = {"httpMethod": "POST", "body": "{}", "requestContext": {"authorizer": {"claims": {"sub": "carol"}}}}
    assert json.loads(vendor.create_token(rest)["body"])["userId"] == "carol"
    custom = {"body": "{}", "requestContext": {"http": {"method": "POST"}, "authorizer": {"lambda": {"sub": "dan"}}}}
    assert json.loads(vendor.create_token(custom)["body"])["userId"] == "dan"
    calls = len(ivs.state.calls)
    chosen = vendor.create_token(http_api_event({"userId": "bob"}, claims={"sub": "alice"}))
    assert chosen["statusCode"] == 400
    assert json.loads(chosen["body"]) == {"message": "userId is the caller's 'sub' claim and may not be chosen"}
    anonymous = vendor.create_token(http_api_event({}))
    assert anonymous["statusCode"] == 403 and "no 'sub' claim" in json.loads(anonymous["body"])["message"]
    assert len(ivs.state.calls) == calls  # refused before any call
    # A direct invoke needs lambda:InvokeFunction: a trusted backend names the user.
    assert vendor.create_token({"userId": "backend-chosen"})["userId"] == "backend-chosen"


def test_attributes_over_the_documented_1_kb_are_a_400(vendor, ivs):
    answer = vendor.create_token(http_api_event({"attributes": {"bio": "x" * 1100}}))
    assert answer["statusCode"] == 400
    assert json.loads(answer["body"])["message"] == (
        "request.attributes must have at most 1024 bytes in all (keys and values, UTF-8), got: 1103 bytes"
    )


def test_values_the_service_refuses_are_a_400_not_a_502(vendor, ivs):

    ivs.inject(Fault("error", "CreateParticipantToken", code="ValidationException"))
    answer = vendor.create_token(http_api_event({"userId": "x"}))
    assert answer["statusCode"] == 400
    assert json.loads(answer["body"]) == {"message": "the service refused the request's values"}


@pytest.mark.parametrize(
    "build, message",
    [
        pytest.param(
            lambda s: ParticipantTokenVendor(s, "V", stage=imported_stage(s), allowed_attribute_keys="displayName"),
            "T/V: allowed_attribute_keys must be a list of str, got: 'displayName'",
            id="attribute-keys-string",
        ),
        pytest.param(
            lambda s: ParticipantTokenVendor(s, "V", stage=imported_stage(s), token_duration=cdk.Duration.days(15)),
            "T/V: token_duration (minutes) must be between 1 and 20160, got: 21600",
            id="token-duration",
        ),
        pytest.param(
            lambda s: ParticipantTokenVendor(s, "V", stage=imported_stage(s), token_duration=cdk.Duration.seconds(90)),
            "T/V: token_duration (minutes) must be a whole number, got: 1.5",
            id="token-duration-whole",
        ),
        pytest.param(
            lambda s: ParticipantTokenVendor(s, "V", stage=imported_stage(s), capabilities=[]),
            "T/V: capabilities must name PUBLISH and/or SUBSCRIBE, each at most once, got: []",
            id="no-capability",
        ),
        pytest.param(
            lambda s: ParticipantTokenVendor(s, "V", stage=imported_stage(s), capabilities=["PUBLISH", "PUBLISH"]),
            "T/V: capabilities must name PUBLISH and/or SUBSCRIBE, each at most once, got: ['PUBLISH', 'PUBLISH']",
            id="capability-twice",
        ),
        pytest.param(
            lambda s: ParticipantTokenVendor(s, "V", stage=imported_stage(s), user_id_claim=" "),
            "T/V: user_id_claim must be a claim name, got: ' '",
            id="user-id-claim",
        ),
        pytest.param(
            lambda s: ParticipantTokenVendor(s, "V", stage=imported_stage(s), connection_tokens=True),
            "T/V: connection_tokens needs signing_key (a connection token is self-signed only: no API creates one), "
            "got: connection_tokens=True without a signing key",
            id="connection-tokens-without-key",
        ),
        pytest.param(
            lambda s: ParticipantTokenVendor(s, "V", stage=imported_stage(s), signing_key=_key(s), connection_tokens="yes"),
            "T/V: connection_tokens must be True or False, got: 'yes'",
            id="connection-tokens-not-bool",
        ),
        pytest.param(
            lambda s: ParticipantTokenVendor(
                s, "V", stage=imported_stage(s), signing_key=_key(s), connection_token_duration=cdk.Duration.hours(1)
            ),
            "T/V: connection_token_duration is used only with connection_tokens=True, got: 1 hour with connection_tokens=False",
            id="connection-duration-without-connection-tokens",
        ),
        pytest.param(
            lambda s: ParticipantTokenVendor(
                s,
                "V",
                stage=imported_stage(s),
                signing_key=_key(s),
                connection_tokens=True,
                connection_token_duration=cdk.Duration.days(29),
            ),
            "T/V: connection_token_duration (minutes) must be between 1 and 40320 (four weeks), got: 41760",
            id="connection-duration-over-four-weeks",
        ),
        pytest.param(
            lambda s: ParticipantTokenVendor(
                s,
                "V",
                stage=imported_stage(s),
                signing_key=_key(s),
                connection_tokens=True,
                connection_token_duration=cdk.Duration.seconds(90),
            ),
            "T/V: connection_token_duration (minutes) must be a whole number, got: 1.5",
            id="connection-duration-whole",
        ),
        pytest.param(
            lambda s: ParticipantTokenVendor(
                s,
                "V",
                stage=imported_stage(s),
                signing_key=_key(s),
                connection_tokens=True,
                connection_token_duration=cdk.Duration.seconds(cdk.Token.as_number(cdk.Fn.ref("Minutes"))),
            ),
            "T/V: connection_token_duration must be known at synth (it is the function's setting), got: a deploy-time value",
            id="connection-duration-deploy-time",
        ),
    ],
)
def test_rule(build, message):
    expect(message, build)


def _key(scope) -> ParticipantTokenSigningKey:
    return ParticipantTokenSigningKey(scope, "Key")


def test_connection_tokens_are_a_setting_of_the_signing_vendor_only():
    """On, the function's environment names the connection tokens' lifetime (12 hours unless
    given); off, it names none and the function signs participant tokens only."""
    st = new_stack()
    stage, key = Stage(st, "Stage"), _key(st)
    ParticipantTokenVendor(st, "Connecting", stage=stage, signing_key=key, connection_tokens=True)
    ParticipantTokenVendor(
        st, "Weekly", stage=stage, signing_key=key, connection_tokens=True, connection_token_duration=cdk.Duration.days(7)
    )
    ParticipantTokenVendor(st, "Plain", stage=stage, signing_key=key)
    functions = Template.from_stack(st).find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "token_vendor.create_token"}}
    )
    durations = {
        logical_id.split("Function")[0]: function["Properties"]["Environment"]["Variables"].get(CONNECTION_DURATION_ENV)
        for logical_id, function in functions.items()
    }
    assert durations == {"Connecting": "720", "Weekly": str(7 * 24 * 60), "Plain": None}


def test_token_vendor_function_is_granted_only_token_creation_on_its_stage():
    st = new_stack()
    stage = Stage(st, "Stage")
    vendor = ParticipantTokenVendor(
        st,
        "Tokens",
        stage=stage,
        token_duration=cdk.Duration.minutes(90),
        capabilities=[ParticipantTokenCapability.SUBSCRIBE],
        user_id_claim="sub",
    )
    backend = iam.Role(st, "Backend", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    vendor.grant_invoke(backend)
    template = Template.from_stack(st)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "token_vendor.create_token",
            "Environment": {
                "Variables": {
                    "STAGE_ARN": {"Ref": Match.string_like_regexp("^Stage")},
                    "TOKEN_DURATION_MINUTES": "90",
                    "TOKEN_CAPABILITIES": "SUBSCRIBE",
                    "TOKEN_USER_ID_CLAIM": "sub",
                }
            },
        },
    )
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": "ivs:CreateParticipantToken",
                            "Effect": "Allow",
                            "Resource": {"Ref": Match.string_like_regexp("^Stage")},
                        }
                    ]
                )
            },
            "Roles": [{"Ref": Match.string_like_regexp("^TokensRole")}],
        },
    )
    assert vendor.token_grant.success
