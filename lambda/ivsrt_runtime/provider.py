"""The custom-resource provider's Lambda entry: ``on_event`` dispatches, lifecycle.py does the work.

Contract (relied on by the tests and the local deploy runner):
- ``on_event(event, context)`` receives the Provider framework's event and returns
  ``{"PhysicalResourceId": <ARN>, "Data": {...}}`` (plus ``"NoEcho": true`` for a type whose
  attributes include a secret); a failure raises with a one-line message.
- ``is_complete(event, context)`` is the framework's isComplete for asynchronous types (a
  composition): ``{"IsComplete": bool}``, with ``Data`` once complete; a failure raises.
- The IVS endpoint is the standard ``AWS_ENDPOINT_URL_IVS_REALTIME`` when set.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Literal, TypedDict
from collections.abc import Callable, Mapping

# The Lambda runtime's bundled botocore may predate fields this project uses: put the model we
# ship on botocore's search path before the first session reads it. AWS_DATA_PATH is searched
# before botocore's bundled data; a value the operator set is kept, and searched before ours.
_MODEL_DIR = str(Path(__file__).resolve().parent / "models")
_existing_data_path = os.environ.get("AWS_DATA_PATH")
if not _existing_data_path or _MODEL_DIR not in _existing_data_path.split(os.pathsep):
    os.environ["AWS_DATA_PATH"] = os.pathsep.join(p for p in (_existing_data_path, _MODEL_DIR) if p)

import lifecycle  # noqa: E402  (after AWS_DATA_PATH, on purpose)
from rules import RESOURCES, ResourceRules  # noqa: E402

LOG = logging.getLogger("constructs_ivsrt.handler")
LOG.setLevel(logging.INFO)
# At DEBUG, botocore logs whole response bodies, and a stream key or participant token would go
# with them. Keep its wire-level loggers at INFO whatever level the function runs at.
for _wire_logger in ("botocore.parsers", "botocore.endpoint", "botocore.hooks", "urllib3"):
    logging.getLogger(_wire_logger).setLevel(logging.INFO)

ENDPOINT_ENV = "AWS_ENDPOINT_URL_IVS_REALTIME"
# Retries stop this long before Lambda would stop the function, so that an attempt started just
# before (5 s to connect, 30 s to read, see ivs_client) still ends in an answer.
ANSWER_MARGIN_SECONDS = 45.0

class _Event(TypedDict):
    """What every event from the Provider framework carries (CloudFormation's request; its
    ``ResponseURL`` is never read here, and never logged)."""

    ResourceType: str
    LogicalResourceId: str
    RequestId: str
    StackId: str
    ResourceProperties: dict[str, Any]


class CreateEvent(_Event):
    RequestType: Literal["Create"]


class UpdateEvent(_Event):
    RequestType: Literal["Update"]
    PhysicalResourceId: str
    OldResourceProperties: dict[str, Any]


class DeleteEvent(_Event):
    RequestType: Literal["Delete"]
    PhysicalResourceId: str


ProviderEvent = CreateEvent | UpdateEvent | DeleteEvent


# One client per execution environment and endpoint. Lambda runs one invocation at a time in an
# environment, so per thread is the same thing there; a local runner that plays many
# environments with threads gets one client (and connection pool) each, as Lambda would.
_environment = threading.local()
# Clients come from one session, one at a time: botocore's session is not safe to build clients
# from in several threads at once, and a session per environment would load the models again
# (about 75 ms each, against 30 ms for a client).
_session_lock = threading.Lock()
_session: Any = None


def ivs_client(endpoint_url: str | None = None) -> Any:
    """The one place a client is built: one attempt per call (``lifecycle.call`` retries, until
    the function's deadline), bounded timeouts.

    Built lazily: the first request pays for boto3, not the import. The endpoint variable is read
    explicitly as well because the runtime's botocore may be too old to honour service-specific
    endpoint variables by itself.
    """
    global _session
    endpoint_url = endpoint_url or os.environ.get(ENDPOINT_ENV) or None
    key = (endpoint_url, os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    clients = _environment.__dict__.setdefault("clients", {})
    if key not in clients:
        import boto3
        from botocore.config import Config

        config = Config(
            # total_max_attempts counts the first call; the legacy "max_attempts" key would mean
            # that many retries (one call more).
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=5,
            read_timeout=30,
            user_agent_extra="constructs-ivsrt",
        )
        with _session_lock:
            _session = _session or boto3.session.Session()
            clients[key] = _session.client("ivs-realtime", endpoint_url=endpoint_url, config=config)
    return clients[key]


def _subject(event: ProviderEvent, rules: ResourceRules) -> str:
    physical = event.get("PhysicalResourceId")
    name = f"{rules.resource_type} {event.get('LogicalResourceId', '?')}"
    return f"{name} ({physical})" if physical else name


def _request(event: ProviderEvent, rules: ResourceRules, context: Any) -> lifecycle.Request:
    remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else float("inf")
    return lifecycle.Request(
        clients=ivs_client,
        subject=_subject(event, rules),
        stack_id=event.get("StackId", ""),
        logical_id=event.get("LogicalResourceId", ""),
        request_id=event.get("RequestId", ""),
        deadline=time.monotonic() + remaining - ANSWER_MARGIN_SECONDS,
    )


def _on_create(request: lifecycle.Request, rules: ResourceRules, event: CreateEvent) -> lifecycle.Result:
    return lifecycle.create(request, rules, event.get("ResourceProperties", {}))


def _on_update(request: lifecycle.Request, rules: ResourceRules, event: UpdateEvent) -> lifecycle.Result:
    return lifecycle.update(request, rules, event["PhysicalResourceId"],
                            event.get("OldResourceProperties", {}), event.get("ResourceProperties", {}))


def _on_delete(request: lifecycle.Request, rules: ResourceRules, event: DeleteEvent) -> lifecycle.Result:
    return lifecycle.delete(request, rules, event.get("PhysicalResourceId", ""), event.get("ResourceProperties", {}))


HANDLERS: dict[str, Callable[[lifecycle.Request, ResourceRules, Any], lifecycle.Result]] = {
    "Create": _on_create,
    "Update": _on_update,
    "Delete": _on_delete,
}


def _settle(request: lifecycle.Request, rules: ResourceRules, event: ProviderEvent) -> lifecycle.Result:
    return lifecycle.settle(request, rules, event.get("RequestType", ""), event.get("PhysicalResourceId", ""))


COMPLETION_HANDLERS: dict[str, Callable[[lifecycle.Request, ResourceRules, ProviderEvent], lifecycle.Result]] = {
    request_type: _settle for request_type in HANDLERS
}


def _log(event: Mapping[str, Any], outcome: str, **extra: Any) -> None:
    line = {
        "requestType": event.get("RequestType"),
        "resourceType": event.get("ResourceType"),
        "logicalId": event.get("LogicalResourceId"),
        "physicalId": event.get("PhysicalResourceId"),
        "outcome": outcome,
        **extra,
    }
    LOG.info(json.dumps(line, sort_keys=True))


def on_event(event: ProviderEvent, context: Any = None) -> dict[str, Any]:
    """The Provider framework's onEvent: resource type -> request type -> one function."""
    rules, result = _dispatch(HANDLERS, event, context)
    response: dict[str, Any] = {"PhysicalResourceId": result.physical_id, "Data": result.data}
    if rules.secret_attributes:
        # CloudFormation masks the attributes in its console and API; the framework redacts its
        # "onEvent returned" line (its other lines are kept out of CloudWatch by its FATAL log
        # level, see _provider.py). Fn::GetAtt still hands the value to the resources that ask.
        response["NoEcho"] = True
    return response


def is_complete(event: ProviderEvent, context: Any = None) -> dict[str, Any]:
    """The Provider framework's isComplete: has the asynchronous resource settled?"""
    _rules, result = _dispatch(COMPLETION_HANDLERS, event, context)
    # The framework rejects Data on an incomplete answer, and merges it on a complete one.
    return {"IsComplete": True, "Data": result.data} if result.complete else {"IsComplete": False}


def _dispatch(handlers: Mapping[str, Callable[..., lifecycle.Result]], event: ProviderEvent,
              context: Any) -> tuple[ResourceRules, lifecycle.Result]:
    rules = RESOURCES.get(event.get("ResourceType", ""))
    handler = handlers.get(event.get("RequestType", ""))
    if rules is None or handler is None:
        reason = f"Unsupported request {event.get('RequestType')!r} for resource type {event.get('ResourceType')!r}"
        _log(event, "FAILED", reason=reason)
        raise lifecycle.ProvisioningError(reason)
    _log(event, "STARTED")
    try:
        result = handler(_request(event, rules, context), rules, event)
    except lifecycle.ProvisioningError as error:
        _log(event, "FAILED", reason=str(error))
        # `from None`: CloudFormation shows the message; the chained traceback adds nothing.
        raise lifecycle.ProvisioningError(str(error)) from None
    except Exception as error:  # a bug or malformed event: still one line, still logged
        reason = f"Unexpected {type(error).__name__} handling {_subject(event, rules)}: {error}".replace("\n", " ")
        LOG.exception(json.dumps({"outcome": "FAILED", "reason": reason, "logicalId": event.get("LogicalResourceId")}))
        raise lifecycle.ProvisioningError(reason) from None
    _log(event, "SUCCESS" if result.complete else "IN_PROGRESS", newPhysicalId=result.physical_id)
    return rules, result
