"""``ivsrt drift [STACK ...] [--json] [--revert] [--delete-orphans]``: compare every IVS Real-Time
resource of the stacks (default: every stack with a recorded desired state) with its desired
state, list the orphans, and correct what is asked.

With the caller's credentials through boto3: CloudFormation, Parameter Store, IVS Real-Time
(``AWS_ENDPOINT_URL_CLOUDFORMATION``, ``_SSM``, ``_IVS_REALTIME`` honoured). Read-only unless
``--revert`` or ``--delete-orphans``. Exit code: 0 in sync, 1 drift or orphans found, 2 an error
(a stack that cannot be read, a resource with no recorded desired state).

``python -m ivsrt_local drift`` runs the same report against the local runner's stacks.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TextIO

EXIT_IN_SYNC, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "stacks", nargs="*", metavar="STACK", help="stack names (default: every stack with a recorded desired state)"
    )
    parser.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    parser.add_argument(
        "--revert",
        action="store_true",
        help="put MODIFIED resources back in place (UpdateStage, TagResource / UntagResource, ...)",
    )
    parser.add_argument("--delete-orphans", action="store_true", help="delete the orphans found")


def run(args: argparse.Namespace) -> int:
    from ivsrt_runtime import calls, clients
    from ivsrt_runtime.drift_check import CloudFormationStacks

    ssm = calls.Request(get_client=clients.ssm_client, subject="Parameter Store")
    source = CloudFormationStacks(calls.Request(get_client=clients.cloudformation_client, subject="CloudFormation"), ssm)
    return execute(args, source, lambda: clients.ivs_client(), clients.ssm_client)


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def execute(args: argparse.Namespace, source: Any, ivs_client: Any, ssm_client: Any, out: TextIO | None = None) -> int:
    """The report for ``args`` from ``source`` (a ``drift_check.StackSource``); the exit code."""
    from botocore.exceptions import BotoCoreError

    from ivsrt_runtime import calls

    try:
        reports = detect(args, source, ivs_client, ssm_client)
    except (calls.RequestFailed, BotoCoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    return write(args, reports, out or sys.stdout)


def detect(args: argparse.Namespace, source: Any, ivs_client: Any, ssm_client: Any) -> list[Any]:
    """Every stack's ``StackReport`` (one region: the clients'), with the corrections ``args``
    asks for made; a failure raises (``RequestFailed``, botocore's errors)."""
    from ivsrt_runtime import calls
    from ivsrt_runtime.drift_check import Detector

    token = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    detector = Detector(
        calls.Request(get_client=ivs_client, subject="IVS Real-Time"),
        calls.Request(get_client=ssm_client, subject="Parameter Store"),
        progress,
        token,
    )
    stacks = source.stacks(list(args.stacks))
    reports = {stack.name: detector.check(stack) for stack in stacks}
    detector.orphans(stacks, reports)
    for stack in stacks:
        if args.revert:
            detector.revert(reports[stack.name])
        if args.delete_orphans:
            detector.delete_orphans(reports[stack.name])
    return list(reports.values())


def write(args: argparse.Namespace, reports: list[Any], out: TextIO) -> int:
    """The reports as a table (or JSON, ``--json``) on ``out``; the exit code. No stacks at all
    (nothing deployed, or none with a recorded desired state) is in sync, and said on stderr."""
    if not reports:
        print("no deployed stacks to check", file=sys.stderr)
    if args.json:
        out.write(json.dumps({"stacks": [report.to_json() for report in reports]}, indent=2) + "\n")
    else:
        out.write(table(reports))
    if any(report.unknown for report in reports):
        return EXIT_ERROR
    return EXIT_DRIFT if any(report.drifted for report in reports) else EXIT_IN_SYNC


def _value(value: Any) -> str:
    return "(absent)" if value is None else json.dumps(value)


def table(reports: list[Any]) -> str:
    """The readable report: a block per stack, a line per resource, a line per difference."""
    lines = []
    for report in reports:
        lines.append(f"Stack {report.stack}")
        rows = [(r.status, r.logical_id, r.type.removeprefix("Custom::IvsRealtime"), r.arn) for r in report.resources]
        rows += [("ORPHAN", "-", o.type.removeprefix("Custom::IvsRealtime"), o.arn) for o in report.orphans]
        widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(("STATUS", "LOGICAL ID", "TYPE"))]
        lines.append(f"  {'STATUS':<{widths[0]}}  {'LOGICAL ID':<{widths[1]}}  {'TYPE':<{widths[2]}}  ARN")
        for resource in report.resources:
            status, logical_id, kind, arn = resource.status, resource.logical_id, resource.type, resource.arn
            kind = kind.removeprefix("Custom::IvsRealtime")
            lines.append(f"  {status:<{widths[0]}}  {logical_id:<{widths[1]}}  {kind:<{widths[2]}}  {arn}")
            for d in resource.differences:
                how = "in place" if d.in_place else "replaces"
                lines.append(f"      {d.path}: expected {_value(d.expected)}, actual {_value(d.actual)} ({how})")
            if resource.status == "UNKNOWN":
                lines.append("      no desired state recorded: any update of the resource records it")
            if resource.outcome:
                lines.append(f"      {resource.outcome}")
        for orphan in report.orphans:
            kind = orphan.type.removeprefix("Custom::IvsRealtime")
            lines.append(f"  {'ORPHAN':<{widths[0]}}  {'-':<{widths[1]}}  {kind:<{widths[2]}}  {orphan.arn}")
            if orphan.outcome:
                lines.append(f"      {orphan.outcome}")
        counts = {s: sum(r.status == s for r in report.resources) for s in ("IN_SYNC", "MODIFIED", "DELETED", "UNKNOWN")}
        summary = ", ".join(f"{n} {s.lower().replace('_', ' ')}" for s, n in counts.items() if n)
        lines.append(f"  {summary or 'no managed resources'}, {len(report.orphans)} orphan(s)")
        if report.restore:
            lines.append(f"  restore what cannot be corrected in place: {report.restore}")
        lines.append("")
    return "\n".join(lines)
