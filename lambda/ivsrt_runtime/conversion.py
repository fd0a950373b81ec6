"""Conversion between the API's shapes and CloudFormation's: CloudFormation hands every scalar
over as a string and the model says what it was; outputs become ``Data`` keys (Fn::GetAtt names).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.model import Shape


def attribute_name(path: tuple[str, ...]) -> str:
    """The ``Data`` key of an output member: ("fingerprint",) -> Fingerprint,
    ("redundantIngestCredentials", "streamKey") -> RedundantIngestCredentialsStreamKey."""
    return "".join(f"{part[0].upper()}{part[1:]}" for part in path)


def endpoint_attribute(endpoint: str) -> str:
    """The ``Data`` key (Fn::GetAtt name) of a stage endpoint: ``whip`` -> ``WhipEndpoint``."""
    return f"{endpoint[0].upper()}{endpoint[1:]}Endpoint"


def _to_bool(value: Any) -> Any:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _to_number(kind: Callable[[str], Any]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if isinstance(value, str):
            try:
                return kind(value)
            except ValueError:
                return value  # left as it is, so validation names the bad value
        return value

    return convert


_SCALAR_CONVERSIONS: dict[str, Callable[[Any], Any]] = {
    "boolean": _to_bool,
    "integer": _to_number(int),
    "long": _to_number(int),
    "float": _to_number(float),
    "double": _to_number(float),
}


def _is_key_value_list(value: Any) -> bool:
    """``[{"Key": ..., "Value": ...}, ...]``"""
    return isinstance(value, list) and all(isinstance(item, Mapping) and set(item) == {"Key", "Value"} for item in value)


def from_cloudformation(shape: Shape, value: Any) -> Any:
    """``value`` with CloudFormation's strings turned back into the types ``shape`` declares."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping):
        return {
            key: from_cloudformation(shape.members[key], item) if key in shape.members else item for key, item in value.items()
        }
    if kind == "list" and isinstance(value, list):
        return [from_cloudformation(shape.member, item) for item in value]
    if kind == "map" and _is_key_value_list(value):
        # CloudFormation's tag form. The constructs render tags so because a key known only at
        # deploy time (a parameter) cannot be a key of a JSON object in a template.
        value = {item["Key"]: item["Value"] for item in value}
    if kind == "map" and isinstance(value, Mapping):
        return {key: from_cloudformation(shape.value, item) for key, item in value.items()}
    return _SCALAR_CONVERSIONS.get(kind, lambda v: v)(value)


def project(shape: Shape, value: Any) -> Any:
    """Only the parts of ``value`` that ``shape`` declares (used to shape API outputs)."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping):
        return {key: project(member, value[key]) for key, member in shape.members.items() if value.get(key) is not None}
    if kind == "list" and isinstance(value, list):
        return [project(shape.member, item) for item in value]
    return value
