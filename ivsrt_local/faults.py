"""Faults injected per operation at the local endpoint, to exercise retries and leaks
(``ivs.inject(Fault("throttle", "CreateStage"))``, or ``POST /_local/faults`` with the same fields
as JSON)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from ivsrt_local.errors import ApiError


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

    def before(self) -> None:
        """Before the operation: answer an error instead of running it, or wait ``seconds``."""
        if self.kind == "throttle":
            raise ApiError("ThrottlingException", "Rate exceeded (injected)")
        if self.kind == "server_error":
            raise ApiError("InternalServerException", "Internal failure (injected)")
        if self.kind == "error":
            raise ApiError(self.code, f"{self.code} (injected)")
        if self.kind == "latency":
            time.sleep(self.seconds)

    def after(self) -> None:
        """After the operation succeeded: close the connection without answering."""
        if self.kind == "drop_after_success":
            raise DropConnection()


FAULT_KINDS = ("throttle", "server_error", "latency", "drop_after_success", "error")


class DropConnection(Exception):
    """Raised after a successful operation to close the socket without a response."""


class Faults:
    """The faults injected and not yet spent, behind their own lock."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._fault_lock = threading.Lock()

    @property
    def pending(self) -> list[Fault]:
        with self._fault_lock:
            return list(self._faults)

    def inject(self, *faults: Fault) -> None:
        for fault in faults:
            if fault.kind not in FAULT_KINDS:
                raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}, got: {fault.kind!r}")
        with self._fault_lock:
            self._faults.extend(faults)

    def clear(self) -> None:
        with self._fault_lock:
            self._faults.clear()

    def take(self, operation: str) -> Fault | None:
        with self._fault_lock:
            for fault in self._faults:
                if fault.operation in (None, operation) and fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None
