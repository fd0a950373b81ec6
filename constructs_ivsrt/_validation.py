"""Prop validation shared by every construct: the error, tokens, the checker, Durations."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

from aws_cdk import Annotations, Token
from botocore.model import Shape
from constructs import Construct

from ivsrt_runtime import validation


class IvsRealtimeValidationError(ValueError):
    """A prop breaks a rule of the IVS Real-Time API; the message names path, prop, rule, value."""


# Every encoded CDK token carries one of these markers (strings "${Token[...]}", list elements
# "#{Token[...]}") or, for numbers, a magnitude no real prop has (about -1.9e289). Checking that
# in Python first saves a jsii round trip per validated value; Token.is_unresolved decides.
_TOKEN_MARKER = "Token["
_NUMBER_TOKEN_MAGNITUDE = 1e280


def is_unresolved(value: Any) -> bool:
    """True for CDK tokens (strings, numbers, lists), whose value is unknown until deployment."""
    if isinstance(value, str):
        return _TOKEN_MARKER in value and _is_token_string(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return abs(value) > _NUMBER_TOKEN_MAGNITUDE and Token.is_unresolved(value)
    if isinstance(value, (list, tuple)):  # a list token: ["#{Token[...]}"]
        return any(isinstance(item, str) and _TOKEN_MARKER in item for item in value) and Token.is_unresolved(list(value))
    return False


@functools.lru_cache(maxsize=4096)
def _is_token_string(value: str) -> bool:
    """Token.is_unresolved for a string, which depends on the string alone (its token markers):
    a stack's region token is checked once, not once per resource."""
    return Token.is_unresolved(value)


class PropChecker:
    """Collects rule violations for one construct, then raises them as one error.

    ``child_id`` names a construct about to be made under ``scope`` (a managed resource, checked
    before it exists; an import by ARN), so the message names its path rather than its parent's.
    Warnings found before the construct exists wait in ``warnings`` until it does (``warn_on``).
    """

    def __init__(self, scope: Construct, child_id: str | None = None) -> None:
        self._scope, self._child_id = scope, child_id  # the path is read only on error (a jsii call)
        self.problems: list[str] = []
        self.warnings: list[tuple[str, str]] = []  # (id, message) for Annotations.add_warning_v2

    def warn(self, warning_id: str, message: str) -> None:
        """A soft problem: recorded now, added to the construct by ``warn_on``."""
        self.warnings.append((warning_id, message))

    def warnings_by_id(self) -> dict[str, str]:
        """The warnings as a made construct takes them (``TaggableCustomResource``): one message per
        id, those of one id joined."""
        joined: dict[str, str] = {}
        for warning_id, message in self.warnings:
            joined[warning_id] = f"{joined[warning_id]}; {message}" if warning_id in joined else message
        return joined

    def warn_on(self, construct: Construct) -> None:
        for warning_id, message in self.warnings:
            Annotations.of(construct).add_warning_v2(warning_id, message)

    def check(self, label: str, value: Any, shape: Shape) -> PropChecker:
        if value is not None:
            self.problems += validation.check(shape, value, label, is_unresolved=is_unresolved)
        return self

    def require(self, condition: bool, problem: str) -> PropChecker:
        """A rule that spans props (the model describes members one at a time)."""
        if not condition:
            self.problems.append(problem)
        return self

    def raise_if_any(self) -> None:
        if self.problems:
            path = self._scope.node.path + (f"/{self._child_id}" if self._child_id else "")
            raise IvsRealtimeValidationError("\n".join(f"{path}: {problem}" for problem in self.problems))


@contextlib.contextmanager
def on_path(scope: Construct, child_id: str) -> Iterator[None]:
    """Errors raised while props are converted (a Duration that cannot be) name the construct
    ``child_id`` about to be made under ``scope``."""
    try:
        yield
    except IvsRealtimeValidationError as error:
        raise IvsRealtimeValidationError(f"{scope.node.path}/{child_id}: {error}") from None


def seconds(duration: Any) -> Any:
    """A Duration in seconds (None stays None); tokens pass through to be skipped.

    Not rounded and not forced whole (``to_seconds()`` would raise its own error for 1.5 s):
    the model's rule then says "must be a whole number, got: 1.5".
    """
    if duration is None:
        return None
    if duration.is_unresolved():
        # Known only at deploy time; the API checks it then. CDK can convert it only from seconds.
        if duration.unit_label() != "seconds":
            raise IvsRealtimeValidationError(
                "a Duration made from a deploy-time value must use Duration.seconds(), "
                f"got: Duration.{duration.unit_label()}(<token>)"
            )
        return duration.to_seconds()
    return whole(duration.to_seconds(integral=False))


def member_shape(shape: Shape, name: str) -> Shape:
    """Member ``name`` of a structure's shape. botocore ships no types, and its ``members`` is a
    descriptor of its own (``CachedProperty``) that a type checker cannot read as the dict it is."""
    return shape.members[name]  # pyright: ignore[reportAttributeAccessIssue]


def whole(number: float) -> float:
    """A number known at synth that is whole as an ``int`` (60.0 is 60, as the API takes it);
    anything else as it is (1.5, for the model's rule to refuse; a token)."""
    return int(number) if not is_unresolved(number) and float(number).is_integer() else number
