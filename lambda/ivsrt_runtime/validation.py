"""Validation: one walker over a model shape, returning readable violations.

The constructs validate props with it at synth time, the handler the properties it receives, and
the local endpoint the requests it answers. Standard library and botocore only (it runs in Lambda).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.model import Shape

from ivsrt_runtime.rules import IDENTITY_TAG, PATTERN_ERRATA, RESERVED_TAG_PREFIXES, STAGE, TAGS_PROPERTY

# AWS tag rules beyond the model's lengths and count (IAM/Tagging "Tag naming limits and
# requirements"): the `aws:` prefix is reserved, and only letters, numbers, spaces and
# `_ . : / = + - @` are allowed. Python's `\w` is the closest stdlib class to `\p{L}\p{N}`.
TAG_CHARACTERS = re.compile(r"[\w\s.:/=+\-@]*")


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
            text += (
                f"[{step}]"
                if isinstance(step, int)
                else f"[{step.key!r}]"
                if isinstance(step, _MapEntry)
                else step
                if step == _KEY_OF_MAP
                else f".{step}"
                if text
                else step
            )
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
        bounds = (
            f"between {low} and {high}"
            if low is not None and high is not None
            else f"at least {low}"
            if low is not None
            else f"at most {high}"
        )
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
    shape = STAGE.property_shape(TAGS_PROPERTY)
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
                problems.append(f"{label} {what} must contain only letters, numbers, spaces and _ . : / = + - @, got: {text!r}")
    return problems
