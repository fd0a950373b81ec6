"""The deployer of one stack: Create / Update / Delete events to the real handler, as
CloudFormation sends them through the Provider framework, the cleanup of what a deployment
replaced or removed, the rollback of a failed one, and destroy."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ivsrt_local import cloudformation
from ivsrt_local.assembly import dependencies, imported_names, managed
from ivsrt_local.cross_region import CrossRegion, UnresolvedReference, written_parameters
from ivsrt_local.framework import (
    FUNCTION_TIMEOUT_SECONDS,
    OperationTimedOut,
    ProviderFramework,
    as_cloudformation_sends,
)
from ivsrt_local.graph import GraphOutcome, Progress, creation_order, dependents, run_graph
from ivsrt_local.kms import KEY_RESOURCE_TYPE, on_key_event
from ivsrt_local.resolver import Resolver
from ivsrt_local.stack_state import DeployedResource, DeployError, StackState
from ivsrt_runtime import provider
from ivsrt_runtime.clients import kms_client


@dataclass
class Change:
    action: str  # "create", "update", "replace", "delete", "retain", "delete-failed" (cleanup only)
    logical_id: str
    resource_type: str
    physical_id: str
    detail: str = ""


LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
# One stack's Lambda environment at a time in this process (see lambda_environment).
_LAMBDA_ENVIRONMENT = threading.RLock()


@contextlib.contextmanager
def lambda_environment(region: str) -> Iterator[None]:
    """What Lambda gives the provider function in its environment, for the time of one stack's
    deploy or destroy: the stack's region, and credentials (stand-ins, which the local endpoint
    checks against nothing, unless some are set already); the local endpoint answers KMS too,
    unless KMS is elsewhere, and so do Parameter Store (the desired state), unless SSM is, and
    CloudFormation (adoption's ``DescribeStackResources``, from the stacks the runner told it),
    unless CloudFormation is: the handler never reaches AWS from the runner. What was there
    before is put back after.

    Set in the environment rather than handed to the handler: the handler is the function's own
    code, which reads them there as on Lambda (``ivsrt_runtime.clients``), and the runner runs
    that path, not one made for it. The variables are the process's, so two runners in one
    process take turns under a lock rather than overwrite each other's region."""
    names = (
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        *LOCAL_CREDENTIALS,
        "AWS_ENDPOINT_URL_KMS",
        "AWS_ENDPOINT_URL_SSM",
        cloudformation.ENDPOINT_ENV,
    )
    with _LAMBDA_ENVIRONMENT, environment_kept(names):
        os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = region
        for key, value in LOCAL_CREDENTIALS.items():
            os.environ.setdefault(key, value)
        if os.environ.get("AWS_ENDPOINT_URL_IVS_REALTIME"):
            os.environ.setdefault("AWS_ENDPOINT_URL_KMS", os.environ["AWS_ENDPOINT_URL_IVS_REALTIME"])
            os.environ.setdefault("AWS_ENDPOINT_URL_SSM", os.environ["AWS_ENDPOINT_URL_IVS_REALTIME"])
            os.environ.setdefault(cloudformation.ENDPOINT_ENV, os.environ["AWS_ENDPOINT_URL_IVS_REALTIME"])
        yield


@contextlib.contextmanager
def environment_kept(names: Iterable[str]) -> Iterator[None]:
    """The environment variables ``names`` put back as they were (set or not) at the end."""
    saved = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class LocalDeployer:
    """Create / update / delete a stack's IVS resources through the real handler."""

    def __init__(
        self,
        state: StackState,
        handler: Any | None = None,
        timeout_seconds: float = FUNCTION_TIMEOUT_SECONDS,
        *,
        concurrency: int | None = None,
        progress: Callable[[str], None] | None = None,
        exports: Mapping[str, Any] | None = None,
        cross_region: CrossRegion | None = None,
    ) -> None:
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
            "StackId": cloudformation.stack_id(self.state),
            "RequestId": str(uuid.uuid4()),
            "ServiceToken": "local",
            **fields,
        }

    def _send(self, event: dict[str, Any], accepted: Callable[[dict[str, Any]], None] = lambda result: None) -> dict[str, Any]:
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
        with lambda_environment(self.state.region):
            cloudformation.publish([self.state])  # what CloudFormation lists of the stack, at the endpoint
            try:
                return self._deploy(template)
            finally:
                cloudformation.publish([self.state])

    def _deploy(self, template: dict[str, Any]) -> list[Change]:
        wanted = managed(template)
        self._parameters = template.get("Parameters", {})
        self._resources = template.get("Resources", {})
        graph = {k: dependencies(v, set(wanted)) for k, v in wanted.items()}
        order = creation_order(graph)  # refuses a circular reference before anything is sent
        before = {k: dataclasses.replace(v) for k, v in self.state.resources.items()}
        tasks = {
            logical_id: functools.partial(self._create_or_update, logical_id, wanted[logical_id], graph[logical_id])
            for logical_id in wanted
        }
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

    def _forget_cancelled_creates(self, logical_ids: set[str]) -> None:
        """CloudFormation cancels the Creates still in flight when a resource fails, and never
        learns what they make: it rolls each back with a Delete of a physical id it made up. (Here
        they have finished; on AWS that Delete can even come while the Create still runs.)"""
        with self._lock:
            for logical_id in logical_ids & set(self.state.resources):
                made_up = f"{self.state.stack_name}-{logical_id}-{uuid.uuid4().hex[:12].upper()}"
                self.state.resources[logical_id] = dataclasses.replace(
                    self.state.resources[logical_id], physical_id=made_up, data={}
                )

    def _run(
        self, title: str, tasks: dict[str, Callable[[], Any]], after: dict[str, list[str]], order: list[str] | None = None
    ) -> GraphOutcome:
        return run_graph(
            tasks,
            after,
            concurrency=self.concurrency,
            order=order,
            progress=Progress(title, len(tasks), self.progress) if self.progress else None,
        )

    def _remove_superseded(self, title: str, remove: Callable[[DeployedResource], None]) -> GraphOutcome:
        """``remove`` every superseded resource, one only after the superseded resources that
        used it (by their logical ids' dependencies when they were deployed)."""
        superseded = {str(index): resource for index, resource in enumerate(self.state.superseded)}
        users = {
            key: [other for other, user in superseded.items() if resource.logical_id in user.dependencies]
            for key, resource in superseded.items()
        }
        return self._run(title, {key: functools.partial(remove, resource) for key, resource in superseded.items()}, users)

    def _clean_up(self, resource: DeployedResource) -> None:
        """Delete (or keep, by its policy) a superseded resource. As with CloudFormation, a
        failure is reported and the resource left behind, not retried by later deployments."""
        try:
            self._remove(resource, self._superseded_policy(resource))
        except Exception as error:  # noqa: BLE001 - reported, as CloudFormation does, not raised
            with self._lock:
                self.changes.append(
                    Change("delete-failed", resource.logical_id, resource.resource_type, resource.physical_id, str(error))
                )
        with self._lock:
            self.state.forget(resource)

    def _create_or_update(self, logical_id: str, definition: dict[str, Any], graph_dependencies: list[str]) -> Change | None:
        """Send the Create or Update; the state records what CloudFormation would know as it goes
        (the new properties of an Update being attempted, a physical id once onEvent answered),
        which is what a rollback works from."""
        try:
            properties = self._resolver().resolve(
                {k: v for k, v in definition.get("Properties", {}).items() if k != "ServiceToken"}
            )
        except UnresolvedReference as error:
            raise DeployError(f"stack {self.state.stack_name}, resource {logical_id}: {error}") from None
        resource_type = definition["Type"]
        current = self.state.resources.get(logical_id)
        deletion_policy = definition.get("DeletionPolicy", "Delete")
        update_replace_policy = definition.get("UpdateReplacePolicy", "Delete")

        def record(physical_id: str, data: dict[str, str]) -> None:
            with self._lock:
                self.state.put(
                    DeployedResource(
                        logical_id,
                        resource_type,
                        physical_id,
                        properties,
                        data,
                        graph_dependencies,
                        deletion_policy,
                        update_replace_policy,
                    )
                )

        if current is None:
            result = self._send(
                self._event("Create", logical_id, resource_type, ResourceProperties=as_cloudformation_sends(properties)),
                accepted=lambda answer: record(answer["PhysicalResourceId"], {}),
            )
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
        result = self._send(
            self._event(
                "Update",
                logical_id,
                resource_type,
                PhysicalResourceId=current.physical_id,
                ResourceProperties=as_cloudformation_sends(properties),
                OldResourceProperties=as_cloudformation_sends(current.properties),
            )
        )
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
        self._send(
            self._event(
                "Delete",
                resource.logical_id,
                resource.resource_type,
                PhysicalResourceId=resource.physical_id,
                ResourceProperties=as_cloudformation_sends(resource.properties),
            )
        )
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
        outcome = self._run(
            "rollback",
            {k: functools.partial(self._roll_back_one, k, before.get(k)) for k in touched},
            users,
            order=list(reversed(touched)),
        )
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
        result = self._send(
            self._event(
                "Update",
                logical_id,
                current.resource_type,
                PhysicalResourceId=current.physical_id,
                ResourceProperties=as_cloudformation_sends(previous.properties),
                OldResourceProperties=as_cloudformation_sends(current.properties),
            )
        )
        restored = dataclasses.replace(previous, physical_id=result["PhysicalResourceId"], data=result.get("Data", {}))
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
        with lambda_environment(self.state.region):
            try:
                return self._destroy()
            finally:
                cloudformation.publish([self.state])  # gone, unless something failed to go

    def _destroy(self) -> list[Change]:
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
        outcome = self._run(
            "destroy", {k: functools.partial(remove, k) for k in graph}, users, order=list(reversed(creation_order(graph)))
        )
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
