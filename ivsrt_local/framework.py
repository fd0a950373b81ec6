"""A stand-in for aws-cdk-lib's Provider framework: how the provider's functions are called.

The framework calls ``on_event``; for a type that settles asynchronously (a composition) its
waiter then calls ``is_complete`` until the resource has settled or the waiter gives up, and
merges ``Data``. This is the one stand-in for it, shared by the deploy runner, the tests and the
benchmarks. Every number and boolean reaches the function as a string, as CloudFormation sends
them (``as_cloudformation_sends``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ivsrt_runtime import provider
from ivsrt_runtime.deployment import FUNCTION_TIMEOUT_SECONDS
from ivsrt_runtime.rules import RESOURCES

# The waiter polls every 5 s for up to 15 minutes on AWS; locally more often, for at least a
# minute: at the service's pace a composition starts or stops in seconds (ivsrt_local.endpoint).
SETTLE_POLL_SECONDS = 0.05
SETTLE_MAX_POLLS = 1200


class LambdaContext:
    """The part of Lambda's context object the functions use: the time they have left."""

    def __init__(self, timeout_seconds: float = FUNCTION_TIMEOUT_SECONDS) -> None:
        self._ends = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - time.monotonic()) * 1000))


class OperationTimedOut(Exception):
    """The waiter gave up: the resource did not settle within its polls."""


def as_cloudformation_sends(value: Any) -> Any:
    """CloudFormation hands custom resources every number and boolean as a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        return {k: as_cloudformation_sends(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [as_cloudformation_sends(v) for v in value]
    return value


@dataclass
class ProviderFramework:
    """onEvent, then isComplete until complete (bounded), against a handler module."""

    # The module with ``on_event`` and ``is_complete``: the provider's, unless a test gives another.
    handler: Any = provider
    # The provider function's timeout: each call gets a fresh context with this much time left.
    timeout_seconds: float = float(FUNCTION_TIMEOUT_SECONDS)
    # Pause between isComplete calls.
    poll_seconds: float = SETTLE_POLL_SECONDS
    # isComplete calls before the waiter gives up with OperationTimedOut.
    max_polls: int = SETTLE_MAX_POLLS
    # Every isComplete answer of the last request (the tests read them).
    polls: list[dict[str, Any]] = field(default_factory=list)

    def send(self, event: Mapping[str, Any], accepted: Callable[[dict[str, Any]], None] = lambda result: None) -> dict[str, Any]:
        """The whole request. ``accepted`` sees onEvent's answer: from then on CloudFormation
        knows the physical id, even if the waiting fails."""
        result = self.on_event(event)
        accepted(result)
        return self.settle(event, result)

    def on_event(self, event: Mapping[str, Any]) -> dict[str, Any]:
        return self.handler.on_event(dict(event), LambdaContext(self.timeout_seconds))

    def settle(self, event: Mapping[str, Any], result: dict[str, Any]) -> dict[str, Any]:
        """For an asynchronous type, isComplete until it is; a failure raises, as the waiter
        then fails the resource. Data is merged over onEvent's."""
        self.polls = []
        rules = RESOURCES.get(event["ResourceType"])
        if rules is None or rules.settling is None:
            return result
        waiting = {**event, **result}
        for poll in range(self.max_polls):
            if poll:
                time.sleep(self.poll_seconds)
            answer = self.handler.is_complete(waiting, LambdaContext(self.timeout_seconds))
            self.polls.append(answer)
            if not answer["IsComplete"]:
                if "Data" in answer:  # the framework refuses it
                    raise ValueError(f"isComplete returned Data with IsComplete false: {answer}")
                continue
            return {**result, "Data": {**result.get("Data", {}), **answer.get("Data", {})}}
        raise OperationTimedOut(f"{event['LogicalResourceId']}: Operation timed out")
