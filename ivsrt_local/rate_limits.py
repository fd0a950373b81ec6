"""The service's API rate quotas at the local endpoint (``rules.RATE_QUOTAS``): a token bucket per
operation and region, refilled at the operation's rate and holding one second's worth; a call that
finds it empty gets ``ThrottlingException`` (HTTP 429, "Rate exceeded"), as the service answers."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from ivsrt_local.state import DEFAULT_REGION
from ivsrt_runtime import rules

RATE_SCALE_ENV = "IVSRT_LOCAL_RATE_SCALE"


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


def default_rate_scale() -> float:
    value = os.environ.get(RATE_SCALE_ENV, "1")
    try:
        return float(value)
    except ValueError:
        raise SystemExit(f"{RATE_SCALE_ENV} must be a number (0 turns the rate limits off), got: {value!r}") from None
