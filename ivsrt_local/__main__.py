"""``python -m ivsrt_local``: the local endpoint, a local deploy, and the demo.

    python -m ivsrt_local demo [--context K=V] [--update-context K=V]   # synth, deploy, update, destroy
    python -m ivsrt_local endpoint --port 4599
    python -m ivsrt_local deploy  [STACK ...] [--assembly cdk.out]   (AWS_ENDPOINT_URL_IVS_REALTIME set)
    python -m ivsrt_local destroy [STACK ...]
    python -m ivsrt_local plan    [STACK ...] [--assembly cdk.out] [--markdown | --json]   (ivsrt plan, locally)
    python -m ivsrt_local drift   [STACK ...] [--json] [--revert] [--delete-orphans]   (ivsrt drift, locally)

With no STACK, every stack of the assembly (deploy) or every deployed one (destroy), in
dependency order. A stack's region is its environment's, else --region.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ivsrt_cli import drift as drift_command
from ivsrt_cli.plan import add_output_arguments, plan_and_print
from ivsrt_local import drift as local_drift
from ivsrt_local import endpoint as endpoint_module
from ivsrt_local.assembly import read_assembly, select_stacks
from ivsrt_local.deploy import default_state_dir, deploy_stacks, destroy_stacks, recorded_template
from ivsrt_local.deployer import LOCAL_CREDENTIALS, Change
from ivsrt_local.stack_state import DeployError
from ivsrt_runtime import rules

# The CLI is kept offline and quiet: no version check, no telemetry (notices are off in cdk.json).
QUIET_CDK_ENV = {"CDK_DISABLE_VERSION_CHECK": "1", "CDK_DISABLE_CLI_TELEMETRY": "true"}


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got: {value}")
    return value


def cdk_cli(project: Path, given: Path | None) -> Path:
    """The CDK CLI: the one given, else the project's pinned ``node_modules/.bin/cdk``, else ``cdk``
    on the PATH."""
    pinned = project / "node_modules" / ".bin" / "cdk"
    on_path = shutil.which("cdk")
    found = given or (pinned if pinned.exists() else Path(on_path) if on_path else None)
    if found is None or not found.exists():
        raise SystemExit("error: no CDK CLI: pass --cdk, install it in the project (npm ci), or put cdk on the PATH")
    return found


def cdk_synth(cli: Path, project: Path, output: Path, context: dict[str, str]) -> float:
    """Run the CDK CLI's synth of the app in ``project``; return seconds taken."""
    command = [str(cli), "synth", "--quiet", "--output", str(output)]
    for key, value in context.items():
        command += ["--context", f"{key}={value}"]
    started = time.perf_counter()
    env = {**os.environ, **QUIET_CDK_ENV, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    completed = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout + completed.stderr)
        raise SystemExit(f"cdk synth failed ({completed.returncode})")
    return time.perf_counter() - started


def display_client(endpoint_url: str) -> Any:
    """A client for the listings printed here (not the handler's): botocore's own retries, enough
    for a display under the endpoint's rate limits."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "ivs-realtime", endpoint_url=endpoint_url, config=Config(retries={"mode": "standard", "total_max_attempts": 10})
    )


def print_progress(line: str) -> None:
    print(line, flush=True)


def describe_endpoint(client: Any) -> tuple[list[tuple[str, str, str, dict[str, str]]], int]:
    """(type, name, ARN, tags) of everything live at the endpoint, read through the public API,
    and how many stopped compositions it still lists (IVS deletes them a few minutes later)."""
    rows, stopped = [], 0
    for resource in rules.RESOURCES.values():
        # One page of 100 is plenty for a demo stack (this is a display, not an inventory).
        for summary in getattr(client, rules.snake_case(resource.list_operation))(maxResults=100)[resource.list_key]:
            if summary.get("state") == "STOPPED":
                stopped += 1
                continue
            tags = client.list_tags_for_resource(resourceArn=summary["arn"])["tags"]
            label = summary.get("name") or summary.get("state", "")
            rows.append((resource.noun, label, summary["arn"], tags))
    return rows, stopped


def print_changes(title: str, changes: list[Change]) -> None:
    print(f"\n== {title}: {len(changes)} change(s)")
    for change in changes:
        detail = f"  ({change.detail})" if change.detail else ""
        print(f"  {change.action:<8} {change.resource_type:<42} {change.logical_id:<28} {change.physical_id}{detail}")
    failed = sum(change.action == "delete-failed" for change in changes)
    if failed:  # as CloudFormation: the deployment stands, the old resource is left behind
        print(f"WARNING: {failed} old resource(s) could not be deleted in the cleanup and were left behind")


def print_endpoint(client: Any) -> None:
    rows, stopped = describe_endpoint(client)
    listed = f", {stopped} stopped composition(s), listed until IVS deletes them" if stopped else ""
    print(f"-- at the endpoint: {len(rows)} live resource(s){listed}")
    for noun, name, arn, tags in rows:
        print(f"  {noun:<22} {name:<45} {arn}")
        print(f"  {'':<22} tags: {', '.join(f'{k}={v}' for k, v in sorted(tags.items())) or '-'}")


def _context(pairs: list[str]) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in pairs)


def _context_pair(text: str) -> str:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"must be KEY=VALUE, got: {text!r}")
    return text


def _describe_update(first: dict[str, str], update: dict[str, str]) -> str:
    changed = [f"{key}: {first.get(key, '-')} -> {value}" for key, value in update.items()]
    return f"update ({'; '.join(changed) or 'synthesized again'})"


def demo(project: Path, cli: Path, first: dict[str, str], update: dict[str, str]) -> None:
    """Synthesize the app in ``project`` with the CDK CLI (context ``first``), deploy every stack to
    a local endpoint, synthesize again with ``update`` over it and deploy that, then destroy."""
    for key, value in {**LOCAL_CREDENTIALS, "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(key, value)
    region = os.environ["AWS_DEFAULT_REGION"]
    output = project / "cdk.out" / "demo"
    shutil.rmtree(output, ignore_errors=True)
    with endpoint_module.LocalIvsRealtime() as ivs, tempfile.TemporaryDirectory(prefix="ivsrt-demo-") as state_dir:
        os.environ["AWS_ENDPOINT_URL_IVS_REALTIME"] = ivs.url
        print(f"local IVS Real-Time endpoint: {ivs.url}")
        client = display_client(ivs.url)
        for step, (title, context) in enumerate((("deploy", first), (_describe_update(first, update), {**first, **update}))):
            assembly = output / f"v{step + 1}"
            seconds = cdk_synth(cli, project, assembly, context)
            shown = " ".join(f"{key}={value}" for key, value in context.items()) or "no context"
            print(f"{chr(10) if step else ''}cdk synth ({shown}): {seconds:.1f}s -> {assembly}")
            stacks = select_stacks(read_assembly(assembly), [])
            changes = deploy_stacks(stacks, Path(state_dir), region, progress=print_progress)
            print_changes(title, [change for stack_changes in changes.values() for change in stack_changes])
            print_endpoint(client)
        changes = destroy_stacks([], Path(state_dir), progress=print_progress)
        print_changes("destroy", [change for stack_changes in changes.values() for change in stack_changes])
        print_endpoint(client)
        print(f"\nAPI calls received by the endpoint: {len(ivs.state.calls)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m ivsrt_local", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("demo", help="synth the app with the CDK CLI, deploy, update and destroy it locally")
    show.add_argument("--project", type=Path, default=Path.cwd(), help="the app's folder, with cdk.json (default: here)")
    show.add_argument(
        "--cdk", type=Path, default=None, help="the CDK CLI (default: the project's node_modules/.bin/cdk, else cdk on the PATH)"
    )
    show.add_argument(
        "--context",
        type=_context_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="context for the first synth (repeatable)",
    )
    show.add_argument(
        "--update-context",
        type=_context_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="context changed for the second synth, the update (repeatable)",
    )
    serve = commands.add_parser("endpoint", help="run the local IVS Real-Time endpoint")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=4599)
    serve.add_argument(
        "--rate-scale", type=float, default=None, help="multiply the API rate quotas by this; 0 turns them off (default: 1)"
    )
    serve.add_argument(
        "--composition-speed",
        type=str,
        default=None,
        help="run compositions' starts, stops and listing this many times faster than the service (default: 1)",
    )
    for name in ("deploy", "destroy"):
        command = commands.add_parser(name, help=f"{name} stacks' IVS resources at $AWS_ENDPOINT_URL_IVS_REALTIME")
        command.add_argument("stacks", nargs="*", metavar="STACK", help="stack names (default: all)")
        command.add_argument("--stack", dest="more_stacks", action="append", default=[], help="a stack name (repeatable)")
        command.add_argument(
            "--state-dir",
            type=Path,
            default=None,
            help="where stack states are kept (default: $IVSRT_LOCAL_STATE_DIR or .local-deploy)",
        )
        command.add_argument(
            "--concurrency",
            type=_at_least_one,
            default=None,
            help="events in flight at once (default: no bound, as CloudFormation)",
        )
        if name == "deploy":
            command.add_argument("--assembly", type=Path, default=Path("cdk.out"))
            command.add_argument(
                "--region",
                default=None,
                help="for stacks whose environment names none (default: $AWS_DEFAULT_REGION, else us-east-1)",
            )
    plan = commands.add_parser("plan", help="what deploy would do to each IVS resource (ivsrt plan against the runner's state)")
    plan.add_argument("stacks", nargs="*", metavar="STACK", help="artifact ids or stack names (default: all)")
    plan.add_argument("--assembly", dest="new", type=Path, default=Path("cdk.out"))
    plan.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where stack states are kept (default: $IVSRT_LOCAL_STATE_DIR or .local-deploy)",
    )
    add_output_arguments(plan)
    drift = commands.add_parser("drift", help="ivsrt drift against the endpoint and the runner's deployed stacks")
    drift_command.add_arguments(drift)
    drift.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where stack states are kept (default: $IVSRT_LOCAL_STATE_DIR or .local-deploy)",
    )
    args = parser.parse_args(argv)

    if args.command == "drift":
        sys.exit(run_drift(args))

    if args.command == "plan":
        sys.exit(
            plan_and_print(args, lambda: recorded_templates(args.state_dir or default_state_dir()), "python -m ivsrt_local plan")
        )
    if args.command == "demo":
        demo(args.project, cdk_cli(args.project, args.cdk), _context(args.context), _context(args.update_context))
    elif args.command == "endpoint":
        endpoint_module.main(
            ["--host", args.host, "--port", str(args.port)]
            + (["--rate-scale", str(args.rate_scale)] if args.rate_scale is not None else [])
            + (["--composition-speed", args.composition_speed] if args.composition_speed else [])
        )
    else:
        try:
            run_stacks(args)
        except (DeployError, OSError, ValueError) as error:  # a user's mistake or a failed deploy: one line
            raise SystemExit(f"error: {error}") from None


def recorded_templates(state_dir: Path) -> Any:
    """``ivsrt plan``'s old templates (a ``planner.TemplateSource``): what the runner last deployed."""
    from ivsrt_cli.planner import PlanError

    def template(stack: Any) -> dict[str, Any] | None:
        try:
            return recorded_template(state_dir, stack.artifact_id)
        except DeployError as error:
            raise PlanError(str(error)) from None

    return template


def run_drift(args: argparse.Namespace) -> int:
    """``ivsrt drift``'s report and exit code, for the runner's stacks at the endpoint."""
    try:
        url = os.environ.get("AWS_ENDPOINT_URL_IVS_REALTIME")
        if not url:
            raise DeployError("set AWS_ENDPOINT_URL_IVS_REALTIME to the endpoint the stacks are deployed to")
        _reachable(url)
        return local_drift.run(args, args.state_dir or default_state_dir())
    except (DeployError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return drift_command.EXIT_ERROR


def _reachable(url: str) -> None:
    """Fail at once, not after every event's retries, when nothing answers at ``url``."""
    try:
        urllib.request.urlopen(url, timeout=5).close()
    except urllib.error.HTTPError:
        return  # something answered
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise DeployError(f"nothing answers at AWS_ENDPOINT_URL_IVS_REALTIME={url} ({reason})") from None


def run_stacks(args: argparse.Namespace) -> None:
    url = os.environ.get("AWS_ENDPOINT_URL_IVS_REALTIME")
    if not url:
        raise DeployError(
            "set AWS_ENDPOINT_URL_IVS_REALTIME to the endpoint to deploy to (python -m ivsrt_local endpoint prints it)"
        )
    _reachable(url)
    names = [*args.stacks, *args.more_stacks]
    state_dir = args.state_dir or default_state_dir()
    options = {"concurrency": args.concurrency, "progress": print_progress}
    if args.command == "deploy":
        stacks = select_stacks(read_assembly(args.assembly), names)
        region = args.region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        for stack in stacks:  # one at a time, to print each one's changes as it ends
            print(f"\n== {stack.stack_name} ({stack.region or region})", flush=True)
            for changes in deploy_stacks([stack], state_dir, region, **options).values():
                print_changes("deploy", changes)
    else:
        for stack_name, changes in destroy_stacks(names, state_dir, **options).items():
            print(f"\n== {stack_name}")
            print_changes("destroy", changes)


if __name__ == "__main__":
    main()
