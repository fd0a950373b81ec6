"""Observe: one resource as the service has it now, normalised to the shape of its desired state
(``desired.DesiredState``: the Create members the type's ``ResourceRules.properties`` names, and
the user tags). The first step of reconciling (observe, compare with ``drift.compare``, then
apply only the difference, ``reconcile.py``); drift detection and reconcile-on-deploy use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ivsrt_runtime.calls import NOT_FOUND, Request, RequestFailed, call, error_code
from ivsrt_runtime.rules import IDENTITY_TAG, TAGS_PROPERTY, ResourceRules


def _composition(resource: Mapping[str, Any]) -> dict[str, Any]:
    """A composition's Get gives each destination with its state; its configuration is what
    StartComposition took."""
    return {**resource, "destinations": [d.get("configuration", {}) for d in resource.get("destinations") or []]}


# Where a type's Get output differs from its Create input's shape, by noun.
NORMALISE: dict[str, Callable[[Mapping[str, Any]], Mapping[str, Any]]] = {"Composition": _composition}


def observable(rules: ResourceRules) -> tuple[str, ...]:
    """The properties the type's Get returns (``insecureIngest`` is not: it cannot drift unseen)."""
    return tuple(p for p in rules.properties if p in rules.resource_shape.members)


def normalised(rules: ResourceRules, resource: Mapping[str, Any]) -> dict[str, Any]:
    """A Get output as ``{property: value, ..., "tags": {user tags}}``."""
    resource = NORMALISE.get(rules.noun, dict)(resource)
    shaped = {key: resource[key] for key in observable(rules) if resource.get(key) is not None}
    tags = {k: v for k, v in (resource.get(TAGS_PROPERTY) or {}).items() if k != IDENTITY_TAG}
    return {**shaped, TAGS_PROPERTY: tags}


def observe(request: Request, rules: ResourceRules, arn: str) -> dict[str, Any] | None:
    """The resource at ``arn``, normalised; None when it is gone (or, for a composition, ended:
    the service will not start it again)."""
    resource = read(request, rules, arn)
    return None if resource is None else normalised(rules, resource)


def read(request: Request, rules: ResourceRules, arn: str) -> dict[str, Any] | None:
    """The Get output of the resource at ``arn`` (tags included); None when it is gone or ended."""
    try:
        resource = call(request, rules.get_operation, arn=arn)[rules.response_key]
    except RequestFailed as error:
        if error_code(error) == NOT_FOUND:
            return None
        raise
    if rules.settling is not None and resource.get("state") in rules.settling.over:
        return None
    if TAGS_PROPERTY not in rules.resource_shape.members:  # every type's Get has tags today
        resource = {**resource, TAGS_PROPERTY: call(request, "ListTagsForResource", resourceArn=arn)["tags"]}
    return resource
