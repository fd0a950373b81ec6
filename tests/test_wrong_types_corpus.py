"""Wrong Python types, generated from the annotations of all seven constructs and their props
classes: each must fail synth with the construct path, the prop (``prop.field`` inside a props
class), the rule and the value, never with an AttributeError. Counts per construct are printed at
the end of the session (see conftest.py).
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import types
import typing
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from conftest import P384_KEY_A

from constructs_ivsrt import (
    AutoParticipantRecording,
    ChannelDestination,
    Composition,
    EncoderConfiguration,
    GridLayout,
    IngestConfiguration,
    IvsRealtimeValidationError,
    ParticipantTokenVendor,
    PipLayout,
    PublicKey,
    S3Destination,
    Stage,
    StorageConfiguration,
    ThumbnailConfiguration,
    Video,
)

TRIED: Counter = Counter()
REJECTED: Counter = Counter()
ARN = "arn:aws:ivs:us-east-1:123456789012:stage/AbCd"


def new_stack() -> cdk.Stack:
    return cdk.Stack(cdk.App(), "W", env=cdk.Environment(account="123456789012", region="us-east-1"))


def storage(stack: cdk.Stack) -> Any:
    return stack.node.try_find_child("Storage") or StorageConfiguration.from_storage_configuration_arn(
        stack, "Storage", "arn:aws:ivs:us-east-1:123456789012:storage-configuration/AbCd"
    )


def encoder(stack: cdk.Stack) -> Any:
    return stack.node.try_find_child("Encoder") or EncoderConfiguration.from_encoder_configuration_arn(
        stack, "Encoder", "arn:aws:ivs:us-east-1:123456789012:encoder-configuration/AbCd"
    )


# A valid instance of each props class, and the least each construct needs.
VALID_PROPS: dict[type, Callable[[cdk.Stack], Any]] = {
    AutoParticipantRecording: lambda s: AutoParticipantRecording(storage_configuration=storage(s)),
    ThumbnailConfiguration: lambda s: ThumbnailConfiguration(),
    Video: lambda s: Video(),
    GridLayout: lambda s: GridLayout(),
    PipLayout: lambda s: PipLayout(),
    ChannelDestination: lambda s: ChannelDestination(channel="arn:aws:ivs:us-east-1:123456789012:channel/AbCd"),
    S3Destination: lambda s: S3Destination(storage_configuration=storage(s), encoder_configuration=encoder(s)),
}
CONSTRUCTS: dict[type, Callable[[cdk.Stack], dict[str, Any]]] = {
    Stage: lambda s: {},
    EncoderConfiguration: lambda s: {},
    StorageConfiguration: lambda s: {"bucket": s3.Bucket(s, "Bucket")},
    IngestConfiguration: lambda s: {"stage": Stage.from_stage_arn(s, "Stage", ARN)},
    PublicKey: lambda s: {"public_key_material": P384_KEY_A},
    Composition: lambda s: {"stage": Stage.from_stage_arn(s, "Stage", ARN), "destinations": [VALID_PROPS[S3Destination](s)]},
    ParticipantTokenVendor: lambda s: {"stage": Stage.from_stage_arn(s, "Stage", ARN)},
}


def _members(hint: Any) -> tuple[Any, ...]:
    """A hint's types, ``None`` left out."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return tuple(m for m in typing.get_args(hint) if m is not type(None))
    return (hint,)


def wrong_values(hint: Any) -> list[Any]:
    """Values of a Python type the hint does not admit (what a user might mistakenly pass)."""
    (kind, *others) = _members(hint)
    if others:  # a union (str | CfnChannel): a number and a props object fit none of them
        return [42, Video()]
    origin = typing.get_origin(kind)
    if origin is Sequence:
        (item,) = typing.get_args(kind)
        single = next(iter(item)) if isinstance(item, type) and issubclass(item, enum.Enum) else "one"
        return [single, {"a": 1}, 7]
    if origin is Mapping:
        return ["a=b", ["a", "b"], 3]
    if kind in (str, int, float, bool):
        return [Video(), ["a"], {"a": "b"}]
    if kind is cdk.Duration:
        return [6, "6 seconds", cdk.Size.mebibytes(1)]
    return ["arn:aws:ivs:us-east-1:123456789012:thing/AbCd", 3, {"x": 1}]  # a class, enum or interface


def _hints(owner: Any) -> dict[str, Any]:
    return typing.get_type_hints(inspect.unwrap(owner))


def cases() -> list[tuple[type, str, Callable[[cdk.Stack], dict[str, Any]], Any]]:
    """(construct, label, props builder with one wrong value, the wrong value)."""
    found = []
    for construct, minimal in CONSTRUCTS.items():
        for prop, hint in _hints(construct.__init__).items():
            if prop in ("scope", "id", "return"):
                continue
            for wrong in wrong_values(hint):
                found.append((construct, prop, _with(minimal, prop, lambda s, w=wrong: w), wrong))
            for props_class in _members(hint) + tuple(a for m in _members(hint) for a in _sequence_items(m)):
                if props_class in VALID_PROPS:
                    found += _field_cases(construct, minimal, prop, props_class, _is_sequence(hint))
    return found


def _with(
    minimal: Callable[[cdk.Stack], dict[str, Any]], prop: str, value: Callable[[cdk.Stack], Any]
) -> Callable[[cdk.Stack], dict[str, Any]]:
    """The construct's minimal props with ``prop`` set to ``value`` (made in the same stack)."""
    return lambda stack: {**minimal(stack), prop: value(stack)}


def _sequence_items(hint: Any) -> tuple[Any, ...]:
    return _members(typing.get_args(hint)[0]) if typing.get_origin(hint) is Sequence else ()


def _is_sequence(hint: Any) -> bool:
    return any(typing.get_origin(m) is Sequence for m in _members(hint))


def _field_cases(
    construct: type,
    minimal: Callable,
    prop: str,
    props_class: type,
    in_list: bool,
    outer: Callable[[cdk.Stack, Any], Any] | None = None,
    prefix: str = "",
) -> list[tuple]:
    """A wrong value in each field of a props class (nested props classes field by field too)."""
    found = []
    wrap = outer or (lambda s, inner: [inner] if in_list else inner)
    label = prefix or (f"{prop}[0]" if in_list else prop)
    for field, hint in _hints(props_class).items():

        def with_field(s: cdk.Stack, value: Any, field: str = field) -> Any:
            return wrap(s, dataclasses.replace(VALID_PROPS[props_class](s), **{field: value}))

        for wrong in wrong_values(hint):
            found.append((construct, f"{label}.{field}", _with(minimal, prop, lambda s, f=with_field, w=wrong: f(s, w)), wrong))
        for nested in _members(hint):
            if nested in VALID_PROPS:
                found += _field_cases(
                    construct,
                    minimal,
                    prop,
                    nested,
                    False,
                    (lambda f: lambda s, inner: f(s, inner))(with_field),
                    f"{label}.{field}",
                )
    return found


CASES = cases()


def test_every_wrong_python_type_fails_synth_with_the_message():
    escaped = []
    for construct, label, props, wrong in CASES:
        TRIED[construct.__name__] += 1
        stack = new_stack()
        try:
            construct(stack, "X", **props(stack))
        except IvsRealtimeValidationError as error:
            first = str(error).splitlines()[0]
            if first.startswith(f"W/X: {label} must ") and ", got: " in first:
                REJECTED[construct.__name__] += 1
                continue
            escaped.append(f"{construct.__name__} {label}={wrong!r}: wrong message: {first}")
            continue
        except Exception as error:  # noqa: BLE001 - exactly what must not happen: reported below
            escaped.append(f"{construct.__name__} {label}={wrong!r}: {type(error).__name__}: {error}"[:300])
            continue
        try:
            cdk.App.of(stack).synth()
            escaped.append(f"{construct.__name__} {label}={wrong!r}: synthesized")
        except Exception as error:  # noqa: BLE001
            escaped.append(f"{construct.__name__} {label}={wrong!r}: failed only at synth: {error}"[:300])
    assert not escaped, "\n".join(escaped)
    assert set(TRIED) == {c.__name__ for c in CONSTRUCTS}


def summary_lines() -> list[str]:
    if not TRIED:
        return []
    return [
        "wrong Python types (generated from the annotations), rejected with path/prop/type/value / tried:",
        *(f"  {name:<24} {REJECTED[name]:>4} / {TRIED[name]}" for name in sorted(TRIED)),
    ]
