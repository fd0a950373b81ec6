"""The local IVS Real-Time endpoint's state: its resources and the operations on them, behind one
lock, with what the service fills in and checks by hand (ARNs, defaults, what is in use by what),
the resource quotas, and the compositions' clock. What differs by resource type is data, one entry
per type, in ``ivsrt_local.resource_types``.

Compositions move on by themselves, on a clock, as the service's do: STARTING -> ACTIVE (or
FAILED), STOPPING -> STOPPED, and an ended one (STOPPED, FAILED) stays listed a few minutes before
the service deletes it (``CompositionTimings`` says how many of the service's seconds each lasts,
and makes the next starts FAILED).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ivsrt_local.errors import ApiError
from ivsrt_local.resource_types import TYPES
from ivsrt_runtime import rules, signing, validation

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"

DEFAULT_QUOTAS = {noun: quota.default for noun, quota in rules.QUOTAS.items()}

RULES_BY_NOUN = {r.noun: r for r in rules.RESOURCES.values()}


@dataclass
class CompositionTimings:
    """How compositions behave, in the service's seconds (the endpoint divides them by its
    ``composition_speed``): how long one stays STARTING and STOPPING, how long an ended one stays
    listed, and how many of the next starts end FAILED (first destination FAILED), not ACTIVE.

    The service documents no figures for the first two: a composition is seen "after a few
    seconds" (Getting Started with IVS Server-Side Composition), and stopping is taken to be as
    quick. It documents the third: "automatically deleted after a few minutes in the STOPPED state"."""

    start_seconds: float = 5.0
    stop_seconds: float = 5.0
    listed_after_end_seconds: float = 300.0
    fail_next: int = 0


# What a composition becomes on its own: state -> (the timing it lasts, what follows it; None:
# the service deletes it). ACTIVE lasts until it is stopped.
COMPOSITION_STEPS: dict[str, tuple[str, Callable[[dict[str, Any]], str | None]]] = {
    "STARTING": ("start_seconds", lambda composition: "FAILED" if composition["_fails"] else "ACTIVE"),
    "STOPPING": ("stop_seconds", lambda composition: "STOPPED"),
    "STOPPED": ("listed_after_end_seconds", lambda composition: None),
    "FAILED": ("listed_after_end_seconds", lambda composition: None),
}
# A destination's state in its composition's: the same, but in a failed one only the first
# destination failed (the one whose failure ends it).
DESTINATION_STATES: dict[str, Callable[[int], str]] = {"FAILED": lambda index: "FAILED" if index == 0 else "ACTIVE"}
COMPOSITION_SPEED_ENV = "IVSRT_LOCAL_COMPOSITION_SPEED"
# The pace the tests (ours, and the pytest fixture's) run compositions at: 5 s are 50 ms.
TEST_COMPOSITION_SPEED = 100.0


def checked_composition_speed(value: Any, source: str = "composition_speed") -> float:
    """``value`` as a composition clock's speed: a number above 0 (1: the service's pace)."""
    try:
        speed = float(value)
    except (TypeError, ValueError):
        speed = 0.0
    if not speed > 0 or speed == float("inf"):
        raise ValueError(f"{source} must be a number above 0 (1 is the service's pace), got: {value!r}")
    return speed


def default_composition_speed(fallback: float = 1.0) -> float:
    """``IVSRT_LOCAL_COMPOSITION_SPEED`` when set, else ``fallback``."""
    value = os.environ.get(COMPOSITION_SPEED_ENV)
    try:
        return fallback if value is None else checked_composition_speed(value, COMPOSITION_SPEED_ENV)
    except ValueError as error:
        raise SystemExit(str(error)) from None


class IvsRealtimeState:
    """The resources, and the operations on them, behind one lock."""

    def __init__(
        self, quotas: dict[str, int] | None = None, composition_speed: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.quotas: dict[str, int] = {**DEFAULT_QUOTAS, **(quotas or {})}
        self.composition_speed: float = composition_speed  # service seconds per second of ``clock``
        self.clock: Callable[[], float] = clock
        self.lock: threading.RLock = threading.RLock()
        self.resources: dict[str, dict[str, Any]] = {}  # ARN -> resource (as the API returns it)
        self.calls: list[str] = []  # every operation received, retries included
        self.tokens: dict[str, dict[str, Any]] = {}  # participant token -> what it was minted with
        self.revoked_connection_tokens: set[str] = set()  # RevokeConnectionToken's token ids
        # (stage ARN, participant id) -> a participant connected now (ivsrt_local.tokens.join)
        self.connected: dict[tuple[str, str], dict[str, Any]] = {}
        self.compositions: CompositionTimings = CompositionTimings()
        self._idempotency: dict[str, str] = {}  # StartComposition token -> composition ARN
        self._ids = (f"{i:04d}" for i in itertools.count(1))
        self._region: str | None = None  # of the API call being answered; None: every region (the control plane)

    @contextlib.contextmanager
    def answering(self, region: str) -> Iterator[None]:
        """Answer an API call as the service does in ``region``: each region is a service of its
        own, so another region's resources are not found (Get, Update, Delete, tags, a reference
        such as ``storageConfigurationArn``), not listed, and not counted against its quotas."""
        with self.lock:
            previous, self._region = self._region, region
            try:
                yield
            finally:
                self._region = previous

    def _visible(self, arn: str) -> dict[str, Any] | None:
        resource = self.resources.get(arn)
        return resource if resource is not None and self._region in (None, arn_region(arn)) else None

    def _in_region(self, noun: str) -> list[dict[str, Any]]:
        return [r for r in self._all(noun) if self._region in (None, arn_region(r["arn"]))]

    # -- helpers ------------------------------------------------------------------------------
    def _new_arn(self, noun: str, region: str) -> str:
        suffix = next(self._ids) + "".join(random.choices(string.ascii_letters + string.digits, k=8))
        return f"arn:aws:ivs:{region}:{ACCOUNT_ID}:{RULES_BY_NOUN[noun].arn_segment}/{suffix}"

    def _get(self, noun: str, arn: str) -> dict[str, Any]:
        resource = self._visible(arn)
        if resource is None or resource["_noun"] != noun:
            raise ApiError("ResourceNotFoundException", f"{noun} not found: {arn}")
        return resource

    def _find_any(self, arn: str) -> dict[str, Any]:
        resource = self._visible(arn)
        if resource is None:
            raise ApiError("ResourceNotFoundException", f"Resource not found: {arn}")
        return resource

    def require(self, noun: str, arn: str | None, code: str = "ValidationException") -> None:
        """``arn``, when given, names a ``noun`` in the caller's region; else ``code``."""
        if arn and (self._visible(arn) or {}).get("_noun") != noun:
            raise ApiError(code, f"{noun} not found: {arn}")

    def _users_of(self, arn: str) -> list[str]:
        """The live resources whose settings (not tags) name ``arn`` (a stopped composition uses nothing)."""
        return sorted(
            r["arn"]
            for r in self.resources.values()
            if r["arn"] != arn and r.get("state") != "STOPPED" and arn in json.dumps({k: v for k, v in r.items() if k != "tags"})
        )

    def _check_references(self, noun: str, params: dict[str, Any]) -> None:
        for reference in TYPES[noun].references:
            self.require(reference.noun, reference.value(params), reference.code)

    def check_per_stage_quota(self, stage_arn: str) -> None:
        limit = rules.QUOTAS["Composition"].per_stage
        live = [r for r in self._all("Composition") if r["stageArn"] == stage_arn and r["state"] != "STOPPED"]
        if limit is not None and len(live) >= limit:
            raise ApiError(
                "ServiceQuotaExceededException", f"Quota of {limit} Composition resources per stage reached for {stage_arn}"
            )

    # -- operations ---------------------------------------------------------------------------
    def create(self, noun: str, params: dict[str, Any], region: str) -> dict[str, Any]:
        params = {k: v for k, v in params.items() if k != "participantTokenConfigurations"}
        token = params.get("idempotencyToken")
        if token and self._idempotency.get(token) in self.resources:
            return self.resources[self._idempotency[token]]  # a retried Start: the same composition
        quota = self.quotas.get(noun)
        if quota is not None and len(self._counted(noun)) >= quota:
            raise ApiError("ServiceQuotaExceededException", f"Quota of {quota} {noun} resources per account and region reached")
        arn = self._new_arn(noun, region)
        resource = {"_noun": noun, "arn": arn, "name": "", "tags": {}, **params}
        self._check_references(noun, params)
        TYPES[noun].prepare(self, resource, params)
        self.resources[arn] = resource
        if token:
            self._idempotency[token] = arn
        return resource

    def get(self, noun: str, params: dict[str, Any], region: str) -> dict[str, Any]:
        return self._get(noun, params["arn"])

    def advance(self) -> None:
        """Move every composition on by the time that has passed. The service does it on its own;
        here it is done whenever the state is looked at (every operation, every snapshot), which
        no caller can tell apart."""
        with self.lock:
            now = self.clock()
            for composition in self._all("Composition"):
                self._advance(composition, now)

    def _advance(self, composition: dict[str, Any], now: float) -> None:
        """``composition`` as it is at ``now``: each step it has lasted long enough for is taken,
        from the moment the one before ended (``COMPOSITION_STEPS``)."""
        while composition["state"] in COMPOSITION_STEPS:
            timing, following = COMPOSITION_STEPS[composition["state"]]
            ends = composition["_since"] + getattr(self.compositions, timing) / self.composition_speed
            if now < ends:
                return
            state = following(composition)
            if state is None:
                del self.resources[composition["arn"]]
                return
            self.enter(composition, state, ends)

    @staticmethod
    def enter(composition: dict[str, Any], state: str, at: float) -> None:
        """``composition`` is ``state`` from ``at`` (on the endpoint's clock), its destinations too."""
        composition.update(state=state, _since=at)
        state_of = DESTINATION_STATES.get(state, lambda index: state)
        for index, destination in enumerate(composition["destinations"]):
            destination["state"] = state_of(index)

    def end_composition(self, arn: str) -> None:
        """What the service does a minute after the stage empties: stop the composition."""
        with self.lock:
            self.advance()
            self.enter(self._get("Composition", arn), "STOPPING", self.clock())

    def update(self, noun: str, params: dict[str, Any], region: str) -> dict[str, Any]:
        resource = self._get(noun, params["arn"])
        self._check_references(noun, params)
        resource.update({k: v for k, v in params.items() if k != "arn"})
        return resource

    def delete(self, noun: str, params: dict[str, Any], region: str) -> None:
        resource = self._get(noun, params["arn"])
        behaviour = TYPES[noun]
        if behaviour.delete is not None:
            return behaviour.delete(self, resource)
        users = self._users_of(resource["arn"]) if behaviour.in_use_checked else []
        if users:
            raise ApiError("ConflictException", f"{noun} {resource['arn']} is in use by {', '.join(users)}")
        if resource.get("_publishing") and not params.get("force"):
            raise ApiError("ConflictException", f"{noun} {resource['arn']} is in use: a participant is publishing")
        del self.resources[resource["arn"]]

    def set_publishing(self, ingest_configuration_arn: str, publishing: bool = True) -> None:
        """An encoder connects (or disconnects) with the ingest configuration's stream key: its
        delete is then a conflict unless forced, as the service documents."""
        with self.lock:
            self._get("IngestConfiguration", ingest_configuration_arn)["_publishing"] = publishing

    def stop(self, composition: dict[str, Any]) -> None:
        if composition["state"] in ("STOPPED", "FAILED"):
            del self.resources[composition["arn"]]
        elif composition["state"] == "STOPPING":
            raise ApiError("ConflictException", f"Composition {composition['arn']} is already stopping")
        else:
            self.enter(composition, "STOPPING", self.clock())

    def _all(self, noun: str) -> list[dict[str, Any]]:
        return [r for r in self.resources.values() if r["_noun"] == noun]

    def _counted(self, noun: str) -> list[dict[str, Any]]:
        """What counts against the account's quota of ``noun``: a stopped composition, still
        listed for a few minutes, is not running (as for the per-stage quota)."""
        return [r for r in self._in_region(noun) if r.get("state") != "STOPPED"]

    def listing(self, noun: str, params: dict[str, Any], region: str) -> tuple[list[dict[str, Any]], str | None]:
        """One page, as the service pages: ``maxResults`` (default 50) from ``nextToken``."""
        start = int(params.get("nextToken") or 0)
        size = params.get("maxResults", 50)
        matching = [
            r
            for r in self._in_region(noun)
            if all(
                r.get(field) == params[f"filterBy{field[0].upper()}{field[1:]}"]
                for field in ("stageArn", "state")
                if f"filterBy{field[0].upper()}{field[1:]}" in params
            )
        ]
        page = matching[start : start + size]
        return page, (str(start + size) if start + size < len(matching) else None)

    def participant_token(self, params: dict[str, Any]) -> dict[str, Any]:
        self.require("Stage", params["stageArn"], "ResourceNotFoundException")
        duration = params.get("duration", signing.DEFAULT_DURATION_MINUTES)
        token = {
            "token": "eyJ" + secrets.token_urlsafe(48),
            "participantId": secrets.token_hex(6),
            "userId": params.get("userId", ""),
            "attributes": params.get("attributes", {}),
            "duration": duration,
            "capabilities": params.get("capabilities", ["PUBLISH", "SUBSCRIBE"]),
            "expirationTime": signing.expiration_time(time.time() + duration * 60),
        }
        with self.lock:
            self.tokens[token["token"]] = {**token, "stageArn": params["stageArn"]}
        return token

    def revoke_connection_token(self, params: dict[str, Any]) -> None:
        """``RevokeConnectionToken``: the id is recorded; a connection with it is refused from now on,
        and the participants connected through it are disconnected. IVS answers for any
        well-formed id (it cannot know which ids were signed)."""
        with self.lock:
            self.revoked_connection_tokens.add(params["tokenId"])
            for key in [k for k, p in self.connected.items() if p["connectionTokenId"] == params["tokenId"]]:
                del self.connected[key]

    def tag(self, params: dict[str, Any]) -> None:
        resource = self._find_any(params["resourceArn"])
        merged = {**resource["tags"], **params["tags"]}
        problems = validation.check(rules.STAGE.property_shape(rules.TAGS_PROPERTY), merged, "tags")
        if problems:
            raise ApiError("ValidationException", "; ".join(problems))
        resource["tags"] = merged

    def untag(self, params: dict[str, Any]) -> None:
        resource = self._find_any(params["resourceArn"])
        for key in params.get("tagKeys", []):
            resource["tags"].pop(key, None)

    def snapshot(self) -> list[dict[str, Any]]:
        """Every resource, as the API shows it plus its type: what tests compare. The endpoint's
        own bookkeeping (when a composition's state began) is left out."""
        with self.lock:
            self.advance()
            return [
                json.loads(json.dumps({k: v for k, v in r.items() if k == "_noun" or not k.startswith("_")}))
                for r in self.resources.values()
            ]


def arn_region(arn: str) -> str:
    """``us-east-1`` of ``arn:aws:ivs:us-east-1:...``."""
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else ""
