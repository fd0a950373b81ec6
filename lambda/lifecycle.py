"""Create, update and delete of any IVS Real-Time resource, driven by its ``ResourceRules``.

The types differ only in data (operation names, which properties update in place, which
attributes are secret, whether the resource settles asynchronously), so one set of small
functions serves them all; the rules say what differs.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable, Iterator, Mapping

from botocore.exceptions import BotoCoreError, ClientError
from botocore.retries import standard

from rules import (
    IDENTITY_TAG,
    QUOTAS,
    TAGS_PROPERTY,
    Identity,
    ResourceRules,
    attribute_name,
    check,
    check_tags,
    endpoint_attribute,
    from_cloudformation,
    operation,
    snake_case,
)

LOG = logging.getLogger("constructs_ivsrt.handler")
NOT_FOUND = "ResourceNotFoundException"
CONFLICT = "ConflictException"
QUOTA_EXCEEDED = "ServiceQuotaExceededException"
TOTAL_ATTEMPTS = 5  # per API call (botocore standard mode counts the first call)
CONFLICT_WAIT_SECONDS = 120.0  # how long a Delete waits for a resource to stop being used


class ProvisioningError(Exception):
    """A failure CloudFormation should show as one line (the message is the whole reason)."""


@dataclass(frozen=True)
class Request:
    """One CloudFormation request as the lifecycle functions need it."""

    clients: Callable[..., Any]  # clients(attempts=N): built on first use, so a cold start builds one
    subject: str  # "Custom::IvsRealtimeStage MyStage (arn...)": names the resource in errors
    stack_id: str = ""
    logical_id: str = ""
    request_id: str = ""
    deadline: float = math.inf  # time.monotonic() by which the handler must have answered

    def seconds_left(self) -> float:
        return self.deadline - time.monotonic()

    def identity(self, rules: ResourceRules, params: Mapping[str, Any]) -> Identity:
        return Identity.of(rules, self.stack_id, self.logical_id, self.request_id, params)

    @property
    def client(self) -> Any:
        """botocore standard retries: for calls that are safe to repeat."""
        return self.clients(attempts=TOTAL_ATTEMPTS)

    @property
    def single_attempt_client(self) -> Any:
        """No automatic retries: for Create, which is not idempotent."""
        return self.clients(attempts=1)


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
    params = {
        key: from_cloudformation(shape.members[key], properties[key])
        for key in wanted
        if properties.get(key) is not None
    }
    problems = check(shape, params, rules.noun)
    tags = params.get(TAGS_PROPERTY, {})
    if isinstance(tags, Mapping):  # anything else is already reported by check()
        problems += check_tags(tags, f"{rules.noun}.tags")
    if problems:
        raise ProvisioningError(f"Invalid {rules.resource_type} properties: " + "; ".join(problems))
    return params


@dataclass(frozen=True)
class UpdatePlan:
    """What an Update must do, decided from old and new properties alone."""

    replace: bool
    in_place: dict[str, Any]  # Update<noun> parameters (besides the ARN); empty = no call


def analyze_update(rules: ResourceRules, old: Mapping[str, Any], new: Mapping[str, Any]) -> UpdatePlan:
    """Compare converted old and new parameters: replace, update in place, or neither (tags are
    ``_retag``'s, which never replace)."""
    changed = {key for key in rules.properties if old.get(key) != new.get(key)}
    replace = bool(changed & rules.replacing_properties)
    in_place = {} if replace else {key: _cleared(new.get(key), rules, key) for key in sorted(changed)}
    return UpdatePlan(replace, in_place)


def _cleared(value: Any, rules: ResourceRules, key: str) -> Any:
    """The Update value for a property; a removed property is sent as the model's "empty" form.

    UpdateStage documents ``storageConfigurationArn: ""`` as "turn auto recording off", an empty
    name keeps the API default, and UpdateIngestConfiguration's ``stageArn`` pattern admits ""
    (detach). A removed structure is sent with its required members empty, a removed boolean as
    false (``redundantIngest``'s documented default; "" is not a boolean, botocore refuses it).
    """
    if value is not None:
        return value
    member = rules.member(key)
    return _EMPTY_BY_TYPE.get(member.type_name, lambda shape: "")(member)


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


# ---------------------------------------------------------------------------------------------
# The calls: each wraps one API operation and turns its failures into one readable line.
# ---------------------------------------------------------------------------------------------

def call(client: Any, operation_name: str, subject: str, **params: Any) -> dict[str, Any]:
    """``client.<operation>(**params)``; a failure becomes one line: operation, subject, code, message."""
    method = getattr(client, snake_case(operation_name))
    try:
        return method(**params)
    except ClientError as error:
        details = error.response.get("Error", {})
        code, message = details.get("Code", "Unknown"), details.get("Message", "")
        raise ProvisioningError(f"{operation_name} failed for {subject}: {code}: {message}".rstrip(": ")) from error
    except BotoCoreError as error:
        raise ProvisioningError(f"{operation_name} failed for {subject}: {error}") from error


def error_code(error: BaseException) -> str | None:
    cause = error.__cause__
    if isinstance(cause, ClientError):
        return cause.response.get("Error", {}).get("Code")
    return None


# botocore's own standard-mode rules decide what is transient and how long to wait, so the
# Create loop below retries exactly what the client would have retried by itself.
_RETRY_CONDITIONS = standard.StandardRetryConditions(max_attempts=TOTAL_ATTEMPTS)
_BACKOFF = standard.ExponentialBackoff()


def _retry_context(error: ProvisioningError, operation_name: str, attempt: int) -> standard.RetryContext:
    cause = error.__cause__
    parsed = http = None
    if isinstance(cause, ClientError):
        parsed = cause.response
        metadata = cause.response.get("ResponseMetadata", {})
        # What botocore's checkers read of an HTTP response.
        http = SimpleNamespace(status_code=metadata.get("HTTPStatusCode"), headers=metadata.get("HTTPHeaders", {}))
    return standard.RetryContext(
        attempt_number=attempt, operation_model=operation(operation_name), parsed_response=parsed,
        http_response=http, caught_exception=None if isinstance(cause, ClientError) else cause,
    )


def _with_quota(error: ProvisioningError, rules: ResourceRules) -> ProvisioningError:
    if error_code(error) != QUOTA_EXCEEDED:
        return error
    if rules.noun not in QUOTAS:
        return ProvisioningError(f"{error} (see the Amazon IVS quotas in Service Quotas)")
    what, default = QUOTAS[rules.noun]
    return ProvisioningError(
        f"{error} (quota: {what} per account and region, default {default}; request an increase in Service Quotas)"
    )


# ---------------------------------------------------------------------------------------------
# Finding our own resources: by the identity tag, never by name.
# ---------------------------------------------------------------------------------------------

def find_own(request: Request, rules: ResourceRules, matches: Callable[[Identity], bool],
             name: str | None = None) -> dict[str, Any] | None:
    """The first live resource of this type whose identity tag ``matches`` (List pages).

    Where List summaries carry no tags (ingest configurations), each candidate is read with a
    Get; ``name``, when the resource was given one, narrows the candidates first. Resources that
    have ended or are ending (a stopping composition) are never adopted.
    """
    for summary in summaries(request, rules.list_operation, rules.list_key):
        if rules.settling and summary.get("state") in rules.settling.over:
            continue
        if not rules.summaries_have_tags:
            if name is not None and summary.get("name") != name:
                continue
            summary = _get(request, rules, summary["arn"])
        identity = Identity.parse((summary.get("tags") or {}).get(IDENTITY_TAG))
        if identity is not None and matches(identity):
            return summary
    return None


def summaries(request: Request, list_operation: str, key: str) -> Iterator[dict[str, Any]]:
    """Every summary a List operation returns, page by page (100 at a time, the API's maximum)."""
    token = None
    while True:
        page = call(request.client, list_operation, request.subject, maxResults=100,
                    **({"nextToken": token} if token else {}))
        yield from page.get(key, [])
        token = page.get("nextToken")
        if not token:
            return


def _get(request: Request, rules: ResourceRules, arn: str) -> dict[str, Any]:
    return call(request.client, rules.get_operation, request.subject, arn=arn)[rules.response_key]


def _create_exactly_once(request: Request, rules: ResourceRules, params: dict[str, Any],
                         identity: Identity) -> dict[str, Any]:
    """Create; after a transient failure, adopt what the lost attempt made before trying again.

    The happy path is one call. A failure botocore would retry (throttling, 5xx, a dropped
    connection, a timeout) may have happened after the service acted, so before each retry the
    resources carrying this request's identity tag are looked for and adopted.

    Where the API takes an idempotency token (StartComposition), the service itself guarantees
    this. botocore would fill in a random token per call, which covers its own retries; ours is
    derived from the CloudFormation request, so a whole invocation delivered again starts
    nothing new either.
    """
    if rules.idempotency_member:
        params = {**params, rules.idempotency_member: identity.idempotency_token}
        try:
            return call(request.client, rules.create_operation, request.subject, **params)[rules.response_key]
        except ProvisioningError as error:
            raise _with_quota(error, rules) from None
    attempt = 0
    while True:
        attempt += 1
        try:
            response = call(request.single_attempt_client, rules.create_operation, request.subject, **params)
            return response[rules.response_key]
        except ProvisioningError as error:
            context = _retry_context(error, rules.create_operation, attempt)
            delay = _BACKOFF.delay_amount(context)
            if not _RETRY_CONDITIONS.is_retryable(context) or request.seconds_left() < delay:
                raise _with_quota(error, rules) from None
            time.sleep(delay)
        made = find_own(request, rules, lambda found: found == identity, params.get("name"))
        if made is not None:
            return _get(request, rules, made["arn"])


def create(request: Request, rules: ResourceRules, properties: Mapping[str, Any]) -> Result:
    return _create(request, rules, api_parameters(rules, properties))


def _create(request: Request, rules: ResourceRules, params: dict[str, Any]) -> Result:
    """One Create call, tags and identity included: there is no partial work to clean up."""
    identity = request.identity(rules, params)
    tags = {**params.get(TAGS_PROPERTY, {}), IDENTITY_TAG: identity.tag_value}
    resource = _create_exactly_once(request, rules, {**params, TAGS_PROPERTY: tags}, identity)
    return Result(resource["arn"], attributes(rules, resource), complete=rules.settling is None)


def _retag(request: Request, arn: str, current: Mapping[str, str], wanted: Mapping[str, str]) -> None:
    """Make the user tags ``wanted``; the identity tag is left alone."""
    current = {k: v for k, v in current.items() if k != IDENTITY_TAG}
    stale = sorted(set(current) - set(wanted))
    changed = {k: v for k, v in wanted.items() if current.get(k) != v}
    if stale:
        call(request.client, "UntagResource", request.subject, resourceArn=arn, tagKeys=stale)
    if changed:
        call(request.client, "TagResource", request.subject, resourceArn=arn, tags=changed)


def replace(request: Request, rules: ResourceRules, params: dict[str, Any],
            current_id: str = "", previous: Mapping[str, Any] | None = None) -> Result:
    """A new resource for new replacing properties, or one of this stack resource's that has them.

    A rollback sends the old properties to the replacement; the original, with exactly those
    immutable properties and this stack resource as owner, still exists (CloudFormation deletes it
    only after a successful update), so it is adopted instead of making a third resource. The
    current resource itself may match too: the rollback of a replacement whose Create failed.
    """
    identity = request.identity(rules, params)
    original = find_own(request, rules, lambda found: (
        found.owner == identity.owner and found.properties == identity.properties), params.get("name"))
    if original is None:
        return _create(request, rules, params)
    _retag(request, original["arn"], original.get("tags") or {}, params.get(TAGS_PROPERTY, {}))
    if rules.settling is not None and previous is not None:
        left = request.identity(rules, previous)
        _stop_orphans(request, rules, left, keep={original["arn"], current_id})
    return Result(original["arn"], attributes(rules, _get(request, rules, original["arn"])),
                  complete=rules.settling is None)


def _stop_orphans(request: Request, rules: ResourceRules, left: Identity, keep: set[str]) -> None:
    """Going back to an adopted composition, stop this stack resource's running compositions with
    the properties being left, other than the request's own (CloudFormation deletes that one,
    or keeps it under UpdateReplacePolicy: Retain). They are replacements whose start failed or
    timed out and that CloudFormation no longer tracks. Best effort: the adoption stands."""
    try:
        for summary in summaries(request, rules.list_operation, rules.list_key):
            found = Identity.parse((summary.get("tags") or {}).get(IDENTITY_TAG))
            if (found is not None and (found.owner, found.properties) == (left.owner, left.properties)
                    and summary["arn"] not in keep and summary.get("state") not in rules.settling.over):
                _stop(request, rules, summary["arn"])
    except ProvisioningError as error:
        LOG.warning(json.dumps({"outcome": "ORPHAN_STOP_FAILED", "reason": str(error)}))


def update(request: Request, rules: ResourceRules, physical_id: str,
           old_properties: Mapping[str, Any], new_properties: Mapping[str, Any]) -> Result:
    new = api_parameters(rules, new_properties)
    # Old properties were accepted once; a rollback may hand them back, so never reject them.
    old = {key: from_cloudformation(rules.member(key), value)
           for key, value in old_properties.items() if key in rules.create_input.members}
    plan = analyze_update(rules, old, new)
    if plan.replace or _has_ended(request, rules, physical_id):
        # The new resource gets a new ARN; CloudFormation then deletes the old one. A composition
        # the service has ended (it stops one a minute after its stage empties) is started anew.
        return replace(request, rules, new, current_id=physical_id, previous=old)
    try:
        resource = None
        if plan.in_place:
            resource = call(request.client, rules.update_operation, request.subject,
                            arn=physical_id, **plan.in_place)[rules.response_key]
        _retag(request, physical_id, old.get(TAGS_PROPERTY, {}), new.get(TAGS_PROPERTY, {}))
        if resource is None:
            # Fn::GetAtt reads the latest response's Data, so a tag-only update must still return
            # it: from what is known (ARN, name) when that is all of it, else from a Get.
            resource = ({"arn": physical_id, "name": new.get("name")}
                        if not (rules.endpoint_names or rules.extra_attributes)
                        else _get(request, rules, physical_id))
    except ProvisioningError as error:
        if error_code(error) == NOT_FOUND:
            raise ProvisioningError(f"{error} (it was deleted outside CloudFormation)") from error
        raise
    return Result(physical_id, attributes(rules, resource))


def _has_ended(request: Request, rules: ResourceRules, physical_id: str) -> bool:
    """Whether an asynchronous resource has ended (or vanished) since it was made."""
    if rules.settling is None:
        return False
    try:
        return _get(request, rules, physical_id)["state"] in rules.settling.over
    except ProvisioningError as error:
        if error_code(error) == NOT_FOUND:
            return True
        raise


def delete(request: Request, rules: ResourceRules, physical_id: str,
           properties: Mapping[str, Any] | None = None) -> Result:
    """Delete; gone already, or not an id of ours: success. In use: wait (bounded), then say by what.

    For an asynchronous resource (a composition), Stop starts the delete and ``settle`` waits
    for the end; one already stopping or ended answers Stop with a conflict, which is success.
    ``properties``' delete options go with the call (an ingest configuration's ``force``).
    """
    if not rules.owns(physical_id):
        return Result(physical_id)
    options = rules.delete_parameters(properties or {})
    started, attempt = time.monotonic(), 0
    while True:
        try:
            call(request.client, rules.delete_operation, request.subject, arn=physical_id, **options)
            return Result(physical_id, complete=rules.settling is None)
        except ProvisioningError as error:
            code = error_code(error)
            if code == NOT_FOUND:
                return Result(physical_id)
            if code == CONFLICT and rules.settling is not None:
                return Result(physical_id, complete=False)
            if code != CONFLICT:
                raise
            attempt += 1
            delay = min(2.0 ** attempt, 15.0)
            waited = time.monotonic() - started
            if waited + delay > CONFLICT_WAIT_SECONDS or request.seconds_left() < delay:
                users = users_of(request, rules, physical_id)
                still = f"; still used by {', '.join(users)}" if users else ""
                if "force" in rules.delete_options and not options.get("force"):
                    still += "; force_delete=True disconnects the publisher"
                raise ProvisioningError(f"{error} (gave up after {waited:.0f}s{still})") from error
            time.sleep(delay)


def users_of(request: Request, rules: ResourceRules, arn: str) -> list[str]:
    """What keeps a storage configuration in use: stages recording to it (error path only)."""
    if rules.noun != "StorageConfiguration":
        return []
    users = []
    try:
        for summary in summaries(request, "ListStages", "stages"):
            stage = call(request.client, "GetStage", request.subject, arn=summary["arn"])["stage"]
            if (stage.get("autoParticipantRecordingConfiguration") or {}).get("storageConfigurationArn") == arn:
                users.append(stage["arn"])
    except ProvisioningError:
        pass  # naming the users is a courtesy; the ConflictException is the answer
    return users


# ---------------------------------------------------------------------------------------------
# Settling: is_complete for asynchronous resources (a composition starts, then becomes ACTIVE).
# ---------------------------------------------------------------------------------------------

def settle(request: Request, rules: ResourceRules, request_type: str, physical_id: str) -> Result:
    """One look at an asynchronous resource: complete, still settling, or failed (raises).

    Create and Update wait for ``ready`` and fail on ``failed`` (after stopping what failed, so
    nothing is left behind); Delete waits for an ended state or for the resource to be gone.
    """
    settling = rules.settling
    if settling is None or not rules.owns(physical_id):
        return Result(physical_id)
    try:
        resource = _get(request, rules, physical_id)
    except ProvisioningError as error:
        if error_code(error) != NOT_FOUND:
            raise
        if request_type == "Delete":
            return Result(physical_id)
        raise ProvisioningError(f"{rules.noun} {physical_id} has ended{_ENDED_HINT}") from None
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
        except ProvisioningError as error:
            detail += f"; stopping it failed too: {error}"
        raise ProvisioningError(f"{rules.noun} {physical_id} is {state}{detail}")
    return Result(physical_id, complete=False)


# The documented reason a composition ends on its own (StartComposition in the API reference).
_ENDED_HINT = (" (IVS ends a composition on its own: a minute after its start if its stage has no "
               "participant, a minute after the last one leaves, or when a destination fails)")


def _failure_detail(resource: Mapping[str, Any]) -> str:
    """What the API says about a failed composition: which destinations failed. It gives no
    reason; the service publishes one in the "IVS Composition State Change" EventBridge event."""
    failed = [d.get("configuration", {}).get("name") or d.get("id", "?")
              for d in resource.get("destinations", []) if d.get("state") == "FAILED"]
    where = f": destination {', '.join(failed)} FAILED" if failed else ""
    return f"{where} (the API reports no reason; see the 'IVS Composition State Change' event in EventBridge)"


def _stop(request: Request, rules: ResourceRules, physical_id: str) -> None:
    """Stop; one already stopping (a conflict) or gone is fine, any other failure is raised."""
    try:
        call(request.client, rules.delete_operation, request.subject, arn=physical_id)
    except ProvisioningError as error:
        if error_code(error) not in (CONFLICT, NOT_FOUND):
            raise
