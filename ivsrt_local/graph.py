"""The graph executor: run tasks once those they come after have succeeded, every ready one at
once, each on a thread that plays a Lambda execution environment; and the orders it needs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from ivsrt_local.stack_state import DeployError


def dependents(graph: dict[str, list[str]], keys: list[str]) -> dict[str, list[str]]:
    """For each of ``keys``, those of ``keys`` that depend on it (``graph``: id -> dependencies):
    what must be removed before it."""
    return {key: [other for other in keys if key in graph.get(other, [])] for key in keys}


def creation_order(graph: dict[str, list[str]]) -> list[str]:
    """Logical ids so that each comes after those it depends on (``graph``: id -> dependencies)."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(logical_id: str) -> None:
        if logical_id in order:
            return
        if logical_id in visiting:
            raise DeployError(f"circular reference through {logical_id}")
        visiting.add(logical_id)
        for dependency in graph.get(logical_id, []):
            visit(dependency)
        visiting.discard(logical_id)
        order.append(logical_id)

    for logical_id in sorted(graph):
        visit(logical_id)
    return order


PROGRESS_SECONDS = 2.0  # how often a line is printed while events are in flight
# The provider function's execution environments. Lambda keeps one warm between invocations and
# starts another only when all are busy; so does a thread pool, and the handler keeps one client
# per thread. Shared by every run in the process, as one function's environments are, so a
# deployment's rollback, cleanup and later runs find them warm; made by the first run, not at import.
_environments: ThreadPoolExecutor | None = None
_environments_lock = threading.Lock()


def _execution_environments() -> ThreadPoolExecutor:
    global _environments
    with _environments_lock:
        if _environments is None:
            _environments = ThreadPoolExecutor(max_workers=5000, thread_name_prefix="lambda-environment")
        return _environments


@dataclass
class GraphOutcome:
    started: list[str] = field(default_factory=list)  # in the order they started
    results: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, BaseException] = field(default_factory=dict)
    cancelled: set[str] = field(default_factory=set)  # still in flight when the first failure came

    def first_failure(self) -> BaseException:
        return next(self.failures[k] for k in self.started if k in self.failures)


class Progress:
    """Prints where a phase stands while it runs: done, in flight, failed, seconds."""

    def __init__(self, title: str, total: int, write: Callable[[str], None]) -> None:
        self.title: str = title
        self.total: int = total
        self.write: Callable[[str], None] = write
        self.started_at: float = time.monotonic()
        self.last: float = self.started_at

    def tick(self, outcome: GraphOutcome, in_flight: list[str]) -> None:
        now = time.monotonic()
        if in_flight and now - self.last >= PROGRESS_SECONDS:
            self.last = now
            done = len(outcome.results) + len(outcome.failures)
            # A few left: say which (a Delete waiting for a storage configuration to be free).
            which = f" ({', '.join(sorted(in_flight))})" if len(in_flight) <= 3 else ""
            self.write(
                f"  {self.title}: {done}/{self.total} done, {len(in_flight)} in flight{which}, "
                f"{len(outcome.failures)} failed ({now - self.started_at:.0f} s)"
            )


def run_graph(
    tasks: dict[str, Callable[[], Any]],
    after: dict[str, list[str]],
    *,
    concurrency: int | None = None,
    progress: Progress | None = None,
    order: list[str] | None = None,
) -> GraphOutcome:
    """Run each task once every task it comes ``after`` has succeeded, all that can at once (up to
    ``concurrency``; None: no bound), those ready first in ``order`` first (then by key). After a
    failure nothing new starts and those in flight finish. Tasks that never started are in
    neither ``results`` nor ``failures``."""
    outcome = GraphOutcome()
    environments = _execution_environments()
    rank = {key: index for index, key in enumerate(order or [])}
    waiting = {key: tasks[key] for key in sorted(tasks, key=lambda k: (rank.get(k, len(rank)), k))}
    running: dict[Future[Any], str] = {}
    try:
        while True:
            ready = [k for k in waiting if all(d in outcome.results for d in after.get(k, []) if d in tasks)]
            if not outcome.failures:
                for key in ready[: (concurrency or len(tasks)) - len(running)]:
                    outcome.started.append(key)
                    running[environments.submit(waiting.pop(key))] = key
            if not running:
                if waiting and not outcome.failures:  # every one left waits on another left: a cycle
                    raise DeployError(f"circular dependency among {', '.join(sorted(waiting))}")
                return outcome
            finished, _ = wait(running, timeout=PROGRESS_SECONDS, return_when=FIRST_COMPLETED)
            for future in finished:
                key = running.pop(future)
                try:
                    outcome.results[key] = future.result()
                except Exception as error:  # noqa: BLE001 - every failure is reported by the caller
                    outcome.failures[key] = error
            if outcome.failures and not outcome.cancelled:
                outcome.cancelled = set(running.values())
            if progress:
                progress.tick(outcome, list(running.values()))
    except BaseException:
        # Interrupted (Ctrl-C): the events already sent run on, as Lambda invocations would, and
        # record what they make in the state before the caller saves it.
        wait(running)
        raise
