"""Reading a cloud assembly: its stacks (a ``cdk.Stage``'s included), the ones chosen in
dependency order, and what in a template the runner deploys and what each resource depends on."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivsrt_local.cross_region import stack_outputs_read
from ivsrt_local.graph import creation_order
from ivsrt_local.kms import is_signing_key
from ivsrt_local.stack_state import DeployError
from ivsrt_runtime import key_ring, rules


@dataclass(frozen=True)
class StackArtifact:
    """One stack of a cloud assembly, as the runner needs it."""

    artifact_id: str
    stack_name: str
    template: dict[str, Any]
    region: str | None  # from the stack's environment; None when the app left it open
    dependencies: list[str]  # artifact ids of the stacks it depends on (its imports among them)


def imported_names(value: Any) -> set[str]:
    """Every export name a template imports (``Fn::ImportValue`` anywhere in it)."""
    if isinstance(value, dict):
        found = {value["Fn::ImportValue"]} if isinstance(value.get("Fn::ImportValue"), str) else set()
        return found.union(*(imported_names(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(imported_names(item) for item in value))
    return set()


def read_assembly(assembly: Path) -> dict[str, StackArtifact]:
    """Every stack in a cloud assembly (``cdk synth``'s output folder), by artifact id."""
    manifest_path = assembly / "manifest.json"
    if not manifest_path.is_file():
        raise DeployError(f"no cloud assembly at {assembly} (run `cdk synth` first, or pass --assembly)")
    artifacts = json.loads(manifest_path.read_text())["artifacts"]
    stacks = {k: v for k, v in artifacts.items() if v.get("type") == "aws:cloudformation:stack"}
    found: dict[str, StackArtifact] = {}
    for artifact in artifacts.values():  # a cdk.Stage's stacks are a nested assembly
        if artifact.get("type") == "cdk:cloud-assembly":
            found.update(read_assembly(assembly / artifact["properties"]["directoryName"]))
    for artifact_id, artifact in stacks.items():
        region = artifact.get("environment", "").rsplit("/", 1)[-1]
        found[artifact_id] = StackArtifact(
            artifact_id,
            artifact["properties"].get("stackName", artifact_id),
            json.loads((assembly / artifact["properties"]["templateFile"]).read_text()),
            None if region in ("", "unknown-region") else region,
            [d for d in artifact.get("dependencies", []) if d in stacks],
        )
    return _with_stack_outputs_read(found)


def _with_stack_outputs_read(stacks: dict[str, StackArtifact]) -> dict[str, StackArtifact]:
    """Each stack depending also on the stacks whose outputs it reads (``Fn::GetStackOutput``)."""
    by_name = {(stack.stack_name, stack.region): artifact_id for artifact_id, stack in stacks.items()}
    return {
        artifact_id: dataclasses.replace(
            stack,
            dependencies=stack.dependencies
            + sorted(
                {
                    by_name[(name, region or stack.region)]
                    for name, region in stack_outputs_read(stack.template)
                    if (name, region or stack.region) in by_name
                }
                - {artifact_id, *stack.dependencies}
            ),
        )
        for artifact_id, stack in stacks.items()
    }


def named_stacks(names: list[str], stack_names: dict[str, str], missing: Callable[[str], str]) -> list[str]:
    """The artifact ids ``names`` pick, each an artifact id or a stack name (``stack_names``:
    artifact id -> stack name; one name may pick stacks in several regions); all when none."""
    chosen: list[str] = []
    for name in names:
        matching = [k for k, stack_name in stack_names.items() if name in (k, stack_name)]
        if not matching:
            raise DeployError(missing(name))
        chosen += [k for k in matching if k not in chosen]
    return chosen or list(stack_names)


def select_stacks(stacks: dict[str, StackArtifact], names: list[str]) -> list[StackArtifact]:
    """``names`` (artifact ids or stack names; all stacks when empty) in dependency order: a
    stack after those it uses."""
    chosen = set(
        named_stacks(
            names,
            {k: v.stack_name for k, v in stacks.items()},
            lambda name: f"no stack {name!r} in the assembly; stacks: {', '.join(stacks)}",
        )
    )
    order = creation_order({k: [d for d in v.dependencies if d in chosen] for k, v in stacks.items() if k in chosen})
    return [stacks[k] for k in order]


def managed(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The template's resources this runner deploys: the IVS Real-Time custom resources, and the
    KMS keys participant-token signing keys are with the ring that imports their public halves."""
    return {
        k: v
        for k, v in template.get("Resources", {}).items()
        if v.get("Type") in rules.RESOURCES or v.get("Type") == key_ring.RESOURCE_TYPE or is_signing_key(v)
    }


def references(value: Any) -> set[str]:
    """Logical ids a template value refers to (Ref, Fn::GetAtt: the only ones CDK renders for
    these resources' properties; Fn::Sub is not handled)."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value:
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            found.add(target[0] if isinstance(target, list) else target.split(".")[0])
        for item in value.values():
            found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def dependencies(definition: dict[str, Any], managed_ids: set[str]) -> list[str]:
    """The managed resources a definition refers to or names in DependsOn."""
    depends_on = definition.get("DependsOn") or []
    depends_on = [depends_on] if isinstance(depends_on, str) else depends_on
    return sorted((references(definition.get("Properties", {})) | set(depends_on)) & managed_ids)
