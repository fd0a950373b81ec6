"""Sync: bring a drifted resource back to its desired state, applying only the difference that
``drift.compare`` found. In place where the API allows (``Update<Type>``, ``TagResource`` /
``UntagResource``); otherwise a new resource, which only CloudFormation can make its stack follow
(the reconcile Update, ``reconcile``; the drift detector prints the command that sends it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ivsrt_runtime import desired as desired_state
from ivsrt_runtime import drift, lifecycle, observe
from ivsrt_runtime.calls import Request, call

# RECONCILE_PROPERTY: the template property the constructs set from the context value
# RECONCILE_CONTEXT; when only it changes, the Update is a reconcile (``reconcile``).
from ivsrt_runtime.rules import RECONCILE_CONTEXT, RECONCILE_PROPERTY, TAGS_PROPERTY, ResourceRules


def restore_command(stack_name: str, token: str) -> str:
    """The one command that restores what cannot be corrected in place: a deploy whose every
    managed resource gets a new ``reconcile`` value, so CloudFormation sends each an Update."""
    return f"cdk deploy {stack_name} --context {RECONCILE_CONTEXT}={token}"


def in_place(differences: list[drift.Difference]) -> bool:
    """Whether every difference can be corrected without replacing the resource."""
    return all(difference.in_place for difference in differences)


def revert(
    request: Request,
    rules: ResourceRules,
    arn: str,
    wanted: Mapping[str, Any],
    wanted_tags: Mapping[str, str],
    differences: list[drift.Difference],
    observed_tags: Mapping[str, str],
) -> dict[str, Any] | None:
    """Correct in-place ``differences``: one ``Update<Type>`` with the differing properties' desired
    values (a removed one in its empty form), then the tag calls. The resource as the Update
    answered it (its attributes after the change); None when only tags differed."""
    members = sorted({d.member for d in differences if d.member != TAGS_PROPERTY})
    updated = None
    if members:
        if any(desired_state.is_secret(wanted.get(member)) for member in members):
            raise ValueError(f"{arn}: a secret is recorded by its digest only and cannot be sent back")
        updated = call(
            request,
            rules.update_operation,
            arn=arn,
            **{member: lifecycle._cleared(wanted.get(member), rules, member) for member in members},
        )[rules.response_key]
    if any(d.member == TAGS_PROPERTY for d in differences):
        lifecycle.retag(request, arn, observed_tags, wanted_tags)
    return updated


def is_reconcile(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """An Update in which only the ``reconcile`` value changed (``ServiceToken`` never counts)."""

    def rest(properties: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in properties.items() if k not in (RECONCILE_PROPERTY, "ServiceToken")}

    return old.get(RECONCILE_PROPERTY) != new.get(RECONCILE_PROPERTY) and rest(old) == rest(new)


def reconcile(
    request: lifecycle.ResourceRequest, rules: ResourceRules, physical_id: str, params: dict[str, Any]
) -> lifecycle.Result:
    """The reconcile Update (only ``reconcile`` changed): observe (one Get), then nothing when in
    sync; in-place drift corrected; a resource deleted, ended, or changed in a property that
    replaces it made anew (a new ARN, which CloudFormation follows; it then deletes the old one)."""
    resource = observe.read(request, rules, physical_id)
    observed = None if resource is None else observe.normalised(rules, resource)
    wanted = desired_state.of(rules, physical_id, request.stack_id, request.logical_id, params)
    differences = [] if observed is None else drift.compare(rules, wanted, observed)
    if observed is None or not in_place(differences):
        return lifecycle._create(request, rules, params)
    updated = revert(request, rules, physical_id, wanted.properties, wanted.tags, differences, observed[TAGS_PROPERTY])
    return lifecycle.Result(physical_id, lifecycle.attributes(rules, updated or resource))
