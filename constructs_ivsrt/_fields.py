"""Props declared once: where each goes in the API request, how its value converts, and how a
message names it.

A props class (``Video``, ``AutoParticipantRecording``, ...) is a frozen dataclass whose fields
are made with ``api(...)``; a managed construct declares its own props the same way, as class
attributes (``stage_name: str = api("name")``), which ``take_props`` collects into the
construct's ``FIELDS``. From those declarations, and nothing else:

- ``build`` and ``payload`` make the API request members (the custom resource's properties);
- ``labels`` maps each API member path to the prop a user wrote, so that the model's rules
  (``ivsrt_runtime.validation.check`` with a ``Label``) name ``auto_participant_recording.reconnect_window (seconds)``
  rather than ``recordingReconnectWindowSeconds``.

The prop types themselves are checked from the annotations (``_types.typed_props``).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # type checkers read this one (their own stub, whatever the Python)
    from typing_extensions import dataclass_transform
else:
    try:
        from typing import dataclass_transform
    except ImportError:  # Python 3.10: at run time a no-op

        def dataclass_transform(**_: Any) -> Any:
            return lambda decorated: decorated


from constructs_ivsrt._validation import is_unresolved, seconds

_T = TypeVar("_T")
Path = tuple[str | int, ...]  # API member names; an int is a position in a list
_API = "constructs_ivsrt.api"  # the dataclass field metadata key


@dataclass(frozen=True)
class Conversion:
    """How a prop's value becomes the API's, and what a message adds to the prop's name."""

    function: Callable[[Any], Any]
    suffix: str = ""  # " (seconds)", ".bucket_name": what the API member is, next to the prop


def api_value(value: Any) -> Any:
    """The default conversion: enum members to their values, props classes to their members,
    lists and maps item by item; deploy-time values and scalars as they are."""
    if isinstance(value, enum.Enum):
        return value.value
    if _is_struct(value):
        return payload(value)
    if isinstance(value, (list, tuple)) and not is_unresolved(value):
        return [api_value(item) for item in value]
    if isinstance(value, Mapping):
        return {key: api_value(item) for key, item in value.items()}
    return value


AS_IS = Conversion(api_value)
SECONDS = Conversion(seconds, " (seconds)")


def attribute(name: str, *, shown: bool = True) -> Conversion:
    """The value's attribute ``name`` (a resource's ARN); ``shown``: named in messages."""
    return Conversion(operator.attrgetter(name), f".{name}" if shown else "")


@dataclass(frozen=True)
class ApiField:
    """Where a prop goes: its API member path (relative to its props class), and how it converts."""

    path: Path
    conversion: Conversion = AS_IS
    # An empty value ({}) is left out, as if unset. Only where sending {} would change what the
    # template held so far: elsewhere {} is what the user wrote, and it is sent.
    omit_empty: bool = False


def api(*path: str | int, conversion: Conversion = AS_IS, default: Any = dataclasses.MISSING, omit_empty: bool = False) -> Any:
    """A prop: where it goes in the API request, and how its value converts. With no ``path``,
    the API member is the prop's name in camelCase, under the class's ``API_PREFIX`` if it has one.

    In a props class, a field: required unless it has a ``default`` (None: the API's default
    applies). In a managed construct, a class attribute naming one of its constructor's keyword
    arguments (the constructor's signature holds the default); ``omit_empty``: see ``ApiField``."""
    return dataclasses.field(default=default, metadata={_API: ApiField(tuple(path), conversion, omit_empty)})


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(api, dataclasses.field))
def props_class(cls: type[_T]) -> type[_T]:
    """A frozen, keyword-only dataclass whose ``api(...)`` fields say where they go. Type
    checkers read ``api(default=None)`` as an optional field and ``api(...)`` as a required one."""
    return dataclass(frozen=True, kw_only=True)(cls)


Fields = Mapping[str, ApiField]  # prop name -> where it goes


@functools.cache
def declared(cls: type) -> Fields:
    """A props class's fields and where each goes, with default paths filled in."""
    prefix: Path = getattr(cls, "API_PREFIX", ())
    return {
        field.name: _filled(field.name, spec, prefix)
        for field in dataclasses.fields(cls)
        if (spec := field.metadata.get(_API)) is not None
    }


def take_props(cls: type) -> Fields:
    """A construct class's own ``api(...)`` declarations, taken off the class (as a dataclass
    takes its fields: an instance's attribute is the prop's value once set, never the
    declaration), with default paths filled in."""
    taken = {
        name: spec
        for name, value in vars(cls).items()
        if isinstance(value, dataclasses.Field) and (spec := value.metadata.get(_API)) is not None
    }
    for name in taken:
        delattr(cls, name)
    return {name: _filled(name, spec, ()) for name, spec in taken.items()}


def _filled(name: str, spec: ApiField, prefix: Path) -> ApiField:
    return ApiField(prefix + (spec.path or (camel(name),)), spec.conversion, spec.omit_empty)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _values(struct: Any) -> dict[str, Any]:
    return {name: getattr(struct, name) for name in declared(type(struct))}


def payload(struct: Any) -> dict[str, Any]:
    """A props-class value as its API members (unset fields left out: the API's defaults apply).
    A class with an ``API_PREFIX`` is always that member (``GridLayout()`` is ``{"grid": {}}``)."""
    members = build(declared(type(struct)), _values(struct))
    prefix: Path = getattr(type(struct), "API_PREFIX", ())
    if prefix:
        _place(members, prefix, _at(members, prefix) or {})
    return members


def _at(members: Any, path: Path) -> Any:
    for key in path:
        members = members.get(key) if isinstance(members, dict) else None
    return members


def build(fields: Fields, props: Mapping[str, Any]) -> dict[str, Any]:
    """Props placed at their API paths; a prop that is unset, or converts to nothing, is left out."""
    members: dict[str, Any] = {}
    for name, spec in fields.items():
        value = props.get(name)
        if value is not None:
            converted = spec.conversion.function(value)
            if converted is not None and not (spec.omit_empty and converted == {}):
                _place(members, spec.path, converted)
    return members


def _place(container: Any, path: Path, value: Any) -> None:
    for key, following in zip(path, path[1:], strict=False):
        container = _child(container, key, [] if isinstance(following, int) else {})
    _set(container, path[-1], value)


def _child(container: Any, key: str | int, empty: Any) -> Any:
    if isinstance(key, int):
        container.extend([None] * (key + 1 - len(container)))
        if container[key] is None:
            container[key] = empty
        return container[key]
    return container.setdefault(key, empty)


def _set(container: Any, key: str | int, value: Any) -> None:
    if isinstance(key, int):
        container.extend([None] * (key + 1 - len(container)))
    container[key] = value


def labels(fields: Fields, props: Mapping[str, Any], prefix: str = "") -> dict[Path, str]:
    """API path -> the prop's name as a user wrote it, for every prop set (nested props classes
    by their values: a layout is a GridLayout or a PipLayout)."""
    names: dict[Path, str] = {}
    for name, spec in fields.items():
        value = props.get(name)
        if value is None:
            continue
        names[spec.path] = label = f"{prefix}{name}{spec.conversion.suffix}"
        if spec.conversion is not AS_IS:
            continue
        if _is_struct(value):
            for path, text in labels(declared(type(value)), _values(value), f"{label}.").items():
                names[spec.path + path] = text
        elif isinstance(value, (list, tuple)):  # a list of props classes: destinations
            for index, item in enumerate(value):
                if _is_struct(item):
                    names[spec.path + (index,)] = f"{label}[{index}]"
                    for path, text in labels(declared(type(item)), _values(item), f"{label}[{index}].").items():
                        names[spec.path + (index,) + path] = text
    return names


def _is_struct(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)
