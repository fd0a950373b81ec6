"""CDK's cross-region references (``Stack(..., cross_region_references=True)``), as the local
runner resolves them.

CDK renders them in one of two ways (aws-cdk-lib 2.275). Between accounts, ``Fn::GetStackOutput``
names the other stack, its region and the output (CloudFormation reads it through a role): the
runner answers it from the outputs of the stacks it deployed. Within an account, as SSM
parameters: the producing stack gets a ``Custom::CrossRegionExportWriter`` whose ``WriterProps``
say which parameters (``/cdk/exports/<consumer>/<name>``) to put in which region, with which
values; the consuming stack gets a ``Custom::CrossRegionExportReader`` that reads them, and each
use is a ``Fn::GetAtt`` of the reader with the parameter's name as the attribute (the reader's
own properties hold them as ``{{resolve:ssm:...}}`` dynamic references).

Locally the runner deploys neither custom resource: after a stack deploys, the values its writer
would put are kept in the stack's state by region (``written_parameters``), and a reader's
attribute is looked up there. A reference nobody wrote, or a dynamic reference in an IVS
resource's properties that names no such parameter, fails in one line; it is never replaced by a
stand-in string.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

WRITER_TYPE = "Custom::CrossRegionExportWriter"
READER_TYPE = "Custom::CrossRegionExportReader"
# CloudFormation's dynamic references: {{resolve:ssm:name}}, {{resolve:secretsmanager:...}}, ...
DYNAMIC_REFERENCE = re.compile(r"\{\{resolve:([a-z-]+):([^}]*)\}\}")

# Region -> parameter name -> value: what a stack's writers put (or what a reader can read).
Parameters = dict[str, dict[str, Any]]


class UnresolvedReference(Exception):
    """A cross-region or dynamic reference the runner has no value for."""


@dataclass(frozen=True)
class CrossRegion:
    """What a stack's cross-region references can read: the SSM parameters the deployed stacks'
    writers put in its region, and the deployed stacks' outputs."""

    parameters: Mapping[str, Any] = field(default_factory=dict)  # parameter name -> value
    outputs: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)  # (stack, region) -> outputs

    def stack_output(self, stack_name: str, region: str, output: str) -> Any:
        """``Fn::GetStackOutput``'s value."""
        outputs = self.outputs.get((stack_name, region))
        if outputs is None or output not in outputs:
            raise UnresolvedReference(
                f"Fn::GetStackOutput reads output {output} of stack {stack_name} in {region}, which is not deployed "
                "(deploy it first)"
            )
        return outputs[output]


def is_reader(definition: Mapping[str, Any] | None) -> bool:
    return (definition or {}).get("Type") == READER_TYPE


def written_parameters(template: Mapping[str, Any], resolve: Callable[[Any], Any]) -> Parameters:
    """The parameters the template's export writers put, by the region they put them in, with
    their values resolved in the stack that writes them."""
    written: Parameters = {}
    for definition in template.get("Resources", {}).values():
        if definition.get("Type") == WRITER_TYPE:
            props = definition.get("Properties", {}).get("WriterProps", {})
            region = written.setdefault(props.get("region", ""), {})
            region.update({name: resolve(value) for name, value in props.get("exports", {}).items()})
    return written


def stack_outputs_read(value: Any) -> set[tuple[str, str | None]]:
    """(stack name, region) of every stack a template reads an output of (``Fn::GetStackOutput``):
    stacks it must be deployed after, though the cloud assembly does not list them."""
    if isinstance(value, dict):
        read = value.get("Fn::GetStackOutput")
        found = (
            {(read["StackName"], read.get("Region"))}
            if isinstance(read, dict) and isinstance(read.get("StackName"), str)
            else set()
        )
        return found.union(*(stack_outputs_read(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(stack_outputs_read(item) for item in value))
    return set()


def read_parameter(parameters: Mapping[str, Any], name: str, region: str) -> Any:
    """A parameter a reader reads in ``region``."""
    if name not in parameters:
        raise UnresolvedReference(
            f"the cross-region reference {name} has no value in {region}: no deployed stack wrote it (deploy the "
            "stack it refers to first, with cross_region_references=True)"
        )
    return parameters[name]


def resolve_dynamic_references(text: str, parameters: Mapping[str, Any], region: str) -> str:
    """``text`` with each ``{{resolve:ssm:name}}`` replaced by a parameter a writer put in
    ``region``; any other dynamic reference (secretsmanager, ssm-secure, a parameter nobody here
    wrote) is an UnresolvedReference."""

    def value_of(match: re.Match[str]) -> str:
        service, name = match.groups()
        if service != "ssm" or name not in parameters:
            raise UnresolvedReference(
                f"the dynamic reference {match.group(0)} cannot be resolved by the local deploy runner (it resolves "
                f"only SSM parameters written by CDK's cross-region references of stacks it deployed, in {region})"
            )
        return str(parameters[name])

    return DYNAMIC_REFERENCE.sub(value_of, text)


def visible_in(region: str, written: Mapping[str, Parameters]) -> dict[str, Any]:
    """Every parameter the deployed stacks (``written``: stack -> what it wrote) put in ``region``."""
    return {name: value for parameters in written.values() for name, value in parameters.get(region, {}).items()}
