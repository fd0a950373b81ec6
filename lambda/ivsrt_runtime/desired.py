"""The desired state of each managed resource, kept where a drift detector can read it with
nothing but AWS credentials: one SSM parameter per stack resource,

    /constructs-ivsrt/desired/<StackName>/<LogicalResourceId>

holding JSON: the format version, the resource type, its ARN, the stack id and logical id (whose
digest is the owner part of the identity tag), the API properties as sent to Create/Update
(CloudFormation's strings converted by the model, tags apart) and the user tags. A member the
model marks ``sensitive`` is kept as ``sha256:<hex>`` of its value, never in clear.

The provider writes it after each successful Create and Update, and removes it with the resource
(only while it still names the ARN being deleted: the Delete of a replaced resource comes after
its replacement has written its own). Why SSM, and why a failure to record fails the request,
is in docs/design.md ("Desired state").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.model import Shape

from ivsrt_runtime.calls import Request, RequestFailed, call, error_code
from ivsrt_runtime.rules import TAGS_PROPERTY, ResourceRules

PREFIX = "/constructs-ivsrt/desired"
FORMAT_VERSION = 1
# A standard parameter holds 4 KB; a larger record (a composition with many destinations) is
# written as an advanced one (8 KB, charged per parameter).
STANDARD_TIER_BYTES = 4096
SECRET_PREFIX = "sha256:"
NOT_FOUND = "ParameterNotFound"
PAGE_SIZE = 10  # GetParametersByPath's maximum


def stack_name_of(stack_id: str) -> str:
    """``arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/UUID`` -> ``NAME`` (a bare name as it is)."""
    parts = stack_id.split(":", 5)[-1].split("/")
    return parts[1] if len(parts) >= 2 and parts[0] == "stack" else stack_id


def stack_path(stack_name: str) -> str:
    return f"{PREFIX}/{stack_name}/"


def parameter_name(stack_name: str, logical_id: str) -> str:
    return f"{PREFIX}/{stack_name}/{logical_id}"


@dataclass(frozen=True)
class DesiredState:
    """One stack resource's desired state, as recorded."""

    resource_type: str
    arn: str
    stack_id: str
    logical_id: str
    properties: dict[str, Any]  # API members, tags excluded, secrets hashed
    tags: dict[str, str] = field(default_factory=dict)  # user tags (never the identity tag)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": FORMAT_VERSION,
                "type": self.resource_type,
                "arn": self.arn,
                "stackId": self.stack_id,
                "logicalId": self.logical_id,
                "properties": self.properties,
                "tags": self.tags,
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> DesiredState:
        value = json.loads(text)
        if value.get("version") != FORMAT_VERSION:
            raise ValueError(f"desired state format {value.get('version')!r}, this version reads {FORMAT_VERSION}")
        return cls(value["type"], value["arn"], value["stackId"], value["logicalId"], value["properties"], value.get("tags", {}))

    @property
    def stack_name(self) -> str:
        return stack_name_of(self.stack_id)


def of(rules: ResourceRules, arn: str, stack_id: str, logical_id: str, params: Mapping[str, Any]) -> DesiredState:
    """The desired state of a resource made or updated with the API ``params`` (tags included)."""
    properties = {key: hashed(rules.property_shape(key), params[key]) for key in rules.properties if key in params}
    return DesiredState(rules.resource_type, arn, stack_id, logical_id, properties, dict(params.get(TAGS_PROPERTY) or {}))


def secret_digest(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return SECRET_PREFIX + hashlib.sha256(text.encode()).hexdigest()


def hashed(shape: Shape, value: Any) -> Any:
    """``value`` with every member the model marks sensitive replaced by its digest."""
    if shape.metadata.get("sensitive"):
        return secret_digest(value)
    if shape.type_name == "structure" and isinstance(value, Mapping):
        return {k: hashed(shape.members[k], v) if k in shape.members else v for k, v in value.items()}
    if shape.type_name == "list" and isinstance(value, list):
        return [hashed(shape.member, item) for item in value]
    if shape.type_name == "map" and isinstance(value, Mapping):
        return {k: hashed(shape.value, v) for k, v in value.items()}
    return value


def is_secret(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(SECRET_PREFIX)


# ---------------------------------------------------------------------------------------------
# Parameter Store: every call through calls.call (retries under the throughput quota).
# ---------------------------------------------------------------------------------------------


def record(ssm: Request, state: DesiredState) -> None:
    """Write (or overwrite) the stack resource's parameter."""
    value = state.to_json()
    tier = {"Tier": "Advanced"} if len(value.encode()) > STANDARD_TIER_BYTES else {}
    call(
        ssm,
        "PutParameter",
        Name=parameter_name(state.stack_name, state.logical_id),
        Value=value,
        Type="String",
        Overwrite=True,
        **tier,
    )


def forget(ssm: Request, stack_id: str, logical_id: str, physical_id: str) -> None:
    """Remove the parameter if it still describes ``physical_id`` (the resource being deleted)."""
    name = parameter_name(stack_name_of(stack_id), logical_id)
    try:
        current = DesiredState.from_json(call(ssm, "GetParameter", Name=name)["Parameter"]["Value"])
        if current.arn == physical_id:
            call(ssm, "DeleteParameter", Name=name)
    except RequestFailed as error:
        if error_code(error) != NOT_FOUND:
            raise
    except (ValueError, KeyError):  # not ours to read: left alone
        return


def _by_path(ssm: Request, path: str, recursive: bool) -> Iterator[dict[str, Any]]:
    token = None
    while True:
        page = call(
            ssm,
            "GetParametersByPath",
            Path=path,
            Recursive=recursive,
            MaxResults=PAGE_SIZE,
            **({"NextToken": token} if token else {}),
        )
        yield from page.get("Parameters", [])
        token = page.get("NextToken")
        if not token:
            return


def read_stack(ssm: Request, stack_name: str) -> dict[str, DesiredState]:
    """The desired states of one stack, by logical id: one call per 10 resources."""
    states = {}
    for parameter in _by_path(ssm, stack_path(stack_name).rstrip("/"), recursive=False):
        try:
            state = DesiredState.from_json(parameter["Value"])
        except (ValueError, KeyError):
            continue
        states[state.logical_id] = state
    return states


def recorded_stacks(ssm: Request) -> list[str]:
    """The names of the stacks with recorded desired states (what ``ivsrt drift`` checks by default)."""
    names = {parameter["Name"].removeprefix(PREFIX + "/").split("/")[0] for parameter in _by_path(ssm, PREFIX, recursive=True)}
    return sorted(names)
