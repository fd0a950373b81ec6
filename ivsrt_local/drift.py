"""``python -m ivsrt_local drift``: ``ivsrt drift`` against the local endpoint, with the runner's
state files in place of CloudFormation (the same detector and report, another ``StackSource``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from ivsrt_local.deploy import deployed_stacks
from ivsrt_local.deployer import lambda_environment
from ivsrt_local.endpoint import ACCOUNT_ID
from ivsrt_local.stack_state import DeployError, StackState
from ivsrt_runtime import clients
from ivsrt_runtime.drift_check import MANAGED_PREFIX, Stack, StackResource


def stack_id(state: StackState) -> str:
    """The stack id the runner's events carry (LocalDeployer._event)."""
    return f"arn:aws:cloudformation:{state.region}:{ACCOUNT_ID}:stack/{state.stack_name}/local"


def as_stack(state: StackState) -> Stack:
    """The stack as the detector reads it from CloudFormation: every custom resource of ours (a
    signing key's ring among them, whose generations' public keys must not pass for its orphans)."""
    resources = tuple(
        StackResource(r.logical_id, r.resource_type, r.physical_id, r.update_replace_policy == "Retain")
        for r in state.resources.values()
        if r.resource_type.startswith(MANAGED_PREFIX)
    )
    return Stack(state.stack_name, stack_id(state), resources, known=frozenset(r.physical_id for r in state.superseded))


class LocalStacks:
    """The runner's deployed stacks, by stack name or artifact id (every one when none is named);
    ``region``: only those deployed there."""

    def __init__(self, state_dir: Path, region: str | None = None) -> None:
        self.deployed = deployed_stacks(state_dir)
        self.state_dir, self.region = state_dir, region

    def chosen(self, names: list[str]) -> list[StackState]:
        chosen = []
        for name in names or list(self.deployed):
            found = [s for k, s in self.deployed.items() if name in (k, s.stack_name)]
            if not found:
                raise DeployError(
                    f"no deployed stack {name!r} in {self.state_dir}; deployed: {', '.join(self.deployed) or 'none'}"
                )
            chosen += [s for s in found if s not in chosen]
        return chosen

    def stacks(self, names: list[str]) -> list[Stack]:
        return [as_stack(state) for state in self.chosen(names) if self.region in (None, state.region)]


def run(args: argparse.Namespace, state_dir: Path, out: TextIO | None = None) -> int:
    """The report, with the handler's clients pointed at the endpoint as a deploy's are: the
    stacks of each region checked in that region (its own parameters, Lists and orphans, as
    ``ivsrt drift`` with that region's credentials), one report for all of them."""
    from botocore.exceptions import BotoCoreError

    from ivsrt_cli.drift import EXIT_ERROR, detect, write
    from ivsrt_runtime.calls import RequestFailed

    # One region after another, in the order their first stacks come (artifact ids, or as named).
    regions = list(dict.fromkeys(state.region for state in LocalStacks(state_dir).chosen(list(args.stacks))))
    reports = []
    try:
        for region in regions:
            with lambda_environment(region):
                reports += detect(args, LocalStacks(state_dir, region), clients.ivs_client, clients.ssm_client)
    except (RequestFailed, BotoCoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    return write(args, reports, out or sys.stdout)
