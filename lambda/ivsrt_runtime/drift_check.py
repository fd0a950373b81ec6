"""The drift detector: every managed resource of some stacks compared with its recorded desired
state (IN_SYNC, MODIFIED with its differences, DELETED), the orphans found by identity tag, and
the corrections asked for (``--revert``, ``--delete-orphans``).

It needs AWS credentials and nothing else: the stacks' resources come from a ``StackSource``
(CloudFormation here; the local runner's state files in ``ivsrt_local``), the desired states
from Parameter Store (``desired``), the resources from IVS; every call goes through
``calls.call``, so a fleet stays within the rate quotas. Standard library and botocore only: a
scheduled function can run it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from ivsrt_runtime import desired, drift, lifecycle, observe, reconcile
from ivsrt_runtime.calls import Request, RequestFailed, call, error_code
from ivsrt_runtime.rules import IDENTITY_TAG, RESOURCES, TAGS_PROPERTY, Identity, owner_digest

IN_SYNC, MODIFIED, DELETED = "IN_SYNC", "MODIFIED", "DELETED"
UNKNOWN = "UNKNOWN"  # no desired state recorded (deployed before this version, or the record failed)


@dataclass(frozen=True)
class StackResource:
    logical_id: str
    resource_type: str
    physical_id: str
    retain: bool = False  # UpdateReplacePolicy/DeletionPolicy Retain: what it leaves behind is kept on purpose


@dataclass(frozen=True)
class Stack:
    name: str
    stack_id: str
    resources: tuple[StackResource, ...]
    gone: bool = False  # deleted: whatever carries its resources' identity is an orphan
    # Physical ids the stack still knows besides its resources' (replaced ones awaiting cleanup).
    known: frozenset[str] = frozenset()


class StackSource(Protocol):
    def stacks(self, names: list[str]) -> list[Stack]:
        """The named stacks (every stack with a recorded desired state when none is named)."""


@dataclass
class ResourceReport:
    logical_id: str
    type: str
    arn: str
    status: str
    differences: list[drift.Difference] = field(default_factory=list)
    outcome: str = ""  # what --revert did, or what it could not do
    # The desired state it was compared with: what --revert sends back (not in the report).
    wanted: desired.DesiredState | None = field(default=None, repr=False, compare=False)


@dataclass
class Orphan:
    arn: str
    type: str
    outcome: str = ""


@dataclass
class StackReport:
    stack: str
    resources: list[ResourceReport] = field(default_factory=list)
    orphans: list[Orphan] = field(default_factory=list)
    restore: str = ""  # the command for what cannot be corrected in place

    @property
    def drifted(self) -> bool:
        return bool(self.orphans) or any(r.status in (MODIFIED, DELETED) for r in self.resources)

    @property
    def unknown(self) -> bool:
        return any(r.status == UNKNOWN for r in self.resources)

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "resources": [
                {
                    "logical_id": r.logical_id,
                    "type": r.type,
                    "arn": r.arn,
                    "status": r.status,
                    "differences": [{"path": d.path, "expected": d.expected, "actual": d.actual} for d in r.differences],
                }
                for r in self.resources
            ],
            "orphans": [{"arn": o.arn, "type": o.type} for o in self.orphans],
        }


# Resources observed at once. One caller keeps a Get's bucket (5 calls a second) drained only
# while a call takes under 200 ms; four keep it drained up to 800 ms a call (a detector far from
# the region), and the call engine retries what the quota throttles. See docs/design.md, "Benchmarks".
CONCURRENCY = 4


class Detector:
    """Checks stacks; ``ivs`` and ``ssm`` are the requests the calls are made for (clients, deadline);
    ``concurrency``: resources observed at once (each thread gets its own client from ``get_client``
    when it is ``clients.ivs_client``; 1: in the caller's thread, one after another)."""

    def __init__(
        self,
        ivs: Request,
        ssm: Request,
        progress: Callable[[str], None] = lambda line: None,
        token: str = "",
        concurrency: int = CONCURRENCY,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be 1 or more, got: {concurrency}")
        self.ivs, self.ssm, self.progress, self.token = ivs, ssm, progress, token
        self.concurrency = concurrency

    def check(self, stack: Stack) -> StackReport:
        report = StackReport(stack.name)
        if stack.gone:
            return report
        states = desired.read_stack(self.ssm, stack.name)
        managed = [r for r in stack.resources if r.resource_type in RESOURCES]
        for index, checked in enumerate(self._each(managed, lambda r: self._check_resource(r, states.get(r.logical_id))), 1):
            if index % 25 == 0 or index == len(managed):
                self.progress(f"{stack.name}: {index}/{len(managed)} resources observed")
            report.resources.append(checked)
        if any(r.status == DELETED or not reconcile.in_place(r.differences) for r in report.resources):
            report.restore = reconcile.restore_command(stack.name, self.token)
        return report

    def _each(self, resources: list[StackResource], check: Callable[[StackResource], ResourceReport]) -> Iterable[ResourceReport]:
        """``check`` of each resource, in their order, ``concurrency`` at a time; the first failure
        is raised, and what has not started by then never starts."""
        if self.concurrency == 1 or len(resources) < 2:
            yield from map(check, resources)
            return
        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(resources)), thread_name_prefix="drift")
        try:
            yield from pool.map(check, resources)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _check_resource(self, resource: StackResource, state: desired.DesiredState | None) -> ResourceReport:
        rules = RESOURCES[resource.resource_type]
        report = ResourceReport(resource.logical_id, rules.resource_type, resource.physical_id, UNKNOWN, wanted=state)
        if state is None or not rules.owns(resource.physical_id):
            return report
        observed = observe.observe(self.ivs, rules, resource.physical_id)
        if observed is None:
            report.status = DELETED
            return report
        report.differences = drift.compare(rules, state, observed)
        report.status = MODIFIED if report.differences else IN_SYNC
        return report

    def orphans(self, stacks: Iterable[Stack], reports: dict[str, StackReport], types: Iterable[str] | None = None) -> None:
        """Add to each stack's report the resources carrying one of its resources' identity that
        are not that resource (a cancelled create's, a replaced one left behind), or whose stack
        is gone; the IVS Lists once for all stacks (tags per resource only where summaries have none).

        ``types`` (resource types) limits the Lists to those types: a leftover carries the
        identity of a stack resource of its own type, so a stack's types find its orphans (what
        DriftWatch, allowed only its stack's types, passes). Default: every type."""
        owners: dict[str, tuple[str, StackResource]] = {}
        known: set[str] = set()
        for stack in stacks:
            known |= stack.known
            for resource in stack.resources:
                owners[owner_digest(stack.stack_id, resource.logical_id)] = (stack.name, resource)
                known.add(resource.physical_id)
        listed = set(types) if types is not None else set(RESOURCES)
        for rules in (r for t, r in RESOURCES.items() if t in listed):
            self.progress(f"orphans: listing {rules.noun} resources")
            for summary in lifecycle.summaries(self.ivs, rules.list_operation, rules.list_key):  # type: ignore[arg-type]
                if rules.settling is not None and summary.get("state") in rules.settling.over:
                    continue  # ended: the service removes it
                tags = summary.get(TAGS_PROPERTY)
                if tags is None:
                    tags = call(self.ivs, "ListTagsForResource", resourceArn=summary["arn"])["tags"]
                identity = Identity.parse(tags.get(IDENTITY_TAG))
                owner = owners.get(identity.owner) if identity is not None else None
                if owner is None or summary["arn"] in known or owner[1].retain:
                    continue
                reports[owner[0]].orphans.append(Orphan(summary["arn"], rules.resource_type))

    # -- corrections ------------------------------------------------------------------------------
    def revert(self, report: StackReport) -> None:
        """Correct every MODIFIED resource whose differences are all in place, to the desired state
        it was compared with; its tags are read again, so the tag calls act on them as they are."""
        for resource in report.resources:
            if resource.status != MODIFIED:
                if resource.status == DELETED:
                    resource.outcome = "not reverted: deleted (see the restore command)"
                continue
            if not reconcile.in_place(resource.differences):
                resource.outcome = "not reverted: a property that replaces it changed (see the restore command)"
                continue
            rules, state = RESOURCES[resource.type], resource.wanted
            assert state is not None  # MODIFIED: compared with a desired state
            observed = observe.observe(self.ivs, rules, resource.arn) or {}
            try:
                reconcile.revert(
                    self.ivs,
                    rules,
                    resource.arn,
                    state.properties,
                    state.tags,
                    resource.differences,
                    observed.get(TAGS_PROPERTY, {}),
                )
                resource.outcome = "reverted"
            except (RequestFailed, ValueError) as error:
                resource.outcome = f"revert failed: {error}"

    def delete_orphans(self, report: StackReport) -> None:
        for orphan in report.orphans:
            try:
                lifecycle.delete(self._request(orphan.arn), RESOURCES[orphan.type], orphan.arn)
                orphan.outcome = "deleted"
            except RequestFailed as error:
                orphan.outcome = f"delete failed: {error}"

    def _request(self, arn: str) -> lifecycle.ResourceRequest:
        return lifecycle.ResourceRequest(get_client=self.ivs.get_client, subject=arn, deadline=self.ivs.deadline)


# ---------------------------------------------------------------------------------------------
# CloudFormation's stacks
# ---------------------------------------------------------------------------------------------

MANAGED_PREFIX = "Custom::IvsRealtime"


class CloudFormationStacks:
    """Stacks as CloudFormation has them: ``DescribeStacks``, ``ListStackResources`` (paginated),
    ``GetTemplate`` (which resources keep what they replace); a stack that no longer exists is
    found among the deleted ones (``ListStacks``), whose resources CloudFormation still lists."""

    def __init__(self, cloudformation: Request, ssm: Request) -> None:
        self.cloudformation, self.ssm = cloudformation, ssm

    def stacks(self, names: list[str]) -> list[Stack]:
        found = []
        for name in names or desired.recorded_stacks(self.ssm):
            try:
                described = call(self.cloudformation, "DescribeStacks", StackName=name)["Stacks"][0]
                found.append(self._stack(name, described["StackId"], gone=False))
            except RequestFailed as error:
                if error_code(error) != "ValidationError":
                    raise
                deleted = self._deleted(name)
                if not deleted:
                    raise RequestFailed(f"no stack {name!r} (nor a deleted one) in this account and region") from None
                found += [self._stack(name, stack_id, gone=True) for stack_id in deleted]
        return found

    def _deleted(self, name: str) -> list[str]:
        ids, token = [], None
        while True:
            page = call(
                self.cloudformation,
                "ListStacks",
                StackStatusFilter=["DELETE_COMPLETE"],
                **({"NextToken": token} if token else {}),
            )
            ids += [s["StackId"] for s in page.get("StackSummaries", []) if s["StackName"] == name]
            token = page.get("NextToken")
            if not token:
                return ids

    def _stack(self, name: str, stack_id: str, gone: bool) -> Stack:
        resources, token = [], None
        while True:
            page = call(self.cloudformation, "ListStackResources", StackName=stack_id, **({"NextToken": token} if token else {}))
            resources += [r for r in page.get("StackResourceSummaries", []) if r["ResourceType"].startswith(MANAGED_PREFIX)]
            token = page.get("NextToken")
            if not token:
                break
        retained = set()
        if not gone:
            template = call(self.cloudformation, "GetTemplate", StackName=stack_id).get("TemplateBody") or {}
            definitions = template.get("Resources", {}) if isinstance(template, dict) else {}
            retained = {k for k, v in definitions.items() if v.get("UpdateReplacePolicy") == "Retain"}
        return Stack(
            name,
            stack_id,
            tuple(
                StackResource(
                    r["LogicalResourceId"],
                    r["ResourceType"],
                    r.get("PhysicalResourceId") or "",
                    r["LogicalResourceId"] in retained or r.get("ResourceStatus") == "DELETE_SKIPPED",
                )
                for r in resources
            ),
            gone=gone,
        )
