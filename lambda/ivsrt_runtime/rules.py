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
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator, Mapping

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel, Shape

MODEL_DIR = Path(__file__).resolve().parent / "models"
SERVICE_NAME = "ivs-realtime"
API_VERSION = "2020-07-14"

# AWS tag rules beyond the model's lengths and count (IAM/Tagging "Tag naming limits and
# requirements"): the `aws:` prefix is reserved, and only letters, numbers, spaces and
# `_ . : / = + - @` are allowed. Python's `\w` is the closest stdlib class to `\p{L}\p{N}`.
TAG_CHARACTERS = re.compile(r"[\w\s.:/=+\-@]*")

# Where the published model is wrong, by shape name. Keep this short and say why for each.
# - ResourceArn: "[a-z-]/" allows a one-letter resource type, so no real ARN ("stage/...") would
#   match; the service accepts every IVS Real-Time ARN on the tagging operations.
PATTERN_ERRATA: dict[str, str] = {
    "ResourceArn": r"arn:aws:ivs:[a-z0-9-]+:[0-9]+:[a-z-]+/[a-zA-Z0-9-]+",
}


@functools.cache
def service_model() -> ServiceModel:
    """The ivs-realtime model this project ships, whatever botocore version is installed."""
    loader = Loader(extra_search_paths=[str(MODEL_DIR)], include_default_search_paths=False)
    return ServiceModel(loader.load_service_model(SERVICE_NAME, "service-2", API_VERSION), SERVICE_NAME)


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
        return tuple(filter(None, (self.create_operation, self.get_operation, self.update_operation,
                                   self.delete_operation)))

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
        return next((name for name, shape in self.create_input.members.items()
                     if shape.metadata.get("idempotencyToken")), None)

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
        return frozenset(attribute_name(path) for path in self.extra_attributes
                         if shape_at(self.resource_shape, *path).metadata.get("sensitive"))

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
        members = self.delete_input.members
        converted = {key: from_cloudformation(members[key], value)
                     for key, value in options.items() if key in self.delete_options}
        return {key: value for key, value in converted.items() if not check(members[key], value, key)}

    def owns(self, physical_id: str) -> bool:
        """Whether a physical id is an ARN of this resource type (and so one we may have made)."""
        return not check(self.arn_shape, physical_id, "arn")

    def member(self, prop: str) -> Shape:
        return self.create_input.members[prop]


def attribute_name(path: tuple[str, ...]) -> str:
    """The ``Data`` key of an output member: ("fingerprint",) -> Fingerprint,
    ("redundantIngestCredentials", "streamKey") -> RedundantIngestCredentialsStreamKey."""
    return "".join(f"{part[0].upper()}{part[1:]}" for part in path)


TAGS_PROPERTY = "tags"
KMS_KEY_PROPERTY = "kmsKeyArn"  # a KMS key whose public half is the resource's key material
DELETE_OPTIONS_PROPERTY = "deleteOptions"  # {"force": true}: see ResourceRules.delete_options
# The construct prop that sets each delete option, and what setting it does: named in the error
# of a delete that waited in vain.
DELETE_OPTION_PROPS: dict[str, tuple[str, str]] = {"force": ("force_delete", "disconnects the publisher")}

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
    extra_attributes=(("participantId",), ("streamKey",),
                      ("redundantIngestCredentials", "participantId"), ("redundantIngestCredentials", "streamKey")),
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
    r.resource_type: r for r in (STAGE, ENCODER_CONFIGURATION, STORAGE_CONFIGURATION, INGEST_CONFIGURATION,
                                  PUBLIC_KEY, COMPOSITION)
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


# The provider function's timeout. Under throttling its calls are retried until 45 s before it
# (handler.ANSWER_MARGIN_SECONDS). A fleet needs N / 5 seconds for N calls of one operation, and
# stacks deployed at the same time share the account's quotas: 10 minutes covers about 2700 calls
# of one operation in one account. (The Provider framework's function that calls it waits 15.)
FUNCTION_TIMEOUT_SECONDS = 600


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


@dataclass(frozen=True)
class Identity:
    owner: str  # the stack resource: StackId + LogicalResourceId
    properties: str  # the replacing properties' values
    request: str  # the CloudFormation request

    @classmethod
    def of(cls, rules: ResourceRules, stack_id: str, logical_id: str, request_id: str,
           params: Mapping[str, Any]) -> Identity:
        immutable = {k: params.get(k) for k in sorted(rules.replacing_properties)}
        return cls(_digest(stack_id, logical_id), _digest(json.dumps(immutable, sort_keys=True)), _digest(request_id))

    @property
    def tag_value(self) -> str:
        return f"{self.owner}.{self.properties}.{self.request}"

    @property
    def idempotency_token(self) -> str:
        """The same request of the same stack resource always sends the same token (62 characters
        of the model's ``[a-zA-Z0-9-_]``, within its 64), so the service starts at most one."""
        return self.tag_value.replace(".", "-")

    @classmethod
    def parse(cls, value: str | None) -> Identity | None:
        parts = (value or "").split(".")
        return cls(*parts) if len(parts) == 3 else None


def endpoint_attribute(endpoint: str) -> str:
    """The ``Data`` key (Fn::GetAtt name) of a stage endpoint: ``whip`` -> ``WhipEndpoint``."""
    return f"{endpoint[0].upper()}{endpoint[1:]}Endpoint"


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


# ---------------------------------------------------------------------------------------------
# Validation: one walker over a model shape, returning readable violations.
# ---------------------------------------------------------------------------------------------

def _never_unresolved(_value: Any) -> bool:
    return False


@dataclass(frozen=True)
class _MapEntry:
    key: Any


_KEY_OF_MAP = " key"  # a path step: the keys of a map, rather than a value


class Label:
    """How a message names the value it is about: by default the API's member path
    (``CreateStage.autoParticipantRecordingConfiguration.mediaTypes[0]``). ``names`` (API member
    path -> name) lets the constructs name the props a user wrote instead: the longest named
    prefix of the path, then the rest in the API's words."""

    def __init__(self, root: str, path: tuple[Any, ...] = (), names: Mapping[tuple[Any, ...], str] | None = None) -> None:
        self.root, self.path, self.names = root, path, names or {}

    def member(self, key: str) -> Label:
        return Label(self.root, self.path + (key,), self.names)

    def item(self, index: int) -> Label:
        return Label(self.root, self.path + (index,), self.names)

    def entry(self, key: Any) -> Label:
        return Label(self.root, self.path + (_MapEntry(key),), self.names)

    def keys(self) -> Label:
        return Label(self.root, self.path + (_KEY_OF_MAP,), self.names)

    def __str__(self) -> str:
        cut = next((n for n in range(len(self.path), 0, -1) if self.path[:n] in self.names), 0)
        text = self.names[self.path[:cut]] if cut else self.root
        for step in self.path[cut:]:
            text += (f"[{step}]" if isinstance(step, int) else f"[{step.key!r}]" if isinstance(step, _MapEntry)
                     else step if step == _KEY_OF_MAP else f".{step}" if text else step)
        return text

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def check(
    shape: Shape,
    value: Any,
    label: str | Label,
    *,
    is_unresolved: Callable[[Any], bool] = _never_unresolved,
) -> list[str]:
    """Every way ``value`` breaks ``shape``, as "<label> must <rule>, got: <value>" lines.

    ``is_unresolved`` lets the constructs skip CDK tokens, whose values are unknown at synth.
    """
    return list(_violations(shape, value, label if isinstance(label, Label) else Label(label), is_unresolved))


def _violations(shape: Shape, value: Any, label: Label, unresolved: Callable[[Any], bool]) -> Iterator[str]:
    if unresolved(value):
        return
    kind = shape.type_name
    checker = _TYPE_CHECKS.get(kind)
    if checker is None:  # blobs, timestamps, documents: not used by any resource property
        return
    yield from checker(shape, value, label, unresolved)


def _got(value: Any) -> str:
    return f"got: {value!r}"


def _check_string(shape: Shape, value: Any, label: Label, _u: Callable) -> Iterator[str]:
    if not isinstance(value, str):
        yield f"{label} must be a string, {_got(value)}"
        return
    enum = shape.enum
    if enum and value not in enum:
        yield f"{label} must be one of {', '.join(enum)}, {_got(value)}"
    yield from _check_size(shape, len(value), "characters", label, value)
    # Patterns are matched whole: the model's are unanchored, but a partial match of
    # "[a-zA-Z0-9-_]*" would accept any name at all.
    pattern = PATTERN_ERRATA.get(shape.name, shape.metadata.get("pattern"))
    if pattern and not re.fullmatch(pattern, value):
        yield f"{label} must match the pattern {pattern}, {_got(value)}"


def _check_number(shape: Shape, value: Any, label: Label, _u: Callable) -> Iterator[str]:
    integral = shape.type_name in ("integer", "long")
    # A whole float is a whole number here: at synth, jsii writes Video(width=1920 / 1.5) into the
    # template as 1280, and the handler converts CloudFormation's "1280" to an int. On the wire,
    # where boto3 would send 1280.0 as it is, the local endpoint runs botocore's ParamValidator,
    # which refuses it.
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or (integral and not float(value).is_integer()) or not math.isfinite(value):
        yield f"{label} must be {'a whole number' if integral else 'a number'}, {_got(value)}"
        return
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = (f"between {low} and {high}" if low is not None and high is not None
                  else f"at least {low}" if low is not None else f"at most {high}")
        yield f"{label} must be {bounds}, {_got(value)}"


def _check_boolean(shape: Shape, value: Any, label: Label, _u: Callable) -> Iterator[str]:
    if not isinstance(value, bool):
        yield f"{label} must be true or false, {_got(value)}"


def _check_list(shape: Shape, value: Any, label: Label, unresolved: Callable) -> Iterator[str]:
    if not isinstance(value, (list, tuple)):
        yield f"{label} must be a list, {_got(value)}"
        return
    yield from _check_size(shape, len(value), "items", label, value)
    for index, item in enumerate(value):
        yield from _violations(shape.member, item, label.item(index), unresolved)


def _check_map(shape: Shape, value: Any, label: Label, unresolved: Callable) -> Iterator[str]:
    if not isinstance(value, Mapping):
        yield f"{label} must be a map, {_got(value)}"
        return
    yield from _check_size(shape, len(value), "entries", label, dict(value))
    limit = documented_total_bytes(shape)
    if limit is not None and not any(unresolved(part) for pair in value.items() for part in pair):
        size = sum(len(str(part).encode()) for pair in value.items() for part in pair)
        if size > limit:
            yield f"{label} must have at most {limit} bytes in all (keys and values, UTF-8), got: {size} bytes"
    for key, item in value.items():
        yield from _violations(shape.key, key, label.keys(), unresolved)
        yield from _violations(shape.value, item, label.entry(key), unresolved)


# A limit the model states only in prose (participant and ingest attributes: "The maximum length
# of this field is 1 KB total."); read from the documentation so it stays the model's.
_DOCUMENTED_TOTAL = re.compile(r"maximum length of this field is (\d+) KB total")


def documented_total_bytes(shape: Shape) -> int | None:
    found = _DOCUMENTED_TOTAL.search(getattr(shape, "documentation", "") or "")
    return int(found.group(1)) * 1024 if found else None


def _check_structure(shape: Shape, value: Any, label: Label, unresolved: Callable) -> Iterator[str]:
    if not isinstance(value, Mapping):
        yield f"{label} must be an object, {_got(value)}"
        return
    for required in shape.required_members:
        if value.get(required) is None:
            yield f"{label.member(required)} is required, got: {dict(value)!r}"
    for key, item in value.items():
        member = shape.members.get(key)
        if member is None:
            yield f"{label} must have only the fields {', '.join(shape.members)}, got: {key!r}"
        elif item is not None:
            yield from _violations(member, item, label.member(key), unresolved)


def _check_size(shape: Shape, size: int, unit: str, label: Label, value: Any) -> Iterator[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        yield f"{label} must have at least {low} {unit}, {_got(value)}"
    if high is not None and size > high:
        yield f"{label} must have at most {high} {unit}, {_got(value)}"


_TYPE_CHECKS: dict[str, Callable[..., Iterator[str]]] = {
    "string": _check_string,
    "integer": _check_number,
    "long": _check_number,
    "float": _check_number,
    "double": _check_number,
    "boolean": _check_boolean,
    "list": _check_list,
    "map": _check_map,
    "structure": _check_structure,
}


def check_tags(tags: Mapping[str, str], label: str = "tags") -> list[str]:
    """User tags: the model's key and value rules, the room left beside the identity tag, the
    reserved prefixes and AWS's character set."""
    shape = STAGE.member(TAGS_PROPERTY)
    service_limit = shape.metadata["max"]
    problems = []
    if len(tags) > service_limit - 1:  # room for the identity tag
        problems.append(
            f"{label} must have at most {service_limit - 1} entries (IVS allows {service_limit} and the "
            f"provider adds {IDENTITY_TAG}), got: {len(tags)} tags: {sorted(tags)!r}"
        )
    for key, value in tags.items():
        problems += check(shape.key, key, f"{label} key") + check(shape.value, value, f"{label}[{key!r}]")
        prefix = next((p for p in RESERVED_TAG_PREFIXES if isinstance(key, str) and key.lower().startswith(p)), None)
        if prefix:
            problems.append(f"{label} key must not start with the reserved prefix {prefix!r}, got: {key!r}")
        for text, what in ((key, "key"), (value, "value")):
            if isinstance(text, str) and not TAG_CHARACTERS.fullmatch(text):
                problems.append(
                    f"{label} {what} must contain only letters, numbers, spaces and _ . : / = + - @, got: {text!r}"
                )
    return problems


# ---------------------------------------------------------------------------------------------
# Conversion: CloudFormation hands every scalar over as a string; the model says what it was.
# ---------------------------------------------------------------------------------------------

def _to_bool(value: Any) -> Any:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _to_number(kind: Callable[[str], Any]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if isinstance(value, str):
            try:
                return kind(value)
            except ValueError:
                return value  # left as it is, so validation names the bad value
        return value

    return convert


_SCALAR_CONVERSIONS: dict[str, Callable[[Any], Any]] = {
    "boolean": _to_bool,
    "integer": _to_number(int),
    "long": _to_number(int),
    "float": _to_number(float),
    "double": _to_number(float),
}


def _is_key_value_list(value: Any) -> bool:
    """``[{"Key": ..., "Value": ...}, ...]``"""
    return isinstance(value, list) and all(isinstance(item, Mapping) and set(item) == {"Key", "Value"} for item in value)


def from_cloudformation(shape: Shape, value: Any) -> Any:
    """``value`` with CloudFormation's strings turned back into the types ``shape`` declares."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping):
        return {
            key: from_cloudformation(shape.members[key], item) if key in shape.members else item
            for key, item in value.items()
        }
    if kind == "list" and isinstance(value, list):
        return [from_cloudformation(shape.member, item) for item in value]
    if kind == "map" and _is_key_value_list(value):
        # CloudFormation's tag form. The constructs render tags so because a key known only at
        # deploy time (a parameter) cannot be a key of a JSON object in a template.
        value = {item["Key"]: item["Value"] for item in value}
    if kind == "map" and isinstance(value, Mapping):
        return {key: from_cloudformation(shape.value, item) for key, item in value.items()}
    return _SCALAR_CONVERSIONS.get(kind, lambda v: v)(value)


def project(shape: Shape, value: Any) -> Any:
    """Only the parts of ``value`` that ``shape`` declares (used to shape API outputs)."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping):
        return {
            key: project(member, value[key])
            for key, member in shape.members.items()
            if value.get(key) is not None
        }
    if kind == "list" and isinstance(value, list):
        return [project(shape.member, item) for item in value]
    return value
