"""A token-vending function: mints an IVS Real-Time participant token for one stage.

Deployed by ``ParticipantTokenVendor``. The stage, token lifetime and capabilities are fixed by
the deployment (environment); a request chooses only who the participant is and the attributes
others see. Invoke it directly with ``{"userId": ..., "attributes": {...}}``, or put it behind API
Gateway or a function URL (the same JSON as the request body); authenticate callers there.

The token is a bearer credential: it is returned, never logged.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from typing import Any, Mapping

import lifecycle
from handler import ivs_client  # the provider's client: same retries, same endpoint variable, same model
from rules import check, operation

LOG = logging.getLogger("constructs_ivsrt.token_vendor")
LOG.setLevel(logging.INFO)
# Importing handler also keeps botocore's wire loggers off DEBUG (they would log the token).

STAGE_ARN_ENV = "STAGE_ARN"
DURATION_ENV = "TOKEN_DURATION_MINUTES"
CAPABILITIES_ENV = "TOKEN_CAPABILITIES"  # comma-separated: PUBLISH,SUBSCRIBE
# Comma-separated attribute keys a caller may set; unset means any. Attributes are what other
# participants and compositions see (a layout's featured-participant attribute among them).
ALLOWED_ATTRIBUTES_ENV = "TOKEN_ALLOWED_ATTRIBUTE_KEYS"
REQUEST_FIELDS = ("userId", "attributes")  # what a caller may choose


class BadRequest(ValueError):
    """The caller's request breaks a rule; the message says which (it holds no secret)."""


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
        params = token_request(_body(event), os.environ)
    except BadRequest as error:
        LOG.info(json.dumps({"outcome": "REJECTED", "reason": str(error)}))
        if http:
            return _http(400, {"message": str(error)})
        raise
    try:
        token = lifecycle.call(ivs_client(), "CreateParticipantToken", params["stageArn"], **params)["participantToken"]
    except lifecycle.ProvisioningError as error:
        LOG.error(json.dumps({"outcome": "FAILED", "reason": str(error)}))
        if http:  # the reason is in the log; the caller learns only that it failed
            return _http(502, {"message": "could not create a participant token"})
        raise
    LOG.info(json.dumps({"outcome": "ISSUED", "participantId": token.get("participantId")}))
    expires = token.get("expirationTime")
    answer = {
        "token": token["token"],
        "participantId": token.get("participantId"),
        "expirationTime": expires.isoformat() if hasattr(expires, "isoformat") else str(expires or ""),
    }
    return _http(200, answer) if http else answer


def _http(status: int, payload: Mapping[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
            "body": json.dumps(payload)}
