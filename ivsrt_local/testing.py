"""Test your own CDK app against the local IVS Real-Time endpoint, with pytest.

    import aws_cdk as cdk
    from ivsrt_local.testing import local_ivs_realtime  # noqa: F401  (a pytest fixture)

    def test_my_app_deploys_and_destroys(local_ivs_realtime, tmp_path):
        app = cdk.App(outdir=str(tmp_path / "cdk.out"))
        MyVideoStack(app, "Video")
        local_ivs_realtime.deploy(app)                 # synth, then every stack, dependencies first
        assert len(local_ivs_realtime.resources("Stage")) == 1
        local_ivs_realtime.destroy()
        assert local_ivs_realtime.live_resources() == []

The fixture starts an endpoint of its own (the service's rate quotas on; compositions start and
stop 100 times faster than the service's, ``IVSRT_LOCAL_COMPOSITION_SPEED`` changes that) and
points the handler at it; stack states go to a temporary folder. ``deployed(construct)`` and
``outputs(stack)`` read what a deploy made: ARNs, attributes, the stack's outputs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_

from ivsrt_local import iam, invoke
from ivsrt_local.assembly import read_assembly, select_stacks
from ivsrt_local.deploy import cross_region_of, deploy_stacks, deployed_stacks, destroy_stacks
from ivsrt_local.deployer import Change, environment_kept
from ivsrt_local.endpoint import ACCOUNT_ID, TEST_COMPOSITION_SPEED, LocalIvsRealtime, default_composition_speed
from ivsrt_local.invoke import InvocationFailed
from ivsrt_local.kms import KEY_SPEC, KEY_USAGE
from ivsrt_local.resolver import Resolver
from ivsrt_local.stack_state import DeployedResource, StackState
from ivsrt_runtime import rules

__all__ = ["InvocationFailed", "LocalDeployment", "local_ivs_realtime"]


@dataclass
class LocalDeployment:
    """The endpoint and what was deployed to it."""

    endpoint: LocalIvsRealtime
    state_dir: Path
    region: str = "us-east-1"  # for stacks whose environment names no region

    assembly: Path | None = None  # of the app deployed last
    app: Any = None  # the app deployed last (its construct tree names the functions credentials_for finds)

    def deploy(self, app: Any, stacks: Sequence[str] = ()) -> dict[str, list[Change]]:
        """Synthesize ``app`` (a ``cdk.App``) and deploy ``stacks`` (default: all), by stack name."""
        self.assembly = Path(app.synth().directory)
        self.app = app
        return deploy_stacks(select_stacks(read_assembly(self.assembly), list(stacks)), self.state_dir, self.region)

    def deployed(self, construct: Any) -> DeployedResource:
        """What was deployed for ``construct``: an IVS construct of the app deployed last (a
        ``Stage``, ...), or a ``ParticipantTokenSigningKey``. Its ``physical_id`` is what ``Ref``
        gives (an IVS resource's ARN, a KMS key's id), and ``data`` what ``Fn::GetAtt`` reads
        (``Arn``, ``Name``, ``WhipEndpoint``, ...)::

            stage_arn = local_ivs_realtime.deployed(stack.hall).physical_id
        """
        resource = _managed_resource_of(construct)
        stack = cdk.Stack.of(resource)
        logical_id = stack.resolve(stack.get_logical_id(resource))
        state = self._state(stack.artifact_id)
        if logical_id not in state.resources:
            raise KeyError(f"{resource.node.path} ({logical_id}) is not deployed in stack {stack.artifact_id}")
        return state.resources[logical_id]

    def outputs(self, stack: Any) -> dict[str, Any]:
        """The ``CfnOutput`` values of a deployed stack of the app deployed last (the ``cdk.Stack``,
        or its artifact id or stack name), by output id, resolved as CloudFormation would::

            whip = local_ivs_realtime.outputs("Video")["Whip"]

        An output the runner cannot resolve (it names something not deployed here, such as a
        bucket or function) has the stand-in value the runner gives such resources."""
        if self.assembly is None:
            raise KeyError("nothing deployed yet: call deploy(app) first")
        name = stack if isinstance(stack, str) else stack.artifact_id  # a cdk.Stack, or its name
        artifact = select_stacks(read_assembly(self.assembly), [name])[0]
        template = artifact.template
        state = self._state(artifact.artifact_id)
        others = [other for k, other in deployed_stacks(self.state_dir).items() if k != artifact.artifact_id]
        resolver = Resolver(
            state,
            template.get("Parameters", {}),
            resources=template.get("Resources", {}),
            cross_region=cross_region_of(state.region, others),
        )
        return {name: resolver.resolve(output["Value"]) for name, output in template.get("Outputs", {}).items()}

    def credentials_for(self, function: Any) -> dict[str, str]:
        """Credentials that sign as ``function`` of the app deployed last: the endpoint (IVS and
        KMS) then allows them only what the template's policies allow that function's role, and
        answers anything else ``AccessDeniedException``. ``function`` is a construct path
        (``"Live/Backend"``: the function, or a construct holding one function, such as a
        ``ParticipantTokenVendor``) or the construct itself. Usable as
        ``boto3.client("kms", **credentials)``; the ARNs in the policies are the deployed ones,
        so ask again after a deploy that replaces what they name::

            kms = boto3.client("kms", **local_ivs_realtime.credentials_for("Live/Backend"))
        """
        located = self._function(function)
        key = self.endpoint.iam.enforce(located.principal)
        return {"aws_access_key_id": key, "aws_secret_access_key": "local", "region_name": located.region}

    def environment_for(self, function: Any) -> dict[str, str]:
        """The environment ``function`` runs with on Lambda, for a subprocess that plays it
        (``subprocess.run(..., env={**os.environ, **env})``): its own variables, resolved against
        what was deployed (``add_to_function``'s ``IVSRT_*`` among them), ``credentials_for(function)``
        as ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, its region, and the endpoint's URLs."""
        located = self._function(function)
        key = self.endpoint.iam.enforce(located.principal)
        return {
            **located.variables,
            "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_REGION": located.region,
            "AWS_DEFAULT_REGION": located.region,
            "AWS_ENDPOINT_URL_IVS_REALTIME": self.endpoint.url,
            "AWS_ENDPOINT_URL_KMS": self.endpoint.url,
            "AWS_ENDPOINT_URL_SSM": self.endpoint.url,  # a signer reads its key's ring there
        }

    def invoke(self, function: Any, event: Any = None, *, now: float | None = None) -> Any:
        """Run ``function`` of the app deployed last on ``event`` as Lambda runs it: its asset (or
        inline code) and its layers, in a process of its own with ``environment_for(function)``;
        its answer, or ``InvocationFailed`` with the error's last line. ``now`` (epoch seconds)
        moves that process's clock: a scheduled function's work weeks ahead, such as a signing
        key's retirement (``invoke(key.retirement_function, now=time.time() + 29 * 86400)``)::

            answer = local_ivs_realtime.invoke(vendor.function, {"userId": "ada"})
        """
        located = self._function(function)
        assert self.assembly is not None  # _function checked it
        return invoke.run(self.assembly, located.template, located.definition, self.environment_for(function), event or {}, now)

    def _function(self, function: Any) -> _Located:
        """The function (a construct path or the construct) in the app deployed last: its
        principal, with its policies resolved against its deployed stack (a stack not deployed
        resolves to the runner's stand-ins), its region, and its environment variables, resolved."""
        if self.assembly is None:
            raise KeyError("nothing deployed yet: call deploy(app) first")
        found = _function_at(self.app, function if isinstance(function, str) else function.node.path)
        stack = cdk.Stack.of(found)
        artifact = select_stacks(read_assembly(self.assembly), [stack.artifact_id])[0]
        deployed = deployed_stacks(self.state_dir)
        exports = {name: value for state in deployed.values() for name, value in state.exports.items()}
        state = deployed.get(artifact.artifact_id) or StackState(artifact.stack_name, artifact.region or self.region)
        resolver = Resolver(state, artifact.template.get("Parameters", {}), exports)
        function_id = stack.resolve(stack.get_logical_id(found))
        definition = artifact.template["Resources"][function_id].get("Properties", {})
        variables = resolver.resolve(definition.get("Environment", {}).get("Variables", {}))
        principal = iam.function_principal(artifact.template, function_id, resolver.resolve, ACCOUNT_ID)
        return _Located(
            principal, state.region, {name: str(value) for name, value in variables.items()}, definition, artifact.template
        )

    def _state(self, artifact_id: str) -> StackState:
        stacks = deployed_stacks(self.state_dir)
        if artifact_id not in stacks:
            raise KeyError(f"stack {artifact_id} is not deployed; deployed: {', '.join(stacks) or 'none'}")
        return stacks[artifact_id]

    def destroy(self, stacks: Sequence[str] = ()) -> dict[str, list[Change]]:
        """Destroy ``stacks`` (default: every deployed one), importers first."""
        return destroy_stacks(list(stacks), self.state_dir)

    def resources(self, noun: str | None = None) -> list[dict[str, Any]]:
        """What the endpoint holds, as the API shows it, with ``_noun`` ("Stage", ...): stopped
        compositions too, which IVS keeps listed for a few minutes after they end."""
        return [r for r in self.endpoint.state.snapshot() if noun is None or r["_noun"] == noun]

    def live_resources(self, noun: str | None = None) -> list[dict[str, Any]]:
        """``resources(noun)`` but the stopped compositions: what a destroy must leave empty."""
        return [r for r in self.resources(noun) if r.get("state") != "STOPPED"]


@dataclass(frozen=True)
class _Located:
    """A function of the app deployed last, as it was deployed."""

    principal: iam.Principal  # its role, with the policies resolved
    region: str
    variables: dict[str, str]  # its environment, resolved
    definition: dict[str, Any]  # its template properties
    template: dict[str, Any]  # its stack's template


def _function_at(app: Any, path: str) -> lambda_.CfnFunction:
    """The Lambda function at ``path`` (the function, or the one function inside a construct),
    found in the construct tree: a template carries construct paths only when the CLI asks."""
    path = path.strip("/")
    everything = app.node.find_all()
    found = [
        c
        for c in everything
        if isinstance(c, lambda_.CfnFunction) and (c.node.path == path or c.node.path.startswith(path + "/"))
    ]
    if len(found) != 1:
        candidates = found or [c for c in everything if isinstance(c, lambda_.CfnFunction)]
        raise KeyError(
            f"{'several functions' if found else 'no function'} at {path!r} in the app deployed last; "
            f"name one of: {', '.join(sorted(c.node.path.removesuffix('/Resource') for c in candidates))}"
        )
    return found[0]


def _managed_resource_of(construct: Any) -> cdk.CfnResource:
    """The one resource of ``construct`` the runner deploys (its custom resource, or a signing
    key's KMS key), found by type among the construct and its children."""
    for child in construct.node.find_all():
        if isinstance(child, cdk.CfnResource) and (
            child.cfn_resource_type in rules.RESOURCES
            or (getattr(child, "key_spec", None), getattr(child, "key_usage", None)) == (KEY_SPEC, KEY_USAGE)
        ):
            return child
    raise KeyError(f"{construct.node.path} has no resource the local runner deploys")


@pytest.fixture
def local_ivs_realtime(tmp_path: Path) -> Iterator[LocalDeployment]:
    """A local IVS Real-Time endpoint for one test, with the handler pointed at it."""
    # The endpoint URLs it sets are put back afterwards, set or not, and so are the region and
    # credentials, whatever the test did with them (the runner puts back what it sets itself).
    with (
        environment_kept(
            (
                "AWS_REGION",
                "AWS_DEFAULT_REGION",
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_ENDPOINT_URL_IVS_REALTIME",
                "AWS_ENDPOINT_URL_KMS",
                "AWS_ENDPOINT_URL_SSM",
                "AWS_ENDPOINT_URL_CLOUDFORMATION",
            )
        ),
        LocalIvsRealtime(composition_speed=default_composition_speed(TEST_COMPOSITION_SPEED)) as endpoint,
    ):
        # The endpoint answers the KMS calls a signing key makes, too.
        os.environ["AWS_ENDPOINT_URL_IVS_REALTIME"] = os.environ["AWS_ENDPOINT_URL_KMS"] = endpoint.url
        os.environ["AWS_ENDPOINT_URL_SSM"] = endpoint.url  # the provider's desired-state parameters
        # Adoption's DescribeStackResources, answered from the stacks deployed here: never AWS.
        os.environ["AWS_ENDPOINT_URL_CLOUDFORMATION"] = endpoint.url
        deployment = LocalDeployment(endpoint, tmp_path / "local-deploy")
        # What the test's own code calls (revoke_connection_token, ...) needs a region, as on Lambda.
        os.environ.setdefault("AWS_DEFAULT_REGION", deployment.region)
        yield deployment
