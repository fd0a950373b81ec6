"""What the local deploy runner knows of a deployed stack: its resources by logical id, the
originals of replacements, its exports and outputs; saved to a file of its own (mode 0600)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivsrt_local.cross_region import Parameters


@dataclass
class DeployedResource:
    logical_id: str
    resource_type: str
    physical_id: str
    properties: dict[str, Any]
    data: dict[str, str] = field(default_factory=dict)
    dependencies: list[str] = field(default_factory=list)  # managed logical ids it refers to
    deletion_policy: str = "Delete"
    update_replace_policy: str = "Delete"  # what happens to it once a replacement succeeded


class DeployError(Exception):
    pass


@dataclass
class StackState:
    """What is deployed, by logical id (the runner's equivalent of a CloudFormation stack)."""

    stack_name: str
    region: str
    resources: dict[str, DeployedResource] = field(default_factory=dict)
    # Resources that exist but are no longer any logical id's: the originals of replacements
    # until the cleanup (or a rollback) has dealt with them. Kept here, not in memory, so that
    # after a failed rollback they are still known, and destroy deletes them too.
    superseded: list[DeployedResource] = field(default_factory=list)
    exports: dict[str, Any] = field(default_factory=dict)  # Outputs' Export names -> values
    imports: list[str] = field(default_factory=list)  # export names its template imports
    # The SSM parameters its cross-region export writers put, by region (see cross_region.py).
    cross_region_parameters: Parameters = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)  # every output the runner could resolve, by name
    # The resources the runner deploys, as the template last deployed wrote them (intrinsics and
    # all): what `python -m ivsrt_local plan` compares a new synth with. None: not recorded.
    template: dict[str, Any] | None = None

    def save(self, path: Path) -> None:
        """Written readable by its owner only: the resources' Data holds stream keys."""
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "stackName": self.stack_name,
            "region": self.region,
            "resources": {k: vars(v) for k, v in self.resources.items()},
            "superseded": [vars(v) for v in self.superseded],
            "exports": self.exports,
            "imports": self.imports,
            "crossRegionParameters": self.cross_region_parameters,
            "outputs": self.outputs,
            "template": self.template,
        }
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)  # a file that existed keeps its mode through O_CREAT
        with os.fdopen(descriptor, "w") as file:
            file.write(json.dumps(payload, indent=1, sort_keys=True))

    @classmethod
    def load(cls, path: Path, stack_name: str, region: str) -> StackState:
        if not path.exists():
            return cls(stack_name, region)
        try:
            payload = json.loads(path.read_text())
            resources = {k: DeployedResource(**v) for k, v in payload["resources"].items()}
            superseded = [DeployedResource(**v) for v in payload.get("superseded", [])]
            return cls(
                payload["stackName"],
                payload["region"],
                resources,
                superseded,
                payload.get("exports", {}),
                payload.get("imports", []),
                payload.get("crossRegionParameters", {}),
                payload.get("outputs", {}),
                payload.get("template"),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise DeployError(f"cannot read the state file {path}: {type(error).__name__}: {error}") from None

    def put(self, resource: DeployedResource) -> None:
        """Record ``resource`` as its logical id's; a superseded one that is adopted back (a
        rollback, or a later update back to its properties) is superseded no more."""
        self.resources[resource.logical_id] = resource
        self.forget(resource)

    def supersede(self, resource: DeployedResource) -> None:
        self.superseded.append(resource)

    def forget(self, resource: DeployedResource) -> None:
        """``resource`` is not (or no longer) a superseded one: deleted, kept, or adopted back."""
        self.superseded = [r for r in self.superseded if r.physical_id != resource.physical_id]
