"""The custom-resource provider: ``on_event`` and ``is_complete`` dispatch, lifecycle.py does the work.

``lambda/handler.py`` is the Lambda's entry: two thin calls of these. Contract (relied on by the
constructs, the tests and the local deploy runner):
- ``on_event(event, context)`` receives the Provider framework's event and returns
  ``{"PhysicalResourceId": <ARN>, "Data": {...}}`` (plus ``"NoEcho": true`` for a type whose
  attributes include a secret); a failure raises with a one-line message.
- ``is_complete(event, context)`` is the framework's isComplete for asynchronous types (a
  composition): ``{"IsComplete": bool}``, with ``Data`` once complete; a failure raises.
- The IVS endpoint is the standard ``AWS_ENDPOINT_URL_IVS_REALTIME`` when set (see clients.py).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypedDict

from ivsrt_runtime import calls, desired, lifecycle
from ivsrt_runtime.clients import cloudformation_client, ivs_client, kms_client, ssm_client
from ivsrt_runtime.deployment import ANSWER_MARGIN_SECONDS
from ivsrt_runtime.rules import ADOPT_ARN_PROPERTY, RESOURCES, SIGNING_KEY_RING_TYPE, ResourceRules

# _LAZY: the modules of requests other than a plain Create or Delete (adopt, reconcile, settling,
# keys, key_ring, and drift and observe behind them) are imported where they are used. A cold
# start compiles every module it imports (the asset ships no bytecode: it would change the
# asset's hash, and Lambda's Python is not ours to compile for), about 1 ms per 100 lines, and a
# stack's first Create is the cold start that counts (python -m benchmarks --only cold_start).
LOG = logging.getLogger("constructs_ivsrt.handler")
LOG.setLevel(logging.INFO)


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


def _subject(event: ProviderEvent) -> str:
    physical = event.get("PhysicalResourceId")
    name = f"{event.get('ResourceType', '?')} {event.get('LogicalResourceId', '?')}"
    return f"{name} ({physical})" if physical else name


def _request(event: ProviderEvent, context: Any) -> lifecycle.ResourceRequest:
    remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else float("inf")
    return lifecycle.ResourceRequest(
        get_client=ivs_client,
        subject=_subject(event),
        stack_id=event.get("StackId", ""),
        logical_id=event.get("LogicalResourceId", ""),
        request_id=event.get("RequestId", ""),
        deadline=time.monotonic() + remaining - ANSWER_MARGIN_SECONDS,
    )


def _on_create(request: lifecycle.ResourceRequest, rules: ResourceRules, event: CreateEvent) -> lifecycle.Result:
    properties = event.get("ResourceProperties", {})
    adopt_arn = properties.get(ADOPT_ARN_PROPERTY)
    if adopt_arn:  # take over the resource at that ARN (adopt.py): never deleted here
        from ivsrt_runtime import adopt  # imported when used (see _LAZY)

        result = adopt.adopt(
            request,
            rules,
            adopt_arn,
            lifecycle.api_parameters(rules, properties),
            holder=lambda arn: adopt.holder_of(_cloudformation(request), arn),
        )
        _record(request, rules, result, properties)
        return result
    result = lifecycle.create(request, rules, properties)
    try:
        _record(request, rules, result, properties)
    except calls.RequestFailed:
        # The framework sends no Delete after a failed Create: what it made goes first.
        lifecycle.delete(request, rules, result.physical_id, properties)
        raise
    return result


def _on_update(request: lifecycle.ResourceRequest, rules: ResourceRules, event: UpdateEvent) -> lifecycle.Result:
    properties, old = event.get("ResourceProperties", {}), event.get("OldResourceProperties", {})
    from ivsrt_runtime import adopt, reconcile  # imported when used (see _LAZY)

    refused = adopt.may_update(old, properties, event["PhysicalResourceId"], ADOPT_ARN_PROPERTY)
    if refused is not None:
        raise calls.RequestFailed(f"{request.subject}: {refused}")
    if reconcile.is_reconcile(old, properties):  # only the reconcile value changed: back to the desired state
        result = reconcile.reconcile(request, rules, event["PhysicalResourceId"], lifecycle.api_parameters(rules, properties))
    else:
        result = lifecycle.update(request, rules, event["PhysicalResourceId"], old, properties)
    _record(request, rules, result, properties)  # a failure fails the update: CloudFormation rolls it back
    return result


def _on_delete(request: lifecycle.ResourceRequest, rules: ResourceRules, event: DeleteEvent) -> lifecycle.Result:
    physical_id = event.get("PhysicalResourceId", "")
    if event.get("ResourceProperties", {}).get(ADOPT_ARN_PROPERTY) and not rules.owns(physical_id):
        # A cancelled adopting Create: what it may have tagged was not made by it, and is kept.
        return lifecycle.Result(physical_id)
    result = lifecycle.delete(request, rules, physical_id, event.get("ResourceProperties", {}))
    if desired.stack_name_of(request.stack_id):
        desired.forget(_ssm(request), request.stack_id, request.logical_id, physical_id)
    return result


def _cloudformation(request: lifecycle.ResourceRequest) -> calls.Request:
    return calls.Request(
        get_client=cloudformation_client, subject=f"the stack holding {request.subject}'s adopt_arn", deadline=request.deadline
    )


def _ssm(request: lifecycle.ResourceRequest) -> calls.Request:
    return calls.Request(get_client=ssm_client, subject=f"the desired state of {request.subject}", deadline=request.deadline)


def _record(
    request: lifecycle.ResourceRequest, rules: ResourceRules, result: lifecycle.Result, properties: Mapping[str, Any]
) -> None:
    """Write the resource's desired state for the drift detector (``desired.py``). A failure fails
    the request: a record left stale would make ``ivsrt drift --revert`` undo this deployment.
    An event naming no stack (only a hand-made one) has nowhere to record it."""
    if not desired.stack_name_of(request.stack_id):
        return
    params = lifecycle.api_parameters(rules, properties)
    desired.record(_ssm(request), desired.of(rules, result.physical_id, request.stack_id, request.logical_id, params))


HANDLERS: dict[str, Callable[[lifecycle.ResourceRequest, ResourceRules, Any], lifecycle.Result]] = {
    "Create": _on_create,
    "Update": _on_update,
    "Delete": _on_delete,
}


def _settle(request: lifecycle.ResourceRequest, rules: ResourceRules, event: ProviderEvent) -> lifecycle.Result:
    from ivsrt_runtime import settling  # imported when used (see _LAZY)

    return settling.settle(
        request, rules, event.get("RequestType", ""), event.get("PhysicalResourceId", ""), event.get("ResourceProperties", {})
    )


COMPLETION_HANDLERS: dict[str, Callable[[lifecycle.ResourceRequest, ResourceRules, ProviderEvent], lifecycle.Result]] = {
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
    """The Provider framework's onEvent: resource type -> request type -> one function. A
    signing key's ring (key_ring.py) is the one custom resource that is not an IVS resource."""
    if event.get("ResourceType") == SIGNING_KEY_RING_TYPE:
        return _key_ring_event(event, context)
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


def _with_key_material(rules: ResourceRules, event: ProviderEvent) -> Any:
    """The event with a KMS key's public half in place of the key's ARN, for a type whose key
    material may come from KMS. A Delete by ARN needs no properties, so it reads no key (which
    may already be scheduled for deletion)."""
    if rules.key_material_property is None:
        return event
    if event.get("RequestType") == "Delete" and event.get("PhysicalResourceId", "").startswith("arn:"):
        return event
    converted = dict(event)
    for name in ("ResourceProperties", "OldResourceProperties"):
        if name in event:
            from ivsrt_runtime import keys  # imported when used (see _LAZY)

            converted[name] = keys.with_key_material(rules, event[name], kms_client)  # type: ignore[literal-required]
    return converted


def _key_ring_event(event: ProviderEvent, context: Any) -> dict[str, Any]:
    from ivsrt_runtime import key_ring  # imported when used (see _LAZY)

    result = _guarded(event, _subject(event), lambda: key_ring.on_event(event, _request(event, context)))
    return {"PhysicalResourceId": result.physical_id, "Data": result.data}


def _dispatch(
    handlers: Mapping[str, Callable[..., lifecycle.Result]], event: ProviderEvent, context: Any
) -> tuple[ResourceRules, lifecycle.Result]:
    rules = RESOURCES.get(event.get("ResourceType", ""))
    handler = handlers.get(event.get("RequestType", ""))
    if rules is None or handler is None:
        reason = f"Unsupported request {event.get('RequestType')!r} for resource type {event.get('ResourceType')!r}"
        _log(event, "FAILED", reason=reason)
        raise calls.RequestFailed(reason)
    return rules, _guarded(
        event, _subject(event), lambda: handler(_request(event, context), rules, _with_key_material(rules, event))
    )


def _guarded(event: ProviderEvent, subject: str, work: Callable[[], lifecycle.Result]) -> lifecycle.Result:
    """``work``, logged; whatever fails reaches CloudFormation as one line."""
    _log(event, "STARTED")
    try:
        result = work()
    except calls.RequestFailed as error:
        _log(event, "FAILED", reason=str(error))
        # `from None`: CloudFormation shows the message; the chained traceback adds nothing.
        raise calls.RequestFailed(str(error)) from None
    except Exception as error:  # a bug or malformed event: still one line, still logged
        reason = f"Unexpected {type(error).__name__} handling {subject}: {error}".replace("\n", " ")
        LOG.exception(json.dumps({"outcome": "FAILED", "reason": reason, "logicalId": event.get("LogicalResourceId")}))
        raise calls.RequestFailed(reason) from None
    _log(event, "SUCCESS" if result.complete else "IN_PROGRESS", newPhysicalId=result.physical_id)
    return result
