"""Create, update and delete of any IVS Real-Time resource, driven by its ``ResourceRules``.

The three core types differ only in data (operation names, which properties update in place),
so one set of small functions serves them all; the rules say what differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from botocore.exceptions import BotoCoreError, ClientError

from rules import TAGS_PROPERTY, ResourceRules, check, check_tags, endpoint_attribute, from_cloudformation

NOT_FOUND = "ResourceNotFoundException"


class ProvisioningError(Exception):
    """A failure CloudFormation should show as one line (the message is the whole reason)."""


@dataclass(frozen=True)
class Result:
    physical_id: str
    data: dict[str, str] = field(default_factory=dict)


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
    problems += check_tags(params.get(TAGS_PROPERTY, {}), f"{rules.noun}.tags")
    if problems:
        raise ProvisioningError(f"Invalid {rules.resource_type} properties: " + "; ".join(problems))
    return params


@dataclass(frozen=True)
class UpdatePlan:
    """What an Update must do, decided from old and new properties alone."""

    replace: bool
    in_place: dict[str, Any]  # Update<noun> parameters (besides the ARN); empty = no call
    tags_to_set: dict[str, str]
    tag_keys_to_remove: list[str]

    @property
    def nothing_to_do(self) -> bool:
        return not (self.replace or self.in_place or self.tags_to_set or self.tag_keys_to_remove)


def analyze_update(rules: ResourceRules, old: Mapping[str, Any], new: Mapping[str, Any]) -> UpdatePlan:
    """Compare converted old and new parameters: replace, update in place, retag, or nothing."""
    changed = {key for key in rules.properties if old.get(key) != new.get(key)}
    old_tags, new_tags = old.get(TAGS_PROPERTY, {}), new.get(TAGS_PROPERTY, {})
    tags_to_set = {k: v for k, v in new_tags.items() if old_tags.get(k) != v}
    tag_keys_to_remove = sorted(set(old_tags) - set(new_tags))
    replace = bool(changed & rules.replacing_properties)
    in_place = {} if replace else {key: _cleared(new.get(key), rules, key) for key in sorted(changed)}
    return UpdatePlan(replace, in_place, tags_to_set, tag_keys_to_remove)


def _cleared(value: Any, rules: ResourceRules, key: str) -> Any:
    """The Update value for a property; a removed property is sent as the model's "empty" form.

    UpdateStage documents ``storageConfigurationArn: ""`` as "turn auto recording off", and an
    empty name keeps the API default; anything else removed is sent as an empty structure.
    """
    if value is not None:
        return value
    member = rules.member(key)
    if member.type_name == "structure":
        return {name: "" for name in member.required_members}
    return ""


def attributes(rules: ResourceRules, resource: Mapping[str, Any]) -> dict[str, str]:
    """The flat ``Data`` CloudFormation reads with Fn::GetAtt: every key has a string value."""
    data = {"Arn": resource["arn"], "Name": resource.get("name") or ""}
    endpoints = resource.get("endpoints") or {}
    for endpoint in rules.endpoint_names:  # every one the model declares, present or not
        data[endpoint_attribute(endpoint)] = endpoints.get(endpoint) or ""
    return data


# ---------------------------------------------------------------------------------------------
# The calls: each wraps one API operation and turns its failures into one readable line.
# ---------------------------------------------------------------------------------------------

def call(client: Any, operation: str, subject: str, **params: Any) -> dict[str, Any]:
    """``client.<operation>(**params)``; a failure becomes one line: operation, subject, code, message."""
    method = getattr(client, _snake(operation))
    try:
        return method(**params)
    except ClientError as error:
        details = error.response.get("Error", {})
        code, message = details.get("Code", "Unknown"), details.get("Message", "")
        raise ProvisioningError(f"{operation} failed for {subject}: {code}: {message}".rstrip(": ")) from error
    except BotoCoreError as error:
        raise ProvisioningError(f"{operation} failed for {subject}: {error}") from error


def error_code(error: BaseException) -> str | None:
    cause = error.__cause__
    if isinstance(cause, ClientError):
        return cause.response.get("Error", {}).get("Code")
    return None


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def create(client: Any, rules: ResourceRules, properties: Mapping[str, Any], subject: str) -> Result:
    """One Create call, tags included, so there is no partial work to clean up on failure."""
    params = api_parameters(rules, properties)
    response = call(client, rules.create_operation, subject, **params)
    resource = response[rules.response_key]
    return Result(resource["arn"], attributes(rules, resource))


def update(
    client: Any,
    rules: ResourceRules,
    physical_id: str,
    old_properties: Mapping[str, Any],
    new_properties: Mapping[str, Any],
    subject: str,
) -> Result:
    new = api_parameters(rules, new_properties)
    # Old properties were accepted once; a rollback may hand them back, so never reject them.
    old = {key: from_cloudformation(rules.member(key), value)
           for key, value in old_properties.items() if key in rules.create_input.members}
    plan = analyze_update(rules, old, new)
    if plan.replace:
        # The new resource gets a new ARN; CloudFormation then deletes the old one.
        return create(client, rules, new_properties, subject)
    resource = None
    if plan.in_place:
        resource = call(client, rules.update_operation, subject, arn=physical_id, **plan.in_place)[rules.response_key]
    if plan.tag_keys_to_remove:
        call(client, "UntagResource", subject, resourceArn=physical_id, tagKeys=plan.tag_keys_to_remove)
    if plan.tags_to_set:
        call(client, "TagResource", subject, resourceArn=physical_id, tags=plan.tags_to_set)
    if resource is None:
        # Fn::GetAtt reads the latest response's Data, so a tag-only update must still return it.
        resource = call(client, rules.get_operation, subject, arn=physical_id)[rules.response_key]
    return Result(physical_id, attributes(rules, resource))


def delete(client: Any, rules: ResourceRules, physical_id: str, subject: str) -> Result:
    """Delete; a resource already gone, or an id that is not one of ours, is a success."""
    if not rules.owns(physical_id):
        return Result(physical_id)
    try:
        call(client, rules.delete_operation, subject, arn=physical_id)
    except ProvisioningError as error:
        if error_code(error) != NOT_FOUND:
            raise
    return Result(physical_id)
