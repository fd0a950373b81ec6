"""Prop type checks, read from the annotations: a wrong Python type fails with the construct
path, the prop, the type wanted and the value, instead of an AttributeError deep inside.

Written here rather than with typeguard (the version jsii pins, 2.13): it lets any value through
where aws-cdk-lib's jsii interfaces are wanted (``s3.IBucket``: a bucket name string passes), as
those are Protocols that cannot be checked with isinstance.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from constructs_ivsrt._validation import IvsRealtimeValidationError, is_unresolved

_Init = TypeVar("_Init", bound=Callable[..., None])
_Method = TypeVar("_Method", bound=Callable[..., Any])
_NOT_PROPS = ("self", "scope", "id")


def typed_props(init: _Init) -> _Init:
    """Check every prop of a construct's ``__init__`` against its annotation (props classes
    field by field) before the constructor runs; all problems are raised at once."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def checked(self: Any, scope: Any, id: str, *args: Any, **kwargs: Any) -> None:
        _raise_problems(init, signature.bind(self, scope, id, *args, **kwargs), scope, id)
        init(self, scope, id, *args, **kwargs)

    return typing.cast(_Init, checked)


def typed_args(method: _Method) -> _Method:
    """``typed_props`` for a method that makes a construct under ``self``
    (``stage.on_stage_update(id, ...)``): a message names the path of the construct it would make."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def checked(self: Any, id: str, *args: Any, **kwargs: Any) -> Any:
        _raise_problems(method, signature.bind(self, id, *args, **kwargs), self, id)
        return method(self, id, *args, **kwargs)

    return typing.cast(_Method, checked)


def _raise_problems(function: Any, bound: inspect.BoundArguments, scope: Any, id: str) -> None:
    hints = _hints(function)
    problems = [
        problem
        for name, value in bound.arguments.items()
        if name not in _NOT_PROPS
        for problem in type_problems(name, value, hints[name])
    ]
    if problems:
        path = f"{scope.node.path}/{id}" if scope.node.path else id
        raise IvsRealtimeValidationError("\n".join(f"{path}: {problem}" for problem in problems))


@functools.cache
def _hints(owner: Any) -> dict[str, Any]:
    return typing.get_type_hints(owner)


def type_problems(label: str, value: Any, hint: Any) -> list[str]:
    """What is wrong with ``value`` as a ``hint``: a message per problem (a props class's fields
    are checked too, labelled ``prop.field``); a deploy-time token only if it is of another kind
    (a list where a name is wanted)."""
    if value is None:
        return [] if _admits_none(hint) else [f"{label} is required, got: None"]
    if is_unresolved(value):
        return [] if _token_fits(value, hint) else [f"{label} must be {describe(hint)}, got: a deploy-time value"]
    if not _conforms(value, hint):
        return [f"{label} must be {describe(hint)}, got: {value!r}"]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = _hints(type(value))
        return [
            problem
            for field in dataclasses.fields(value)
            for problem in type_problems(f"{label}.{field.name}", getattr(value, field.name), fields[field.name])
        ]
    if isinstance(value, (list, tuple)) and _origin(hint) is Sequence:
        (item_hint,) = typing.get_args(_without_none(hint))
        return [problem for index, item in enumerate(value) for problem in type_problems(f"{label}[{index}]", item, item_hint)]
    return []


def _admits_none(hint: Any) -> bool:
    return hint is type(None) or (_is_union(hint) and type(None) in typing.get_args(hint))


def _token_fits(value: Any, hint: Any) -> bool:
    """A string or number token stands for a scalar; a list token for a list of strings."""
    hint = _without_none(hint)
    if _is_union(hint):
        return any(_token_fits(value, option) for option in typing.get_args(hint))
    if isinstance(value, (list, tuple)):
        return _origin(hint) is Sequence and _is_a("", typing.get_args(hint)[0])
    return _is_a(value, hint) if isinstance(value, (str, int, float)) else False


def _origin(hint: Any) -> Any:
    return typing.get_origin(_without_none(hint))


def _without_none(hint: Any) -> Any:
    """``X | None`` is ``X`` here (None was handled); other unions stay unions."""
    if _is_union(hint):
        options = [option for option in typing.get_args(hint) if option is not type(None)]
        return options[0] if len(options) == 1 else typing.Union[tuple(options)]  # noqa: UP007 - built from a tuple
    return hint


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _conforms(value: Any, hint: Any) -> bool:
    hint = _without_none(hint)
    if hint is Any:
        return True
    if _is_union(hint):
        return any(_conforms(value, option) for option in typing.get_args(hint))
    origin = typing.get_origin(hint)
    if origin is Sequence:  # a list or tuple, never a string (a str enum member is one)
        (item_hint,) = typing.get_args(hint)
        return isinstance(value, (list, tuple)) and all(is_unresolved(i) or _conforms(i, item_hint) for i in value)
    if origin is Mapping:
        key_hint, value_hint = typing.get_args(hint)
        return isinstance(value, Mapping) and all(
            (is_unresolved(k) or _conforms(k, key_hint)) and (is_unresolved(v) or _conforms(v, value_hint))
            for k, v in value.items()
        )
    return _is_a(value, hint)


# Scalars of the wrong kind (a string for a number, 1280.0 for a whole number) are left to the
# model's rules, which say more ("must be a whole number, got: 1280.5"); only a value that is
# no scalar at all (a Video where a name is wanted) is refused here.
_SCALAR_TYPES = (str, int, float, bool)


def _is_a(value: Any, cls: Any) -> bool:
    if cls in _SCALAR_TYPES:
        return isinstance(value, _SCALAR_TYPES)
    if isinstance(cls, type) and issubclass(cls, enum.Enum) and issubclass(cls, str):
        return isinstance(value, str)  # the member, or its API value (the model's enum rule checks it)
    if getattr(cls, "_is_protocol", False):
        # An interface (``IStage``, or a jsii one such as ``s3.IBucket``): whatever has its
        # members is one. Looked up on the class (and the instance's own attributes), because
        # reading a jsii property on the instance is a round trip to the jsii kernel.
        own = getattr(value, "__dict__", {})
        return all(hasattr(type(value), name) or name in own for name in _protocol_attributes(cls))
    return isinstance(value, cls)


@functools.cache
def _protocol_attributes(protocol: type) -> tuple[str, ...]:
    return tuple(
        name
        for klass in protocol.__mro__
        if getattr(klass, "_is_protocol", False)
        for name in vars(klass)
        if not name.startswith("_")
    )


def describe(hint: Any) -> str:
    """The type wanted, as a user reads it: "a Duration", "a list of RecordingMediaType"."""
    hint = _without_none(hint)
    if _is_union(hint):
        return " or ".join(describe(option) for option in typing.get_args(hint))
    origin = typing.get_origin(hint)
    if origin is Sequence:
        return f"a list of {_name(typing.get_args(hint)[0])}"
    if origin is Mapping:
        key, value = typing.get_args(hint)
        return f"a dict of {_name(key)} to {_name(value)}"
    name = _name(hint)
    return f"{'an' if name[0].upper() in 'AEIOU' else 'a'} {name}"


def _name(cls: Any) -> str:
    """``Duration``, ``aws_s3.IBucket``: the name a user imports it by."""
    if _is_union(cls):
        return " or ".join(_name(option) for option in typing.get_args(cls))
    module = getattr(cls, "__module__", "")
    qualified = getattr(cls, "__qualname__", str(cls))
    if module.startswith("aws_cdk."):
        return f"{module.split('.')[-1]}.{qualified}"
    return qualified
