"""Deploy a synthesized stack's IVS Real-Time resources to an IVS-compatible endpoint, locally.

A small stand-in for CloudFormation, for the custom resources only: it reads the template the
CDK CLI wrote, resolves the intrinsics those resources use, orders them by their references,
and sends the same Create / Update / Delete events CloudFormation would (scalars as strings,
old properties on Update, Delete of the old physical id after a replacement, rollback of a
failed deployment) to the real handler, which calls the endpoint through real boto3.

Everything else in the template (bucket, roles, functions) is not deployed: those resources get
stable made-up physical ids, so references to them resolve.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterable, Mapping

from ivsrt_local.cross_region import (
    CrossRegion,
    Parameters,
    UnresolvedReference,
    is_reader,
    read_parameter,
    resolve_dynamic_references,
    stack_outputs_read,
    visible_in,
    written_parameters,
)
from ivsrt_local.endpoint import ACCOUNT_ID
from ivsrt_local.kms import KEY_RESOURCE_TYPE, is_signing_key, on_key_event
from ivsrt_local.framework import (
    FUNCTION_TIMEOUT_SECONDS,
    OperationTimedOut,
    ProviderFramework,
    as_cloudformation_sends,
)
from ivsrt_runtime import provider, rules
from ivsrt_runtime.clients import kms_client

# ``Ref: AWS::NoValue`` removes the property (or list item) it is the value of.
NO_VALUE = object()
PSEUDO_PARAMETERS: dict[str, Any] = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": NO_VALUE}


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


@dataclass
class Change:
    action: str  # "create", "update", "replace", "delete", "retain", "delete-failed" (cleanup only)
    logical_id: str
    resource_type: str
    physical_id: str
    detail: str = ""


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

    def save(self, path: Path) -> None:
        """Written readable by its owner only: the resources' Data holds stream keys."""
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"stackName": self.stack_name, "region": self.region,
                   "resources": {k: vars(v) for k, v in self.resources.items()},
                   "superseded": [vars(v) for v in self.superseded],
                   "exports": self.exports, "imports": self.imports,
                   "crossRegionParameters": self.cross_region_parameters, "outputs": self.outputs}
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
            return cls(payload["stackName"], payload["region"], resources, superseded,
                       payload.get("exports", {}), payload.get("imports", []), payload.get("crossRegionParameters", {}),
                       payload.get("outputs", {}))
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


@dataclass(frozen=True)
class StackArtifact:
    """One stack of a cloud assembly, as the runner needs it."""

    artifact_id: str
    stack_name: str
    template: dict[str, Any]
    region: str | None  # from the stack's environment; None when the app left it open
    dependencies: list[str]  # artifact ids of the stacks it depends on (its imports among them)


def imported_names(value: Any) -> set[str]:
    """Every export name a template imports (``Fn::ImportValue`` anywhere in it)."""
    if isinstance(value, dict):
        found = {value["Fn::ImportValue"]} if isinstance(value.get("Fn::ImportValue"), str) else set()
        return found.union(*(imported_names(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(imported_names(item) for item in value))
    return set()


def read_assembly(assembly: Path) -> dict[str, StackArtifact]:
    """Every stack in a cloud assembly (``cdk synth``'s output folder), by artifact id."""
    manifest_path = assembly / "manifest.json"
    if not manifest_path.is_file():
        raise DeployError(f"no cloud assembly at {assembly} (run `cdk synth` first, or pass --assembly)")
    artifacts = json.loads(manifest_path.read_text())["artifacts"]
    stacks = {k: v for k, v in artifacts.items() if v.get("type") == "aws:cloudformation:stack"}
    found: dict[str, StackArtifact] = {}
    for artifact in artifacts.values():  # a cdk.Stage's stacks are a nested assembly
        if artifact.get("type") == "cdk:cloud-assembly":
            found.update(read_assembly(assembly / artifact["properties"]["directoryName"]))
    for artifact_id, artifact in stacks.items():
        region = artifact.get("environment", "").rsplit("/", 1)[-1]
        found[artifact_id] = StackArtifact(
            artifact_id, artifact["properties"].get("stackName", artifact_id),
            json.loads((assembly / artifact["properties"]["templateFile"]).read_text()),
            None if region in ("", "unknown-region") else region,
            [d for d in artifact.get("dependencies", []) if d in stacks])
    return _with_stack_outputs_read(found)


def _with_stack_outputs_read(stacks: dict[str, StackArtifact]) -> dict[str, StackArtifact]:
    """Each stack depending also on the stacks whose outputs it reads (``Fn::GetStackOutput``)."""
    by_name = {(stack.stack_name, stack.region): artifact_id for artifact_id, stack in stacks.items()}
    return {artifact_id: dataclasses.replace(stack, dependencies=stack.dependencies + sorted(
        {by_name[(name, region or stack.region)] for name, region in stack_outputs_read(stack.template)
         if (name, region or stack.region) in by_name} - {artifact_id, *stack.dependencies}))
        for artifact_id, stack in stacks.items()}


def _named(names: list[str], stack_names: dict[str, str], missing: Callable[[str], str]) -> list[str]:
    """The artifact ids ``names`` pick, each an artifact id or a stack name (``stack_names``:
    artifact id -> stack name; one name may pick stacks in several regions); all when none."""
    chosen: list[str] = []
    for name in names:
        matching = [k for k, stack_name in stack_names.items() if name in (k, stack_name)]
        if not matching:
            raise DeployError(missing(name))
        chosen += [k for k in matching if k not in chosen]
    return chosen or list(stack_names)


def select_stacks(stacks: dict[str, StackArtifact], names: list[str]) -> list[StackArtifact]:
    """``names`` (artifact ids or stack names; all stacks when empty) in dependency order: a
    stack after those it uses."""
    chosen = set(_named(names, {k: v.stack_name for k, v in stacks.items()},
                        lambda name: f"no stack {name!r} in the assembly; stacks: {', '.join(stacks)}"))
    order = creation_order({k: [d for d in v.dependencies if d in chosen] for k, v in stacks.items() if k in chosen})
    return [stacks[k] for k in order]


def read_template(assembly: Path, stack_name: str) -> dict[str, Any]:
    return select_stacks(read_assembly(assembly), [stack_name])[0].template


def managed(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The template's resources this runner deploys: the IVS Real-Time custom resources, and the
    KMS keys participant-token signing keys are (their public halves are read at deploy time)."""
    return {k: v for k, v in template.get("Resources", {}).items()
            if v.get("Type") in rules.RESOURCES or is_signing_key(v)}


def references(value: Any) -> set[str]:
    """Logical ids a template value refers to (Ref, Fn::GetAtt: the only ones CDK renders for
    these resources' properties; Fn::Sub is not handled)."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value:
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            found.add(target[0] if isinstance(target, list) else target.split(".")[0])
        for item in value.values():
            found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def dependencies(definition: dict[str, Any], managed_ids: set[str]) -> list[str]:
    """The managed resources a definition refers to or names in DependsOn."""
    depends_on = definition.get("DependsOn") or []
    depends_on = [depends_on] if isinstance(depends_on, str) else depends_on
    return sorted((references(definition.get("Properties", {})) | set(depends_on)) & managed_ids)


def dependents(graph: dict[str, list[str]], keys: list[str]) -> dict[str, list[str]]:
    """For each of ``keys``, those of ``keys`` that depend on it (``graph``: id -> dependencies):
    what must be removed before it."""
    return {key: [other for other in keys if key in graph.get(other, [])] for key in keys}


def creation_order(graph: dict[str, list[str]]) -> list[str]:
    """Logical ids so that each comes after those it depends on (``graph``: id -> dependencies)."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(logical_id: str) -> None:
        if logical_id in order:
            return
        if logical_id in visiting:
            raise DeployError(f"circular reference through {logical_id}")
        visiting.add(logical_id)
        for dependency in graph.get(logical_id, []):
            visit(dependency)
        visiting.discard(logical_id)
        order.append(logical_id)

    for logical_id in sorted(graph):
        visit(logical_id)
    return order


class Resolver:
    """Resolves the intrinsics a CDK template uses in custom resource properties."""

    def __init__(self, state: StackState, parameters: dict[str, Any] | None = None,
                 exports: Mapping[str, Any] | None = None, resources: Mapping[str, Any] | None = None,
                 cross_region: CrossRegion | None = None) -> None:
        self.state = state
        self.parameters: dict[str, Any] = parameters or {}  # the template's Parameters, by name
        self.exports: Mapping[str, Any] = exports or {}  # what other stacks export, by name
        self.resources: Mapping[str, Any] = resources or {}  # the template's Resources, by logical id
        self.cross_region: CrossRegion = cross_region or CrossRegion()  # what cross-region references read

    def _physical_id(self, logical_id: str) -> str:
        if logical_id in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[logical_id]
        if logical_id in self.parameters:
            parameter = self.parameters[logical_id]
            if "Default" not in parameter:
                raise DeployError(f"parameter {logical_id} has no Default, and the local deploy runner takes no values")
            is_list = parameter.get("Type") == "CommaDelimitedList" or str(parameter.get("Type")).startswith("List<")
            return parameter["Default"].split(",") if is_list else parameter["Default"]
        if logical_id == "AWS::Region":
            return self.state.region
        if logical_id == "AWS::AccountId":
            return ACCOUNT_ID
        if logical_id == "AWS::StackName":
            return self.state.stack_name
        deployed = self.state.resources.get(logical_id)
        if deployed is not None:
            return deployed.physical_id
        # Not an IVS resource: not deployed here, so a stable stand-in name.
        return f"{self.state.stack_name}-{logical_id}".lower()[:63]

    def _attribute(self, logical_id: str, attribute: str) -> str:
        deployed = self.state.resources.get(logical_id)
        if deployed is not None:
            if attribute not in deployed.data:
                raise DeployError(f"{logical_id} has no attribute {attribute!r}")
            return deployed.data[attribute]
        if is_reader(self.resources.get(logical_id)):  # a cross-region reference: never a stand-in
            return read_parameter(self.cross_region.parameters, attribute, self.state.region)
        if attribute == "Arn":  # an S3 bucket, role or function ARN stand-in
            return f"arn:aws:local:{self.state.region}:{ACCOUNT_ID}:{self._physical_id(logical_id)}"
        return f"{self._physical_id(logical_id)}.{attribute}"

    def resolve(self, value: Any) -> Any:
        if isinstance(value, str) and "{{resolve:" in value:
            return resolve_dynamic_references(value, self.cross_region.parameters, self.state.region)
        if isinstance(value, list):
            return [item for item in map(self.resolve, value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), = value.items()
            intrinsic = self._intrinsics.get(key)
            if intrinsic is not None:
                return intrinsic(self, argument)
            if key.startswith("Fn::"):
                raise DeployError(f"the local deploy runner does not support {key}")
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _ref(self, name: str) -> Any:
        return self._physical_id(name)

    def _get_att(self, argument: Any) -> Any:
        logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
        return self._attribute(logical_id, self.resolve(attribute))

    def _join(self, argument: list[Any]) -> str:
        separator, parts = argument
        return separator.join(str(self.resolve(p)) for p in self.resolve(parts))

    def _select(self, argument: list[Any]) -> Any:
        index, items = argument
        return self.resolve(items)[int(self.resolve(index))]

    def _split(self, argument: list[Any]) -> list[str]:
        separator, text = argument
        return str(self.resolve(text)).split(separator)

    def _sub(self, argument: Any) -> str:
        """``${Name}``, ``${Name.Attribute}`` and ``${AWS::Region}``-style references in a string,
        with optional variables of its own; ``${!Literal}`` stays ``${Literal}``."""
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], self.resolve(argument[1]))

        def value_of(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return str(self._attribute(*name.split(".", 1)))
            return str(self._physical_id(name))

        return re.sub(r"\$\{([^}]+)\}", value_of, text)

    def _get_stack_output(self, argument: Any) -> Any:
        """CDK's reference to another account's (or region's) stack: that stack's output."""
        wanted = self.resolve(argument)
        return self.cross_region.stack_output(wanted["StackName"], wanted.get("Region", self.state.region),
                                              wanted["OutputName"])

    def _import_value(self, argument: Any) -> Any:
        name = self.resolve(argument)
        if name not in self.exports:
            raise DeployError(f"Fn::ImportValue: no stack exports {name!r} (deploy the stack that exports it first)")
        return self.exports[name]

    _intrinsics: dict[str, Callable[[Resolver, Any], Any]] = {
        "Ref": _ref,
        "Fn::GetAtt": _get_att,
        "Fn::Join": _join,
        "Fn::Select": _select,
        "Fn::Split": _split,
        "Fn::ImportValue": _import_value,
        "Fn::GetStackOutput": _get_stack_output,
        "Fn::Sub": _sub,
    }


LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
PROGRESS_SECONDS = 2.0  # how often a line is printed while events are in flight
# The provider function's execution environments. Lambda keeps one warm between invocations and
# starts another only when all are busy; so does a thread pool, and the handler keeps one client
# per thread. Shared by every deployer in the process, as one function's environments are.
ENVIRONMENTS = ThreadPoolExecutor(max_workers=5000, thread_name_prefix="lambda-environment")


@dataclass
class GraphOutcome:
    started: list[str] = field(default_factory=list)  # in the order they started
    results: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, BaseException] = field(default_factory=dict)
    cancelled: set[str] = field(default_factory=set)  # still in flight when the first failure came

    def first_failure(self) -> BaseException:
        return next(self.failures[k] for k in self.started if k in self.failures)


class Progress:
    """Prints where a phase stands while it runs: done, in flight, failed, seconds."""

    def __init__(self, title: str, total: int, write: Callable[[str], None]) -> None:
        self.title: str = title
        self.total: int = total
        self.write: Callable[[str], None] = write
        self.started_at: float = time.monotonic()
        self.last: float = self.started_at

    def tick(self, outcome: GraphOutcome, in_flight: list[str]) -> None:
        now = time.monotonic()
        if in_flight and now - self.last >= PROGRESS_SECONDS:
            self.last = now
            done = len(outcome.results) + len(outcome.failures)
            # A few left: say which (a Delete waiting for a storage configuration to be free).
            which = f" ({', '.join(sorted(in_flight))})" if len(in_flight) <= 3 else ""
            self.write(f"  {self.title}: {done}/{self.total} done, {len(in_flight)} in flight{which}, "
                       f"{len(outcome.failures)} failed ({now - self.started_at:.0f} s)")


def run_graph(tasks: dict[str, Callable[[], Any]], after: dict[str, list[str]], *, concurrency: int | None = None,
              progress: Progress | None = None, order: list[str] | None = None) -> GraphOutcome:
    """Run each task once every task it comes ``after`` has succeeded, all that can at once (up to
    ``concurrency``; None: no bound), those ready first in ``order`` first (then by key). After a
    failure nothing new starts and those in flight finish. Tasks that never started are in
    neither ``results`` nor ``failures``."""
    outcome = GraphOutcome()
    rank = {key: index for index, key in enumerate(order or [])}
    waiting = {key: tasks[key] for key in sorted(tasks, key=lambda k: (rank.get(k, len(rank)), k))}
    running: dict[Future[Any], str] = {}
    try:
        while True:
            ready = [k for k in waiting if all(d in outcome.results for d in after.get(k, []) if d in tasks)]
            if not outcome.failures:
                for key in ready[:(concurrency or len(tasks)) - len(running)]:
                    outcome.started.append(key)
                    running[ENVIRONMENTS.submit(waiting.pop(key))] = key
            if not running:
                if waiting and not outcome.failures:  # every one left waits on another left: a cycle
                    raise DeployError(f"circular dependency among {', '.join(sorted(waiting))}")
                return outcome
            finished, _ = wait(running, timeout=PROGRESS_SECONDS, return_when=FIRST_COMPLETED)
            for future in finished:
                key = running.pop(future)
                try:
                    outcome.results[key] = future.result()
                except Exception as error:  # noqa: BLE001 - every failure is reported by the caller
                    outcome.failures[key] = error
            if outcome.failures and not outcome.cancelled:
                outcome.cancelled = set(running.values())
            if progress:
                progress.tick(outcome, list(running.values()))
    except BaseException:
        # Interrupted (Ctrl-C): the events already sent run on, as Lambda invocations would, and
        # record what they make in the state before the caller saves it.
        wait(running)
        raise


class LocalDeployer:
    """Create / update / delete a stack's IVS resources through the real handler."""

    def __init__(self, state: StackState, handler: Any | None = None,
                 timeout_seconds: float = FUNCTION_TIMEOUT_SECONDS, *, concurrency: int | None = None,
                 progress: Callable[[str], None] | None = None, exports: Mapping[str, Any] | None = None,
                 cross_region: CrossRegion | None = None) -> None:
        """``concurrency``: how many events may be in flight at once (None: no bound, as
        CloudFormation). Each runs in a thread of its own, with its own client: the separate
        Lambda execution environments CloudFormation's parallel requests get. ``progress``
        receives a line every few seconds while events are in flight. ``exports``: what the
        stacks deployed before export (``Fn::ImportValue`` reads them). ``cross_region``: what
        their cross-region references can read (outputs, SSM parameters written to this region)."""
        self.exports: Mapping[str, Any] = exports or {}
        self.cross_region: CrossRegion = cross_region or CrossRegion()
        self._resources: dict[str, Any] = {}  # of the template being deployed
        self.state = state
        self.framework = ProviderFramework(handler or provider, timeout_seconds)
        self.concurrency = concurrency
        self.progress = progress
        self.changes: list[Change] = []
        self._parameters: dict[str, Any] = {}  # of the template being deployed
        self._lock = threading.RLock()  # the state and the changes, written from every event's thread

    def _event(self, request: str, logical_id: str, resource_type: str, **fields: Any) -> dict[str, Any]:
        return {
            "RequestType": request,
            "ResourceType": resource_type,
            "LogicalResourceId": logical_id,
            "StackId": f"arn:aws:cloudformation:{self.state.region}:{ACCOUNT_ID}:stack/{self.state.stack_name}/local",
            "RequestId": str(uuid.uuid4()),
            "ServiceToken": "local",
            **fields,
        }

    def _send(self, event: dict[str, Any],
              accepted: Callable[[dict[str, Any]], None] = lambda result: None) -> dict[str, Any]:
        """The whole request, as the Provider framework makes it (see ProviderFramework.send); a
        signing key's, as CloudFormation makes a KMS key at the local endpoint."""
        if event["ResourceType"] == KEY_RESOURCE_TYPE:
            result = on_key_event(event, kms_client())
            accepted(result)
            return result
        try:
            return self.framework.send(event, accepted)
        except OperationTimedOut as error:
            raise DeployError(str(error)) from None

    def deploy(self, template: dict[str, Any]) -> list[Change]:
        """Bring the state to the template; on failure roll back to where it was, then raise.

        As CloudFormation does: every resource whose dependencies are done starts at once (up to
        ``concurrency``); after a failure nothing new starts, those in flight finish, and then
        everything touched is rolled back."""
        self._as_lambda_runs_it()
        wanted = managed(template)
        self._parameters = template.get("Parameters", {})
        self._resources = template.get("Resources", {})
        graph = {k: dependencies(v, set(wanted)) for k, v in wanted.items()}
        order = creation_order(graph)  # refuses a circular reference before anything is sent
        before = {k: dataclasses.replace(v) for k, v in self.state.resources.items()}
        tasks = {logical_id: functools.partial(self._create_or_update, logical_id, wanted[logical_id], graph[logical_id])
                 for logical_id in wanted}
        outcome = self._run("deploy", tasks, graph, order=order)
        if outcome.failures:
            error = outcome.first_failure()
            self._forget_cancelled_creates(outcome.cancelled - set(before))
            try:
                self._roll_back(outcome.started, before)
            except Exception as rollback_error:  # noqa: BLE001 - CloudFormation's UPDATE_ROLLBACK_FAILED
                raise DeployError(f"deployment failed ({error}) and so did its rollback: {rollback_error}") from None
            raise DeployError(f"deployment failed and was rolled back: {error}") from None
        done = [outcome.results[k] for k in order if outcome.results.get(k)]
        # Cleanup phase, as CloudFormation's: the old resources of replacements and the removed
        # ones, in reverse dependency order of the stack as it was (a removed composition goes
        # before the replaced encoder configuration it used). A failure here does not fail the
        # deployment; CloudFormation reports it and leaves the resource.
        self.changes += done
        first_cleanup = len(self.changes)
        for logical_id in [k for k in self.state.resources if k not in wanted]:
            self.state.supersede(self.state.resources.pop(logical_id))
        self._remove_superseded("cleanup", self._clean_up)
        self.state.exports = self._exports(template)
        self.state.imports = sorted(imported_names(template))
        self.state.cross_region_parameters = written_parameters(template, self._resolver().resolve)
        self.state.outputs = self._outputs(template)
        return done + self.changes[first_cleanup:]  # the cleanup's deletes (and failures) too

    def _outputs(self, template: dict[str, Any]) -> dict[str, Any]:
        """The template's outputs the runner can resolve (``Fn::GetStackOutput`` reads them)."""
        resolver, outputs = self._resolver(), {}
        for name, output in template.get("Outputs", {}).items():
            try:
                outputs[name] = resolver.resolve(output["Value"])
            except (DeployError, UnresolvedReference):
                continue
        return outputs

    def _exports(self, template: dict[str, Any]) -> dict[str, Any]:
        """The template's exported outputs, resolved; one the runner cannot resolve (an
        intrinsic it does not know) is left out, and importing it then fails by name."""
        resolver = self._resolver()
        exported = {}
        for output in template.get("Outputs", {}).values():
            if "Export" in output:
                try:
                    exported[resolver.resolve(output["Export"]["Name"])] = resolver.resolve(output["Value"])
                except (DeployError, UnresolvedReference):
                    continue
        return exported

    def _resolver(self) -> Resolver:
        return Resolver(self.state, self._parameters, self.exports, self._resources, self.cross_region)

    def _as_lambda_runs_it(self) -> None:
        """Lambda gives the function its stack's region and credentials; locally the credentials
        are stand-ins (the local endpoint checks none) unless some are set already."""
        os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = self.state.region
        for key, value in LOCAL_CREDENTIALS.items():
            os.environ.setdefault(key, value)
        # The local endpoint answers KMS too (a signing key's calls), unless KMS is elsewhere.
        if os.environ.get("AWS_ENDPOINT_URL_IVS_REALTIME"):
            os.environ.setdefault("AWS_ENDPOINT_URL_KMS", os.environ["AWS_ENDPOINT_URL_IVS_REALTIME"])

    def _forget_cancelled_creates(self, logical_ids: set[str]) -> None:
        """CloudFormation cancels the Creates still in flight when a resource fails, and never
        learns what they make: it rolls each back with a Delete of a physical id it made up. (Here
        they have finished; on AWS that Delete can even come while the Create still runs.)"""
        with self._lock:
            for logical_id in logical_ids & set(self.state.resources):
                made_up = f"{self.state.stack_name}-{logical_id}-{uuid.uuid4().hex[:12].upper()}"
                self.state.resources[logical_id] = dataclasses.replace(self.state.resources[logical_id],
                                                                       physical_id=made_up, data={})

    def _run(self, title: str, tasks: dict[str, Callable[[], Any]], after: dict[str, list[str]],
             order: list[str] | None = None) -> GraphOutcome:
        return run_graph(tasks, after, concurrency=self.concurrency, order=order,
                         progress=Progress(title, len(tasks), self.progress) if self.progress else None)

    def _remove_superseded(self, title: str, remove: Callable[[DeployedResource], None]) -> GraphOutcome:
        """``remove`` every superseded resource, one only after the superseded resources that
        used it (by their logical ids' dependencies when they were deployed)."""
        superseded = {str(index): resource for index, resource in enumerate(self.state.superseded)}
        users = {key: [other for other, user in superseded.items() if resource.logical_id in user.dependencies]
                 for key, resource in superseded.items()}
        return self._run(title, {key: functools.partial(remove, resource) for key, resource in superseded.items()}, users)

    def _clean_up(self, resource: DeployedResource) -> None:
        """Delete (or keep, by its policy) a superseded resource. As with CloudFormation, a
        failure is reported and the resource left behind, not retried by later deployments."""
        try:
            self._remove(resource, self._superseded_policy(resource))
        except Exception as error:  # noqa: BLE001 - reported, as CloudFormation does, not raised
            with self._lock:
                self.changes.append(Change("delete-failed", resource.logical_id, resource.resource_type,
                                           resource.physical_id, str(error)))
        with self._lock:
            self.state.forget(resource)

    def _create_or_update(self, logical_id: str, definition: dict[str, Any], graph_dependencies: list[str]) -> Change | None:
        """Send the Create or Update; the state records what CloudFormation would know as it goes
        (the new properties of an Update being attempted, a physical id once onEvent answered),
        which is what a rollback works from."""
        try:
            properties = self._resolver().resolve(
                {k: v for k, v in definition.get("Properties", {}).items() if k != "ServiceToken"})
        except UnresolvedReference as error:
            raise DeployError(f"stack {self.state.stack_name}, resource {logical_id}: {error}") from None
        resource_type = definition["Type"]
        current = self.state.resources.get(logical_id)
        deletion_policy = definition.get("DeletionPolicy", "Delete")
        update_replace_policy = definition.get("UpdateReplacePolicy", "Delete")

        def record(physical_id: str, data: dict[str, str]) -> None:
            with self._lock:
                self.state.put(DeployedResource(logical_id, resource_type, physical_id, properties, data,
                                                graph_dependencies, deletion_policy, update_replace_policy))

        if current is None:
            result = self._send(self._event("Create", logical_id, resource_type,
                                            ResourceProperties=as_cloudformation_sends(properties)),
                                accepted=lambda answer: record(answer["PhysicalResourceId"], {}))
            record(result["PhysicalResourceId"], result.get("Data", {}))
            return Change("create", logical_id, resource_type, result["PhysicalResourceId"])
        if current.properties == properties:
            # No event for CloudFormation to send, but the stack's record still changes.
            record(current.physical_id, current.data)
            return None
        record(current.physical_id, current.data)
        # If this Update's waiting fails (a replacement composition that ends FAILED), the
        # Provider framework's FAILED answer carries the new physical id; the record keeps the old
        # one, and the handler has stopped the failed composition itself.
        result = self._send(self._event(
            "Update", logical_id, resource_type, PhysicalResourceId=current.physical_id,
            ResourceProperties=as_cloudformation_sends(properties),
            OldResourceProperties=as_cloudformation_sends(current.properties)))
        new_id = result["PhysicalResourceId"]
        record(new_id, result.get("Data", {}))
        if new_id == current.physical_id:
            return Change("update", logical_id, resource_type, new_id, _describe_diff(current.properties, properties))
        # The template being deployed says what happens to the original it replaces.
        with self._lock:
            self.state.supersede(dataclasses.replace(current, update_replace_policy=update_replace_policy))
        return Change("replace", logical_id, resource_type, new_id, f"replaces {current.physical_id}")

    def _superseded_policy(self, resource: DeployedResource) -> str:
        """The original of a replacement (its logical id lives on) goes by its
        UpdateReplacePolicy; a resource removed from the template by its DeletionPolicy."""
        replaced = resource.logical_id in self.state.resources
        return resource.update_replace_policy if replaced else resource.deletion_policy

    def _remove(self, resource: DeployedResource, policy: str, created_by_failed_deploy: bool = False) -> None:
        """Delete, unless ``policy`` keeps it (then it only leaves the stack).
        ``RetainExceptOnCreate`` (CDK's RETAIN_ON_UPDATE_OR_DELETE) keeps it except when the
        deployment that created it is being rolled back."""
        retained = policy == "Retain" or (policy == "RetainExceptOnCreate" and not created_by_failed_deploy)
        if retained:
            with self._lock:
                self.changes.append(Change("retain", resource.logical_id, resource.resource_type, resource.physical_id))
        else:
            self._delete(resource)

    def _delete(self, resource: DeployedResource) -> None:
        self._send(self._event("Delete", resource.logical_id, resource.resource_type,
                               PhysicalResourceId=resource.physical_id,
                               ResourceProperties=as_cloudformation_sends(resource.properties)))
        with self._lock:
            self.changes.append(Change("delete", resource.logical_id, resource.resource_type, resource.physical_id))

    def _roll_back(self, touched: list[str], before: dict[str, DeployedResource]) -> None:
        """Undo, as CloudFormation does, every resource the deployment started, the ones that failed
        included; each after those that depend on it, and those at once:

        - created (onEvent answered, even if the waiting then failed): Delete it, unless its
          DeletionPolicy retains it. A Create whose
          onEvent failed has nothing to delete: the Provider framework answers the Delete that
          follows with its CREATE_FAILED marker without calling the handler;
        - updated, replaced, or failed partway through its Update: Update back to the old
          properties, then Delete a replacement the Update had made;
        - only its record changed (dependencies, policies): no event, as none was sent.

        Each resource's record is restored as soon as its own step succeeded, and a replacement
        being rolled back is superseded before it is deleted, so if the rollback fails, the state
        still says what exists (a later deploy or destroy works from it)."""
        graph = {k: self.state.resources[k].dependencies for k in touched if k in self.state.resources}
        users = dependents(graph, touched)
        outcome = self._run("rollback", {k: functools.partial(self._roll_back_one, k, before.get(k)) for k in touched},
                            users, order=list(reversed(touched)))
        if outcome.failures:
            raise outcome.first_failure()

    def _roll_back_one(self, logical_id: str, previous: DeployedResource | None) -> None:
        current = self.state.resources.get(logical_id)
        if current is None or current == previous:
            return
        if previous is None:
            self._remove(current, current.deletion_policy, created_by_failed_deploy=True)
            with self._lock:
                del self.state.resources[logical_id]
            return
        if (current.physical_id, current.properties) == (previous.physical_id, previous.properties):
            with self._lock:
                self.state.put(previous)
            return
        result = self._send(self._event(
            "Update", logical_id, current.resource_type, PhysicalResourceId=current.physical_id,
            ResourceProperties=as_cloudformation_sends(previous.properties),
            OldResourceProperties=as_cloudformation_sends(current.properties)))
        restored = dataclasses.replace(previous, physical_id=result["PhysicalResourceId"],
                                       data=result.get("Data", {}))
        with self._lock:
            self.state.put(restored)  # the original, adopted back
            if restored.physical_id != current.physical_id:
                self.state.supersede(current)
        if restored.physical_id != current.physical_id:
            self._delete(current)
            with self._lock:
                self.state.forget(current)

    def destroy(self) -> list[Change]:
        """Delete every resource, superseded ones (left by a failed rollback) first, then the rest,
        each after those that depend on it and the others at once; a Retain policy keeps one. A
        resource leaves the state only once its delete succeeded, so a failed destroy can be run
        again."""
        self._as_lambda_runs_it()
        first = len(self.changes)

        def remove_superseded(resource: DeployedResource) -> None:
            self._remove(resource, self._superseded_policy(resource))
            with self._lock:
                self.state.forget(resource)

        def remove(logical_id: str) -> None:
            resource = self.state.resources[logical_id]
            self._remove(resource, resource.deletion_policy)
            with self._lock:
                del self.state.resources[logical_id]

        superseded_ids = {str(i): r.logical_id for i, r in enumerate(self.state.superseded)}
        self._raise_destroy_failures(self._remove_superseded("destroy (superseded)", remove_superseded), superseded_ids)
        graph = {k: r.dependencies for k, r in self.state.resources.items()}
        users = dependents(graph, list(graph))
        outcome = self._run("destroy", {k: functools.partial(remove, k) for k in graph}, users,
                            order=list(reversed(creation_order(graph))))
        self._raise_destroy_failures(outcome, {k: k for k in graph})
        return self.changes[first:]

    @staticmethod
    def _raise_destroy_failures(outcome: GraphOutcome, logical_ids: dict[str, str]) -> None:
        """One line, as CloudFormation's DELETE_FAILED: the first failure, and how many others."""
        if not outcome.failures:
            return
        key = sorted(outcome.failures)[0]
        others = f" (and {len(outcome.failures) - 1} more failed)" if len(outcome.failures) > 1 else ""
        raise DeployError(f"destroy failed at {logical_ids.get(key, key)}: {outcome.failures[key]}{others}")


def _describe_diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return "changed: " + ", ".join(keys)


def default_state_dir() -> Path:
    return Path(os.environ.get("IVSRT_LOCAL_STATE_DIR", ".local-deploy"))


def deployed_stacks(state_dir: Path) -> dict[str, StackState]:
    """Every stack state in ``state_dir``, by artifact id (the file's name)."""
    return {path.stem: StackState.load(path, path.stem, "") for path in sorted(state_dir.glob("*.json"))}


def cross_region_of(region: str, others: Iterable[StackState]) -> CrossRegion:
    """What a stack in ``region`` reads through cross-region references from the ``others``
    deployed: their outputs, and the SSM parameters their export writers put in ``region``."""
    others = list(others)
    return CrossRegion(visible_in(region, {f"{o.stack_name}@{o.region}": o.cross_region_parameters for o in others}),
                       {(o.stack_name, o.region): o.outputs for o in others})


def deploy_stacks(stacks: list[StackArtifact], state_dir: Path, default_region: str, *,
                  concurrency: int | None = None, progress: Callable[[str], None] | None = None,
                  handler: Any | None = None) -> dict[str, list[Change]]:
    """Deploy ``stacks`` one after another (in the order given: dependencies first), each with
    the exports of the stacks deployed before it; each stack's state is saved as it ends."""
    done = {}
    for stack in stacks:
        path = state_dir / f"{stack.artifact_id}.json"  # unique in the assembly, unlike a stack name
        state = StackState.load(path, stack.stack_name, stack.region or default_region)
        if state.region != (stack.region or state.region):
            raise DeployError(f"stack {stack.artifact_id} was deployed to {state.region}, not {stack.region}: "
                              "destroy it there first")
        others = {k: v for k, v in deployed_stacks(state_dir).items() if k != stack.artifact_id}
        exports = {name: value for other in others.values() for name, value in other.exports.items()}
        cross_region = cross_region_of(state.region, others.values())
        deployer = LocalDeployer(state, handler, concurrency=concurrency, progress=progress, exports=exports,
                                 cross_region=cross_region)
        try:
            done[stack.stack_name] = deployer.deploy(stack.template)
        finally:
            state.save(path)
    return done


def destroy_stacks(names: list[str], state_dir: Path, *, concurrency: int | None = None,
                   progress: Callable[[str], None] | None = None, handler: Any | None = None) -> dict[str, list[Change]]:
    """Destroy the named deployed stacks (all when none are named), importers before exporters;
    as CloudFormation, a stack whose export another stack still imports is not destroyed."""
    deployed = deployed_stacks(state_dir)
    chosen = _named(names, {k: v.stack_name for k, v in deployed.items()},
                    lambda name: f"no deployed stack {name!r} in {state_dir}; deployed: {', '.join(deployed) or 'none'}")
    exporter = {name: artifact_id for artifact_id, state in deployed.items() for name in state.exports}
    uses = {name: sorted({exporter[i] for i in deployed[name].imports if i in exporter} & set(chosen)) for name in chosen}
    done = {}
    for name in reversed(creation_order(uses)):
        state = deployed[name]
        users = [other_id for other_id, other in deployed.items()
                 if other_id != name and other_id not in done and set(other.imports) & set(state.exports)]
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
