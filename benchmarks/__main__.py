"""``python -m benchmarks``: figures, not pass/fail. Prints a table and writes benchmarks/results/latest.json.

1. Synth scaling: N stages (with tags and recording) built with our ``Stage`` and with the native
   ``aws_ivs.CfnStage``, side by side in one process (jsii warm for both), for N = 1, 50, 200, 500;
   the jsii round trips per stage, and the cost of each layer a stage is made of (``synth_layers``).
   1b. The same in fresh interpreters (``synth_process``): import + build + synth, wall and CPU,
   the whole-process ratio at N = 200 and the marginal one (the stages added from N = 20 to 500).
2. API calls per lifecycle step, counted at the local endpoint, for each type.
3. Handler cold start in fresh interpreters, against ``import boto3`` and against plain boto3
   making the same first call; and the Lambda asset's size.
4. Handler throughput: N creates then N deletes in sequence, median latency per operation.
5. Fleet under rate limits: one stack of N stages deployed, tag-updated (a ``Tags.of`` change)
   and destroyed by the local runner, every event at once, against an endpoint (its own
   process) that enforces the service's API rate quotas. Each phase's wall time is divided by
   the rate floor, N / 5 s (CreateStage, GetStage and DeleteStage allow 5 calls a second).
7. Drift check (``benchmarks/drift.py``): the detector over one stack of N stages with a few
   changes made out of band, same endpoint; wall time over the floor of its calls, calls per
   resource, by operation; one caller and four, each also with GetStage answering 0.3 s late.

Each figure is a ratio or a count from one run, so it holds on a noisy machine; times are the
median of several repetitions.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import drift

ROOT = Path(__file__).resolve().parent.parent
os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")

STORAGE_ARN = "arn:aws:ivs:us-east-1:123456789012:storage-configuration/AbCd"
# 500 of our stages plus the provider's 8 resources exceed CloudFormation's 500 per stack, which
# CDK checks at synth; the check is lifted for both sides so synth cost can be measured. A real
# app splits such a fleet across stacks (one provider each).
CONTEXT = {"@aws-cdk/core:stackResourceLimit": 1000}


# ---------------------------------------------------------------------------------------------
# 1. Synth scaling
# ---------------------------------------------------------------------------------------------


def build_ours(n: int) -> Any:
    import aws_cdk as cdk

    from constructs_ivsrt import AutoParticipantRecording, Stage, StorageConfiguration

    app = cdk.App(context=CONTEXT)
    stack = cdk.Stack(app, "Ours")
    storage = StorageConfiguration.from_storage_configuration_arn(stack, "Storage", STORAGE_ARN)
    for i in range(n):
        Stage(
            stack,
            f"Stage{i}",
            tags={"team": "live"},
            auto_participant_recording=AutoParticipantRecording(storage_configuration=storage),
        )
    cdk.Tags.of(stack).add("env", "bench")
    return app.synth()


def build_l1(n: int) -> Any:
    import aws_cdk as cdk
    from aws_cdk import aws_ivs as ivs

    app = cdk.App(context=CONTEXT)
    stack = cdk.Stack(app, "Native")
    for i in range(n):
        ivs.CfnStage(
            stack,
            f"Stage{i}",
            name=f"stage-{i}",
            tags=[cdk.CfnTag(key="team", value="live")],
            auto_participant_recording_configuration=ivs.CfnStage.AutoParticipantRecordingConfigurationProperty(
                storage_configuration_arn=STORAGE_ARN
            ),
        )
    cdk.Tags.of(stack).add("env", "bench")
    return app.synth()


def _peak_rss_kib() -> int:
    """Peak resident memory (VmHWM) of this process plus its descendants: jsii's launcher and the
    Node kernel it forks."""
    processes = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        processes[status.parent.name] = (fields.get("PPid", "").strip(), int(fields.get("VmHWM", "0 kB").split()[0]))
    family, frontier = {str(os.getpid())}, {str(os.getpid())}
    while frontier:
        frontier = {pid for pid, (parent, _) in processes.items() if parent in frontier} - family
        family |= frontier
    return sum(processes[pid][1] for pid in family if pid in processes)


BUILDERS = {"ours": build_ours, "l1": build_l1}


def peak_memory_mib(kind: str, n: int) -> float:
    """Build and synth in a fresh interpreter; its peak memory (Python + Node), in MiB."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--memory-probe", kind, str(n)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def measure(build: Callable[[int], Any], n: int) -> float:
    """Wall time of build + synth, in seconds."""
    gc.collect()
    started = time.perf_counter()
    build(n)
    return time.perf_counter() - started


def synth_scaling(sizes: list[int], repeats: int) -> list[dict[str, Any]]:
    import aws_cdk  # noqa: F401  (jsii starts here, outside every measurement)

    build_ours(1), build_l1(1)  # warm both paths
    rows = []
    for n in sizes:
        ours, l1 = [], []
        for _ in range(repeats):  # alternate so drift hits both
            ours.append(measure(build_ours, n))
            l1.append(measure(build_l1, n))
        row = {
            "n": n,
            "ours_s": statistics.median(ours),
            "l1_s": statistics.median(l1),
            "ours_mib": peak_memory_mib("ours", n),
            "l1_mib": peak_memory_mib("l1", n),
        }
        row["ratio"] = row["ours_s"] / row["l1_s"]
        rows.append(row)
    for previous, row in zip(rows, rows[1:], strict=False):
        added = row["n"] - previous["n"]
        row["ours_ms_per_added_stage"] = 1000 * (row["ours_s"] - previous["ours_s"]) / added
        row["l1_ms_per_added_stage"] = 1000 * (row["l1_s"] - previous["l1_s"]) / added
        row["marginal_ratio"] = row["ours_ms_per_added_stage"] / row["l1_ms_per_added_stage"]
    return rows


def jsii_round_trips(sizes: tuple[int, int] = (10, 210)) -> dict[str, dict[str, float]]:
    """Requests from Python to the jsii kernel (and callbacks back) per added stage, by kind:
    where the synth time goes. Counted by wrapping the jsii runtime's process channel, a private
    API of jsii's that a benchmark may lean on."""
    import collections

    from jsii._kernel.providers import process

    counts: collections.Counter[str] = collections.Counter()
    send = process._NodeProcess.send

    def counting(self: Any, request: Any, response_type: Any) -> Any:
        counts[type(request).__name__.removesuffix("Request").lstrip("_")] += 1
        return send(self, request, response_type)

    per_stage = {}
    process._NodeProcess.send = counting
    try:
        for kind, build in BUILDERS.items():
            totals = []
            for n in sizes:
                counts.clear()
                build(n)
                totals.append(dict(counts))
            added = sizes[1] - sizes[0]
            per_stage[kind] = {
                name: (totals[1].get(name, 0) - totals[0].get(name, 0)) / added
                for name in sorted(set(totals[0]) | set(totals[1]))
            }
    finally:
        process._NodeProcess.send = send
    return per_stage


def synth_layers(sizes: tuple[int, int] = (20, 200), repeats: int = 5) -> dict[str, float]:
    """Where a stage's synth cost comes from: ms per added stage (build + synth, one warm
    process, ``Tags.of`` on the stack), one layer at a time, from a bare ``CfnResource`` to a
    taggable Python subclass (what ``Stage`` was), and the TypeScript ``TaggableCustomResource``
    it is now, beside ``CfnStage`` and ``Stage``."""
    import aws_cdk as cdk
    import jsii

    class Subclass(cdk.CfnResource):
        """A Python subclass: jsii makes a JavaScript proxy for it."""

    class WithTags(cdk.CfnResource):
        """A TagManager and its rendered tags in the properties, not reachable by Tags.of."""

        def __init__(self, scope: Any, id: str, properties: dict[str, Any]) -> None:
            self._tags = cdk.TagManager(cdk.TagType.KEY_VALUE, "Custom::Layer", {"team": "live"})
            self._properties = {**properties, "tags": self._tags.rendered_tags}
            super().__init__(scope, id, type="Custom::Layer", properties=self._properties)

    @jsii.implements(cdk.ITaggable)
    class Taggable(WithTags):
        """As ManagedResource is: Tags.of reads ``tags``, synth reads the properties, both from Python."""

        @property
        def tags(self) -> cdk.TagManager:
            return self._tags

        @property
        def _cfn_properties(self) -> dict[str, Any]:
            return self._properties

    class WithRemovalPolicy(Taggable):
        def __init__(self, scope: Any, id: str, properties: dict[str, Any]) -> None:
            super().__init__(scope, id, properties)
            self.apply_removal_policy(cdk.RemovalPolicy.DESTROY)

    def native_layer(scope: Any, id: str, props: dict[str, Any]) -> Any:
        """What ManagedResource is made as: tags, properties and removal policy in one message."""
        from constructs_ivsrt._native import TaggableCustomResource, TaggableCustomResourceProps

        return TaggableCustomResource(
            scope,
            id,
            TaggableCustomResourceProps(
                type="Custom::Layer", properties=props, initial_tags={"team": "live"}, removal_policy=cdk.RemovalPolicy.DESTROY
            ),
        )

    properties = {
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:f",
        "name": "stage",
        "autoParticipantRecordingConfiguration": {"storageConfigurationArn": STORAGE_ARN},
    }

    def layer(make: Callable[..., Any]) -> Callable[[int], Any]:
        def build(n: int) -> Any:
            app = cdk.App(context=CONTEXT)
            stack = cdk.Stack(app, "Layer")
            for i in range(n):
                make(stack, f"Stage{i}", properties)
            cdk.Tags.of(stack).add("env", "bench")
            return app.synth()

        return build

    builds = {
        "CfnStage": build_l1,
        "CfnResource": layer(lambda scope, id, props: cdk.CfnResource(scope, id, type="Custom::Layer", properties=props)),
        "+ Python subclass": layer(lambda scope, id, props: Subclass(scope, id, type="Custom::Layer", properties=props)),
        "+ TagManager, rendered tags": layer(WithTags),
        "+ taggable (ITaggable, 4 callbacks)": layer(Taggable),
        "+ apply_removal_policy": layer(WithRemovalPolicy),
        "TaggableCustomResource (TypeScript)": layer(native_layer),
        "Stage": build_ours,
    }
    for build in builds.values():
        build(1)
    samples: dict[str, dict[int, list[float]]] = {name: {n: [] for n in sizes} for name in builds}
    for _ in range(repeats):
        for n in sizes:
            for name, build in builds.items():
                samples[name][n].append(measure(build, n))
    return {
        name: 1000 * (statistics.median(by_n[sizes[1]]) - statistics.median(by_n[sizes[0]])) / (sizes[1] - sizes[0])
        for name, by_n in samples.items()
    }


SYNTH_PROBE = "import sys; from benchmarks.__main__ import BUILDERS; BUILDERS[sys.argv[1]](int(sys.argv[2]))"


def synth_process(sizes: list[int], repeats: int, whole_n: int = 200, bytecode: bool = True) -> dict[str, Any]:
    """Import, build and synth of N stages in a fresh interpreter, ours against ``CfnStage``: what
    a ``cdk synth`` of such an app costs. Wall time, and CPU time of the interpreter and the jsii
    kernel (Node) it starts (``os.wait4``: a child's figures include the children it waited for).
    The whole-process ratio is at ``whole_n`` stages; the marginal one is the cost of the stages
    added between the smallest and the largest N, ours over the L1's (a difference of two noisy
    figures: the wider the span, the steadier it is).

    ``bytecode``: the interpreters read and write bytecode caches (in a folder of their own, filled
    by a first run of each kind that is not counted), as an installed package has them. Without
    (``PYTHONDONTWRITEBYTECODE`` and no cache, as in this repository's environment), every run
    compiles aws-cdk-lib's modules it imports: ``aws_lambda`` and ``aws_ec2`` behind it, which
    ours imports and ``CfnStage`` does not, about 1.5 s of CPU."""
    import shutil
    import tempfile

    cache = tempfile.mkdtemp(prefix="synth-pyc-")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    if bytecode:
        env["PYTHONPYCACHEPREFIX"] = cache
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"

    def run(kind: str, n: int) -> tuple[float, float]:
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-c", SYNTH_PROBE, kind, str(n)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            raise RuntimeError(f"synth probe {kind} {n} failed: exit {child.returncode}")
        return wall, usage.ru_utime + usage.ru_stime

    try:
        if bytecode:
            for kind in BUILDERS:
                run(kind, 1)
        samples: dict[tuple[str, int], list[tuple[float, float]]] = {(k, n): [] for k in BUILDERS for n in sizes}
        for _ in range(repeats):  # interleaved, so that a busy moment of the machine falls on all alike
            for n in sizes:
                for kind in BUILDERS:
                    samples[kind, n].append(run(kind, n))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    median = {
        key: (statistics.median(w for w, _ in values), statistics.median(c for _, c in values)) for key, values in samples.items()
    }
    small, large = min(sizes), max(sizes)
    result: dict[str, Any] = {
        "runs": repeats,
        "bytecode": bytecode,
        "sizes": sizes,
        "whole_n": whole_n,
        "median_s": {f"{kind} {n}": {"wall": w, "cpu": c} for (kind, n), (w, c) in median.items()},
    }
    for index, measure_name in enumerate(("wall", "cpu")):
        whole = median["ours", whole_n][index] / median["l1", whole_n][index]
        added = {kind: (median[kind, large][index] - median[kind, small][index]) / (large - small) for kind in BUILDERS}
        result[measure_name] = {
            "whole_ratio": whole,
            "ours_ms_per_added_stage": 1000 * added["ours"],
            "l1_ms_per_added_stage": 1000 * added["l1"],
            "marginal_ratio": added["ours"] / added["l1"],
        }
    return result


# ---------------------------------------------------------------------------------------------
# 2 and 4. API calls and throughput, at the local endpoint through the real handler
# ---------------------------------------------------------------------------------------------

# The Provider framework's waiter polls every 5 s on AWS; the endpoint's compositions run
# TEST_COMPOSITION_SPEED times faster here, and so does the waiter: as many polls as on AWS.
WAITER_POLL_SECONDS = 5.0


def _cfn(handler: Any) -> Callable[..., dict[str, Any]]:
    from ivsrt_local.endpoint import TEST_COMPOSITION_SPEED
    from ivsrt_local.framework import ProviderFramework, as_cloudformation_sends

    framework = ProviderFramework(handler, poll_seconds=WAITER_POLL_SECONDS / TEST_COMPOSITION_SPEED)
    counter = iter(range(10**9))

    def send(
        request: str, resource_type: str, props: dict, physical_id: str | None = None, old: dict | None = None
    ) -> dict[str, Any]:
        event = {
            "RequestType": request,
            "ResourceType": resource_type,
            "LogicalResourceId": "Bench",
            "RequestId": f"req-{next(counter)}",
            "StackId": "bench",
            "ResourceProperties": as_cloudformation_sends(props),
        }
        if physical_id:
            event["PhysicalResourceId"] = physical_id
        if old is not None:
            event["OldResourceProperties"] = as_cloudformation_sends(old)
        return framework.send(event)

    return send


def _lifecycle(deps: dict[str, str]) -> dict[str, tuple]:
    """(v1, tag-only, in place, replacing) bodies per type, from the shared scenarios; ``deps``
    are the ARNs they refer to, made beforehand."""
    from ivsrt_local.scenarios import TYPES, lifecycle

    def tagged(body: dict | None, tags: dict) -> dict | None:
        return {**body, "tags": tags} if body is not None else None

    steps = {}
    for resource_type in TYPES:
        bodies = lifecycle(resource_type, deps)
        steps[resource_type] = (
            tagged(bodies.first, {"t": "1"}),
            tagged(bodies.first, {"t": "2"}),
            tagged(bodies.in_place, {"t": "2"}),
            tagged(bodies.replacing, {"t": "2"}),
        )
    return steps


def api_calls() -> list[dict[str, Any]]:
    from ivsrt_local.endpoint import TEST_COMPOSITION_SPEED, LocalIvsRealtime

    rows = []
    # The handler itself is measured here, not the quotas; compositions at the waiter's pace (_cfn).
    with LocalIvsRealtime(rate_scale=0, composition_speed=TEST_COMPOSITION_SPEED) as ivs:
        os.environ["AWS_ENDPOINT_URL_IVS_REALTIME"] = os.environ["AWS_ENDPOINT_URL_SSM"] = ivs.url
        from ivsrt_runtime import provider as handler

        send = _cfn(handler)
        from ivsrt_local.scenarios import DEPENDENCIES

        deps = {
            name: send("Create", resource_type, props)["PhysicalResourceId"]
            for name, (resource_type, props) in DEPENDENCIES.items()
        }
        for resource_type, (v1, tags_only, in_place, replacing) in _lifecycle(deps).items():

            def step(action: Callable[[], Any]) -> str:
                ivs.state.calls.clear()
                action()
                return " + ".join(ivs.state.calls) or "-"

            row: dict[str, Any] = {"type": resource_type.split("::")[1].replace("IvsRealtime", "")}
            created = {}
            row["create"] = step(lambda: created.update(send("Create", resource_type, v1)))
            arn = created["PhysicalResourceId"]
            row["tag-only update"] = step(lambda: send("Update", resource_type, tags_only, arn, v1))
            current = tags_only
            if in_place:
                row["in-place update"] = step(lambda: send("Update", resource_type, in_place, arn, tags_only))
                current = in_place
            else:
                row["in-place update"] = "n/a (API has none)"
            if replacing:
                replaced = {}
                row["replacement"] = step(lambda: replaced.update(send("Update", resource_type, replacing, arn, current)))
                send("Delete", resource_type, current, arn)  # CloudFormation's cleanup of the old one
                arn, current = replaced["PhysicalResourceId"], replacing
            else:
                row["replacement"] = "n/a (never replaces)"
            row["delete"] = step(lambda: send("Delete", resource_type, current, arn))
            rows.append(row)
    return rows


def throughput(count: int) -> dict[str, Any]:
    from ivsrt_local.endpoint import TEST_COMPOSITION_SPEED, LocalIvsRealtime

    # The handler itself is measured here, not the quotas; compositions at the waiter's pace (_cfn).
    with LocalIvsRealtime(rate_scale=0, composition_speed=TEST_COMPOSITION_SPEED) as ivs:
        os.environ["AWS_ENDPOINT_URL_IVS_REALTIME"] = os.environ["AWS_ENDPOINT_URL_SSM"] = ivs.url
        from ivsrt_runtime import provider as handler

        send = _cfn(handler)
        creates, deletes, arns = [], [], []
        for i in range(count):
            started = time.perf_counter()
            arns.append(send("Create", "Custom::IvsRealtimeStage", {"name": f"s{i}", "tags": {"t": "1"}})["PhysicalResourceId"])
            creates.append(time.perf_counter() - started)
        for arn in arns:
            started = time.perf_counter()
            send("Delete", "Custom::IvsRealtimeStage", {}, arn)
            deletes.append(time.perf_counter() - started)
    return {
        "operations": count,
        "create_median_ms": 1000 * statistics.median(creates),
        "delete_median_ms": 1000 * statistics.median(deletes),
    }


# ---------------------------------------------------------------------------------------------
# 3. Cold start
# ---------------------------------------------------------------------------------------------

COLD_HANDLER = """
import sys, time, os
t, c = time.perf_counter(), time.process_time()
import handler  # lambda/handler.py, on PYTHONPATH as in the function
handler.on_event({"RequestType": "Create", "ResourceType": "Custom::IvsRealtimeStage", "LogicalResourceId": "S",
                  "RequestId": "r", "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/Stack/1",
                  "ResourceProperties": {"name": "cold", "tags": {"t": "1"}}}, None)
print(time.perf_counter() - t, time.process_time() - c)
"""
COLD_BOTO3_CALL = """
import time
t, c = time.perf_counter(), time.process_time()
import boto3
boto3.client("ivs-realtime").create_stage(name="cold", tags={"t": "1"})
print(time.perf_counter() - t, time.process_time() - c)
"""
# What the handler's first Create sends: the stage, then its desired state to Parameter Store (the
# drift detector's record, docs/gitops.md), which boto3's CreateStage alone does not.
COLD_BOTO3_CALLS = """
import time
t, c = time.perf_counter(), time.process_time()
import boto3
boto3.client("ivs-realtime").create_stage(name="cold", tags={"t": "1"})
boto3.client("ssm").put_parameter(Name="/constructs-ivsrt/desired/Stack/S", Value="{}", Type="String", Overwrite=True)
print(time.perf_counter() - t, time.process_time() - c)
"""
COLD_IMPORT = """
import time
t, c = time.perf_counter(), time.process_time()
import boto3
print(time.perf_counter() - t, time.process_time() - c)
"""


FLOOR = Path(sys.prefix) / "lambda-floor"  # the oldest boto3 we support (`make install`), Lambda-like
COLD_SCRIPTS = (
    ("import boto3", COLD_IMPORT),
    ("boto3: import + client + CreateStage", COLD_BOTO3_CALL),
    ("boto3: + PutParameter (the same calls)", COLD_BOTO3_CALLS),
    ("handler: import + first Create", COLD_HANDLER),
)


def cold_start(repeats: int) -> dict[str, Any]:
    """Each script in a fresh interpreter, under the project's boto3 and under the oldest one we
    support; the runs are interleaved so that a busy moment of the machine falls on all alike.
    Wall time is the figure; the interpreter's CPU time is kept beside it because on a shared
    machine it moves far less."""
    from ivsrt_local.endpoint import LocalIvsRealtime

    lambda_dir = ROOT / "lambda"
    boto3s = {"project": [], "floor": [str(FLOOR)]} if FLOOR.is_dir() else {"project": []}

    def run(script: str, first: list[str]) -> tuple[float, float]:
        # As in the function: the asset's folder first on the path (after an older boto3, if any).
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": os.pathsep.join([*first, str(lambda_dir)])}
        env.pop("AWS_DATA_PATH", None)
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        wall, cpu = out.stdout.strip().splitlines()[-1].split()
        return float(wall), float(cpu)

    samples: dict[str, dict[str, list[tuple[float, float]]]] = {kind: {name: [] for name, _ in COLD_SCRIPTS} for kind in boto3s}
    with LocalIvsRealtime(rate_scale=0) as ivs:  # the handler itself is measured here, not the quotas
        os.environ["AWS_ENDPOINT_URL_IVS_REALTIME"] = os.environ["AWS_ENDPOINT_URL_SSM"] = ivs.url
        for _ in range(repeats):
            for kind, first in boto3s.items():
                for name, script in COLD_SCRIPTS:
                    samples[kind][name].append(run(script, first))
    size = sum(
        p.stat().st_size for p in lambda_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )
    result: dict[str, Any] = {"runs": repeats, "asset_bytes": size}
    for kind in boto3s:
        wall = {name: statistics.median(w for w, _ in values) for name, values in samples[kind].items()}
        cpu = {name: statistics.median(c for _, c in values) for name, values in samples[kind].items()}
        ours, theirs = "handler: import + first Create", "boto3: import + client + CreateStage"
        same = "boto3: + PutParameter (the same calls)"
        result[kind] = {
            "boto3": subprocess.run(
                [sys.executable, "-c", "import boto3; print(boto3.__version__)"],
                env={**os.environ, "PYTHONPATH": os.pathsep.join(boto3s[kind])},
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip(),
            "median_s": wall,
            "median_cpu_s": cpu,
            "ratio_vs_import_boto3": wall[ours] / wall["import boto3"],
            "ratio_vs_boto3_same_call": wall[ours] / wall[theirs],
            "cpu_ratio_vs_boto3_same_call": cpu[ours] / cpu[theirs],
            "ratio_vs_boto3_same_calls": wall[ours] / wall[same],
            "cpu_ratio_vs_boto3_same_calls": cpu[ours] / cpu[same],
        }
    return result


# ---------------------------------------------------------------------------------------------
# 5. Fleet under rate limits
# ---------------------------------------------------------------------------------------------


class EndpointProcess:
    """The local endpoint in a process of its own (rate limits on), as the service is apart
    from the functions calling it: its work does not compete with theirs for one interpreter."""

    def __enter__(self) -> EndpointProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ivsrt_local", "endpoint", "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        self.url = self.process.stdout.readline().split(" on ")[1].strip()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.process.terminate()
        self.process.wait()

    def control(self, action: str, method: str = "GET") -> dict[str, Any]:
        import urllib.request

        request = urllib.request.Request(f"{self.url}/_local/{action}", method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request) as answer:
            return json.load(answer)


def fleet_under_rate_limits(sizes: list[int]) -> dict[str, Any]:
    import tempfile

    from ivsrt_local.deployer import LocalDeployer
    from ivsrt_local.stack_state import DeployError, StackState
    from ivsrt_runtime import provider as handler
    from sample import fleet

    workdir = Path(tempfile.mkdtemp(prefix="fleet-"))
    most = fleet.max_stages(workdir / "max")
    rows = []
    with EndpointProcess() as endpoint:
        os.environ["AWS_ENDPOINT_URL_IVS_REALTIME"] = os.environ["AWS_ENDPOINT_URL_SSM"] = endpoint.url
        for n in [most if size == 0 else size for size in sizes]:
            templates = [fleet.synth(workdir / f"{n}-{tag}", n, 0, tag) for tag in ("a", "b")]
            endpoint.control("reset", "POST")
            deployer = LocalDeployer(StackState(fleet.STACK_NAME, "us-east-1"), handler)
            for phase, run in (
                ("create", lambda: deployer.deploy(templates[0])),
                ("tag update", lambda: deployer.deploy(templates[1])),
                ("delete", deployer.destroy),
            ):
                before = endpoint.control("state")
                started, failure = time.perf_counter(), ""
                try:
                    run()
                except DeployError as error:
                    failure = str(error)
                seconds = time.perf_counter() - started
                after = endpoint.control("state")
                throttled = sum(after["throttled"].values()) - sum(before["throttled"].values())
                accepted = len(after["calls"]) - len(before["calls"]) - throttled
                stages = [r for r in after["resources"] if r["_noun"] == "Stage"]
                expected = 0 if phase == "delete" else n
                wrong_tags = sum(r["tags"].get("environment") != ("b" if phase == "tag update" else "a") for r in stages)
                floor = n / 5
                rows.append(
                    {
                        "n": n,
                        "phase": phase,
                        "seconds": seconds,
                        "floor_s": floor,
                        "ratio": seconds / floor,
                        "calls_per_resource": accepted / n,
                        "throttled": throttled,
                        "failed": failure,
                        "stages_left": len(stages),
                        "leaked_or_missing": abs(len(stages) - expected),
                        "wrong_tags": wrong_tags,
                    }
                )
                print(f"   fleet N={n} {phase}: {seconds:.1f} s ({seconds / floor:.2f} x floor)", flush=True)
    return {"max_stages_per_stack": most, "rows": rows}


# ---------------------------------------------------------------------------------------------


# The participant_tokens section's connection token rate (self-signed only: no API creates one).
CONNECTION_TOKENS = "connection tokens (kms:Sign)"


def participant_tokens(count: int, workers: int) -> dict[str, Any]:
    """Tokens per second: signed by the stage owner (kms:Sign at the local endpoint, no IVS call)
    against CreateParticipantToken, which the endpoint holds to its 50-per-second quota; and
    connection tokens (a RealTimeConnection's), self-signed only, with the same key. Each with
    ``workers`` threads, as a backend serving many joins at once would; the endpoint runs in a
    process of its own."""
    from concurrent.futures import ThreadPoolExecutor

    import boto3
    from botocore.config import Config

    from ivsrt_runtime.keys import pem
    from ivsrt_runtime.signing import sign_connection_token, sign_participant_token

    config = Config(retries={"mode": "standard", "total_max_attempts": 20}, max_pool_connections=workers)
    with EndpointProcess() as endpoint:
        ivs = boto3.client("ivs-realtime", endpoint_url=endpoint.url, config=config)
        kms = boto3.client("kms", endpoint_url=endpoint.url, config=config)
        stage = ivs.create_stage(name="bench")["stage"]
        key = kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
        material = pem(kms.get_public_key(KeyId=key)["PublicKey"])
        public_key = ivs.import_public_key(publicKeyMaterial=material, name="bench")["publicKey"]["arn"]

        def signed(_: int) -> str:
            return sign_participant_token(
                kms,
                key_id=key,
                public_key_arn=public_key,
                stage_arn=stage["arn"],
                whip_url=stage["endpoints"]["whip"],
                events_url=stage["endpoints"]["events"],
            ).token

        def minted(_: int) -> str:
            return ivs.create_participant_token(stageArn=stage["arn"])["participantToken"]["token"]

        def connection(_: int) -> str:
            return sign_connection_token(kms, key_id=key, public_key_arn=public_key).token

        rates = {}
        for name, make in (
            ("self-signed (kms:Sign)", signed),
            ("CreateParticipantToken", minted),
            (CONNECTION_TOKENS, connection),
        ):
            started = time.perf_counter()
            with ThreadPoolExecutor(workers) as pool:
                tokens = list(pool.map(make, range(count)))
            rates[name] = len(set(tokens)) / (time.perf_counter() - started)
    return {
        "tokens": count,
        "workers": workers,
        "per_second": rates,
        "ratio": rates["self-signed (kms:Sign)"] / rates["CreateParticipantToken"],
    }


SECTIONS = ("api_calls", "throughput", "cold_start", "synth_scaling", "synth_process", "fleet", "participant_tokens", "drift")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,50,200,500", help="stage counts for synth scaling")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--process-sizes",
        default="20,200,500",
        help="stage counts for synth in a fresh process (200 among them: the whole-process ratio)",
    )
    parser.add_argument(
        "--no-bytecode", action="store_true", help="synth in a fresh process without bytecode caches (every module compiled)"
    )
    parser.add_argument("--throughput", type=int, default=200, help="creates (then deletes) in sequence")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "latest.json")
    parser.add_argument(
        "--fleet-sizes", default="50,100,200,0", help="stage counts for the fleet under rate limits (0: the most one stack holds)"
    )
    parser.add_argument("--tokens", type=int, default=1000, help="participant tokens made each way, and connection tokens")
    parser.add_argument("--token-workers", type=int, default=16, help="threads making participant tokens")
    parser.add_argument("--drift-sizes", default="100,200", help="stage counts for the drift check (benchmarks/drift.py)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"sections to run, of: {','.join(SECTIONS)}")
    parser.add_argument("--memory-probe", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_probe:
        kind, n = args.memory_probe
        BUILDERS[kind](int(n))
        print(_peak_rss_kib())
        return

    sections: dict[str, Callable[[], Any]] = {
        "api_calls": api_calls,
        "throughput": lambda: throughput(args.throughput),
        "cold_start": lambda: cold_start(args.repeats + 2),
        "synth_scaling": lambda: {
            "rows": synth_scaling([int(n) for n in args.sizes.split(",")], args.repeats),
            "round_trips_per_stage": jsii_round_trips(),
            "layers_ms_per_stage": synth_layers(),
        },
        "synth_process": lambda: synth_process(
            [int(n) for n in args.process_sizes.split(",")], args.repeats + 2, bytecode=not args.no_bytecode
        ),
        "fleet": lambda: fleet_under_rate_limits([int(n) for n in args.fleet_sizes.split(",")]),
        "participant_tokens": lambda: participant_tokens(args.tokens, args.token_workers),
        "drift": lambda: drift.drift_check([int(n) for n in args.drift_sizes.split(",")]),
    }
    results = {name: run() for name, run in sections.items() if name in args.only.split(",")}
    print_report(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1))
    print(f"\nwritten: {args.output}")


def print_report(r: dict[str, Any]) -> None:
    for name, printer in REPORTS.items():
        if name in r:
            printer(r)
            print()


def print_synth_scaling(r: dict[str, Any]) -> None:
    print(
        "1. synth scaling (median wall time of build + synth, side by side in one process;"
        " memory: peak RSS of Python + Node in a fresh process)"
    )
    print(
        f"   {'N':>5} {'ours s':>9} {'L1 s':>9} {'ours/L1':>8} {'ours MiB':>9} {'L1 MiB':>8} "
        f"{'ours ms/+stage':>15} {'L1 ms/+stage':>13} {'marginal ours/L1':>17}"
    )
    for row in r["synth_scaling"]["rows"]:
        print(
            f"   {row['n']:>5} {row['ours_s']:>9.3f} {row['l1_s']:>9.3f} {row['ratio']:>8.2f} {row['ours_mib']:>9.1f} "
            f"{row['l1_mib']:>8.1f} {row.get('ours_ms_per_added_stage', float('nan')):>15.2f} "
            f"{row.get('l1_ms_per_added_stage', float('nan')):>13.2f} {row.get('marginal_ratio', float('nan')):>17.2f}"
        )
    print("   jsii round trips per added stage (Python -> kernel requests; Complete: a callback into Python answered):")
    for kind, counts in r["synth_scaling"]["round_trips_per_stage"].items():
        listed = ", ".join(f"{name} {count:g}" for name, count in counts.items() if count)
        print(f"     {kind:<5} {sum(counts.values()):>5g}  ({listed})")
    layers = r["synth_scaling"].get("layers_ms_per_stage")
    if layers:
        print("   what a stage is made of, one layer at a time (ms per added stage, N 20 -> 200; x CfnStage):")
        for name, ms in layers.items():
            print(f"     {name:<38} {ms:6.2f} ms {ms / layers['CfnStage']:6.2f} x")


def print_synth_process(r: dict[str, Any]) -> None:
    p = r["synth_process"]
    small, large, whole = min(p["sizes"]), max(p["sizes"]), p["whole_n"]
    print(
        f"1b. synth in a fresh process: import + build + synth, ours against CfnStage (median of {p['runs']}; "
        f"{'with' if p['bytecode'] else 'without'} bytecode caches; CPU: Python + Node)"
    )
    print(
        f"   {'':<7} {'ours ' + str(whole):>10} {'L1 ' + str(whole):>9} {'whole ours/L1':>14} "
        f"{'ours ms/+stage':>15} {'L1 ms/+stage':>13} {'marginal ours/L1':>17}  (N {small} -> {large})"
    )
    for name in ("wall", "cpu"):
        m = p[name]
        print(
            f"   {name:<7} {p['median_s'][f'ours {whole}'][name]:>9.2f}s {p['median_s'][f'l1 {whole}'][name]:>8.2f}s "
            f"{m['whole_ratio']:>14.2f} {m['ours_ms_per_added_stage']:>15.2f} {m['l1_ms_per_added_stage']:>13.2f} "
            f"{m['marginal_ratio']:>17.2f}"
        )


def print_api_calls(r: dict[str, Any]) -> None:
    print("2. API calls per lifecycle step (at the local endpoint)")
    for row in r["api_calls"]:
        print(f"   {row['type']}")
        for step in ("create", "tag-only update", "in-place update", "replacement", "delete"):
            print(f"     {step:<17} {row[step]}")


def print_cold_start(r: dict[str, Any]) -> None:
    c = r["cold_start"]
    print(
        f"3. handler cold start (fresh interpreter, median of {c['runs']}; wall, and CPU)   "
        f"Lambda asset: {c['asset_bytes'] / 1024:.0f} KiB"
    )
    for kind in ("project", "floor"):
        if kind not in c:
            continue
        k = c[kind]
        print(f"   under boto3 {k['boto3']} ({kind})")
        for name, seconds in k["median_s"].items():
            print(f"     {name:<40} {seconds * 1000:8.1f} ms {k['median_cpu_s'][name] * 1000:8.1f} ms CPU")
        print(
            f"     ratio vs import boto3: {k['ratio_vs_import_boto3']:.2f}   vs boto3 doing the same call: "
            f"{k['ratio_vs_boto3_same_call']:.2f} (CPU {k['cpu_ratio_vs_boto3_same_call']:.2f})   vs boto3 making the "
            f"same two calls: {k['ratio_vs_boto3_same_calls']:.2f} (CPU {k['cpu_ratio_vs_boto3_same_calls']:.2f})"
        )


def print_throughput(r: dict[str, Any]) -> None:
    t = r["throughput"]
    print(
        f"4. handler throughput: {t['operations']} creates then deletes in sequence: "
        f"median create {t['create_median_ms']:.1f} ms, delete {t['delete_median_ms']:.1f} ms"
    )


def print_fleet(r: dict[str, Any]) -> None:
    f = r["fleet"]
    print(
        f"5. fleet under rate limits: one stack, every event at once, endpoint with the service's rate quotas "
        f"(the most stages one stack holds: {f['max_stages_per_stack']})"
    )
    print(
        f"   {'N':>4} {'phase':<11} {'wall s':>7} {'floor s':>8} {'wall/floor':>10} {'calls/res':>9} "
        f"{'throttled':>9} {'failed':>6} {'leaked':>6} {'bad tags':>8}"
    )
    for row in f["rows"]:
        print(
            f"   {row['n']:>4} {row['phase']:<11} {row['seconds']:>7.1f} {row['floor_s']:>8.1f} {row['ratio']:>10.2f} "
            f"{row['calls_per_resource']:>9.2f} {row['throttled']:>9} {('yes' if row['failed'] else 0):>6} "
            f"{row['leaked_or_missing']:>6} {row['wrong_tags']:>8}"
        )
        if row["failed"]:
            print(f"        {row['failed']}")


def print_participant_tokens(r: dict[str, Any]) -> None:
    t = r["participant_tokens"]
    print(f"6. participant tokens: {t['tokens']} each way, {t['workers']} threads, endpoint in its own process")
    for name, rate in t["per_second"].items():
        print(f"   {name:<28} {rate:8.1f} tokens/s")
    print(f"   self-signed / CreateParticipantToken: {t['ratio']:.1f} (the service allows 50 CreateParticipantToken a second)")


REPORTS: dict[str, Callable[[dict[str, Any]], None]] = {
    "synth_scaling": print_synth_scaling,
    "synth_process": print_synth_process,
    "api_calls": print_api_calls,
    "cold_start": print_cold_start,
    "throughput": print_throughput,
    "fleet": print_fleet,
    "participant_tokens": print_participant_tokens,
    "drift": lambda r: drift.print_drift(r),
}


if __name__ == "__main__":
    main()
