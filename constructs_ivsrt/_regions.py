"""Where a resource is (its region and account), and the synth-time rules that follow from it.

IVS Real-Time is a regional service: a stage records only to a storage configuration of its own
region, a composition reads a stage and writes to destinations of its own region, an ingest
configuration joins a stage of its own region, and IVS sends a resource's events to the default
bus of its own region and account. A managed resource is where its stack is; an import is where
its ARN says (``Resource(environment_from_arn=...)``, as aws-cdk-lib's imports are).

Two places compare as one of three (``relation``):

- the same: equal strings, tokens included (every env-agnostic stack's region is ``Aws.REGION``);
- different: both known and unequal, a synth error;
- unknown: one is known only at deploy time (an env-agnostic stack against a literal ARN, an ARN
  from a parameter or a cross-region reference), a warning that it cannot be checked.
"""

from __future__ import annotations

import enum
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import Annotations, Fn, Stack
from constructs import Construct

from constructs_ivsrt._validation import PropChecker, is_unresolved

REGION_NOT_CHECKED = "constructs-ivsrt:regionNotChecked"
EVENT_RULE_PLACE_NOT_CHECKED = "constructs-ivsrt:eventRulePlaceNotChecked"
METRIC_REGION_NOT_KNOWN = "constructs-ivsrt:metricRegionNotKnown"


class Relation(enum.Enum):
    SAME = "same"
    DIFFERENT = "different"
    UNKNOWN = "unknown"


def relation(one: str, other: str) -> Relation:
    """How two regions (or two accounts) compare at synth."""
    if one == other:
        return Relation.SAME
    if is_unresolved(one) or is_unresolved(other):
        return Relation.UNKNOWN
    return Relation.DIFFERENT


@dataclass(frozen=True)
class Place:
    """A region and an account; either may be a token."""

    region: str
    account: str

    def __str__(self) -> str:
        return f"{shown(self.region)} (account {shown(self.account)})"


def shown(value: str) -> str:
    """A region or account as a message shows it: a token is not a value a user can read."""
    return "<deploy-time value>" if is_unresolved(value) else value


# Read once per construct, since each read of ``env`` or ``node.path`` is jsii round trips, and
# kept beside the constructs (weakly) rather than in their jsii proxies' ``__dict__``.
_places: weakref.WeakKeyDictionary[Any, Place] = weakref.WeakKeyDictionary()
_paths: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_metric_warned: weakref.WeakSet[Any] = weakref.WeakSet()


def place_of(resource: Any) -> Place:
    """Where an IVS resource (managed: its stack's environment; imported: its ARN's) or a stack
    is."""
    cached = _places.get(resource)
    if cached is None:
        env = resource if isinstance(resource, Stack) else resource.env
        cached = _places[resource] = Place(env.region, env.account)
    return cached


def remember_place(resource: Any, place: Place) -> None:
    """Where a managed resource is (its stack's place, which its provider knows)."""
    _places[resource] = place


def path_of(construct: Any) -> str:
    """A construct's path, as messages name what a prop refers to (a string: as it is)."""
    if isinstance(construct, str):
        return construct
    cached = _paths.get(construct)
    if cached is None:
        cached = _paths[construct] = construct.node.path
    return cached


def region_of_arn(arn: str) -> str:
    """The region of an ARN (``arn:aws:ivs:us-east-1:...``); a token's is a token."""
    if is_unresolved(arn):
        return Fn.select(3, Fn.split(":", arn))
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else arn


def known(value: str) -> str | None:
    """A region or account for a metric: the value, or None when it is a token."""
    return None if is_unresolved(value) else value


def metric_place(resource: Any, options: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The region and account a metric of ``resource`` carries: those known at synth. Where the
    resource's region is known only at deploy time and differs from its stack's (a cross-region
    reference, an ARN from a parameter), a dashboard or an alarm would silently graph its own
    region: warn once, unless ``options`` name a region."""
    place = place_of(resource)
    if (
        "region" not in options
        and is_unresolved(place.region)
        and relation(place.region, place_of(Stack.of(resource)).region) is Relation.UNKNOWN
    ):
        if resource not in _metric_warned:
            _metric_warned.add(resource)
            Annotations.of(resource).add_warning_v2(
                METRIC_REGION_NOT_KNOWN,
                "its region is known only at deploy time (a cross-region reference or an ARN from a parameter), so "
                "its metrics carry no region and a dashboard or alarm reads them in its own region: pass region= "
                "(and account=) to the metric_* methods, or import it by a literal ARN",
            )
    return known(place.region), known(place.account)


def require_same_region(
    checker: PropChecker, here: str, prop: str, region: str, named: Any, *, owner_kind: str, why: str
) -> None:
    """What ``prop`` names (the construct ``named``, in ``region``) must be in the owner's region
    ``here``: an error when it is not, a warning when either is known only at deploy time."""
    found = relation(here, region)
    if found is Relation.SAME:
        return
    got = f"{shown(region)!r} ({path_of(named)})"
    if found is Relation.DIFFERENT:
        checker.problems.append(f"{prop} must be in the {owner_kind}'s region {here} ({why}), got: {got}")
    else:
        checker.warn(
            REGION_NOT_CHECKED,
            f"{prop} cannot be checked to be in the {owner_kind}'s region {shown(here)} ({why}): a region known only "
            f"at deploy time (an env-agnostic stack, an ARN from a parameter or a cross-region reference), got: {got}",
        )


def check_event_rule_place(scope: Construct, id: str, resource: Any, method: str, kind: str) -> None:
    """A rule for ``resource``'s events (made under it, so in ``scope``'s stack) must be in the
    resource's region and account: IVS sends the events only to the default bus there."""
    source, rule = place_of(resource), place_of(Stack.of(scope))
    relations = {relation(source.region, rule.region), relation(source.account, rule.account)}
    if Relation.DIFFERENT in relations:
        PropChecker(scope, id).require(
            False,
            (
                f"{method} must make its rule in the {kind}'s region and account, where IVS sends its events (the default "
                f"bus there), got: the {kind} in {source}, this stack in {rule}; instead import the {kind} by ARN in a "
                f"stack of {source}, make the rule there, and forward the events to this stack's bus with a "
                "targets.EventBus target"
            ),
        ).raise_if_any()
    if Relation.UNKNOWN in relations:
        Annotations.of(scope).add_warning_v2(
            EVENT_RULE_PLACE_NOT_CHECKED,
            f"{id}: {method} cannot check that its rule is in the {kind}'s region and account (one is known only at "
            f"deploy time), got: the {kind} in {source}, this stack in {rule}; IVS sends the events only to the "
            "default bus there, so a rule elsewhere never fires",
        )
