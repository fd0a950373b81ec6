"""The IVS Real-Time resource rules: one source of truth for constructs, handler, endpoint and tests.

Every constraint (pattern, length, range, enum, required member, type) is read from the
botocore service model shipped beside this file (``models/``), never restated by hand. The
constructs validate props with it at synth time, the handler converts CloudFormation's strings
with it, and the local endpoint validates requests with it.

This module runs inside Lambda, so it imports only the standard library and botocore.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel, Shape

from ivsrt_runtime.conversion import attribute_name, from_cloudformation

MODEL_DIR = Path(__file__).resolve().parent / "models"
SERVICE_NAME = "ivs-realtime"
API_VERSION = "2020-07-14"

# Any IVS Real-Time resource's ARN (each type's own pattern is its Get input's ``arn`` member).
ARN_PATTERN = r"arn:aws:ivs:[a-z0-9-]+:[0-9]+:[a-z-]+/[a-zA-Z0-9-]+"

# Where the published model is wrong, by shape name. Keep this short and say why for each.
# - ResourceArn: "[a-z-]/" allows a one-letter resource type, so no real ARN ("stage/...") would
#   match; the service accepts every IVS Real-Time ARN on the tagging operations.
PATTERN_ERRATA: dict[str, str] = {
    "ResourceArn": ARN_PATTERN,
}


@functools.cache
def service_description() -> dict[str, Any]:
    """The shipped model's JSON as botocore's loader parses it, once per process: the rules read
    it, and the function's client is handed the same (clients.py) rather than parsing it again."""
    loader = Loader(extra_search_paths=[str(MODEL_DIR)], include_default_search_paths=False)
    return loader.load_service_model(SERVICE_NAME, "service-2", API_VERSION)


@functools.cache
def service_model() -> ServiceModel:
    """The ivs-realtime model this project ships, whatever botocore version is installed."""
    return ServiceModel(service_description(), SERVICE_NAME)


def operation(name: str) -> OperationModel:
    return service_model().operation_model(name)


@dataclass(frozen=True)
class Settling:
    """The states of a resource the service brings up and down asynchronously (a composition).

    A Create or replacing Update is complete when the resource reaches ``ready``; ``failed`` ends
    the wait with an error; a Delete is complete when it reaches one of ``ended`` (or is gone).
    """

    ready: str
    failed: str
    ended: tuple[str, ...]
    stopping: str  # on its way to ended: never adopted, never waited on to become ready

    @property
    def over(self) -> tuple[str, ...]:
        """The states of a resource that will not be ready again."""
        return (*self.ended, self.stopping)


@dataclass(frozen=True)
class InUseBy:
    """Resources of another type that keep one of this type in use through a member of theirs
    (IVS refuses the delete with ConflictException): named when a delete waited in vain."""

    user: ResourceRules
    path: tuple[str, ...]  # the member of ``user`` holding this resource's ARN


@dataclass(frozen=True)
class ResourceRules:
    """How one custom resource type maps onto the API.

    The properties a resource accepts are the members of its Create operation's input that we
    expose (``properties``); those the Update operation also accepts change in place, the others
    force a replacement. Both sets are derived from the model, not listed by hand, and so are the
    idempotency token, secret attributes and whether List summaries carry tags.
    """

    resource_type: str
    noun: str  # the API's noun, e.g. "Stage" -> CreateStage, GetStage, DeleteStage
    response_key: str  # the output member holding the resource, e.g. "stage"
    arn_segment: str  # the ARN's resource type: arn:aws:ivs:<region>:<account>:<arn_segment>/<id>
    properties: tuple[str, ...]  # Create input members the construct exposes, tags excluded
    updatable: bool = False  # True when the API has an Update<noun> operation
    # The property that may instead come from a KMS key (KMS_KEY_PROPERTY): the public key's
    # material, read with kms:GetPublicKey (see keys.py). None: the type has no such property.
    key_material_property: str | None = None
    create_verb: str = "Create"  # ImportPublicKey, StartComposition
    delete_verb: str = "Delete"  # StopComposition
    # Output members returned as Fn::GetAtt attributes besides Arn and Name (and a stage's
    # endpoints), e.g. "fingerprint" -> Fingerprint; a path for nested ones.
    extra_attributes: tuple[tuple[str, ...], ...] = ()
    settling: Settling | None = None  # set for asynchronous resources (is_complete waits)
    in_use_by: InUseBy | None = None
    # ARN types its Create is authorized on besides its own (the Service Authorization Reference
    # lists StartComposition's resources as the stage, encoder and storage configurations and
    # channel it composes, not the composition it makes).
    create_uses: tuple[str, ...] = ()

    @property
    def create_operation(self) -> str:
        return f"{self.create_verb}{self.noun}"

    @property
    def get_operation(self) -> str:
        return f"Get{self.noun}"

    @property
    def delete_operation(self) -> str:
        return f"{self.delete_verb}{self.noun}"

    @property
    def update_operation(self) -> str | None:
        return f"Update{self.noun}" if self.updatable else None

    @property
    def operations(self) -> tuple[str, ...]:
        """Every operation the handler may call on this type (its IAM actions, List aside)."""
        return tuple(filter(None, (self.create_operation, self.get_operation, self.update_operation, self.delete_operation)))

    @property
    def arn_shape(self) -> Shape:
        return operation(self.get_operation).input_shape.members["arn"]

    @property
    def create_input(self) -> Shape:
        return operation(self.create_operation).input_shape

    @property
    def delete_input(self) -> Shape:
        return operation(self.delete_operation).input_shape

    @property
    def resource_shape(self) -> Shape:
        return operation(self.get_operation).output_shape.members[self.response_key]

    @functools.cached_property
    def idempotency_member(self) -> str | None:
        """The Create input member the model marks as an idempotency token (StartComposition's)."""
        return next((name for name, shape in self.create_input.members.items() if shape.metadata.get("idempotencyToken")), None)

    @functools.cached_property
    def in_place_properties(self) -> frozenset[str]:
        if not self.update_operation:
            return frozenset()
        members = operation(self.update_operation).input_shape.members
        return frozenset(p for p in self.properties if p in members)

    @functools.cached_property
    def replacing_properties(self) -> frozenset[str]:
        return frozenset(self.properties) - self.in_place_properties

    @property
    def list_operation(self) -> str:
        return f"List{self.noun}s"

    @functools.cached_property
    def list_key(self) -> str:
        """The member of the List output that holds the summaries (``stages``, ...)."""
        output = operation(self.list_operation).output_shape
        return next(name for name, shape in output.members.items() if shape.type_name == "list")

    @functools.cached_property
    def summaries_have_tags(self) -> bool:
        """Whether List summaries carry tags (ListIngestConfigurations' do not: Get each)."""
        summary = operation(self.list_operation).output_shape.members[self.list_key].member
        return TAGS_PROPERTY in summary.members

    @functools.cached_property
    def endpoint_names(self) -> tuple[str, ...]:
        """The endpoints the resource's output shape declares (a stage's WHIP, events, RTMP(S))."""
        endpoints = self.resource_shape.members.get("endpoints")
        return tuple(endpoints.members) if endpoints is not None else ()

    @functools.cached_property
    def secret_attributes(self) -> frozenset[str]:
        """The attributes the model marks sensitive (a stream key): sent with NoEcho, never logged."""
        return frozenset(
            attribute_name(path)
            for path in self.extra_attributes
            if shape_at(self.resource_shape, *path).metadata.get("sensitive")
        )

    @functools.cached_property
    def delete_options(self) -> tuple[str, ...]:
        """Delete-operation input members besides the ARN (DeleteIngestConfiguration's ``force``):
        settings of how the resource goes, carried as the ``deleteOptions`` property."""
        return tuple(name for name in self.delete_input.members if name != "arn")

    def delete_parameters(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        """The Delete call's extra parameters from the ``deleteOptions`` property, converted from
        CloudFormation's strings; unknown or malformed ones are left out (a delete must not fail
        on a setting)."""
        options = properties.get(DELETE_OPTIONS_PROPERTY)
        if not isinstance(options, Mapping):
            return {}
        from ivsrt_runtime.validation import check

        members = self.delete_input.members
        converted = {
            key: from_cloudformation(members[key], value) for key, value in options.items() if key in self.delete_options
        }
        return {key: value for key, value in converted.items() if not check(members[key], value, key)}

    def owns(self, physical_id: str) -> bool:
        """Whether a physical id is an ARN of this resource type (and so one we may have made)."""
        from ivsrt_runtime.validation import check

        return not check(self.arn_shape, physical_id, "arn")

    def property_shape(self, prop: str) -> Shape:
        """The shape of a property: the Create input's member of that name."""
        return self.create_input.members[prop]


TAGS_PROPERTY = "tags"
# A ParticipantTokenSigningKey's ring (key_ring.py): the one custom resource the provider serves
# that is not an IVS resource type.
SIGNING_KEY_RING_TYPE = "Custom::IvsRealtimeSigningKeyRing"
KMS_KEY_PROPERTY = "kmsKeyArn"  # a KMS key whose public half is the resource's key material
DELETE_OPTIONS_PROPERTY = "deleteOptions"  # {"force": true}: see ResourceRules.delete_options
# The construct prop that sets each delete option, and what setting it does: named in the error
# of a delete that waited in vain.
DELETE_OPTION_PROPS: dict[str, tuple[str, str]] = {"force": ("force_delete", "disconnects the publisher")}
# Template properties that are not API members either. ``reconcile``: set by the constructs from the
# context below (or on every deploy, RECONCILE_ON_DEPLOY_CONTEXT); an Update in which only it
# changed brings the resource back to its desired state (reconcile.py). ``adoptArn``: a Create
# takes over the resource at that ARN instead of making one (adopt.py).
RECONCILE_PROPERTY = "reconcile"
RECONCILE_CONTEXT = "constructs-ivsrt:reconcile"
RECONCILE_ON_DEPLOY_CONTEXT = "constructs-ivsrt:reconcile-on-deploy"
ADOPT_ARN_PROPERTY = "adoptArn"

STAGE = ResourceRules(
    resource_type="Custom::IvsRealtimeStage",
    noun="Stage",
    response_key="stage",
    arn_segment="stage",
    properties=("name", "autoParticipantRecordingConfiguration"),
    updatable=True,
)
ENCODER_CONFIGURATION = ResourceRules(
    resource_type="Custom::IvsRealtimeEncoderConfiguration",
    noun="EncoderConfiguration",
    response_key="encoderConfiguration",
    arn_segment="encoder-configuration",
    properties=("name", "video"),
)
STORAGE_CONFIGURATION = ResourceRules(
    resource_type="Custom::IvsRealtimeStorageConfiguration",
    noun="StorageConfiguration",
    response_key="storageConfiguration",
    arn_segment="storage-configuration",
    properties=("name", "s3"),
    in_use_by=InUseBy(STAGE, ("autoParticipantRecordingConfiguration", "storageConfigurationArn")),
)
INGEST_CONFIGURATION = ResourceRules(
    resource_type="Custom::IvsRealtimeIngestConfiguration",
    noun="IngestConfiguration",
    response_key="ingestConfiguration",
    arn_segment="ingest-configuration",
    properties=("name", "stageArn", "userId", "attributes", "ingestProtocol", "insecureIngest", "redundantIngest"),
    updatable=True,
    # Not "state": it changes as the encoder connects, so a deploy-time value would be stale.
    extra_attributes=(
        ("participantId",),
        ("streamKey",),
        ("redundantIngestCredentials", "participantId"),
        ("redundantIngestCredentials", "streamKey"),
    ),
)
PUBLIC_KEY = ResourceRules(
    resource_type="Custom::IvsRealtimePublicKey",
    noun="PublicKey",
    response_key="publicKey",
    arn_segment="public-key",
    properties=("name", "publicKeyMaterial"),
    create_verb="Import",
    extra_attributes=(("fingerprint",),),
    key_material_property="publicKeyMaterial",
)
COMPOSITION = ResourceRules(
    resource_type="Custom::IvsRealtimeComposition",
    noun="Composition",
    response_key="composition",
    arn_segment="composition",
    properties=("stageArn", "layout", "destinations"),
    create_verb="Start",
    delete_verb="Stop",
    extra_attributes=(("state",),),
    create_uses=("stage", "encoder-configuration", "storage-configuration", "channel"),
    settling=Settling(ready="ACTIVE", failed="FAILED", ended=("STOPPED", "FAILED"), stopping="STOPPING"),
)

RESOURCES: dict[str, ResourceRules] = {
    r.resource_type: r
    for r in (STAGE, ENCODER_CONFIGURATION, STORAGE_CONFIGURATION, INGEST_CONFIGURATION, PUBLIC_KEY, COMPOSITION)
}


@dataclass(frozen=True)
class ResourceQuota:
    """A resource quota per account and region: named in a ServiceQuotaExceededException's
    message so it says which limit was met, and enforced by the local endpoint."""

    label: str  # "Stages"
    default: int
    adjustable: bool = True
    per_stage: int | None = None  # a second limit on how many one stage may have


# The service's resource quotas ("Service Quotas" in the IVS Real-Time User Guide), defaults.
QUOTAS: dict[str, ResourceQuota] = {
    "Stage": ResourceQuota("Stages", 1000),
    "EncoderConfiguration": ResourceQuota("Encoder configurations", 20),
    "StorageConfiguration": ResourceQuota("Storage configurations", 5),
    "IngestConfiguration": ResourceQuota("Ingest configurations", 100),
    "PublicKey": ResourceQuota("Public keys", 3, adjustable=False),
    "Composition": ResourceQuota("Compositions", 20, per_stage=5),
}

# The API rate quotas, in transactions per second per account and region, each operation its
# own limit (same page; not adjustable). The local endpoint enforces them; the handler names
# them when it gives up; the benchmarks measure against them.
DEFAULT_RATE_QUOTA = 5.0
RATE_QUOTAS: dict[str, float] = {
    "CreateParticipantToken": 50.0,
    **dict.fromkeys(("TagResource", "UntagResource", "ListTagsForResource"), 10.0),
    **dict.fromkeys(("ImportPublicKey", "GetPublicKey", "ListPublicKeys", "DeletePublicKey"), 3.0),
}


def rate_quota(operation_name: str) -> float:
    """Calls per second IVS Real-Time allows ``operation_name`` in one account and region."""
    return RATE_QUOTAS.get(operation_name, DEFAULT_RATE_QUOTA)


# ---------------------------------------------------------------------------------------------
# Identity: every resource the provider creates carries one tag saying which stack resource
# (owner), which immutable properties (those that force replacement) and which CloudFormation
# request made it. IVS names are not unique, so this tag, never the name, is how the handler
# recognises its own work: a Create whose response was lost, or the original resource a
# rollback returns to.
# ---------------------------------------------------------------------------------------------
IDENTITY_TAG = "constructs-ivsrt:identity"
RESERVED_TAG_PREFIXES = ("aws:", "constructs-ivsrt:")


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


def owner_digest(stack_id: str, logical_id: str) -> str:
    """The identity tag's owner part: which stack resource (the drift detector finds orphans by it)."""
    return _digest(stack_id, logical_id)


@dataclass(frozen=True)
class Identity:
    owner: str  # digest of the stack resource: StackId + LogicalResourceId
    properties_digest: str  # digest of the replacing properties' values
    request: str  # digest of the CloudFormation request

    @classmethod
    def of(cls, rules: ResourceRules, stack_id: str, logical_id: str, request_id: str, params: Mapping[str, Any]) -> Identity:
        immutable = {k: params.get(k) for k in sorted(rules.replacing_properties)}
        return cls(owner_digest(stack_id, logical_id), _digest(json.dumps(immutable, sort_keys=True)), _digest(request_id))

    @property
    def tag_value(self) -> str:
        return f"{self.owner}.{self.properties_digest}.{self.request}"

    def same_resource(self, other: Identity) -> bool:
        """Made for the same stack resource with the same replacing properties (by any request)."""
        return (self.owner, self.properties_digest) == (other.owner, other.properties_digest)

    @property
    def idempotency_token(self) -> str:
        """The same request of the same stack resource always sends the same token (62 characters
        of the model's ``[a-zA-Z0-9-_]``, within its 64), so the service starts at most one."""
        return self.tag_value.replace(".", "-")

    @classmethod
    def parse(cls, value: str | None) -> Identity | None:
        parts = (value or "").split(".")
        return cls(*parts) if len(parts) == 3 else None


def snake_case(name: str) -> str:
    """``CreateStage`` -> ``create_stage`` (boto3's method names), ``pipWidth`` -> ``pip_width``."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def shape_at(shape: Shape, *path: str) -> Shape:
    """The shape of a nested member: ``shape_at(video, "width")``; a list on the way is stepped
    into (``shape_at(ingest, "redundantIngestCredentials", "streamKey")``)."""
    for name in path:
        shape = shape.member if shape.type_name == "list" else shape
        shape = shape.members[name]
    return shape
