"""The drift check of a fleet under the rate quotas (``python -m benchmarks --only drift``).

One stack of N stages (``sample.fleet``) deployed by the local runner to an endpoint in its own
process with the service's rate quotas on; then, out of band through boto3, a stage renamed, one
re-tagged, one deleted, and an orphan made (a stage carrying another's identity tag). The
detector (``ivsrt_runtime.drift_check``) runs over the stack as ``ivsrt drift`` runs it: every
resource checked, then the orphans' Lists. Its wall time is set against the floor of its calls:
for each operation, the calls the endpoint accepted over that operation's rate quota; the floor
is the largest of those (each operation has a quota of its own, so calls of different operations
need not wait for one another). Parameter Store is not held to a quota at the endpoint; its
``GetParametersByPath`` calls are counted at the 40 per second Parameter Store allows by default.

Each size is checked four times (``RUNS``): one resource at a time and four at once, each with
GetStage answered at once and 0.3 s late (a detector far from the region). The figures and what
they showed are in docs/design.md, "Benchmarks".
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

# Parameter Store's default throughput (GetParameter, GetParameters, GetParametersByPath shared),
# transactions per second per account and region; the endpoint does not enforce it.
SSM_RATE_QUOTA = 40.0


def _out_of_band(url: str, state: Any) -> dict[str, str]:
    """The changes an operator might make by hand: which logical id got which."""
    import boto3
    from botocore.config import Config

    from ivsrt_runtime.rules import IDENTITY_TAG

    client = boto3.client("ivs-realtime", endpoint_url=url, config=Config(retries={"mode": "standard", "total_max_attempts": 20}))
    stages = sorted((r for r in state.resources.values() if r.resource_type.endswith("Stage")), key=lambda r: r.logical_id)
    renamed, retagged, deleted, copied = stages[:4]
    client.update_stage(arn=renamed.physical_id, name="renamed-by-hand")
    client.tag_resource(resourceArn=retagged.physical_id, tags={"environment": "by-hand"})
    client.delete_stage(arn=deleted.physical_id)
    identity = client.get_stage(arn=copied.physical_id)["stage"]["tags"][IDENTITY_TAG]
    client.create_stage(name="leftover", tags={IDENTITY_TAG: identity})
    return {
        "MODIFIED": f"{renamed.logical_id} (name), {retagged.logical_id} (tag)",
        "DELETED": deleted.logical_id,
        "ORPHAN": f"carrying {copied.logical_id}'s identity",
    }


def _check(stack: Any, concurrency: int) -> tuple[float, Any]:
    from ivsrt_runtime import calls, clients
    from ivsrt_runtime.drift_check import Detector

    detector = Detector(
        calls.Request(get_client=clients.ivs_client, subject="IVS Real-Time"),
        calls.Request(get_client=clients.ssm_client, subject="Parameter Store"),
        concurrency=concurrency,
    )
    started = time.perf_counter()
    report = detector.check(stack)
    detector.orphans([stack], {stack.name: report})
    return time.perf_counter() - started, report


def _delay_gets(url: str, count: int, seconds: float) -> None:
    """The next ``count`` GetStage answers each ``seconds`` late (a fault the endpoint applies
    only to calls the rate quota let through)."""
    import json
    import urllib.request

    body = json.dumps([{"kind": "latency", "operation": "GetStage", "times": count, "seconds": seconds}]).encode()
    urllib.request.urlopen(urllib.request.Request(f"{url}/_local/faults", data=body, method="POST")).close()


# (resources observed at once, seconds each GetStage takes beyond the endpoint's own): the
# detector as it runs by default, one at a time, and either far from the region.
RUNS = ((1, 0.0), (4, 0.0), (1, 0.3), (4, 0.3))


def drift_check(sizes: list[int], runs: tuple[tuple[int, float], ...] = RUNS) -> dict[str, Any]:
    from benchmarks.__main__ import EndpointProcess
    from ivsrt_local.deployer import LocalDeployer
    from ivsrt_local.drift import as_stack
    from ivsrt_local.stack_state import StackState
    from ivsrt_runtime import provider as handler
    from ivsrt_runtime.rules import rate_quota
    from sample import fleet

    workdir = Path(tempfile.mkdtemp(prefix="drift-"))
    rows = []
    with EndpointProcess() as endpoint:
        os.environ["AWS_ENDPOINT_URL_IVS_REALTIME"] = os.environ["AWS_ENDPOINT_URL_SSM"] = endpoint.url
        for n in sizes:
            template = fleet.synth(workdir / str(n), n, 0, "a")
            endpoint.control("reset", "POST")
            deployer = LocalDeployer(StackState(fleet.STACK_NAME, "us-east-1"), handler)
            deployer.deploy(template)
            changes = _out_of_band(endpoint.url, deployer.state)
            stack = as_stack(deployer.state)
            for workers, latency in runs:
                endpoint.control("rate-limits", "POST")  # full buckets: each run starts alike
                if latency:
                    _delay_gets(endpoint.url, n, latency)
                before = endpoint.control("state")
                seconds, report = _check(stack, workers)
                after = endpoint.control("state")
                throttled = {op: count - before["throttled"].get(op, 0) for op, count in after["throttled"].items()}
                made: dict[str, int] = {}
                for name in after["calls"][len(before["calls"]) :]:
                    made[name] = made.get(name, 0) + 1
                accepted = {op: count - throttled.get(op, 0) for op, count in made.items()}
                for name in after["ssm_calls"][len(before["ssm_calls"]) :]:
                    accepted[name] = accepted.get(name, 0) + 1
                floors = {
                    op: count / (SSM_RATE_QUOTA if op.startswith("ssm:") else rate_quota(op)) for op, count in accepted.items()
                }
                statuses: dict[str, int] = {}
                for resource in report.resources:
                    statuses[resource.status] = statuses.get(resource.status, 0) + 1
                floor = max(floors.values())
                rows.append(
                    {
                        "n": n,
                        "concurrency": workers,
                        "latency_s": latency,
                        "seconds": seconds,
                        "floor_s": floor,
                        "floor_sequential_s": sum(floors.values()),
                        "ratio": seconds / floor,
                        "calls": accepted,
                        "calls_per_resource": sum(accepted.values()) / n,
                        "throttled": sum(throttled.values()),
                        "statuses": statuses,
                        "orphans": len(report.orphans),
                        "changes": changes,
                    }
                )
                print(
                    f"   drift N={n} concurrency {workers}, GetStage +{latency:g} s: {seconds:.1f} s "
                    f"({seconds / floor:.2f} x floor)",
                    flush=True,
                )
    return {"rows": rows}


def print_drift(r: dict[str, Any]) -> None:
    print(
        "7. drift check of one stack of N stages under the rate quotas (endpoint in its own process; a stage "
        "renamed, one re-tagged, one deleted, one orphan; floor = max over operations of calls / quota)"
    )
    print(
        f"   {'N':>4} {'workers':>7} {'+latency':>8} {'wall s':>7} {'floor s':>8} {'wall/floor':>10} {'seq floor':>9} "
        f"{'calls/res':>9} {'throttled':>9}  found; calls by operation"
    )
    for row in r["drift"]["rows"]:
        found = ", ".join(f"{count} {status}" for status, count in sorted(row["statuses"].items()))
        by_operation = ", ".join(f"{op} {count}" for op, count in sorted(row["calls"].items()))
        print(
            f"   {row['n']:>4} {row['concurrency']:>7} {row['latency_s']:>7g}s {row['seconds']:>7.1f} {row['floor_s']:>8.1f} "
            f"{row['ratio']:>10.2f} {row['floor_sequential_s']:>9.1f} {row['calls_per_resource']:>9.2f} "
            f"{row['throttled']:>9}  {found}, {row['orphans']} orphan(s); {by_operation}"
        )
