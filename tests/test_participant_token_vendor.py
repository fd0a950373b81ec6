"""The token-vending function: the real function, real boto3, the local endpoint."""

from __future__ import annotations

import json

import pytest

from conftest import STAGE

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
    assert set(answer) == {"token", "participantId", "userId", "expirationTime"} and answer["token"]
    assert answer["userId"] == "alice"
    assert ivs.state.calls[-1] == "CreateParticipantToken"


def test_http_invoke_answers_json_and_never_caches(vendor):
    answer = vendor.create_token({"body": json.dumps({"userId": "bob"}), "requestContext": {}})
    assert answer["statusCode"] == 200 and answer["headers"]["Cache-Control"] == "no-store"
    assert json.loads(answer["body"])["token"]


@pytest.mark.parametrize("body, message", [
    ({"userId": "x", "duration": 20160}, "request may set only userId, attributes, got: duration"),
    ({"capabilities": ["PUBLISH"]}, "request may set only userId, attributes, got: capabilities"),
    ({"userId": "u" * 129}, "request.userId must have at most 128 characters"),
    ({"attributes": ["not", "a", "map"]}, "request.attributes must be a map"),
])
def test_a_caller_cannot_choose_what_the_deployment_fixes_or_break_the_model(vendor, ivs, body, message):
    calls = len(ivs.state.calls)
    answer = vendor.create_token({"body": json.dumps(body)})
    assert answer["statusCode"] == 400 and json.loads(answer["body"])["message"].startswith(message)
    with pytest.raises(vendor.BadRequest, match=message.replace("[", r"\[")):
        vendor.create_token(body)
    assert len(ivs.state.calls) == calls  # rejected before any call


def test_a_missing_stage_is_one_line(vendor, monkeypatch):
    monkeypatch.setenv("STAGE_ARN", STAGE_ARN_MISSING)
    with pytest.raises(vendor.lifecycle.ProvisioningError) as caught:
        vendor.create_token({"userId": "x"})
    assert str(caught.value).startswith(f"CreateParticipantToken failed for {STAGE_ARN_MISSING}: ResourceNotFoundException")


def test_attribute_keys_can_be_limited_by_the_deployment(vendor, monkeypatch):
    monkeypatch.setenv("TOKEN_ALLOWED_ATTRIBUTE_KEYS", "displayName")
    assert vendor.create_token({"attributes": {"displayName": "Ann"}})["token"]
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


@pytest.mark.parametrize("event, message", [
    (None, "request must be a JSON object, got: NoneType"),
    (42, "request must be a JSON object, got: int"),
    ({"body": "not json"}, "body must be JSON"),
    ({"body": "[1]"}, "body must be a JSON object"),
])
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
        "request.attributes must have at most 1024 bytes in all (keys and values, UTF-8), got: 1103 bytes")


def test_values_the_service_refuses_are_a_400_not_a_502(vendor, ivs):
    from conftest import Fault

    ivs.inject(Fault("error", "CreateParticipantToken", code="ValidationException"))
    answer = vendor.create_token(http_api_event({"userId": "x"}))
    assert answer["statusCode"] == 400
    assert json.loads(answer["body"]) == {"message": "the service refused the request's values"}
