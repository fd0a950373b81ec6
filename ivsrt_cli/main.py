"""``ivsrt``: the console script installed with constructs-ivsrt.

    ivsrt drift [STACK ...] [--json] [--revert] [--delete-orphans]
    ivsrt plan (--old ASSEMBLY | --deployed) [--new cdk.out] [STACK ...] [--markdown | --json]

Each subcommand is a module of this package with two functions, ``add_arguments(parser)`` and
``run(args) -> int`` (the exit code), and one entry in ``COMMANDS``: adding a subcommand is one
module and one line here. Every module is imported to build the parser: keep their top-level
imports light (boto3 and the runtime are imported inside ``run``).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module in this package, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "drift": ("ivsrt_cli.drift", "compare deployed IVS Real-Time resources with their stacks' desired state"),
    "plan": ("ivsrt_cli.plan", "what a deployment will do to each IVS Real-Time resource: create, update, REPLACE, delete"),
}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="ivsrt", description="constructs-ivsrt tools for deployed stacks")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, summary) in COMMANDS.items():
        command = commands.add_parser(name, help=summary, description=summary)
        importlib.import_module(module).add_arguments(command)
        command.set_defaults(module=module)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(importlib.import_module(args.module).run(args))


if __name__ == "__main__":
    sys.exit(main())
