"""What the local endpoint does by hand for each resource type, where the model says nothing: one
entry per type (``ResourceRules.noun``) in ``TYPES``.

Everything the model does say (operations, routes, validation, output shapes) the endpoint reads
from ``ivsrt_runtime.rules``; what is left is the service's behaviour: what a create fills in, which
ARNs a request names that must exist, what may not be deleted while another resource names it,
and a delete that is not a removal (a composition stops).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ivsrt_local.errors import ApiError
from ivsrt_runtime import keys, rules

if TYPE_CHECKING:
    from ivsrt_local.state import IvsRealtimeState

# state, the resource being created (ARN, name, tags and the request's members), the request.
Prepare = Callable[["IvsRealtimeState", dict[str, Any], dict[str, Any]], None]


@dataclass(frozen=True)
class Reference:
    """A request member (its path) that names another resource: on a create or an update that
    sets it, the resource must exist in the caller's region, else ``code``."""

    path: tuple[str, ...]
    noun: str
    code: str = "ValidationException"

    def value(self, params: dict[str, Any]) -> Any:
        for key in self.path:
            params = params.get(key) if isinstance(params, dict) else None
        return params


def _nothing(state: IvsRealtimeState, resource: dict[str, Any], params: dict[str, Any]) -> None:
    pass


@dataclass(frozen=True)
class ResourceType:
    """One type's behaviour at the local endpoint, beyond its ``ResourceRules``.

    references: checked on create and update, before anything is made or changed.
    prepare: what the service fills in (or checks beyond a reference) at creation.
    in_use_checked: a delete while another live resource names it is a ``ConflictException``.
    delete: what a delete does instead of removing the resource (None: remove it)."""

    references: tuple[Reference, ...] = ()
    prepare: Prepare = _nothing
    in_use_checked: bool = False
    delete: Callable[[IvsRealtimeState, dict[str, Any]], None] | None = None


# Defaults the service fills in when a field is omitted (documented in the API reference).
VIDEO_DEFAULTS: dict[str, Any] = {"width": 1280, "height": 720, "framerate": 30.0, "bitrate": 2500000}

NOUN_BY_ARN_SEGMENT = {r.arn_segment: r.noun for r in rules.RESOURCES.values()}


def _stage_endpoints(state: IvsRealtimeState, resource: dict[str, Any], params: dict[str, Any]) -> None:
    resource_id = resource["arn"].rsplit("/", 1)[1].lower()
    resource["endpoints"] = {
        "events": "wss://global.events.live-video.net",
        "whip": f"https://{resource_id}.global-bm.whip.live-video.net",
        "rtmp": f"rtmp://{resource_id}.global-contribute-staging.live-video.net/app/",
        "rtmps": f"rtmps://{resource_id}.global-contribute-staging.live-video.net:443/app/",
    }


def _video_defaults(state: IvsRealtimeState, resource: dict[str, Any], params: dict[str, Any]) -> None:
    resource["video"] = {**VIDEO_DEFAULTS, **(params.get("video") or {})}


def _ingest_credentials(state: IvsRealtimeState, resource: dict[str, Any], params: dict[str, Any]) -> None:
    credentials = [_ingest_credential(resource["arn"]) for _ in range(2 if params.get("redundantIngest") else 1)]
    resource.update(
        stageArn=params.get("stageArn", ""),
        state="INACTIVE",
        attributes=params.get("attributes", {}),
        **credentials[0],
        redundantIngestCredentials=credentials[1:],
    )


def _key_fingerprint(state: IvsRealtimeState, resource: dict[str, Any], params: dict[str, Any]) -> None:
    resource["fingerprint"] = _fingerprint(params["publicKeyMaterial"])


def _start_composition(state: IvsRealtimeState, resource: dict[str, Any], params: dict[str, Any]) -> None:
    state.check_per_stage_quota(params["stageArn"])
    for referenced in _referenced_arns(params["destinations"]):
        if referenced.split(":")[5].split("/")[0] in NOUN_BY_ARN_SEGMENT:  # not an IVS channel
            state.require(NOUN_BY_ARN_SEGMENT[referenced.split(":")[5].split("/")[0]], referenced)
    failing = state.compositions.fail_next > 0
    state.compositions.fail_next -= failing
    resource.update(
        layout=params.get("layout") or {"grid": {}},
        _fails=failing,
        destinations=[{"id": f"{i}", "configuration": d} for i, d in enumerate(params["destinations"])],
    )
    state.enter(resource, "STARTING", state.clock())
    resource.pop("idempotencyToken", None)


TYPES: dict[str, ResourceType] = {
    "Stage": ResourceType(
        references=(Reference(("autoParticipantRecordingConfiguration", "storageConfigurationArn"), "StorageConfiguration"),),
        prepare=_stage_endpoints,
    ),
    "EncoderConfiguration": ResourceType(prepare=_video_defaults, in_use_checked=True),
    "StorageConfiguration": ResourceType(in_use_checked=True),
    "IngestConfiguration": ResourceType(references=(Reference(("stageArn",), "Stage"),), prepare=_ingest_credentials),
    "PublicKey": ResourceType(prepare=_key_fingerprint),
    "Composition": ResourceType(
        references=(Reference(("stageArn",), "Stage", "ResourceNotFoundException"),),
        prepare=_start_composition,
        delete=lambda state, composition: state.stop(composition),
    ),
}


def _ingest_credential(arn: str) -> dict[str, str]:
    """A participant id and a stream key in the model's StreamKey pattern."""
    account, resource_id = arn.split(":")[4], arn.rsplit("/", 1)[1].lower()
    return {
        "participantId": secrets.token_hex(6),
        "streamKey": f"rt_{account}_{resource_id}_{secrets.token_hex(6)}_{secrets.token_urlsafe(24)}",
    }


def _fingerprint(material: str) -> str:
    """The key's fingerprint (``keys.fingerprint``). A body that is not base64 is rejected, as
    the service rejects a key it cannot parse."""
    try:
        der = base64.b64decode(keys.pem_body(material), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError("ValidationException", "publicKeyMaterial is not a PEM-encoded public key") from None
    return keys.fingerprint(der)


def _referenced_arns(value: Any) -> list[str]:
    text = json.dumps(value)
    return re.findall(rules.ARN_PATTERN, text)
