"""Settling: ``is_complete`` for asynchronous resources (a composition starts, then becomes
ACTIVE; a stop ends in STOPPED). One look per call; the Provider framework calls again."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ivsrt_runtime.calls import NOT_FOUND, RequestFailed, error_code
from ivsrt_runtime.lifecycle import (
    ResourceRequest,
    Result,
    _cancelled_create_stopped,
    _get,
    _stop,
    attributes,
)
from ivsrt_runtime.rules import ResourceRules


def settle(
    request: ResourceRequest,
    rules: ResourceRules,
    request_type: str,
    physical_id: str,
    properties: Mapping[str, Any] | None = None,
) -> Result:
    """One look at an asynchronous resource: complete, still settling, or failed (raises).

    Create and Update wait for ``ready`` and fail on ``failed`` (after stopping what failed, so
    nothing is left behind); Delete waits for an ended state or for the resource to be gone, and
    the Delete of a cancelled Create (a made-up physical id) for what it stopped, found again by
    the ``properties``' identity.
    """
    settling = rules.settling
    if settling is None:
        return Result(physical_id)
    if not rules.owns(physical_id):
        if request_type != "Delete":  # only a Delete carries a physical id CloudFormation made up
            return Result(physical_id)
        return _cancelled_create_stopped(request, rules, physical_id, properties or {})
    try:
        resource = _get(request, rules, physical_id)
    except RequestFailed as error:
        if error_code(error) != NOT_FOUND:
            raise
        if request_type == "Delete":
            return Result(physical_id)
        raise RequestFailed(f"{rules.noun} {physical_id} has ended{_ENDED_HINT}") from None
    state = resource.get("state")
    if request_type == "Delete":
        if state not in settling.over:  # a Stop that met a conflict while it was starting: again
            _stop(request, rules, physical_id)
        return Result(physical_id, complete=state in settling.ended)
    if state == settling.ready:
        return Result(physical_id, attributes(rules, resource))
    if state in settling.over:
        detail = _failure_detail(resource) if state == settling.failed else _ENDED_HINT
        try:
            _stop(request, rules, physical_id)  # nothing left running
        except RequestFailed as error:
            detail += f"; stopping it failed too: {error}"
        raise RequestFailed(f"{rules.noun} {physical_id} is {state}{detail}")
    return Result(physical_id, complete=False)


# The documented reason a composition ends on its own (StartComposition in the API reference).
_ENDED_HINT = (
    " (IVS ends a composition on its own: a minute after its start if its stage has no "
    "participant, a minute after the last one leaves, or when a destination fails)"
)


def _failure_detail(resource: Mapping[str, Any]) -> str:
    """What the API says about a failed composition: which destinations failed. It gives no
    reason; the service publishes one in the "IVS Composition State Change" EventBridge event."""
    failed = [
        d.get("configuration", {}).get("name") or d.get("id", "?")
        for d in resource.get("destinations", [])
        if d.get("state") == "FAILED"
    ]
    where = f": destination {', '.join(failed)} FAILED" if failed else ""
    return f"{where} (the API reports no reason; see the 'IVS Composition State Change' event in EventBridge)"
