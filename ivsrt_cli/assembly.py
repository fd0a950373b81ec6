"""A cloud assembly's stacks (``cdk synth``'s output folder), as the ``ivsrt`` tools need them:
artifact id, stack name, region and template, a ``cdk.Stage``'s stacks included.

The local harness's runner reads more of each stack (dependencies, cross-region reads) with
``ivsrt_local.assembly``; this one stays within the standard library.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class AssemblyError(Exception):
    """A cloud assembly that is missing or malformed, or a stack it does not have."""


@dataclass(frozen=True)
class Stack:
    artifact_id: str  # unique in the assembly
    stack_name: str  # what CloudFormation calls it (two regions may share one)
    region: str | None  # from the stack's environment; None when the app left it open
    template: dict[str, Any]


def read_stacks(assembly: Path) -> dict[str, Stack]:
    """Every stack in ``assembly``, by artifact id, nested assemblies (a ``cdk.Stage``'s) included."""
    manifest = assembly / "manifest.json"
    if not manifest.is_file():
        raise AssemblyError(f"no cloud assembly at {assembly} (no manifest.json; run `cdk synth`)")
    try:
        artifacts = json.loads(manifest.read_text())["artifacts"]
        found: dict[str, Stack] = {}
        for artifact_id, artifact in artifacts.items():
            properties = artifact.get("properties", {})
            if artifact.get("type") == "cdk:cloud-assembly":
                found.update(read_stacks(assembly / properties["directoryName"]))
            elif artifact.get("type") == "aws:cloudformation:stack":
                region = artifact.get("environment", "").rsplit("/", 1)[-1]
                found[artifact_id] = Stack(
                    artifact_id,
                    properties.get("stackName", artifact_id),
                    None if region in ("", "unknown-region") else region,
                    json.loads((assembly / properties["templateFile"]).read_text()),
                )
        return found
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise AssemblyError(f"cannot read the cloud assembly at {assembly}: {type(error).__name__}: {error}") from None


def choose(stacks: dict[str, Stack], names: list[str]) -> list[Stack]:
    """The stacks ``names`` pick (each an artifact id or a stack name), in the assembly's order;
    every stack when ``names`` is empty. A name that picks nothing is an error."""
    for name in names:
        if not any(name in (stack.artifact_id, stack.stack_name) for stack in stacks.values()):
            raise AssemblyError(f"no stack {name!r} in the assembly; stacks: {', '.join(stacks) or 'none'}")
    return [stack for stack in stacks.values() if not names or stack.artifact_id in names or stack.stack_name in names]
