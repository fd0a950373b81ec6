"""The intrinsic functions a CDK template uses in custom resource properties, resolved against a
deployed stack (``Ref``, ``Fn::GetAtt``, ``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::Sub``,
``Fn::ImportValue``, ``Fn::GetStackOutput``, pseudo parameters and dynamic references)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ivsrt_local.cross_region import (
    CrossRegion,
    is_reader,
    read_parameter,
    resolve_dynamic_references,
)
from ivsrt_local.endpoint import ACCOUNT_ID
from ivsrt_local.stack_state import DeployError, StackState

# ``Ref: AWS::NoValue`` removes the property (or list item) it is the value of.
NO_VALUE = object()
PSEUDO_PARAMETERS: dict[str, Any] = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": NO_VALUE}


class Resolver:
    """Resolves the intrinsics a CDK template uses in custom resource properties."""

    def __init__(
        self,
        state: StackState,
        parameters: dict[str, Any] | None = None,
        exports: Mapping[str, Any] | None = None,
        resources: Mapping[str, Any] | None = None,
        cross_region: CrossRegion | None = None,
    ) -> None:
        self.state = state
        self.parameters: dict[str, Any] = parameters or {}  # the template's Parameters, by name
        self.exports: Mapping[str, Any] = exports or {}  # what other stacks export, by name
        self.resources: Mapping[str, Any] = resources or {}  # the template's Resources, by logical id
        self.cross_region: CrossRegion = cross_region or CrossRegion()  # what cross-region references read

    def _physical_id(self, logical_id: str) -> str:
        if logical_id in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[logical_id]
        if logical_id in self.parameters:
            parameter = self.parameters[logical_id]
            if "Default" not in parameter:
                raise DeployError(f"parameter {logical_id} has no Default, and the local deploy runner takes no values")
            is_list = parameter.get("Type") == "CommaDelimitedList" or str(parameter.get("Type")).startswith("List<")
            return parameter["Default"].split(",") if is_list else parameter["Default"]
        if logical_id == "AWS::Region":
            return self.state.region
        if logical_id == "AWS::AccountId":
            return ACCOUNT_ID
        if logical_id == "AWS::StackName":
            return self.state.stack_name
        deployed = self.state.resources.get(logical_id)
        if deployed is not None:
            return deployed.physical_id
        # Not an IVS resource: not deployed here, so a stable stand-in name.
        return f"{self.state.stack_name}-{logical_id}".lower()[:63]

    def _attribute(self, logical_id: str, attribute: str) -> str:
        deployed = self.state.resources.get(logical_id)
        if deployed is not None:
            if attribute not in deployed.data:
                raise DeployError(f"{logical_id} has no attribute {attribute!r}")
            return deployed.data[attribute]
        if is_reader(self.resources.get(logical_id)):  # a cross-region reference: never a stand-in
            return read_parameter(self.cross_region.parameters, attribute, self.state.region)
        if attribute == "Arn":  # an S3 bucket, role or function ARN stand-in
            return f"arn:aws:local:{self.state.region}:{ACCOUNT_ID}:{self._physical_id(logical_id)}"
        return f"{self._physical_id(logical_id)}.{attribute}"

    def resolve(self, value: Any) -> Any:
        if isinstance(value, str) and "{{resolve:" in value:
            return resolve_dynamic_references(value, self.cross_region.parameters, self.state.region)
        if isinstance(value, list):
            return [item for item in map(self.resolve, value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            intrinsic = self._intrinsics.get(key)
            if intrinsic is not None:
                return intrinsic(self, argument)
            if key.startswith("Fn::"):
                raise DeployError(f"the local deploy runner does not support {key}")
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _ref(self, name: str) -> Any:
        return self._physical_id(name)

    def _get_att(self, argument: Any) -> Any:
        logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
        return self._attribute(logical_id, self.resolve(attribute))

    def _join(self, argument: list[Any]) -> str:
        separator, parts = argument
        return separator.join(str(self.resolve(p)) for p in self.resolve(parts))

    def _select(self, argument: list[Any]) -> Any:
        index, items = argument
        return self.resolve(items)[int(self.resolve(index))]

    def _split(self, argument: list[Any]) -> list[str]:
        separator, text = argument
        return str(self.resolve(text)).split(separator)

    def _sub(self, argument: Any) -> str:
        """``${Name}``, ``${Name.Attribute}`` and ``${AWS::Region}``-style references in a string,
        with optional variables of its own; ``${!Literal}`` stays ``${Literal}``."""
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], self.resolve(argument[1]))

        def value_of(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return str(self._attribute(*name.split(".", 1)))
            return str(self._physical_id(name))

        return re.sub(r"\$\{([^}]+)\}", value_of, text)

    def _get_stack_output(self, argument: Any) -> Any:
        """CDK's reference to another account's (or region's) stack: that stack's output."""
        wanted = self.resolve(argument)
        return self.cross_region.stack_output(wanted["StackName"], wanted.get("Region", self.state.region), wanted["OutputName"])

    def _import_value(self, argument: Any) -> Any:
        name = self.resolve(argument)
        if name not in self.exports:
            raise DeployError(f"Fn::ImportValue: no stack exports {name!r} (deploy the stack that exports it first)")
        return self.exports[name]

    _intrinsics: dict[str, Callable[[Resolver, Any], Any]] = {
        "Ref": _ref,
        "Fn::GetAtt": _get_att,
        "Fn::Join": _join,
        "Fn::Select": _select,
        "Fn::Split": _split,
        "Fn::ImportValue": _import_value,
        "Fn::GetStackOutput": _get_stack_output,
        "Fn::Sub": _sub,
    }
