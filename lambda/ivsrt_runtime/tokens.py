"""A token-vending function: mints an IVS Real-Time participant token for one stage.

Deployed by ``ParticipantTokenVendor``. The stage, token lifetime and capabilities are fixed by
the deployment (environment); a request chooses only who the participant is and the attributes
others see. Invoke it directly with ``{"userId": ..., "attributes": {...}}``, or put it behind API
Gateway or a function URL (the same JSON as a POST body); authenticate callers there. With
``TOKEN_USER_ID_CLAIM`` set, an HTTP caller's user id is that claim of the identity the API's
authorizer established, and a body may not choose one: no caller can join as someone else.

A deployment that signs its tokens (``key_ring.PARAMETER_ENV``) may also hand out a connection token
(``CONNECTION_DURATION_ENV``), which a ``RealTimeConnection`` needs beside participant tokens: the
answer then carries ``connectionToken``, its id (``connectionTokenId``, what
``RevokeConnectionToken`` takes) and ``connectionTokenExpirationTime``.

Tokens are bearer credentials: they are returned, never logged (a connection token's id is logged,
so that it can be revoked).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ivsrt_runtime.calls import Request, RequestFailed, call, error_code
from ivsrt_runtime.clients import ivs_client, kms_client  # same endpoint variables, same model
from ivsrt_runtime.key_ring import PARAMETER_ENV
from ivsrt_runtime.rules import operation
from ivsrt_runtime.signer import current_key
from ivsrt_runtime.signing import expiration_time, sign_connection_token, sign_participant_token
from ivsrt_runtime.validation import check

LOG = logging.getLogger("constructs_ivsrt.token_vendor")
LOG.setLevel(logging.INFO)
# Importing clients also keeps botocore's wire loggers off DEBUG (they would log the token).

STAGE_ARN_ENV = "STAGE_ARN"
DURATION_ENV = "TOKEN_DURATION_MINUTES"
CAPABILITIES_ENV = "TOKEN_CAPABILITIES"  # comma-separated: PUBLISH,SUBSCRIBE
# Comma-separated attribute keys a caller may set; unset means any. Attributes are what other
# participants and compositions see (a layout's featured-participant attribute among them).
ALLOWED_ATTRIBUTES_ENV = "TOKEN_ALLOWED_ATTRIBUTE_KEYS"
# The authorizer claim (JWT, Cognito or a Lambda authorizer's context key) that is the user id
# of an HTTP caller; unset means the body's userId.
USER_ID_CLAIM_ENV = "TOKEN_USER_ID_CLAIM"
# With a signing key (ParticipantTokenVendor(signing_key=...)): tokens are signed with kms:Sign,
# no CreateParticipantToken, with the generation its ring's parameter (key_ring.PARAMETER_ENV) names.
# With connection tokens (ParticipantTokenVendor(connection_tokens=True), signing only): the
# connection token's lifetime in minutes; set means every answer carries a connection token too.
CONNECTION_DURATION_ENV = "CONNECTION_TOKEN_DURATION_MINUTES"
REQUEST_FIELDS = ("userId", "attributes")  # what a caller may choose
# What an answer adds with connection tokens on.
CONNECTION_FIELDS = ("connectionToken", "connectionTokenId", "connectionTokenExpirationTime")
# How long a throttled CreateParticipantToken (50 per second per account) is retried: a caller is
# waiting, and API Gateway gives up after 29 s.
RETRY_SECONDS = 5.0


class Refused(ValueError):
    """An HTTP request refused before any call, with its status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class BadRequest(Refused):
    """The caller's request breaks a rule; the message says which (it holds no secret)."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


def token_request(body: Mapping[str, Any], environment: Mapping[str, str]) -> dict[str, Any]:
    """The CreateParticipantToken parameters: the deployment's stage, duration and capabilities,
    and the caller's user id and attributes, checked against the model."""
    unknown = sorted(set(body) - set(REQUEST_FIELDS))
    if unknown:
        raise BadRequest(f"request may set only {', '.join(REQUEST_FIELDS)}, got: {', '.join(unknown)}")
    allowed = environment.get(ALLOWED_ATTRIBUTES_ENV)
    attributes = body.get("attributes")
    if allowed is not None and isinstance(attributes, Mapping):
        refused = sorted(set(attributes) - {key for key in allowed.split(",") if key})
        if refused:
            raise BadRequest(f"attributes may have only the keys {allowed or '(none)'}, got: {', '.join(refused)}")
    params: dict[str, Any] = {
        "stageArn": environment[STAGE_ARN_ENV],
        "duration": int(environment[DURATION_ENV]),
        "capabilities": [c for c in environment.get(CAPABILITIES_ENV, "").split(",") if c],
        **{key: body[key] for key in REQUEST_FIELDS if body.get(key) is not None},
    }
    problems = check(operation("CreateParticipantToken").input_shape, params, "request")
    if problems:
        raise BadRequest("; ".join(problems))
    return params


def _is_http(event: Any) -> bool:
    """API Gateway's proxy integration and function URLs wrap the request in ``body``."""
    return isinstance(event, Mapping) and ("body" in event or "requestContext" in event)


def _http_method(event: Mapping[str, Any]) -> str | None:
    """REST APIs (payload 1.0) say ``httpMethod``; HTTP APIs and function URLs (2.0) ``requestContext.http.method``."""
    return event.get("httpMethod") or ((event.get("requestContext") or {}).get("http") or {}).get("method")


def _claim(event: Mapping[str, Any], name: str) -> Any:
    """``name`` from the identity the API's authorizer established: an HTTP API's JWT claims, a
    REST API's Cognito claims, or a Lambda authorizer's context (either payload version)."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    for source in ((authorizer.get("jwt") or {}).get("claims"), authorizer.get("claims"), authorizer.get("lambda"), authorizer):
        if isinstance(source, Mapping) and source.get(name) not in (None, ""):
            return source[name]
    return None


def _request(event: Any, environment: Mapping[str, str]) -> Mapping[str, Any]:
    """What the caller asks for. Over HTTP: a POST, and, with a user id claim configured, the
    user id of the authenticated caller. A direct invoke is trusted (it needs lambda:InvokeFunction)."""
    if not _is_http(event):
        return _body(event)
    method = _http_method(event)
    if method not in (None, "POST"):
        raise Refused(405, f"method must be POST, got: {method}")
    body = _body(event)
    claim = environment.get(USER_ID_CLAIM_ENV)
    if not claim:
        return body
    if "userId" in body:
        raise BadRequest(f"userId is the caller's {claim!r} claim and may not be chosen")
    user_id = _claim(event, claim)
    if user_id is None:
        raise Refused(403, f"no authenticated caller: the request has no {claim!r} claim (is the API's authorizer set?)")
    return {**body, "userId": str(user_id)}


def _body(event: Any) -> Mapping[str, Any]:
    if not _is_http(event):
        if not isinstance(event, Mapping):
            raise BadRequest(f"request must be a JSON object, got: {type(event).__name__}")
        return event
    raw = event.get("body") or "{}"
    try:
        if event.get("isBase64Encoded") and isinstance(raw, str):
            raw = base64.b64decode(raw, validate=True).decode()
        parsed = json.loads(raw) if isinstance(raw, (str, bytes)) else raw
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError and binascii.Error are ValueErrors
        raise BadRequest("body must be JSON") from None
    if not isinstance(parsed, Mapping):
        raise BadRequest("body must be a JSON object")
    return parsed


def create_token(event: Any, context: Any = None) -> dict[str, Any]:
    """Lambda entry: one participant token, or a one-line error."""
    http = _is_http(event)
    try:
        params = token_request(_request(event, os.environ), os.environ)
    except Refused as error:
        LOG.info(json.dumps({"outcome": "REJECTED", "status": error.status, "reason": str(error)}))
        if http:
            return _http(error.status, {"message": str(error)})
        raise
    request = Request(get_client=ivs_client, subject=params["stageArn"], deadline=time.monotonic() + RETRY_SECONDS)
    try:
        signing_key = _signing_key(os.environ)
        token = (
            _signed(request, params, signing_key)
            if signing_key is not None
            else call(request, "CreateParticipantToken", **params)["participantToken"]
        )
    except RequestFailed as error:
        LOG.error(json.dumps({"outcome": "FAILED", "reason": str(error)}))
        if http and error_code(error) == "ValidationException":
            # What the model's rules let through but the service refused: the request's values.
            return _http(400, {"message": "the service refused the request's values"})
        if http:  # the reason is in the log; the caller learns only that it failed
            return _http(502, {"message": "could not create a participant token"})
        raise
    LOG.info(
        json.dumps(
            {"outcome": "ISSUED", "participantId": token.get("participantId")}
            | ({"connectionTokenId": token["connectionTokenId"]} if "connectionTokenId" in token else {})
        )
    )
    expires = token.get("expirationTime")
    answer = {
        "token": token["token"],
        "participantId": token.get("participantId"),
        "userId": token.get("userId"),
        "expirationTime": expires.isoformat() if hasattr(expires, "isoformat") else str(expires or ""),
        **{key: token[key] for key in CONNECTION_FIELDS if key in token},
    }
    return _http(200, answer) if http else answer


def _signed(request: Request, params: Mapping[str, Any], signing_key: tuple[str, str]) -> dict[str, Any]:
    """A token signed with the deployment's KMS key: one kms:Sign (and, once per execution
    environment, a GetStage for the stage's endpoints, which the token names); with connection
    tokens on, a second kms:Sign for the connection token, by the same key."""
    endpoints = _stage_endpoints(request, params["stageArn"])
    key_arn, public_key_arn = signing_key
    connection_minutes = os.environ.get(CONNECTION_DURATION_ENV)
    try:
        signed = sign_participant_token(
            kms_client(),
            key_id=key_arn,
            public_key_arn=public_key_arn,
            stage_arn=params["stageArn"],
            whip_url=endpoints["whip"],
            events_url=endpoints["events"],
            user_id=params.get("userId"),
            attributes=params.get("attributes"),
            capabilities=params["capabilities"],
            duration_minutes=params["duration"],
        )
        connection = (
            sign_connection_token(
                kms_client(), key_id=key_arn, public_key_arn=public_key_arn, duration_minutes=int(connection_minutes)
            )
            if connection_minutes
            else None
        )
    except (ClientError, BotoCoreError) as error:
        raise RequestFailed(f"kms:Sign failed for {key_arn}: {error}") from None
    answer = {
        "token": signed.token,
        "participantId": signed.participant_id,
        "userId": params.get("userId"),
        "expirationTime": expiration_time(signed.expiration_time),
    }
    if connection is not None:
        answer |= {
            "connectionToken": connection.token,
            "connectionTokenId": connection.token_id,
            "connectionTokenExpirationTime": expiration_time(connection.expiration_time),
        }
    return answer


def _signing_key(environment: Mapping[str, str]) -> tuple[str, str] | None:
    """The KMS key that signs, and the ARN of its public half in IVS (the tokens' ``kid``), of the
    generation the signing key's ring names now (read at most once a minute: a rotation reaches
    the vendor without a redeploy), or None when the deployment does not sign
    (``CreateParticipantToken`` mints): the one place the vendor reads them."""
    if not environment.get(PARAMETER_ENV):
        return None
    try:
        key = current_key(environment)
    except (ClientError, BotoCoreError) as error:
        raise RequestFailed(f"reading the signing key's ring {environment[PARAMETER_ENV]} failed: {error}") from None
    return key.key_arn, key.public_key_arn


_ENDPOINTS: dict[str, dict[str, str]] = {}  # stage ARN -> its endpoints, per execution environment


def _stage_endpoints(request: Request, stage_arn: str) -> dict[str, str]:
    if stage_arn not in _ENDPOINTS:
        _ENDPOINTS[stage_arn] = call(request, "GetStage", arn=stage_arn)["stage"]["endpoints"]
    return _ENDPOINTS[stage_arn]


def _http(status: int, payload: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(payload),
    }
