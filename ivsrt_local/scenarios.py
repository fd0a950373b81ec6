"""Each resource type's properties at the steps of its lifecycle, as the custom resource receives
them: the one set of bodies that the fault matrix, the lifecycle tests and the benchmarks drive
through the handler.

``first`` is created; ``in_place`` is a change the API makes in place (besides tags, which every
type changes in place); ``replacing`` is a change that replaces the resource. A body names the
resources it needs by ``{"stage"}``-style names, filled in from ``dependencies``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ivsrt_runtime import rules

STAGE = rules.STAGE.resource_type
ENCODER = rules.ENCODER_CONFIGURATION.resource_type
STORAGE = rules.STORAGE_CONFIGURATION.resource_type
INGEST = rules.INGEST_CONFIGURATION.resource_type
PUBLIC_KEY = rules.PUBLIC_KEY.resource_type
COMPOSITION = rules.COMPOSITION.resource_type
TYPES = (STAGE, ENCODER, STORAGE, INGEST, PUBLIC_KEY, COMPOSITION)

# ECDSA P-384 public keys (IVS verifies ES384 tokens); the private halves were discarded.
P384_KEY_A = """-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEB5LhRzR5IHSDRrV8xLbs/lGgS0+zUj5i
l1MYcrNhEoQRzAjtSM3RIROQl0iZhviV6EQt8P1iROecrFApdvryKT5sBbxVVDTD
3rXYgL/1gAK+/WHuyNUlIoEl84qMNukD
-----END PUBLIC KEY-----
"""
P384_KEY_B = """-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEBagy9JP+Br3mt7wjif8No+fzWora8ptH
TZk4+8bUnutnm7+YuwKNaIlTsuqEo4RwExT/yuLEIqY2bQGlmnI3tD4UZLYoocUP
jb3IvHVU+8jK/DEx70YRyFHBf7nkmv68
-----END PUBLIC KEY-----
"""


@dataclass(frozen=True)
class Lifecycle:
    """One type's bodies (without tags)."""

    first: dict[str, Any]
    in_place: dict[str, Any] | None  # None: the API changes nothing but tags in place
    replacing: dict[str, Any] | None  # None: nothing replaces it

    @property
    def changed(self) -> dict[str, Any]:
        """The update that changes the most: a replacement where the type has one."""
        changed = self.replacing if self.replacing is not None else self.in_place
        assert changed is not None, "every type changes in place or by replacement"
        return changed


# What the bodies refer to: made first, by these properties.
DEPENDENCIES: dict[str, tuple[str, dict[str, Any]]] = {
    "stage": (STAGE, {"name": "show"}),
    "stage2": (STAGE, {"name": "other-show"}),
    "storage": (STORAGE, {"name": "rec", "s3": {"bucketName": "b-1"}}),
    "encoder": (ENCODER, {"name": "hd"}),
}
NEEDS: dict[str, tuple[str, ...]] = {INGEST: ("stage", "stage2"), COMPOSITION: ("stage", "storage", "encoder")}


def make_dependencies(resource_type: str, create: Callable[[str, dict[str, Any]], str]) -> dict[str, str]:
    """The ARNs of what ``resource_type``'s bodies need, made with ``create(type, properties)``."""
    return {name: create(*DEPENDENCIES[name]) for name in NEEDS.get(resource_type, ())}


def lifecycle(resource_type: str, deps: Mapping[str, str]) -> Lifecycle:
    """``resource_type``'s bodies, referring to ``deps`` (from ``make_dependencies``)."""
    return _BODIES[resource_type](deps)


def _recording(deps: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"s3": {"storageConfigurationArn": deps["storage"], "encoderConfigurationArns": [deps["encoder"]]}}]


def _ingest(deps: Mapping[str, str]) -> Lifecycle:
    first = {"name": "studio", "stageArn": deps["stage"], "userId": "a", "ingestProtocol": "RTMPS"}
    return Lifecycle(first, in_place={**first, "stageArn": deps["stage2"]}, replacing={**first, "userId": "b"})


def _composition(deps: Mapping[str, str]) -> Lifecycle:
    first = {"stageArn": deps["stage"], "destinations": _recording(deps), "layout": {"grid": {}}}
    return Lifecycle(first, in_place=None, replacing={**first, "layout": {"pip": {}}})


_BODIES: dict[str, Callable[[Mapping[str, str]], Lifecycle]] = {
    STAGE: lambda deps: Lifecycle({"name": "stage-a"}, in_place={"name": "stage-b"}, replacing=None),
    ENCODER: lambda deps: Lifecycle(
        {"name": "enc", "video": {"width": 640, "height": 360}},
        in_place=None,
        replacing={"name": "enc", "video": {"width": 1280, "height": 720}},
    ),
    STORAGE: lambda deps: Lifecycle(
        {"name": "rec", "s3": {"bucketName": "bucket-a"}},
        in_place=None,
        replacing={"name": "rec", "s3": {"bucketName": "bucket-b"}},
    ),
    INGEST: _ingest,
    PUBLIC_KEY: lambda deps: Lifecycle(
        {"name": "signer", "publicKeyMaterial": P384_KEY_A},
        in_place=None,
        replacing={"name": "signer", "publicKeyMaterial": P384_KEY_B},
    ),
    COMPOSITION: _composition,
}
