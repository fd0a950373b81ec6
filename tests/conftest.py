"""Shared fixtures: one local IVS Real-Time endpoint per session, the real handler, CFN-like events."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Never reach a real account from the tests: fixed fake credentials and region.
TEST_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "AKIDLOCALTESTS",
    "AWS_SECRET_ACCESS_KEY": "local-secret-that-must-never-be-logged",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
os.environ.update(TEST_ENVIRONMENT)
os.environ.pop("AWS_PROFILE", None)

from ivsrt_local.assembly import read_assembly, select_stacks  # noqa: E402
from ivsrt_local.endpoint import TEST_COMPOSITION_SPEED, Fault, LocalIvsRealtime  # noqa: E402
from ivsrt_local.framework import ProviderFramework, as_cloudformation_sends  # noqa: E402
from ivsrt_local.scenarios import (  # noqa: E402  (the resource types, and keys the scenarios use)
    COMPOSITION,
    ENCODER,
    INGEST,
    P384_KEY_A,
    P384_KEY_B,
    PUBLIC_KEY,
    STAGE,
    STORAGE,
)

# A P-256 key, which IVS refuses (it verifies ES384 tokens); the public half only.
P256_KEY = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEoKW11SHTqdgPJbtIL7SymmTWM9kv
lMMHMcQnkDGcwCVeOiGx/aENZHfrmG4JPd542oJXUDfwQPRftnu5FScaRQ==
-----END PUBLIC KEY-----
"""


@pytest.fixture(scope="session")
def endpoint() -> LocalIvsRealtime:
    with LocalIvsRealtime(composition_speed=TEST_COMPOSITION_SPEED) as server:
        # The endpoint answers the KMS calls a signing key makes, too.
        os.environ["AWS_ENDPOINT_URL_IVS_REALTIME"] = os.environ["AWS_ENDPOINT_URL_KMS"] = server.url
        os.environ["AWS_ENDPOINT_URL_SSM"] = server.url  # the provider's desired-state parameters
        os.environ["AWS_ENDPOINT_URL_CLOUDFORMATION"] = server.url  # adoption's DescribeStackResources
        yield server


@pytest.fixture
def ivs(endpoint: LocalIvsRealtime) -> LocalIvsRealtime:
    """The session's endpoint, emptied: no resources, no calls, no faults, full rate buckets (the
    service's rate quotas stay on; compositions run TEST_COMPOSITION_SPEED times faster)."""
    endpoint.reset()
    yield endpoint
    endpoint.clear_faults()


@pytest.fixture(scope="session")
def handler(endpoint: LocalIvsRealtime) -> Any:
    from ivsrt_runtime import provider  # what lambda/handler.py names as the entry

    return provider


PROVIDER_STACK = "Provider"
# The stack the events come from: the one whose provider policy conftest.provider_principal
# resolves (its desired-state parameters are on that stack's path).
STACK_ID = f"arn:aws:cloudformation:us-east-1:123456789012:stack/{PROVIDER_STACK}/1"


class CloudFormation:
    """Sends events to the handler the way CloudFormation (through the Provider framework) does."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        # The endpoint's compositions start and stop in tens of milliseconds (TEST_COMPOSITION_SPEED):
        # a short pause between isComplete calls, and at least 5 s before the waiter gives up.
        self.framework = ProviderFramework(handler, poll_seconds=0.01, max_polls=500)

    @property
    def timeout_seconds(self) -> float:
        """The provider function's timeout: what a test shortens to reach the deadline sooner."""
        return self.framework.timeout_seconds

    @timeout_seconds.setter
    def timeout_seconds(self, seconds: float) -> None:
        self.framework.timeout_seconds = seconds

    @property
    def polls(self) -> list[dict[str, Any]]:
        """Every isComplete answer of the last request."""
        return self.framework.polls

    def send(
        self,
        request: str,
        resource_type: str,
        properties: dict[str, Any] | None = None,
        *,
        physical_id: str | None = None,
        old: dict[str, Any] | None = None,
        logical_id: str = "Resource",
        request_id: str | None = None,
        wait: bool = True,
    ) -> dict[str, Any]:
        """One event; ``wait=False`` returns onEvent's answer without the waiter (to play out
        what happens while an asynchronous resource is still settling)."""
        event: dict[str, Any] = {
            "RequestType": request,
            "ResourceType": resource_type,
            "LogicalResourceId": logical_id,
            "RequestId": request_id or str(uuid.uuid4()),
            "StackId": STACK_ID,
            "ResponseURL": "https://cloudformation-custom-resource-response.example/secret-presigned-url",
            "ResourceProperties": {
                "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:x",
                **as_cloudformation_sends(properties or {}),
            },
        }
        if physical_id is not None:
            event["PhysicalResourceId"] = physical_id
        if old is not None:
            event["OldResourceProperties"] = {
                "ServiceToken": event["ResourceProperties"]["ServiceToken"],
                **as_cloudformation_sends(old),
            }
        result = self.framework.on_event(event)
        if request == "Delete":  # the framework refuses a Delete that changes the physical id
            assert result["PhysicalResourceId"] == physical_id
        self.last_event = {**event, **result}
        return self.framework.settle(event, result) if wait else result

    def settle(self, event: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
        """isComplete until complete, as the framework's waiter does (see ProviderFramework)."""
        return self.framework.settle(event, result)

    def create(self, resource_type: str, properties: dict[str, Any], **kw: Any) -> dict[str, Any]:
        return self.send("Create", resource_type, properties, **kw)

    def update(self, resource_type: str, physical_id: str, old: dict[str, Any], new: dict[str, Any], **kw: Any) -> dict[str, Any]:
        return self.send("Update", resource_type, new, physical_id=physical_id, old=old, **kw)

    def delete(self, resource_type: str, physical_id: str, properties: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.send("Delete", resource_type, properties, physical_id=physical_id)


@pytest.fixture
def cfn(handler: Any, ivs: LocalIvsRealtime) -> CloudFormation:
    return CloudFormation(handler)


@pytest.fixture(scope="session")
def provider_principal() -> Any:
    """What the provider function signs as on AWS: its role, with the policy a stack declaring
    every resource type gives it (the policy grows with the types), resolved in the account and
    region the tests' events and the endpoint use."""
    import aws_cdk as cdk
    from aws_cdk import aws_s3 as s3

    from constructs_ivsrt import (
        Composition,
        EncoderConfiguration,
        IngestConfiguration,
        PublicKey,
        S3Destination,
        Stage,
        StorageConfiguration,
    )
    from constructs_ivsrt._provider import IvsRealtimeProvider
    from ivsrt_local.endpoint import ACCOUNT_ID
    from ivsrt_local.iam import function_principal
    from ivsrt_local.resolver import Resolver
    from ivsrt_local.stack_state import StackState

    app = cdk.App()
    stack = cdk.Stack(app, PROVIDER_STACK)  # no environment: the Resolver fills in the tests' region and account
    stage = Stage(stack, "Stage")
    storage = StorageConfiguration(stack, "Storage", bucket=s3.Bucket(stack, "Bucket"))
    encoder = EncoderConfiguration(stack, "Encoder")
    IngestConfiguration(stack, "Ingest", stage=stage)
    PublicKey(stack, "Key", public_key_material=P384_KEY_A)
    Composition(
        stack, "Program", stage=stage, destinations=[S3Destination(storage_configuration=storage, encoder_configuration=encoder)]
    )
    template = app.synth().get_stack_by_name(PROVIDER_STACK).template
    function_id = stack.resolve(stack.get_logical_id(IvsRealtimeProvider.of(stack).on_event_function.node.default_child))
    resolver = Resolver(StackState(PROVIDER_STACK, TEST_ENVIRONMENT["AWS_DEFAULT_REGION"]))
    return function_principal(template, function_id, resolver.resolve, ACCOUNT_ID)


@pytest.fixture
def provider_role(ivs: LocalIvsRealtime, provider_principal: Any) -> Any:
    """The handler's calls held to the provider's role, as on AWS: the endpoint answers anything
    its policy does not allow with AccessDeniedException. The handler signs with the suite's
    credentials, which this binds to the role for one test (``ivs`` unbinds them)."""
    ivs.iam.enforce(provider_principal, os.environ["AWS_ACCESS_KEY_ID"])
    return provider_principal


def stack_template(assembly: Path, stack_name: str) -> dict[str, Any]:
    """The template of the stack ``stack_name`` in a synthesized assembly, as the runner reads it."""
    return select_stacks(read_assembly(assembly), [stack_name])[0].template


def resources(ivs: LocalIvsRealtime, noun: str | None = None) -> list[dict[str, Any]]:
    return [r for r in ivs.state.snapshot() if noun is None or r["_noun"] == noun]


IDENTITY_TAG = "constructs-ivsrt:identity"


def user_tags(resource: dict[str, Any]) -> dict[str, str]:
    """A resource's tags without the provider's identity tag, which must be there."""
    tags = dict(resource["tags"])
    assert IDENTITY_TAG in tags, f"{resource['arn']} has no identity tag"
    del tags[IDENTITY_TAG]
    return tags


def only(ivs: LocalIvsRealtime, noun: str) -> dict[str, Any]:
    """The one resource of a kind at the endpoint (a test fails if there are more or none)."""
    found = resources(ivs, noun)
    assert len(found) == 1, f"expected exactly one {noun}, found {found}"
    return found[0]


def arns(ivs: LocalIvsRealtime, noun: str) -> list[str]:
    """The ARNs of live resources: a STOPPED composition is the service's to remove (it does, later)."""
    return sorted(r["arn"] for r in resources(ivs, noun) if r.get("state") != "STOPPED")


def running(ivs: LocalIvsRealtime) -> list[str]:
    """Compositions that are starting or active (not stopping, stopped or failed)."""
    return sorted(r["arn"] for r in resources(ivs, "Composition") if r["state"] in ("STARTING", "ACTIVE"))


def make(cfn: CloudFormation, resource_type: str, props: dict[str, Any], **kw: Any) -> str:
    """Create through the handler; the new resource's ARN."""
    return cfn.create(resource_type, props, **kw)["PhysicalResourceId"]


def make_storage(
    cfn: CloudFormation, name: str = "recordings", bucket: str = "my-bucket", tags: dict[str, str] | None = None
) -> tuple[str, dict[str, Any]]:
    props = {"name": name, "s3": {"bucketName": bucket}, "tags": tags or {}}
    return make(cfn, STORAGE, props), props


@pytest.fixture
def stage_with_recording(cfn: CloudFormation) -> dict[str, Any]:
    """A composition's properties: a stage, recorded to S3 through a storage and an encoder configuration."""
    stage = make(cfn, STAGE, {"name": "show"})
    storage = make(cfn, STORAGE, {"name": "rec", "s3": {"bucketName": "b-1"}})
    encoder = make(cfn, ENCODER, {"name": "hd"})
    destinations = [
        {
            "name": "program",
            "s3": {
                "storageConfigurationArn": storage,
                "encoderConfigurationArns": [encoder],
                "recordingConfiguration": {"hlsConfiguration": {"targetSegmentDurationSeconds": 4}},
            },
        }
    ]
    return {"stageArn": stage, "layout": {"grid": {"gridGap": 2}}, "destinations": destinations}


def tag_list(tags: dict[str, Any]) -> list[dict[str, Any]]:
    """Tags as a template carries them: CloudFormation's Key/Value list, sorted by key."""
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


__all__ = [
    "tag_list",
    "Fault",
    "resources",
    "user_tags",
    "only",
    "arns",
    "running",
    "make",
    "make_storage",
    "IDENTITY_TAG",
    "STAGE",
    "ENCODER",
    "STORAGE",
    "INGEST",
    "PUBLIC_KEY",
    "COMPOSITION",
    "P384_KEY_A",
    "P384_KEY_B",
    "P256_KEY",
]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print the fault matrix's table, the corpus counts and the fleet's figures whenever they ran (figures, not pass/fail)."""
    import sys as _sys

    for name in ("test_fault_matrix", "test_bad_input_corpus", "test_wrong_types_corpus", "test_fleet"):
        module = _sys.modules.get(name)
        for line in module.summary_lines() if module else []:
            terminalreporter.write_line(line)
