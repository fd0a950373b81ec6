"""Deploy a synthesized app's IVS Real-Time resources to an IVS-compatible endpoint, locally:
the stacks one after another, each with what the stacks before it export, and destroy them,
importers first; each stack's state kept in a file of the state folder.

A small stand-in for CloudFormation, for the custom resources only: it reads the template the
CDK CLI wrote (``assembly``), resolves the intrinsics those resources use (``resolver``), orders
them by their references and runs them as CloudFormation does (``graph``), and sends the same
Create / Update / Delete events CloudFormation would (scalars as strings, old properties on
Update, Delete of the old physical id after a replacement, rollback of a failed deployment) to
the real handler, which calls the endpoint through real boto3 (``deployer``).

Everything else in the template (bucket, roles, functions) is not deployed: those resources get
stable made-up physical ids, so references to them resolve.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ivsrt_local import cloudformation
from ivsrt_local.assembly import StackArtifact, managed, named_stacks
from ivsrt_local.cross_region import CrossRegion, visible_in
from ivsrt_local.deployer import Change, LocalDeployer
from ivsrt_local.graph import creation_order
from ivsrt_local.stack_state import DeployError, StackState


def default_state_dir() -> Path:
    return Path(os.environ.get("IVSRT_LOCAL_STATE_DIR", ".local-deploy"))


def deployed_stacks(state_dir: Path) -> dict[str, StackState]:
    """Every stack state in ``state_dir``, by artifact id (the file's name)."""
    return {path.stem: StackState.load(path, path.stem, "") for path in sorted(state_dir.glob("*.json"))}


def recorded_template(state_dir: Path, artifact_id: str) -> dict[str, Any] | None:
    """What a stack's last deployment deployed, as its template wrote it (``ivsrt plan``'s old
    template); None when the stack is not deployed."""
    path = state_dir / f"{artifact_id}.json"
    if not path.exists():
        return None
    template = StackState.load(path, artifact_id, "").template
    if template is None:
        raise DeployError(
            f"the state of stack {artifact_id} ({path}) records no template (a runner before "
            "`plan` deployed it): deploy it once more"
        )
    return template


def cross_region_of(region: str, others: Iterable[StackState]) -> CrossRegion:
    """What a stack in ``region`` reads through cross-region references from the ``others``
    deployed: their outputs, and the SSM parameters their export writers put in ``region``."""
    others = list(others)
    return CrossRegion(
        visible_in(region, {f"{o.stack_name}@{o.region}": o.cross_region_parameters for o in others}),
        {(o.stack_name, o.region): o.outputs for o in others},
    )


def deploy_stacks(
    stacks: list[StackArtifact],
    state_dir: Path,
    default_region: str,
    *,
    concurrency: int | None = None,
    progress: Callable[[str], None] | None = None,
    handler: Any | None = None,
) -> dict[str, list[Change]]:
    """Deploy ``stacks`` one after another (in the order given: dependencies first), each with
    the exports of the stacks deployed before it; each stack's state is saved as it ends. The
    endpoint is told every stack deployed so far first (it may have been restarted since), as
    CloudFormation knows them all when adoption asks it who holds a resource."""
    cloudformation.publish(deployed_stacks(state_dir).values())
    done = {}
    for stack in stacks:
        path = state_dir / f"{stack.artifact_id}.json"  # unique in the assembly, unlike a stack name
        state = StackState.load(path, stack.stack_name, stack.region or default_region)
        if state.region != (stack.region or state.region):
            raise DeployError(
                f"stack {stack.artifact_id} was deployed to {state.region}, not {stack.region}: destroy it there first"
            )
        others = {k: v for k, v in deployed_stacks(state_dir).items() if k != stack.artifact_id}
        exports = {name: value for other in others.values() for name, value in other.exports.items()}
        cross_region = cross_region_of(state.region, others.values())
        deployer = LocalDeployer(
            state, handler, concurrency=concurrency, progress=progress, exports=exports, cross_region=cross_region
        )
        try:
            done[stack.stack_name] = deployer.deploy(stack.template)
            state.template = {"Resources": managed(stack.template)}  # deployed: what plan compares with
        finally:
            state.save(path)
    return done


def destroy_stacks(
    names: list[str],
    state_dir: Path,
    *,
    concurrency: int | None = None,
    progress: Callable[[str], None] | None = None,
    handler: Any | None = None,
) -> dict[str, list[Change]]:
    """Destroy the named deployed stacks (all when none are named), importers before exporters;
    as CloudFormation, a stack whose export another stack still imports is not destroyed."""
    deployed = deployed_stacks(state_dir)
    chosen = named_stacks(
        names,
        {k: v.stack_name for k, v in deployed.items()},
        lambda name: f"no deployed stack {name!r} in {state_dir}; deployed: {', '.join(deployed) or 'none'}",
    )
    exporter = {name: artifact_id for artifact_id, state in deployed.items() for name in state.exports}
    uses = {name: sorted({exporter[i] for i in deployed[name].imports if i in exporter} & set(chosen)) for name in chosen}
    done = {}
    for name in reversed(creation_order(uses)):
        state = deployed[name]
        users = [
            other_id
            for other_id, other in deployed.items()
            if other_id != name and other_id not in done and set(other.imports) & set(state.exports)
        ]
        if users:
            raise DeployError(f"stack {name} cannot be destroyed: {', '.join(users)} still imports its exports")
        deployer = LocalDeployer(state, handler, concurrency=concurrency, progress=progress)
        try:
            done[name] = deployer.destroy()
        finally:
            state.save(state_dir / f"{name}.json")
        if not state.resources and not state.superseded:
            (state_dir / f"{name}.json").unlink()  # gone, exports with it
    return done
