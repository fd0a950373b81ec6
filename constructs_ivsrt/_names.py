"""Names generated from the construct path, as aws-cdk-lib's ``Names.unique_resource_name`` makes
them, computed in Python.

Why by hand: the library call is a jsii round trip per resource (about 0.35 ms, a tenth of what
a stage costs at synth), while its input, the path from the stack down, is shared by every
resource under one scope and read here once per scope. The algorithm is aws-cdk-lib's
``makeUniqueResourceName`` (``core/lib/private/unique-resource-name.ts``) and ``Names``'
choice of components; ``tests/test_names.py`` checks this against the library on generated
construct trees, so a change upstream fails a test rather than renaming resources.
"""

from __future__ import annotations

import hashlib
import re
import typing
import weakref
from collections.abc import Sequence

from aws_cdk import Stack, Token
from constructs import Construct

_HIDDEN_ID = "Default"  # left out of the name and the hash
_HIDDEN_FROM_HUMAN_ID = "Resource"  # left out of the readable part, kept in the hash
_HASH_LENGTH = 8
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9]")
# Each scope's components, read once, kept beside the scopes (weakly) rather than in their jsii
# proxies' ``__dict__``.
_scope_components: weakref.WeakKeyDictionary[Construct, tuple[str, ...]] = weakref.WeakKeyDictionary()


def generated_name(scope: Construct, id: str, *, max_length: int, separator: str) -> str:
    """The name ``Names.unique_resource_name`` gives a construct ``id`` made under ``scope``."""
    return unique_resource_name((*scope_components(scope), id), max_length=max_length, separator=separator)


def scope_components(scope: Construct) -> tuple[str, ...]:
    """The path from the innermost top-level stack (by its stack name) down to ``scope``."""
    cached = _scope_components.get(scope)
    if cached is None:
        scopes = scope.node.scopes
        # Stack.is_stack (what Names asks, a stack made on the Node side too), which is no type guard.
        top_level = [Stack.is_stack(s) and not Token.is_unresolved(typing.cast(Stack, s).stack_name) for s in scopes]
        last_stack = max((index for index, is_top in enumerate(top_level) if is_top), default=0)
        cached = _scope_components[scope] = tuple(
            typing.cast(Stack, s).stack_name if top_level[index] else s.node.id
            for index, s in enumerate(scopes)
            if index >= last_stack
        )
    return cached


def unique_resource_name(components: Sequence[str], *, max_length: int, separator: str) -> str:
    """aws-cdk-lib's makeUniqueResourceName: the readable path, then 8 characters of its hash."""
    components = [component for component in components if component != _HIDDEN_ID]
    if not components:
        raise ValueError("Unable to calculate a unique resource name for an empty set of components")
    if len(components) == 1:
        top_level = _allowed(components[0])
        if len(top_level) <= max_length:
            return top_level
    digest = hashlib.md5("/".join(components).encode(), usedforsecurity=False).hexdigest()[:_HASH_LENGTH].upper()
    readable = [_allowed(c) for c in _without_repeats(components) if c != _HIDDEN_FROM_HUMAN_ID]
    human = separator.join(part for part in readable if part) + separator
    room = max_length - _HASH_LENGTH
    if len(human) > room:
        half = int(room / 2)  # JavaScript's slice truncates a fractional index toward zero
        human = human[:half] + human[-half:]
    return human + digest


def _allowed(component: str) -> str:
    return _NOT_ALLOWED.sub("", component)


def _without_repeats(components: Sequence[str]) -> list[str]:
    """A component that ends the one before it is dropped (``Stage/StageStage`` keeps one)."""
    kept: list[str] = []
    for component in components:
        if not kept or not kept[-1].endswith(component):
            kept.append(component)
    return kept
