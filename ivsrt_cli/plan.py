"""``ivsrt plan``: what a deployment will do to each IVS Real-Time resource, for reviewers.

    ivsrt plan --old cdk.out.base [--new cdk.out] [STACK ...] [--markdown | --json] [--fail-on-replace]
    ivsrt plan --deployed         [--new cdk.out] [STACK ...] [--markdown | --json] [--fail-on-replace]

Each IVS resource of the new assembly's stacks (all, or those named by artifact id or stack name)
against another synth (``--old``) or the deployed stack (``--deployed``: CloudFormation's
GetTemplate with your credentials): create, adopt (``adopt_arn``: the existing ARN kept), update
in place (which properties), REPLACE (which properties force it) or delete. Exit code 0: the plan
is made (1 with ``--fail-on-replace`` when something is replaced); 2: it could not be made.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = __doc__
    parser.add_argument("stacks", nargs="*", metavar="STACK", help="artifact ids or stack names (default: all)")
    old = parser.add_mutually_exclusive_group(required=True)
    old.add_argument(
        "--old", type=Path, metavar="ASSEMBLY", help="the cloud assembly to compare with (the base branch's cdk.out)"
    )
    old.add_argument("--deployed", action="store_true", help="compare with the deployed stacks' templates (CloudFormation)")
    parser.add_argument(
        "--new",
        type=Path,
        default=Path("cdk.out"),
        metavar="ASSEMBLY",
        help="the cloud assembly to be deployed (default: cdk.out)",
    )
    add_output_arguments(parser)


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """--markdown, --json, --fail-on-replace: shared with ``python -m ivsrt_local plan``."""
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--markdown",
        dest="output",
        action="store_const",
        const="markdown",
        default="text",
        help="GitHub-flavoured Markdown, a section per stack (for a pull-request comment)",
    )
    output.add_argument("--json", dest="output", action="store_const", const="json", help="JSON")
    parser.add_argument("--fail-on-replace", action="store_true", help="exit 1 when a resource would be replaced")


def run(args: argparse.Namespace) -> int:
    from ivsrt_cli.planner import assembly_templates, deployed_templates

    return plan_and_print(args, lambda: deployed_templates() if args.deployed else assembly_templates(args.old))


def plan_and_print(args: argparse.Namespace, old_templates: Callable[[], Any], prog: str = "ivsrt plan") -> int:
    """Plan ``args.stacks`` of the assembly ``args.new`` against ``old_templates()`` (a
    ``planner.TemplateSource``), print it as ``args.output`` says; the exit code."""
    from ivsrt_cli.assembly import AssemblyError, choose, read_stacks
    from ivsrt_cli.planner import RENDERINGS, PlanError, plan_stacks

    try:
        plans = plan_stacks(choose(read_stacks(args.new), args.stacks), old_templates())
    except (AssemblyError, PlanError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(RENDERINGS[args.output](plans))
    return 1 if args.fail_on_replace and any(plan.count("replace") for plan in plans) else 0
