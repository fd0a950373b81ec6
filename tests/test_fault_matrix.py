"""Every resource type x request type x fault, run through the real handler at the local endpoint.

The oracle is differential: each scenario is run once without the fault, and the endpoint's
state (with ARNs and the identity tag's request part left out) must then be the same with the
fault. A permanent error must leave the state as it was before the request (after
CloudFormation's rollback, which the scenario plays out). A summary table is printed at the end
of the test session (see conftest.py).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import IDENTITY_TAG, Fault, resources

from ivsrt_local.endpoint import CompositionTimings
from ivsrt_local.scenarios import DEPENDENCIES, TYPES, lifecycle, make_dependencies
from ivsrt_runtime.provider import ANSWER_MARGIN_SECONDS
from ivsrt_runtime.rules import RESOURCES

MATRIX_RESULTS: list[dict[str, Any]] = []
NOUN = {rt: RESOURCES[rt].noun for rt in TYPES}


TAGS_V1, TAGS_V2 = {"team": "a", "env": "dev"}, {"team": "b", "cost": "1"}


@dataclass(frozen=True)
class Scenario:
    """``setup`` builds the state before the request; ``request`` is the one under fault;
    ``cleanup`` is what CloudFormation does after it succeeded; ``rollback`` after it failed.
    ``failure_restores``: after a failure (and its rollback) the state is the one before the
    request; otherwise (a failed rollback, continued) it is the one a fault-free run ends in."""

    fault_operation: str
    setup: Callable[[Any], dict[str, str]]
    request: Callable[[Any, dict[str, str]], dict[str, str]]
    cleanup: Callable[[Any, dict[str, str]], None] = lambda cfn, ids: None
    rollback: Callable[[Any, dict[str, str]], None] = lambda cfn, ids: None
    failure_restores: bool = True
    compositions: tuple[tuple[str, float], ...] = ()  # CompositionTimings fields for the scenario


def scenarios(rt: str, deps: dict[str, str] | None = None) -> dict[str, Scenario]:
    rules = RESOURCES[rt]
    replaces = bool(rules.replacing_properties)
    deps = deps if deps is not None else defaultdict(str)  # collection only needs the scenario names
    bodies = lifecycle(rt, deps)
    # v2 is the biggest change (a replacement, or a stage's rename); in place, besides the tags,
    # what the API changes in place.
    body_v1, body_v2 = {**bodies.first, "tags": TAGS_V1}, {**bodies.changed, "tags": TAGS_V2}
    body_in_place = {**(bodies.in_place or bodies.first), "tags": TAGS_V2}

    def v1(_rt):
        return body_v1

    def v2(_rt):
        return body_v2

    def in_place(_rt):
        return body_in_place

    def create_v1(cfn):
        return {"v1": cfn.create(rt, v1(rt))["PhysicalResourceId"]}

    def update_to_v2(cfn, ids):
        ids["v2"] = cfn.update(rt, ids["v1"], v1(rt), v2(rt))["PhysicalResourceId"]
        return ids

    def delete_replaced(cfn, ids):
        if ids.get("v2") and ids["v2"] != ids["v1"]:
            cfn.delete(rt, ids["v1"], v1(rt))

    def roll_back_update(cfn, ids):  # the update failed: CloudFormation sends the swapped one
        cfn.update(rt, ids["v1"], v2(rt), v1(rt))

    def set_up_replaced(cfn):
        ids = update_to_v2(cfn, create_v1(cfn))
        return ids

    def roll_back(cfn, ids):
        ids["back"] = cfn.update(rt, ids["v2"], v2(rt), v1(rt))["PhysicalResourceId"]
        return ids

    def delete_after_rollback(cfn, ids):
        if ids["back"] != ids["v2"]:
            cfn.delete(rt, ids["v2"], v2(rt))

    table = {
        "Create": Scenario(rules.create_operation, lambda cfn: {}, lambda cfn, ids: create_v1(cfn)),
        "Update in place": Scenario(
            rules.update_operation or "TagResource",
            create_v1,
            lambda cfn, ids: {**ids, "v2": cfn.update(rt, ids["v1"], v1(rt), in_place(rt))["PhysicalResourceId"]},
            rollback=lambda cfn, ids: cfn.update(rt, ids["v1"], in_place(rt), v1(rt)),
        ),
        "Rollback update": Scenario(
            rules.list_operation if replaces else rules.update_operation,
            set_up_replaced,
            roll_back,
            cleanup=delete_after_rollback,
            # A failed rollback leaves the stack UPDATE_ROLLBACK_FAILED; CloudFormation's "continue
            # rollback" sends the same request again.
            rollback=lambda cfn, ids: delete_after_rollback(cfn, roll_back(cfn, ids)),
            failure_restores=False,
        ),
        "Delete": Scenario(rules.delete_operation, create_v1, lambda cfn, ids: cfn.delete(rt, ids["v1"], v1(rt)) and ids),
    }
    if replaces:
        table["Update with replacement"] = Scenario(
            rules.create_operation, create_v1, update_to_v2, cleanup=delete_replaced, rollback=roll_back_update
        )
    if rules.settling is not None:
        table.update(in_flight_scenarios(rt, v1, deps))
    return table


# A composition stays STARTING until it is stopped: in flight whenever the request comes.
STILL_STARTING = (("start_seconds", 10_000.0),)
CANCELLED = "Test-{}-1A2B3C4D5E6F"  # the kind of physical id CloudFormation makes up for a cancelled Create


def in_flight_scenarios(rt: str, v1: Callable[[str], dict[str, Any]], deps: dict[str, str]) -> dict[str, Scenario]:
    """An asynchronous type's requests while resources of it are still starting: another resource
    failed, and CloudFormation rolls back. A failed Delete is sent again (CloudFormation's
    "continue rollback"), so every row ends in the fault-free run's state."""
    programs = ("Program0", "Program1")

    def start(cfn, logical_ids=("Resource",)):
        return {name: cfn.create(rt, v1(rt), logical_id=name, wait=False)["PhysicalResourceId"] for name in logical_ids}

    def delete_by_arn(cfn, ids):  # CloudFormation knew the physical id (onEvent had answered)
        cfn.delete(rt, ids["Resource"], v1(rt))

    def delete_cancelled(cfn, ids, logical_ids=("Resource",)):  # it never learnt it
        for name in logical_ids:
            cfn.send("Delete", rt, v1(rt), physical_id=CANCELLED.format(name), logical_id=name)

    def roll_back_all(cfn, ids):
        """The cancelled Creates' Deletes, then the Delete of the encoder configuration they use:
        after them, as CloudFormation orders a rollback, and so free at once. It is given 1.5 s,
        too little to wait out a conflict (the first wait is 2 s): still in use fails the row."""
        delete_cancelled(cfn, ids, programs)
        encoder_type, encoder_properties = DEPENDENCIES["encoder"]
        patience, cfn.timeout_seconds = cfn.timeout_seconds, ANSWER_MARGIN_SECONDS + 1.5
        try:
            cfn.delete(encoder_type, deps["encoder"], encoder_properties)
        finally:
            cfn.timeout_seconds = patience

    return {
        "Delete while starting": Scenario(
            "GetComposition",
            start,
            lambda cfn, ids: delete_by_arn(cfn, ids) or ids,
            rollback=delete_by_arn,
            failure_restores=False,
            compositions=STILL_STARTING,
        ),
        "Delete of a cancelled create": Scenario(
            "ListCompositions",
            start,
            lambda cfn, ids: delete_cancelled(cfn, ids) or ids,
            rollback=delete_cancelled,
            failure_restores=False,
            compositions=STILL_STARTING,
        ),
        "Rollback, compositions starting": Scenario(
            "StopComposition",
            lambda cfn: start(cfn, programs),
            lambda cfn, ids: roll_back_all(cfn, ids) or ids,
            rollback=roll_back_all,
            failure_restores=False,
            compositions=STILL_STARTING,
        ),
    }


FAULTS = {
    "throttle": lambda op: Fault("throttle", op),
    "5xx": lambda op: Fault("server_error", op),
    "latency": lambda op: Fault("latency", op, seconds=0.2),
    "drop after success": lambda op: Fault("drop_after_success", op),
    "permanent error": lambda op: Fault("error", op, code="AccessDeniedException"),
}

CASES = [
    pytest.param(rt, request, fault, id=f"{NOUN[rt]}-{request}-{fault}".replace(" ", "_"))
    for rt in TYPES
    for request in scenarios(rt)
    for fault in FAULTS
]


# What two correct runs make differently: ARNs, and the secrets and ids the service issues.
ISSUED = ("arn", "tags", "endpoints", "streamKey", "participantId", "redundantIngestCredentials")
ARN = re.compile(r"arn:aws:ivs:[a-z0-9-]+:[0-9]+:([a-z-]+)/[a-zA-Z0-9-]+")


def normalized(ivs) -> list[tuple]:
    """The endpoint's live state without what differs between two correct runs (a composition
    that has stopped is the service's to remove, and is not counted)."""
    rows = []
    for r in resources(ivs):
        if r.get("state") == "STOPPED":
            continue
        tags = dict(r["tags"])
        identity = tags.pop(IDENTITY_TAG, "")
        body = ARN.sub(r"<\1>", repr(sorted((k, v) for k, v in r.items() if k not in ISSUED)))
        # The identity's owner part only: its properties part digests ARNs that differ between runs
        # (the body above compares the properties themselves), its request part always differs.
        rows.append((r["_noun"], body, repr(sorted(tags.items())), identity.split(".", 1)[0]))
    return sorted(rows)


def run(cfn, ivs, rt: str, request_type: str, fault_name: str | None) -> tuple[list[tuple], str | None]:
    ivs.clear_faults()
    with ivs.state.lock:
        ivs.state.resources.clear()
    scenario = scenarios(rt, make_dependencies(rt, lambda kind, props: cfn.create(kind, props)["PhysicalResourceId"]))[
        request_type
    ]
    ivs.state.compositions = CompositionTimings(**dict(scenario.compositions))
    fault = FAULTS[fault_name](scenario.fault_operation) if fault_name else None
    ids = scenario.setup(cfn)
    before = normalized(ivs)
    if fault is not None:
        ivs.inject(fault)
    error = None
    try:
        ids = scenario.request(cfn, dict(ids)) or ids
    except Exception as caught:  # noqa: BLE001 - the error is the observation
        error = str(caught)
    ivs.clear_faults()
    if error is None:
        scenario.cleanup(cfn, ids)
    else:
        scenario.rollback(cfn, ids)
    return (before, normalized(ivs)), error


@pytest.mark.parametrize("resource_type, request_type, fault_name", CASES)
def test_fault_matrix(cfn, ivs, resource_type, request_type, fault_name):
    scenario = scenarios(resource_type)[request_type]
    (_, expected), clean_error = run(cfn, ivs, resource_type, request_type, None)
    assert clean_error is None, clean_error
    (before, after), error = run(cfn, ivs, resource_type, request_type, fault_name)
    permanent = fault_name == "permanent error"
    wanted = before if permanent and scenario.failure_restores else expected
    # Compared as multisets of resources: more resources than wanted is a leak or a duplicate;
    # the right count with different contents is a wrong final state.
    extra = Counter(after) - Counter(wanted)
    missing = Counter(wanted) - Counter(after)
    leaked = len(after) > len(wanted)
    MATRIX_RESULTS.append(
        {
            "type": NOUN[resource_type],
            "request": request_type,
            "fault": fault_name,
            "leaked": leaked,
            "wrong": bool(extra or missing) and not leaked,
        }
    )
    if permanent:
        assert error is not None and "\n" not in error and "AccessDeniedException" in error
    else:
        assert error is None, error
    assert not extra and not missing, f"extra: {list(extra)}, missing: {list(missing)}"


def summary_lines() -> list[str]:
    if not MATRIX_RESULTS:
        return []
    leaked = sum(r["leaked"] for r in MATRIX_RESULTS)
    wrong = sum(r["wrong"] for r in MATRIX_RESULTS)
    lines = [
        "fault matrix (resource type x request type x fault, real handler, local endpoint)",
        f"  scenarios run: {len(MATRIX_RESULTS)}   with a leaked or duplicated resource: {leaked}   "
        f"with a wrong final state: {wrong}",
    ]
    faults = list(FAULTS)
    lines.append("  " + f"{'':<50}" + "".join(f"{f:<20}" for f in faults))
    for noun, request in dict.fromkeys((r["type"], r["request"]) for r in MATRIX_RESULTS):
        cells = []
        for fault in faults:
            found = [r for r in MATRIX_RESULTS if (r["type"], r["request"], r["fault"]) == (noun, request, fault)]
            cells.append("-" if not found else "LEAK" if found[0]["leaked"] else "WRONG" if found[0]["wrong"] else "ok")
        lines.append("  " + f"{noun + ' / ' + request:<50}" + "".join(f"{c:<20}" for c in cells))
    return lines
