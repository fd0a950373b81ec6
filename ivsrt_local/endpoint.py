"""A local, stateful IVS Real-Time endpoint driven by botocore's service model.

moto has no ivs-realtime service, so this one is ours. It restates none of the API: routes,
input validation, output shapes and error status codes all come from the shipped model (the same
``rules`` the constructs and the handler use). What it adds by hand is the state behaviour the
model cannot describe: ARNs, defaults the service fills in, what is in use by what.

Start it in-process (``with LocalIvsRealtime() as ivs: ivs.url``) or as a command::

    python -m ivsrt_local.endpoint --port 4599

It enforces the service's documented API rate quotas (``rules.RATE_QUOTAS``): a token bucket per
operation, refilled at the operation's rate and holding one second's worth; a call that finds it
empty gets ``ThrottlingException`` (HTTP 429, "Rate exceeded"), as the service answers. On by
default; ``LocalIvsRealtime(rate_scale=0)`` (or ``--rate-scale 0``, or ``IVSRT_LOCAL_RATE_SCALE=0``)
turns it off, another value multiplies every rate. Resource quotas are the service's defaults.

Faults can be injected per operation (``ivs.inject(Fault("throttle", "CreateStage"))``, or
``POST /_local/faults`` with the same fields as JSON) to exercise retries and leaks.

Compositions move on by themselves, on a clock, as the service's do: STARTING -> ACTIVE (or
FAILED), STOPPING -> STOPPED, and an ended one (STOPPED, FAILED) stays listed a few minutes before
the service deletes it (``CompositionTimings`` says how many of the service's seconds each lasts,
and makes the next starts FAILED). ``LocalIvsRealtime(composition_speed=100)`` (or
``--composition-speed``, or ``IVSRT_LOCAL_COMPOSITION_SPEED``) runs that clock 100 times faster;
the default, 1, is the service's pace.
"""

from __future__ import annotations

import argparse
import contextlib
import calendar
import base64
import binascii
import hashlib
import itertools
import json
import os
import random
import re
import secrets
import string
import threading
import time
import urllib.parse
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from collections.abc import Callable, Iterator

from botocore.validate import ParamValidator

from ivsrt_local import iam
from ivsrt_local.kms import TARGET_PREFIX as KMS_TARGET_PREFIX
from ivsrt_local.kms import KmsError, LocalKms
from ivsrt_local.tokens import TokenRefused, check_signed_token
from ivsrt_runtime import rules

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
CONTROL_PREFIX = "/_local/"

# Defaults the service fills in when a field is omitted (documented in the API reference).
VIDEO_DEFAULTS: dict[str, Any] = {"width": 1280, "height": 720, "framerate": 30.0, "bitrate": 2500000}

DEFAULT_QUOTAS = {noun: quota.default for noun, quota in rules.QUOTAS.items()}
RATE_SCALE_ENV = "IVSRT_LOCAL_RATE_SCALE"

RULES_BY_NOUN = {r.noun: r for r in rules.RESOURCES.values()}
NOUN_BY_ARN_SEGMENT = {r.arn_segment: r.noun for r in rules.RESOURCES.values()}

# Resources that others point at, and may not be deleted while they do (ConflictException).
IN_USE_CHECKED = ("StorageConfiguration", "EncoderConfiguration")


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int | None = None):
        super().__init__(message)
        self.code: str = code
        self.message: str = message
        self.status: int = status or _error_status(code)


def _error_status(code: str) -> int:
    try:
        return rules.service_model().shape_for(code).metadata["error"]["httpStatusCode"]
    except Exception:  # an error the model does not declare (ThrottlingException)
        return {"ThrottlingException": 429}.get(code, 400)


@dataclass
class Fault:
    """One injected fault.

    kind: ``throttle`` (429 before the operation), ``server_error`` (500 before it),
    ``latency`` (sleep ``seconds`` then run it), ``drop_after_success`` (run it, then close the
    connection without answering), ``error`` (answer ``code`` instead of running it).
    operation: the API operation it applies to (``None``: any). times: how many requests it hits.
    """

    kind: str
    operation: str | None = None
    times: int = 1
    seconds: float = 0.0
    code: str = "AccessDeniedException"


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


class RateLimits:
    """The API rate quotas: one token bucket per operation, at ``rules.rate_quota`` times
    ``scale`` calls per second, holding one second's worth (the burst; at least one call, so a
    scaled rate under one per second still lets calls through). ``scale`` 0: no limits.

    Written here rather than taken from a library: the buckets must be refilled to full between
    tests (``reset``) and counted (``throttled``), and the whole of it is a dozen lines."""

    def __init__(self, scale: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.scale: float = scale
        self._configured = scale
        self.clock: Callable[[], float] = clock
        self.throttled: dict[str, int] = {}  # operation -> throttled calls
        # (region, operation) -> (tokens, at monotonic time): each region has its own quotas.
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def admit(self, operation: str, region: str = DEFAULT_REGION) -> bool:
        """Take a token for one call of ``operation`` in ``region``; False: throttle it."""
        if self.scale <= 0:
            return True
        rate = rules.rate_quota(operation) * self.scale
        now = self.clock()
        with self._lock:
            burst = max(1.0, rate)
            tokens, then = self._buckets.get((region, operation), (burst, now))
            tokens = min(burst, tokens + (now - then) * rate)
            admitted = tokens >= 1.0
            self._buckets[(region, operation)] = (tokens - admitted, now)
            if not admitted:
                self.throttled[operation] = self.throttled.get(operation, 0) + 1
            return admitted

    def reset(self, scale: float | None = None) -> None:
        """Full buckets, no throttled calls counted, and ``scale`` (default: the one the endpoint
        was started with)."""
        with self._lock:
            self._buckets.clear()
            self.throttled.clear()
            self.scale = self._configured if scale is None else scale


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


def default_rate_scale() -> float:
    value = os.environ.get(RATE_SCALE_ENV, "1")
    try:
        return float(value)
    except ValueError:
        raise SystemExit(f"{RATE_SCALE_ENV} must be a number (0 turns the rate limits off), got: {value!r}") from None


FAULT_KINDS = ("throttle", "server_error", "latency", "drop_after_success", "error")


class _DropConnection(Exception):
    """Raised after a successful operation to close the socket without a response."""


class IvsRealtimeState:
    """The resources, and the operations on them, behind one lock."""

    def __init__(self, quotas: dict[str, int] | None = None, composition_speed: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.quotas: dict[str, int] = {**DEFAULT_QUOTAS, **(quotas or {})}
        self.composition_speed: float = composition_speed  # service seconds per second of ``clock``
        self.clock: Callable[[], float] = clock
        self.lock: threading.RLock = threading.RLock()
        self.resources: dict[str, dict[str, Any]] = {}  # ARN -> resource (as the API returns it)
        self.calls: list[str] = []  # every operation received, retries included
        self.tokens: dict[str, dict[str, Any]] = {}  # participant token -> what it was minted with
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

    def _require(self, noun: str, arn: str | None, code: str = "ValidationException") -> None:
        if arn and (self._visible(arn) or {}).get("_noun") != noun:
            raise ApiError(code, f"{noun} not found: {arn}")

    def _require_storage(self, recording: dict[str, Any] | None) -> None:
        self._require("StorageConfiguration", (recording or {}).get("storageConfigurationArn"))

    def _users_of(self, arn: str) -> list[str]:
        """The live resources whose settings (not tags) name ``arn`` (a stopped composition uses nothing)."""
        return sorted(
            r["arn"] for r in self.resources.values()
            if r["arn"] != arn and r.get("state") != "STOPPED"
            and arn in json.dumps({k: v for k, v in r.items() if k != "tags"})
        )

    def _prepare(self, noun: str, resource: dict[str, Any], params: dict[str, Any]) -> None:
        """What the service fills in or checks for each type at creation."""
        arn = resource["arn"]
        resource_id = arn.rsplit("/", 1)[1].lower()
        if noun == "Stage":
            self._require_storage(params.get("autoParticipantRecordingConfiguration"))
            resource["endpoints"] = {
                "events": "wss://global.events.live-video.net",
                "whip": f"https://{resource_id}.global-bm.whip.live-video.net",
                "rtmp": f"rtmp://{resource_id}.global-contribute-staging.live-video.net/app/",
                "rtmps": f"rtmps://{resource_id}.global-contribute-staging.live-video.net:443/app/",
            }
        elif noun == "EncoderConfiguration":
            resource["video"] = {**VIDEO_DEFAULTS, **(params.get("video") or {})}
        elif noun == "IngestConfiguration":
            self._require("Stage", params.get("stageArn"))
            credentials = [_ingest_credential(resource_id) for _ in range(2 if params.get("redundantIngest") else 1)]
            resource.update(stageArn=params.get("stageArn", ""), state="INACTIVE", attributes=params.get("attributes", {}),
                            **credentials[0], redundantIngestCredentials=credentials[1:])
        elif noun == "PublicKey":
            resource["fingerprint"] = _fingerprint(params["publicKeyMaterial"])
        elif noun == "Composition":
            self._require("Stage", params["stageArn"], "ResourceNotFoundException")
            self._check_per_stage_quota(params["stageArn"])
            for referenced in _referenced_arns(params["destinations"]):
                if referenced.split(":")[5].split("/")[0] in NOUN_BY_ARN_SEGMENT:  # not an IVS channel
                    self._require(NOUN_BY_ARN_SEGMENT[referenced.split(":")[5].split("/")[0]], referenced)
            failing = self.compositions.fail_next > 0
            self.compositions.fail_next -= failing
            resource.update(layout=params.get("layout") or {"grid": {}}, _fails=failing,
                            destinations=[{"id": f"{i}", "configuration": d} for i, d in enumerate(params["destinations"])])
            self._enter(resource, "STARTING", self.clock())
            resource.pop("idempotencyToken", None)

    def _check_per_stage_quota(self, stage_arn: str) -> None:
        limit = rules.QUOTAS["Composition"].per_stage
        live = [r for r in self._all("Composition") if r["stageArn"] == stage_arn and r["state"] != "STOPPED"]
        if limit is not None and len(live) >= limit:
            raise ApiError("ServiceQuotaExceededException",
                           f"Quota of {limit} Composition resources per stage reached for {stage_arn}")

    # -- operations ---------------------------------------------------------------------------
    def create(self, noun: str, params: dict[str, Any], region: str) -> dict[str, Any]:
        params = {k: v for k, v in params.items() if k != "participantTokenConfigurations"}
        token = params.get("idempotencyToken")
        if token and self._idempotency.get(token) in self.resources:
            return self.resources[self._idempotency[token]]  # a retried Start: the same composition
        quota = self.quotas.get(noun)
        if quota is not None and len(self._counted(noun)) >= quota:
            raise ApiError("ServiceQuotaExceededException",
                           f"Quota of {quota} {noun} resources per account and region reached")
        arn = self._new_arn(noun, region)
        resource = {"_noun": noun, "arn": arn, "name": "", "tags": {}, **params}
        self._prepare(noun, resource, params)
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
            self._enter(composition, state, ends)

    @staticmethod
    def _enter(composition: dict[str, Any], state: str, at: float) -> None:
        """``composition`` is ``state`` from ``at`` (on the endpoint's clock), its destinations too."""
        composition.update(state=state, _since=at)
        state_of = DESTINATION_STATES.get(state, lambda index: state)
        for index, destination in enumerate(composition["destinations"]):
            destination["state"] = state_of(index)

    def end_composition(self, arn: str) -> None:
        """What the service does a minute after the stage empties: stop the composition."""
        with self.lock:
            self.advance()
            self._enter(self._get("Composition", arn), "STOPPING", self.clock())

    def update(self, noun: str, params: dict[str, Any], region: str) -> dict[str, Any]:
        resource = self._get(noun, params["arn"])
        if "autoParticipantRecordingConfiguration" in params:
            self._require_storage(params["autoParticipantRecordingConfiguration"])
        if params.get("stageArn"):
            self._require("Stage", params["stageArn"])
        resource.update({k: v for k, v in params.items() if k != "arn"})
        return resource

    def delete(self, noun: str, params: dict[str, Any], region: str) -> None:
        resource = self._get(noun, params["arn"])
        if noun == "Composition":
            return self._stop(resource)
        users = self._users_of(resource["arn"]) if noun in IN_USE_CHECKED else []
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

    def _stop(self, composition: dict[str, Any]) -> None:
        if composition["state"] in ("STOPPED", "FAILED"):
            del self.resources[composition["arn"]]
        elif composition["state"] == "STOPPING":
            raise ApiError("ConflictException", f"Composition {composition['arn']} is already stopping")
        else:
            self._enter(composition, "STOPPING", self.clock())

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
        matching = [r for r in self._in_region(noun)
                    if all(r.get(field) == params[f"filterBy{field[0].upper()}{field[1:]}"]
                           for field in ("stageArn", "state") if f"filterBy{field[0].upper()}{field[1:]}" in params)]
        page = matching[start:start + size]
        return page, (str(start + size) if start + size < len(matching) else None)

    def participant_token(self, params: dict[str, Any]) -> dict[str, Any]:
        self._require("Stage", params["stageArn"], "ResourceNotFoundException")
        duration = params.get("duration", 720)
        token = {
            "token": "eyJ" + secrets.token_urlsafe(48), "participantId": secrets.token_hex(6),
            "userId": params.get("userId", ""), "attributes": params.get("attributes", {}), "duration": duration,
            "capabilities": params.get("capabilities", ["PUBLISH", "SUBSCRIBE"]),
            "expirationTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + duration * 60)),
        }
        with self.lock:
            self.tokens[token["token"]] = {**token, "stageArn": params["stageArn"]}
        return token

    def tag(self, params: dict[str, Any]) -> None:
        resource = self._find_any(params["resourceArn"])
        merged = {**resource["tags"], **params["tags"]}
        problems = rules.check(rules.STAGE.member(rules.TAGS_PROPERTY), merged, "tags")
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
            return [json.loads(json.dumps({k: v for k, v in r.items() if k == "_noun" or not k.startswith("_")}))
                    for r in self.resources.values()]


def _routes() -> list[tuple[str, re.Pattern[str], str]]:
    """(method, path regex, operation) for every operation in the model."""
    table = []
    for name in rules.service_model().operation_names:
        http = rules.operation(name).http
        path = http["requestUri"].split("?")[0]
        pattern = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(path))
        table.append((http["method"], re.compile(f"^{pattern}$"), name))
    return table


class _Server(ThreadingHTTPServer):
    # A fleet opens hundreds of connections at once; socketserver's default backlog of 5 would
    # make the surplus wait for SYN retries.
    request_queue_size = 1024


class LocalIvsRealtime:
    """The server: start/stop, state, injected faults. Use as a context manager in tests."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, quotas: dict[str, int] | None = None,
                 rate_scale: float | None = None, composition_speed: float | None = None) -> None:
        """``rate_scale``: multiplies the API rate quotas; 0 turns them off. Default: the
        ``IVSRT_LOCAL_RATE_SCALE`` variable, else 1 (the service's own rates).
        ``composition_speed``: how many times faster than the service compositions start, stop
        and leave the list. Default: the ``IVSRT_LOCAL_COMPOSITION_SPEED`` variable, else 1."""
        speed = default_composition_speed() if composition_speed is None else composition_speed
        self._composition_speed = checked_composition_speed(speed)  # what reset() goes back to
        self.state: IvsRealtimeState = IvsRealtimeState(quotas, self._composition_speed)
        self.rate_limits: RateLimits = RateLimits(default_rate_scale() if rate_scale is None else rate_scale)
        self.kms: LocalKms = LocalKms(ACCOUNT_ID)  # the signing key's operations (no rate quotas: KMS's are far higher)
        # Access keys bound to a function's role: their requests are held to its policies (ivsrt_local.iam).
        self.iam: iam.Enforcement = iam.Enforcement()
        self._faults: list[Fault] = []
        self._fault_lock = threading.Lock()
        self._routes = _routes()
        self._operations = self._operation_table()
        self._server = _Server((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LocalIvsRealtime:
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-ivs-realtime", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalIvsRealtime:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- faults -------------------------------------------------------------------------------
    def inject(self, *faults: Fault) -> None:
        for fault in faults:
            if fault.kind not in FAULT_KINDS:
                raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}, got: {fault.kind!r}")
        with self._fault_lock:
            self._faults.extend(faults)

    def join(self, stage_arn: str, token: str, now: float | None = None) -> dict[str, Any]:
        """A participant joining ``stage_arn`` with ``token``, checked as IVS checks it: a token
        ``CreateParticipantToken`` minted for this stage and not expired, or one the stage owner
        signed (see ``ivsrt_local.tokens``). The participant it admits, or TokenRefused."""
        now = time.time() if now is None else now
        with self.state.lock:
            if stage_arn not in self.state.resources:
                raise TokenRefused(f"no stage {stage_arn}")
            minted = self.state.tokens.get(token)
            public_keys = {arn: resource["publicKeyMaterial"] for arn, resource in self.state.resources.items()
                           if resource["_noun"] == "PublicKey"}
        if minted is None:
            return check_signed_token(token, stage_arn, public_keys, now)
        expires = calendar.timegm(time.strptime(minted["expirationTime"], "%Y-%m-%dT%H:%M:%SZ"))
        if minted["stageArn"] != stage_arn:
            raise TokenRefused(f"the token is for {minted['stageArn']}, not {stage_arn}")
        if expires <= now:
            raise TokenRefused(f"expired at {expires} (now {int(now)})")
        return {key: minted[key] for key in ("participantId", "userId", "attributes", "capabilities")} | {
            "expirationTime": expires}

    def reset(self) -> None:
        """Back to a new endpoint's state: no resources, calls, tokens or faults, full rate
        buckets (at the scale set), compositions timed as by default (at the speed it was started with)."""
        self.clear_faults()
        self.rate_limits.reset()
        self.iam.clear()
        with self.kms.lock:
            self.kms.keys.clear()
        with self.state.lock:
            self.state.resources.clear()
            self.state.calls.clear()
            self.state.tokens.clear()
            self.state.compositions = CompositionTimings()
            self.state.composition_speed = self._composition_speed

    def clear_faults(self) -> None:
        with self._fault_lock:
            self._faults.clear()

    def _take_fault(self, operation: str) -> Fault | None:
        with self._fault_lock:
            for fault in self._faults:
                if fault.operation in (None, operation) and fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- operations ---------------------------------------------------------------------------
    def _operation_table(self) -> dict[str, Callable[[dict[str, Any], str], dict[str, Any]]]:
        state = self.state
        table: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {}
        for noun, resource in RULES_BY_NOUN.items():
            key = resource.response_key
            table[resource.create_operation] = lambda p, r, n=noun, k=key: {k: state.create(n, p, r)}
            table[resource.get_operation] = lambda p, r, n=noun, k=key: {k: state.get(n, p, r)}
            table[resource.delete_operation] = lambda p, r, n=noun: state.delete(n, p, r) or {}
            table[resource.list_operation] = lambda p, r, n=noun, k=resource.list_key: _page(k, *state.listing(n, p, r))
            if resource.update_operation:
                table[resource.update_operation] = lambda p, r, n=noun, k=key: {k: state.update(n, p, r)}
        table["CreateParticipantToken"] = lambda p, r: {"participantToken": state.participant_token(p)}
        table["TagResource"] = lambda p, r: state.tag(p) or {}
        table["UntagResource"] = lambda p, r: state.untag(p) or {}
        table["ListTagsForResource"] = lambda p, r: {"tags": dict(state._find_any(p["resourceArn"])["tags"])}
        return table

    def handle(self, method: str, raw_path: str, body: bytes, headers: Any) -> tuple[int, dict[str, str], bytes]:
        """One API request in, (status, headers, body) out. Raises _DropConnection for that fault."""
        target = (headers.get("X-Amz-Target") if headers is not None else None) or ""
        if target.startswith(KMS_TARGET_PREFIX):
            return self._handle_kms(target, body, headers)
        parsed = urllib.parse.urlsplit(raw_path)
        for route_method, pattern, name in self._routes:  # noqa: B007 - `name` is the route found
            match = pattern.match(parsed.path)
            if route_method == method and match:
                break
        else:
            return _error_response(ApiError("UnknownOperationException", f"No route for {method} {parsed.path}", 404))
        with self.state.lock:
            self.state.calls.append(name)
        if not self.rate_limits.admit(name, _region(headers)):
            return _error_response(ApiError("ThrottlingException", "Rate exceeded"))
        fault = self._take_fault(name)
        try:
            if fault and fault.kind == "throttle":
                raise ApiError("ThrottlingException", "Rate exceeded (injected)")
            if fault and fault.kind == "server_error":
                raise ApiError("InternalServerException", "Internal failure (injected)")
            if fault and fault.kind == "error":
                raise ApiError(fault.code, f"{fault.code} (injected)")
            if fault and fault.kind == "latency":
                time.sleep(fault.seconds)
            result = self._run(name, match, parsed.query, body, headers)
        except ApiError as error:
            return _error_response(error)
        if fault and fault.kind == "drop_after_success":
            raise _DropConnection()
        return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()

    def _handle_kms(self, target: str, body: bytes, headers: Any) -> tuple[int, dict[str, str], bytes]:
        """A KMS request (JSON protocol: the operation is in X-Amz-Target), for the signing key."""
        with self.state.lock:
            self.state.calls.append(f"kms:{target.removeprefix(KMS_TARGET_PREFIX)}")
        try:
            params = json.loads(body or b"{}")
            denied = self.iam.denial(headers, lambda: iam.kms_request(target.removeprefix(KMS_TARGET_PREFIX), params,
                                                                      _region(headers), ACCOUNT_ID))
            if denied:  # KMS answers it with HTTP 400, as its other client errors
                raise KmsError("AccessDeniedException", denied)
            result = self.kms.handle(target, params, _region(headers))
        except KmsError as error:
            return _error_response(ApiError(error.code, error.message, error.status))
        return 200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(result).encode()

    def _run(self, name: str, match: re.Match[str], query: str, body: bytes, headers: Any) -> dict[str, Any]:
        operation = rules.operation(name)
        params = _request_parameters(operation, match, query, body)
        denied = self.iam.denial(headers, lambda: iam.ivs_request(name, params, _region(headers), ACCOUNT_ID, self._tags))
        if denied:
            raise ApiError("AccessDeniedException", denied)
        if operation.input_shape:
            _validate(operation.input_shape, params, name)
        implementation = self._operations.get(name)
        if implementation is None:
            raise ApiError("ValidationException", f"{name} is not implemented by the local endpoint")
        with self.state.answering(_region(headers)):
            self.state.advance()  # what the service's compositions did meanwhile, on their own
            result = implementation(params, _region(headers))
            # Deep copy through JSON while the lock is held, shaped by the model's output.
            result = json.loads(json.dumps(result))
        return rules.project(operation.output_shape, result) if operation.output_shape else {}

    def _tags(self, arn: str) -> dict[str, str]:
        """A resource's tags (what ``aws:ResourceTag/<key>`` conditions read); none if there is no such resource."""
        with self.state.lock:
            return dict(self.state.resources.get(arn, {}).get("tags", {}))

    def handle_control(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """The test/CLI control plane: state, call log, faults, reset."""
        action = path[len(CONTROL_PREFIX):]
        if action == "state" and method == "GET":
            payload: Any = {"resources": self.state.snapshot(), "calls": list(self.state.calls),
                            "throttled": dict(self.rate_limits.throttled)}
        elif action == "faults" and method == "POST":
            self.inject(*(Fault(**f) for f in json.loads(body or b"[]")))
            payload = {"faults": [asdict(f) for f in self._faults]}
        elif action == "compositions" and method == "POST":
            settings = json.loads(body or b"{}")
            with self.state.lock:
                self.state.advance()  # what has happened so far happened at the old pace
                self.state.composition_speed = checked_composition_speed(settings.pop("speed", self.state.composition_speed))
                self.state.compositions = CompositionTimings(**{**asdict(self.state.compositions), **settings})
            payload = {**asdict(self.state.compositions), "speed": self.state.composition_speed}
        elif action == "rate-limits" and method == "POST":
            self.rate_limits.reset(json.loads(body or b"{}").get("scale"))
            payload = {"scale": self.rate_limits.scale}
        elif action == "reset" and method == "POST":
            self.reset()
            payload = {}
        else:
            return 404, {}, b""
        return 200, {"Content-Type": "application/json"}, json.dumps(payload).encode()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle on, the client's delayed ACK
            # stalls every keep-alive response by ~40 ms.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    if self.path.startswith(CONTROL_PREFIX):
                        status, headers, payload = endpoint.handle_control(self.command, self.path, body)
                    else:
                        status, headers, payload = endpoint.handle(self.command, self.path, body, self.headers)
                except _DropConnection:
                    self.close_connection = True
                    return
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-amzn-RequestId", secrets.token_hex(16))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

            def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read state
                pass

        return Handler


def _request_parameters(operation: Any, match: re.Match[str], query: str, body: bytes) -> dict[str, Any]:
    """The operation's input, gathered from URI labels, query string and JSON body by the model."""
    params: dict[str, Any] = json.loads(body) if body.strip() else {}
    if not isinstance(params, dict):
        raise ApiError("ValidationException", "Request body must be a JSON object")
    queries = urllib.parse.parse_qs(query)
    for name, member in (operation.input_shape.members.items() if operation.input_shape else ()):
        location, wire_name = member.serialization.get("location"), member.serialization.get("name", name)
        if location == "uri":
            params[name] = urllib.parse.unquote(match.group(wire_name))
        elif location == "querystring" and wire_name in queries:
            values = queries[wire_name]
            params[name] = values if member.type_name == "list" else values[0]
    return params


def _validate(input_shape: Any, params: dict[str, Any], operation_name: str) -> None:
    """Refuse what the service would: botocore's own ParamValidator (types, required members,
    minimums), then the rules it leaves to the service (patterns, maximums, enums)."""
    report = ParamValidator().validate(params, input_shape)
    problems = [report.generate_report()] if report.has_errors() else rules.check(input_shape, params, operation_name)
    if problems:
        raise ApiError("ValidationException", "; ".join(problems))


def _page(key: str, items: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    return {key: items, **({"nextToken": token} if token else {})}


def _ingest_credential(resource_id: str) -> dict[str, str]:
    """A participant id and a stream key in the model's StreamKey pattern."""
    return {"participantId": secrets.token_hex(6),
            "streamKey": f"rt_{ACCOUNT_ID}_{resource_id}_{secrets.token_hex(6)}_{secrets.token_urlsafe(24)}"}


def _fingerprint(material: str) -> str:
    """The key's SHA-256 over its DER bytes, as colon-separated hex. A body that is not base64
    is rejected, as the service rejects a key it cannot parse."""
    body = "".join(line for line in material.strip().splitlines() if "-----" not in line)
    try:
        der = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError("ValidationException", "publicKeyMaterial is not a PEM-encoded public key") from None
    return ":".join(f"{byte:02x}" for byte in hashlib.sha256(der).digest())


def _referenced_arns(value: Any) -> list[str]:
    text = json.dumps(value)
    return re.findall(r"arn:aws:ivs:[a-z0-9-]+:[0-9]+:[a-z-]+/[a-zA-Z0-9-]+", text)


def arn_region(arn: str) -> str:
    """``us-east-1`` of ``arn:aws:ivs:us-east-1:...``."""
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else ""


def _region(headers: Any) -> str:
    credential = re.search(r"Credential=[^/]+/\d+/([^/]+)/", headers.get("Authorization", "") or "")
    return credential.group(1) if credential else DEFAULT_REGION


def _error_response(error: ApiError) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": error.code}
    body = json.dumps({"__type": error.code, "message": error.message, "exceptionMessage": error.message})
    return error.status, headers, body.encode()


def _speed_argument(text: str) -> float:
    try:
        return checked_composition_speed(text, "--composition-speed")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the local IVS Real-Time endpoint.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4599, help="port (default: 4599; 0 picks a free one)")
    parser.add_argument("--rate-scale", type=float, default=None,
                        help=f"multiply the API rate quotas by this; 0 turns them off (default: ${RATE_SCALE_ENV} or 1)")
    parser.add_argument("--composition-speed", type=_speed_argument, default=None,
                        help="run compositions' starts, stops and listing this many times faster than the "
                             f"service (default: ${COMPOSITION_SPEED_ENV} or 1)")
    args = parser.parse_args(argv)
    endpoint = LocalIvsRealtime(args.host, args.port, rate_scale=args.rate_scale,
                                composition_speed=args.composition_speed)
    print(f"local IVS Real-Time endpoint on {endpoint.url}", flush=True)
    print(f"  export AWS_ENDPOINT_URL_IVS_REALTIME={endpoint.url}", flush=True)
    try:
        endpoint._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        endpoint._server.server_close()


if __name__ == "__main__":
    main()
