"""DriftWatch's function: the drift detector (``drift_check``) over the function's own stack, on a
schedule, its findings published as CloudWatch metrics and EventBridge events.

Each run checks the stack named by ``STACK_NAME`` (CloudFormation's resources, the desired states
in Parameter Store, IVS), lists its types for orphans, optionally corrects (``DRIFT_REVERT``,
``DRIFT_DELETE_ORPHANS``), then publishes:

- metrics in ``NAMESPACE`` with the dimension ``StackName``: ``DriftedResources`` (MODIFIED or
  DELETED resources found, before any correction) and ``Orphans`` (found, before any deletion),
  one data point each per run;
- one EventBridge event per drifted resource and per orphan on the default bus, source
  ``EVENT_SOURCE``, detail-type ``EVENT_DETAIL_TYPE`` (``event_detail`` gives the detail).

Standard library and botocore only, like the detector. The stack source and every client are
injectable (``run``): the tests run it against the local endpoint with the local runner's stacks.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ivsrt_runtime import clients
from ivsrt_runtime.calls import Request, RequestFailed, call
from ivsrt_runtime.deployment import ANSWER_MARGIN_SECONDS
from ivsrt_runtime.drift_check import (
    DELETED,
    MODIFIED,
    UNKNOWN,
    CloudFormationStacks,
    Detector,
    Orphan,
    ResourceReport,
    StackReport,
    StackSource,
)

LOG = logging.getLogger("constructs_ivsrt.drift_watch")
LOG.setLevel(logging.INFO)

# The function's settings (environment variables DriftWatch writes).
STACK_NAME_ENV = "STACK_NAME"
REVERT_ENV = "DRIFT_REVERT"
DELETE_ORPHANS_ENV = "DRIFT_DELETE_ORPHANS"

# What it publishes (the constructs' metric_* and on_drift read the same names).
NAMESPACE = "constructs-ivsrt/Drift"
STACK_DIMENSION = "StackName"
DRIFTED_RESOURCES = "DriftedResources"
ORPHANS = "Orphans"
EVENT_SOURCE = "constructs-ivsrt.drift"
EVENT_DETAIL_TYPE = "IVS Real-Time Resource Drift"
ORPHAN = "ORPHAN"  # an event's status for an orphan (the resources' are drift_check's)

# The function's timeout: a stack's resources are observed one Get each under the rate quotas
# (5 a second per type), an orphan's delete may wait out a conflict (up to 2 minutes).
FUNCTION_TIMEOUT_SECONDS = 300
PUT_EVENTS_BATCH = 10  # PutEvents' most entries per call


@dataclass(frozen=True)
class Settings:
    stack_name: str
    revert: bool = False
    delete_orphans: bool = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        return cls(
            environ[STACK_NAME_ENV],
            environ.get(REVERT_ENV, "false") == "true",
            environ.get(DELETE_ORPHANS_ENV, "false") == "true",
        )


@dataclass(frozen=True)
class Clients:
    """Where each call goes: the environment's clients, or a test's."""

    ivs: Callable[[], Any] = clients.ivs_client
    ssm: Callable[[], Any] = clients.ssm_client
    cloudformation: Callable[[], Any] = clients.cloudformation_client
    cloudwatch: Callable[[], Any] = clients.cloudwatch_client
    events: Callable[[], Any] = clients.events_client


def check(event: Any, context: Any = None) -> dict[str, Any]:
    """The scheduled run (the Lambda entry ``drift_watch.check``): the stack's report, published."""
    remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else float(FUNCTION_TIMEOUT_SECONDS)
    return run(Settings.from_environment(), deadline=time.monotonic() + remaining - ANSWER_MARGIN_SECONDS)


def run(settings: Settings, *, deadline: float, source: StackSource | None = None, using: Clients = Clients()) -> dict[str, Any]:
    """Check ``settings.stack_name`` from ``source`` (default: CloudFormation), correct what the
    settings ask, publish the metrics and events; a summary of what was found and done."""

    def request(get_client: Callable[[], Any], subject: str) -> Request:
        return Request(get_client=get_client, subject=subject, deadline=deadline)

    ssm = request(using.ssm, "Parameter Store")
    if source is None:
        source = CloudFormationStacks(request(using.cloudformation, "CloudFormation"), ssm)
    token = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    detector = Detector(request(using.ivs, "IVS Real-Time"), ssm, lambda line: _log("PROGRESS", line=line), token)
    stacks = [stack for stack in source.stacks([settings.stack_name]) if not stack.gone]
    if len(stacks) != 1:
        raise RequestFailed(f"stack {settings.stack_name!r} not found (found {len(stacks)} live stacks of that name)")
    stack = stacks[0]
    report = detector.check(stack)
    detector.orphans([stack], {stack.name: report}, types={r.resource_type for r in stack.resources})
    drifted = [r for r in report.resources if r.status in (MODIFIED, DELETED)]
    orphans = list(report.orphans)
    if settings.revert:
        detector.revert(report)
    if settings.delete_orphans:
        detector.delete_orphans(report)
    entries = [event_entry(report, stack.stack_id, item) for item in [*drifted, *orphans]]
    put_metrics(request(using.cloudwatch, "CloudWatch"), stack.name, len(drifted), len(orphans))
    put_events(request(using.events, "EventBridge"), entries)
    unknown = [r.logical_id for r in report.resources if r.status == UNKNOWN]
    summary = {
        "stack": stack.name,
        "resources": len(report.resources),
        "drifted": len(drifted),
        "orphans": len(orphans),
        "unknown": unknown,
        "events": len(entries),
    }
    _log("CHECKED", **summary, outcomes={r.logical_id: r.outcome for r in report.resources if r.outcome})
    return summary


def event_detail(report: StackReport, stack_id: str, item: ResourceReport | Orphan) -> dict[str, Any]:
    """An event's detail: the stack, the resource (``logical_id`` None for an orphan), its status
    (MODIFIED, DELETED or ORPHAN), the differences, what a correction did, and the restore command."""
    resource = item if isinstance(item, ResourceReport) else None
    return {
        "stack": report.stack,
        "stack_id": stack_id,
        "logical_id": resource.logical_id if resource else None,
        "type": item.type,
        "arn": item.arn,
        "status": resource.status if resource else ORPHAN,
        "differences": [
            {"path": d.path, "expected": d.expected, "actual": d.actual, "in_place": d.in_place}
            for d in (resource.differences if resource else [])
        ],
        "outcome": item.outcome,
        "restore": report.restore if resource else "",
    }


def event_entry(report: StackReport, stack_id: str, item: ResourceReport | Orphan) -> dict[str, Any]:
    """One ``PutEvents`` entry (the default bus)."""
    return {
        "Source": EVENT_SOURCE,
        "DetailType": EVENT_DETAIL_TYPE,
        "Resources": [item.arn],
        "Detail": json.dumps(event_detail(report, stack_id, item), sort_keys=True),
    }


def put_metrics(cloudwatch: Request, stack_name: str, drifted: int, orphans: int) -> None:
    dimensions = [{"Name": STACK_DIMENSION, "Value": stack_name}]
    call(
        cloudwatch,
        "PutMetricData",
        Namespace=NAMESPACE,
        MetricData=[
            {"MetricName": name, "Dimensions": dimensions, "Value": float(value), "Unit": "Count"}
            for name, value in ((DRIFTED_RESOURCES, drifted), (ORPHANS, orphans))
        ],
    )


def put_events(events: Request, entries: list[dict[str, Any]]) -> None:
    """The entries, 10 a call; an entry EventBridge refuses fails the run (naming why)."""
    for start in range(0, len(entries), PUT_EVENTS_BATCH):
        answer = call(events, "PutEvents", Entries=entries[start : start + PUT_EVENTS_BATCH])
        if answer.get("FailedEntryCount"):
            failed = [e for e in answer.get("Entries", []) if e.get("ErrorCode")]
            reasons = "; ".join(sorted({f"{e['ErrorCode']}: {e.get('ErrorMessage', '')}" for e in failed}))
            raise RequestFailed(
                f"PutEvents failed for {answer['FailedEntryCount']} of "
                f"{len(entries[start : start + PUT_EVENTS_BATCH])} drift events: {reasons}"
            )


def _log(outcome: str, **fields: Any) -> None:
    LOG.info(json.dumps({"outcome": outcome, **fields}, default=str))
