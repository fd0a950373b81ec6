"""``python -m ivsrt_local drift``: ``ivsrt drift`` against the local endpoint, with the runner's
state files in place of CloudFormation (the same detector and report, another ``StackSource``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ivsrt_local.deploy import deployed_stacks
from ivsrt_local.deployer import lambda_environment
from ivsrt_local.endpoint import ACCOUNT_ID
from ivsrt_local.stack_state import DeployError, StackState
from ivsrt_runtime import clients
from ivsrt_runtime.drift_check import Stack, StackResource
from ivsrt_runtime.rules import RESOURCES


def stack_id(state: StackState) -> str:
    """The stack id the runner's events carry (LocalDeployer._event)."""
    return f"arn:aws:cloudformation:{state.region}:{ACCOUNT_ID}:stack/{state.stack_name}/local"


def as_stack(state: StackState) -> Stack:
    resources = tuple(StackResource(r.logical_id, r.resource_type, r.physical_id, r.update_replace_policy == "Retain")
                      for r in state.resources.values() if r.resource_type in RESOURCES)
    return Stack(state.stack_name, stack_id(state), resources, known=frozenset(r.physical_id for r in state.superseded))


class LocalStacks:
    """The runner's deployed stacks, by stack name or artifact id (every one when none is named)."""

    def __init__(self, state_dir: Path) -> None:
        self.deployed = deployed_stacks(state_dir)
        self.state_dir = state_dir

    def stacks(self, names: list[str]) -> list[Stack]:
        chosen = []
        for name in names or list(self.deployed):
            found = [s for k, s in self.deployed.items() if name in (k, s.stack_name)]
            if not found:
                raise DeployError(f"no deployed stack {name!r} in {self.state_dir}; "
                                  f"deployed: {', '.join(self.deployed) or 'none'}")
            chosen += found
        return [as_stack(state) for state in chosen]


def run(args: argparse.Namespace, state_dir: Path) -> int:
    """The report, with the handler's clients pointed at the endpoint as a deploy's are."""
    from ivsrt_cli.drift import execute

    source = LocalStacks(state_dir)
    regions = {state.region for state in source.deployed.values()} or {"us-east-1"}
    if len(regions) > 1:
        raise DeployError(f"the deployed stacks are in several regions ({', '.join(sorted(regions))}): "
                          "drift checks one region at a time")
    with lambda_environment(regions.pop()):
        return execute(args, source, clients.ivs_client, clients.ssm_client)
