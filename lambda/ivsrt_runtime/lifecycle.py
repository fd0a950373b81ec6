"""Create, update and delete of any IVS Real-Time resource, driven by its ``ResourceRules``.

The types differ only in data (operation names, which properties update in place, which
attributes are secret, whether the resource settles asynchronously), so one set of small
functions serves them all; the rules say what differs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ivsrt_runtime.calls import NOT_FOUND, Request, RequestFailed, WaitOut, call, error_code
from ivsrt_runtime.conversion import attribute_name, endpoint_attribute, from_cloudformation
from ivsrt_runtime.rules import (
    DELETE_OPTION_PROPS,
    IDENTITY_TAG,
    QUOTAS,
    TAGS_PROPERTY,
    Identity,
    ResourceRules,
)
from ivsrt_runtime.validation import check, check_tags

LOG = logging.getLogger("constructs_ivsrt.handler")
CONFLICT = "ConflictException"
QUOTA_EXCEEDED = "ServiceQuotaExceededException"
CONFLICT_WAIT_SECONDS = 120.0  # how long a Delete waits for a resource to stop being used


@dataclass(frozen=True)
class ResourceRequest(Request):
    """One CloudFormation request for a stack resource: the calls' ``Request``, and who asks."""

    stack_id: str = ""
    logical_id: str = ""
    request_id: str = ""

    def identity(self, rules: ResourceRules, params: Mapping[str, Any]) -> Identity:
        return Identity.of(rules, self.stack_id, self.logical_id, self.request_id, params)


@dataclass(frozen=True)
class Result:
    physical_id: str
    data: dict[str, str] = field(default_factory=dict)
    complete: bool = True  # False while an asynchronous resource is still settling (is_complete)


# ---------------------------------------------------------------------------------------------
# Pure functions: properties in, API parameters or an update plan out.
# ---------------------------------------------------------------------------------------------


def api_parameters(rules: ResourceRules, properties: Mapping[str, Any]) -> dict[str, Any]:
    """The Create parameters for ``properties`` (CloudFormation strings converted by the model).

    Unknown keys (``ServiceToken`` among them) are dropped; a property set that breaks the model
    fails here with every rule it breaks, before any call is made.
    """
    shape = rules.create_input
    wanted = (*rules.properties, TAGS_PROPERTY)
    params = {key: from_cloudformation(shape.members[key], properties[key]) for key in wanted if properties.get(key) is not None}
    problems = check(shape, params, rules.noun)
    tags = params.get(TAGS_PROPERTY, {})
    if isinstance(tags, Mapping):  # anything else is already reported by check()
        problems += check_tags(tags, f"{rules.noun}.tags")
    if problems:
        raise RequestFailed(f"Invalid {rules.resource_type} properties: " + "; ".join(problems))
    return params


@dataclass(frozen=True)
class UpdatePlan:
    """What an Update must do, decided from old and new properties (and, for an asynchronous
    resource, whether the service has ended it) alone."""

    replace: bool
    in_place: dict[str, Any]  # Update<noun> parameters (besides the ARN); empty = no call
    replacing: tuple[str, ...] = ()  # the changed properties that force the replacement, sorted


def analyze_update(
    rules: ResourceRules, old: Mapping[str, Any], new: Mapping[str, Any], ended: Callable[[], bool] = lambda: False
) -> UpdatePlan:
    """The one place an Update is decided: replace (a property that cannot change in place
    changed, or the resource has ``ended``: a composition the service stopped is started anew;
    asked only when nothing else replaces it, as it costs a Get), update in place, or neither
    (tags are ``retag``'s, which never replace)."""
    changed = {key for key in rules.properties if old.get(key) != new.get(key)}
    replacing = tuple(sorted(changed & rules.replacing_properties))
    replace = bool(replacing) or ended()
    in_place = {} if replace else {key: _cleared(new.get(key), rules, key) for key in sorted(changed)}
    return UpdatePlan(replace, in_place, replacing)


def _cleared(value: Any, rules: ResourceRules, key: str) -> Any:
    """The Update value for a property; a removed property is sent as the model's "empty" form.

    UpdateStage documents ``storageConfigurationArn: ""`` as "turn auto recording off", an empty
    name keeps the API default, and UpdateIngestConfiguration's ``stageArn`` pattern admits ""
    (detach). A removed structure is sent with its required members empty, a removed boolean as
    false (``redundantIngest``'s documented default; "" is not a boolean, botocore refuses it).
    """
    if value is not None:
        return value
    shape = rules.property_shape(key)
    return _EMPTY_BY_TYPE.get(shape.type_name, lambda shape: "")(shape)


_EMPTY_BY_TYPE: dict[str, Callable[[Any], Any]] = {
    "structure": lambda shape: {name: "" for name in shape.required_members},
    "boolean": lambda shape: False,
}


def attributes(rules: ResourceRules, resource: Mapping[str, Any]) -> dict[str, str]:
    """The flat ``Data`` CloudFormation reads with Fn::GetAtt: every key has a string value."""
    data = {"Arn": resource["arn"], "Name": resource.get("name") or ""}
    endpoints = resource.get("endpoints") or {}
    for endpoint in rules.endpoint_names:  # every one the model declares, present or not
        data[endpoint_attribute(endpoint)] = endpoints.get(endpoint) or ""
    for path in rules.extra_attributes:
        data[attribute_name(path)] = _scalar_at(resource, path)
    return data


def _scalar_at(value: Any, path: tuple[str, ...]) -> str:
    """The string at ``path``; a list on the way contributes its first item (redundant ingest
    has one extra credential), and anything absent is ""."""
    for name in path:
        if isinstance(value, list):
            value = value[0] if value else {}
        value = value.get(name) if isinstance(value, Mapping) else None
    return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _with_quota(error: RequestFailed, rules: ResourceRules) -> RequestFailed:
    quota = QUOTAS.get(rules.noun)
    if error_code(error) != QUOTA_EXCEEDED or quota is None:
        return error
    per_stage = f" and {quota.per_stage} per stage" if quota.per_stage else ""
    raise_it = "request an increase in Service Quotas" if quota.adjustable else "it cannot be raised"
    return RequestFailed(
        f"{error} (quota: {quota.label} per account and region, default {quota.default}{per_stage}; {raise_it})",
        error_code(error),
    )


# ---------------------------------------------------------------------------------------------
# Finding our own resources: by the identity tag, never by name.
# ---------------------------------------------------------------------------------------------


def find_own(
    request: ResourceRequest, rules: ResourceRules, matches: Callable[[Identity], bool], name: str | None = None
) -> dict[str, Any] | None:
    """The first live resource of this type whose identity tag ``matches``."""
    return next(own_resources(request, rules, matches, name), None)


def own_resources(
    request: ResourceRequest,
    rules: ResourceRules,
    matches: Callable[[Identity], bool],
    name: str | None = None,
    stopping: bool = False,
) -> Iterator[dict[str, Any]]:
    """The live resources of this type whose identity tag ``matches`` (List pages).

    Where List summaries carry no tags (ingest configurations), each candidate is read with a
    Get; ``name``, when the resource was given one, narrows the candidates first. Resources that
    have ended are never found; those that are ending (a stopping composition) only when
    ``stopping`` (what a Delete waits for), as they are never adopted.
    """
    skipped = () if rules.settling is None else rules.settling.ended if stopping else rules.settling.over
    for summary in summaries(request, rules.list_operation, rules.list_key):
        if summary.get("state") in skipped:
            continue
        if not rules.summaries_have_tags:
            if name is not None and summary.get("name") != name:
                continue
            summary = _get(request, rules, summary["arn"])
        identity = Identity.parse((summary.get("tags") or {}).get(IDENTITY_TAG))
        if identity is not None and matches(identity):
            yield summary


def summaries(request: ResourceRequest, list_operation: str, key: str) -> Iterator[dict[str, Any]]:
    """Every summary a List operation returns, page by page (100 at a time, the API's maximum)."""
    token = None
    while True:
        page = call(request, list_operation, maxResults=100, **({"nextToken": token} if token else {}))
        yield from page.get(key, [])
        token = page.get("nextToken")
        if not token:
            return


def _get(request: ResourceRequest, rules: ResourceRules, arn: str) -> dict[str, Any]:
    return call(request, rules.get_operation, arn=arn)[rules.response_key]


def _create_exactly_once(
    request: ResourceRequest, rules: ResourceRules, params: dict[str, Any], identity: Identity
) -> dict[str, Any]:
    """Create; after an ambiguous failure, adopt what the lost attempt made before trying again.

    The happy path is one call, and so is every retry of a clear refusal (throttled): only a
    failure the service may have acted on (a 5xx, a dropped connection, a timeout) makes ``call``
    look for the resources carrying this request's identity tag, and adopt one.

    Where the API takes an idempotency token (StartComposition), the service itself guarantees
    this. botocore would fill in a random token per call, which covers its own retries; ours is
    derived from the CloudFormation request, so a whole invocation delivered again starts
    nothing new either.
    """
    recover = None
    if rules.idempotency_member:
        params = {**params, rules.idempotency_member: identity.idempotency_token}
    else:

        def recover() -> dict[str, Any] | None:
            made = find_own(request, rules, lambda found: found == identity, params.get("name"))
            return None if made is None else {rules.response_key: _get(request, rules, made["arn"])}

    try:
        return call(request, rules.create_operation, recover=recover, **params)[rules.response_key]
    except RequestFailed as error:
        raise _with_quota(error, rules) from None


def create(request: ResourceRequest, rules: ResourceRules, properties: Mapping[str, Any]) -> Result:
    return _create(request, rules, api_parameters(rules, properties))


def _create(request: ResourceRequest, rules: ResourceRules, params: dict[str, Any]) -> Result:
    """One Create call, tags and identity included: there is no partial work to clean up."""
    identity = request.identity(rules, params)
    tags = {**params.get(TAGS_PROPERTY, {}), IDENTITY_TAG: identity.tag_value}
    resource = _create_exactly_once(request, rules, {**params, TAGS_PROPERTY: tags}, identity)
    return Result(resource["arn"], attributes(rules, resource), complete=rules.settling is None)


def retag(request: ResourceRequest, arn: str, current: Mapping[str, str], wanted: Mapping[str, str]) -> None:
    """Make the user tags ``wanted``; the identity tag is left alone."""
    current = {k: v for k, v in current.items() if k != IDENTITY_TAG}
    stale = sorted(set(current) - set(wanted))
    changed = {k: v for k, v in wanted.items() if current.get(k) != v}
    if stale:
        call(request, "UntagResource", resourceArn=arn, tagKeys=stale)
    if changed:
        call(request, "TagResource", resourceArn=arn, tags=changed)


def replace(
    request: ResourceRequest,
    rules: ResourceRules,
    params: dict[str, Any],
    current_id: str = "",
    previous: Mapping[str, Any] | None = None,
) -> Result:
    """A new resource for new replacing properties, or one of this stack resource's that has them.

    A rollback sends the old properties to the replacement; the original, with exactly those
    immutable properties and this stack resource as owner, still exists (CloudFormation deletes it
    only after a successful update), so it is adopted instead of making a third resource. The
    current resource itself may match too: the rollback of a replacement whose Create failed.
    """
    identity = request.identity(rules, params)
    original = find_own(request, rules, identity.same_resource, params.get("name"))
    if original is None:
        return _create(request, rules, params)
    retag(request, original["arn"], original.get("tags") or {}, params.get(TAGS_PROPERTY, {}))
    if rules.settling is not None and previous is not None:
        left = request.identity(rules, previous)
        _stop_orphans(request, rules, left, keep={original["arn"], current_id})
    return Result(original["arn"], attributes(rules, _get(request, rules, original["arn"])), complete=rules.settling is None)


def _stop_orphans(request: ResourceRequest, rules: ResourceRules, left: Identity, keep: set[str]) -> None:
    """Going back to an adopted composition, stop this stack resource's running compositions with
    the properties being left, other than the request's own (CloudFormation deletes that one,
    or keeps it under UpdateReplacePolicy: Retain). They are replacements whose start failed or
    timed out and that CloudFormation no longer tracks. Best effort: the adoption stands."""
    try:
        for summary in summaries(request, rules.list_operation, rules.list_key):
            found = Identity.parse((summary.get("tags") or {}).get(IDENTITY_TAG))
            if (
                found is not None
                and found.same_resource(left)
                and summary["arn"] not in keep
                and summary.get("state") not in rules.settling.over
            ):
                _stop(request, rules, summary["arn"])
    except RequestFailed as error:
        LOG.warning(json.dumps({"outcome": "ORPHAN_STOP_FAILED", "reason": str(error)}))


def update(
    request: ResourceRequest,
    rules: ResourceRules,
    physical_id: str,
    old_properties: Mapping[str, Any],
    new_properties: Mapping[str, Any],
) -> Result:
    new = api_parameters(rules, new_properties)
    # Old properties were accepted once; a rollback may hand them back, so never reject them.
    old = {
        key: from_cloudformation(rules.property_shape(key), value)
        for key, value in old_properties.items()
        if key in rules.create_input.members
    }
    plan = analyze_update(rules, old, new, ended=lambda: _has_ended(request, rules, physical_id))
    if plan.replace:
        # The new resource gets a new ARN; CloudFormation then deletes the old one.
        return replace(request, rules, new, current_id=physical_id, previous=old)
    try:
        resource = None
        if plan.in_place:
            resource = call(request, rules.update_operation, arn=physical_id, **plan.in_place)[rules.response_key]
        retag(request, physical_id, old.get(TAGS_PROPERTY, {}), new.get(TAGS_PROPERTY, {}))
        if resource is None:
            # Fn::GetAtt reads the latest response's Data, so a tag-only update must still return
            # it: from what is known (ARN, name) when that is all of it, else from a Get.
            resource = (
                {"arn": physical_id, "name": new.get("name")}
                if not (rules.endpoint_names or rules.extra_attributes)
                else _get(request, rules, physical_id)
            )
    except RequestFailed as error:
        if error_code(error) == NOT_FOUND:
            raise RequestFailed(f"{error} (it was deleted outside CloudFormation)") from error
        raise
    return Result(physical_id, attributes(rules, resource))


def _has_ended(request: ResourceRequest, rules: ResourceRules, physical_id: str) -> bool:
    """Whether an asynchronous resource has ended (or vanished) since it was made."""
    if rules.settling is None:
        return False
    try:
        return _get(request, rules, physical_id)["state"] in rules.settling.over
    except RequestFailed as error:
        if error_code(error) == NOT_FOUND:
            return True
        raise


def delete(
    request: ResourceRequest, rules: ResourceRules, physical_id: str, properties: Mapping[str, Any] | None = None
) -> Result:
    """Delete; gone already: success. In use: wait (bounded), then say by what.

    For an asynchronous resource (a composition), Stop starts the delete and ``settle`` waits
    for the end; one already stopping or ended answers Stop with a conflict, which is success.
    ``properties``' delete options go with the call (an ingest configuration's ``force``).
    A physical id that is not an ARN of the type is a Create CloudFormation cancelled (below).
    """
    if not rules.owns(physical_id):
        return _delete_cancelled_create(request, rules, physical_id, properties or {})
    options = rules.delete_parameters(properties or {})
    # In use (a conflict): wait for its users to go, then say who they are. A composition's Stop
    # that meets a conflict is already stopping: no wait.
    wait = (
        None
        if rules.settling is not None
        else WaitOut(CONFLICT, CONFLICT_WAIT_SECONDS, detail=lambda: _still_used(request, rules, physical_id, options))
    )
    try:
        call(request, rules.delete_operation, wait_out=wait, arn=physical_id, **options)
    except RequestFailed as error:
        code = error_code(error)
        if code == NOT_FOUND:
            return Result(physical_id)
        if code == CONFLICT and rules.settling is not None:
            return Result(physical_id, complete=False)
        raise
    return Result(physical_id, complete=rules.settling is None)


def _still_used(request: ResourceRequest, rules: ResourceRules, physical_id: str, options: Mapping[str, Any]) -> str:
    """What a Delete that gave up on a conflict adds: what uses the resource, and the delete
    options that would have forced it."""
    users = users_of(request, rules, physical_id)
    still = f"; still used by {', '.join(users)}" if users else ""
    for option in rules.delete_options:
        if not options.get(option) and option in DELETE_OPTION_PROPS:
            prop, effect = DELETE_OPTION_PROPS[option]
            still += f"; {prop}=True {effect}"
    return still


def _delete_cancelled_create(
    request: ResourceRequest, rules: ResourceRules, physical_id: str, properties: Mapping[str, Any]
) -> Result:
    """When another resource fails, CloudFormation cancels the Creates still in flight and rolls
    each back with a Delete whose physical id it made up, as it never learnt the real one. What
    such a Create made carries this stack resource's identity with these properties: delete it.
    (One that answered normally, or failed, leaves nothing to find: one List, then success.)
    A composition it stopped is still stopping, and still using its encoder configuration:
    complete only once ``settle`` finds it stopped (``_cancelled_create_stopped``)."""
    made = list(_made_by_cancelled_create(request, rules, properties))
    results = []
    for resource in made:
        LOG.info(json.dumps({"outcome": "DELETING_CANCELLED_CREATE", "physicalId": physical_id, "arn": resource["arn"]}))
        results.append(delete(request, rules, resource["arn"], properties))
    return Result(physical_id, complete=all(result.complete for result in results))


def _made_by_cancelled_create(
    request: ResourceRequest, rules: ResourceRules, properties: Mapping[str, Any], stopping: bool = False
) -> Iterator[dict[str, Any]]:
    """What a cancelled Create of ``properties`` made: this stack resource's resources with these
    immutable properties (by the identity tag; ``stopping``: those still stopping too). Nothing
    for properties no Create could have used."""
    try:
        wanted = request.identity(rules, api_parameters(rules, properties))
    except RequestFailed:
        return iter(())
    return own_resources(request, rules, wanted.same_resource, properties.get("name"), stopping)


def _cancelled_create_stopped(
    request: ResourceRequest, rules: ResourceRules, physical_id: str, properties: Mapping[str, Any]
) -> Result:
    """is_complete of a cancelled Create's Delete: looks up the same identity again, and is
    complete once nothing it found is left but what has ended. One still starting (a Stop that
    met a conflict) is stopped again, as ``settle`` does for a Delete by ARN."""
    left = list(_made_by_cancelled_create(request, rules, properties, stopping=True))
    for resource in left:
        if resource.get("state") not in rules.settling.over:
            _stop(request, rules, resource["arn"])
    return Result(physical_id, complete=not left)


def users_of(request: ResourceRequest, rules: ResourceRules, arn: str) -> list[str]:
    """What keeps a resource in use (``rules.in_use_by``: stages recording to a storage
    configuration); error path only, and a courtesy: a failure to find out is no failure."""
    used_by = rules.in_use_by
    if used_by is None:
        return []
    users = []
    try:
        for summary in summaries(request, used_by.user.list_operation, used_by.user.list_key):
            user = _get(request, used_by.user, summary["arn"])
            if _scalar_at(user, used_by.path) == arn:
                users.append(user["arn"])
    except RequestFailed:
        pass
    return users


def _stop(request: ResourceRequest, rules: ResourceRules, physical_id: str) -> None:
    """Stop; one already stopping (a conflict) or gone is fine, any other failure is raised."""
    try:
        call(request, rules.delete_operation, arn=physical_id)
    except RequestFailed as error:
        if error_code(error) not in (CONFLICT, NOT_FOUND):
            raise
