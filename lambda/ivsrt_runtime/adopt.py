"""Adoption: a Create whose properties name ``adoptArn`` takes over the resource at that ARN
instead of making one, so that its clients keep the ARN.

Observe it (one Get), refuse if another stack resource holds it (its identity tag names another
owner and CloudFormation still lists it in a stack) or if a property that cannot change in place
differs, else sync what differs in place (``reconcile.revert``) and tag it with this stack
resource's identity. The provider then records its desired state as for any Create.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ivsrt_runtime import desired, drift, lifecycle, observe, reconcile
from ivsrt_runtime.calls import NOT_FOUND, RequestFailed, call
from ivsrt_runtime.rules import IDENTITY_TAG, TAGS_PROPERTY, Identity, ResourceRules, owner_digest


@dataclass(frozen=True)
class Holder:
    """The stack resource CloudFormation lists with a physical id: its stack and logical id."""

    stack_id: str
    stack_name: str
    logical_id: str

    def __str__(self) -> str:
        return f"{self.logical_id} of stack {self.stack_name}"


# Which stack resource holds an ARN (None: none does), or raises RequestFailed when it cannot be told.
HolderLookup = Callable[[str], "Holder | None"]


def holder_of(cloudformation: Any, arn: str) -> Holder | None:
    """The stack resource whose physical id is ``arn``, by CloudFormation's
    ``DescribeStackResources(PhysicalResourceId=...)``; None when no stack holds it (a resource
    removed from its stack under RemovalPolicy.RETAIN, or whose stack was deleted)."""
    try:
        found = call(cloudformation, "DescribeStackResources", PhysicalResourceId=arn)["StackResources"]
    except RequestFailed as error:
        if error.code == "ValidationError":  # "Stack for <id> does not exist"
            return None
        raise
    return next(
        (
            Holder(r["StackId"], r["StackName"], r["LogicalResourceId"])
            for r in found
            if r.get("PhysicalResourceId") == arn and r.get("ResourceStatus") != "DELETE_COMPLETE"
        ),
        None,
    )


def adopt(
    request: lifecycle.ResourceRequest, rules: ResourceRules, arn: str, params: dict[str, Any], holder: HolderLookup
) -> lifecycle.Result:
    """Take over the resource at ``arn`` for this stack resource, converged to ``params``."""
    resource = observe.read(request, rules, arn)
    if resource is None:
        raise RequestFailed(f"Cannot adopt {arn} for {request.subject}: no such {rules.noun} (adopt_arn)", NOT_FOUND)
    identity = request.identity(rules, params)
    found = Identity.parse((resource.get(TAGS_PROPERTY) or {}).get(IDENTITY_TAG))
    if found is not None and found.owner != identity.owner:
        _refuse_if_held(request, arn, found, holder)
    observed = observe.normalised(rules, resource)
    wanted = desired.of(rules, arn, request.stack_id, request.logical_id, params)
    differences = drift.compare(rules, wanted, observed)
    replacing = [d for d in differences if not d.in_place]
    if replacing:
        shown = "; ".join(f"{d.path}: wanted {_shown(d.expected)}, it has {_shown(d.actual)}" for d in replacing)
        raise RequestFailed(
            f"Cannot adopt {arn} for {request.subject}: it differs in what cannot change in place "
            f"({shown}); make the props its values, or drop adopt_arn to create a new one"
        )
    updated = reconcile.revert(request, rules, arn, wanted.properties, wanted.tags, differences, observed[TAGS_PROPERTY])
    call(request, "TagResource", resourceArn=arn, tags={IDENTITY_TAG: identity.tag_value})
    return lifecycle.Result(arn, lifecycle.attributes(rules, updated or resource))


def _refuse_if_held(request: lifecycle.ResourceRequest, arn: str, found: Identity, holder: HolderLookup) -> None:
    """Another stack resource's identity tag is on it: refuse while CloudFormation lists it in a
    stack; one that no stack holds (kept by RemovalPolicy.RETAIN when it left its stack) is free."""
    try:
        held = holder(arn)
    except RequestFailed as error:
        raise RequestFailed(
            f"Cannot adopt {arn} for {request.subject}: it carries another stack resource's identity "
            f"tag (owner {found.owner}), and whether that one still holds it could not be told: "
            f"{error}"
        ) from None
    if held is None:
        return
    if owner_digest(held.stack_id, held.logical_id) != owner_digest(request.stack_id, request.logical_id):
        raise RequestFailed(
            f"Cannot adopt {arn} for {request.subject}: it belongs to {held}; remove it from that "
            "stack first (RemovalPolicy.RETAIN, then delete the construct there)"
        )


def _shown(value: Any) -> str:
    return "nothing" if value is None else json.dumps(value, sort_keys=True)


def may_update(old: dict[str, Any], new: dict[str, Any], physical_id: str, adopt_property: str) -> str | None:
    """Why an Update may not go on: ``adopt_arn`` changed to another resource than the one the
    stack resource holds (None: it may). Unchanged, removed, or the held ARN itself is fine."""
    wanted = new.get(adopt_property)
    if not wanted or wanted == old.get(adopt_property) or wanted == physical_id:
        return None
    return (
        f"adopt_arn cannot change on a resource the stack already has ({physical_id}), got: {wanted!r}; "
        "to adopt another resource, give it a new construct id (a new stack resource)"
    )
