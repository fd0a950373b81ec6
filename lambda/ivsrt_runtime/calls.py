"""The call engine: one IVS Real-Time API call, retried under the rate quotas until the request's
deadline, its failure turned into one readable line.

The provider's ``lifecycle`` and the token vendor (``tokens``) make their calls through it; a
KMS failure (``keys``, ``tokens``) is its ``RequestFailed`` too. See docs/design.md, "The call
engine".
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError
from botocore.model import OperationModel, ServiceModel
from botocore.retries import standard

from ivsrt_runtime.rules import SERVICE_NAME, operation, rate_quota, service_model, snake_case


class RequestFailed(Exception):
    """A ``Request`` failed: a CloudFormation request (the provider) or a token request (the
    vendor). The message is the whole reason, on one line: what CloudFormation shows, or what
    the vendor logs.

    ``code`` is the service's error code when the service answered with one."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Request:
    """One request (a CloudFormation request, a token request) as its calls need it."""

    get_client: Callable[[], Any]  # the environment's client, built on first use (a cold start builds one)
    subject: str  # "Custom::IvsRealtimeStage MyStage (arn...)": names the resource in errors
    deadline: float = math.inf  # time.monotonic() by which the function must have answered

    def seconds_left(self) -> float:
        return self.deadline - time.monotonic()

    @property
    def client(self) -> Any:
        """A client that makes one attempt per call: ``call`` does the retrying."""
        return self.get_client()


# ---------------------------------------------------------------------------------------------
# The calls: each wraps one API operation and turns its failures into one readable line.
# ---------------------------------------------------------------------------------------------

# Backoff between attempts of one call: "full jitter", uniform(0, min(CAP, BASE * 2**(n-1))) for
# the n-th retry, sized for many callers sharing one quota (the measurements that chose it are in
# docs/design.md, "The call engine"). Written out rather than botocore's ExponentialBackoff: its
# formula changed between releases (1 s base for every error in 1.34, 50 ms for non-throttling
# errors in 1.44), and the Lambda runtime's botocore is not ours. What is retryable is still
# botocore's decision, below.
BACKOFF_BASE_SECONDS = 0.25
BACKOFF_CAP_SECONDS = 2.0

# botocore's standard-mode conditions (throttling, transient 5xx, connection errors, errors the
# model marks retryable); the attempt count is never what stops us, the deadline is.
_RETRYABLE = standard.StandardRetryConditions(max_attempts=2**31)
_THROTTLED = standard.ThrottledRetryableChecker()
# Failures that happen before a request reaches the service: nothing can have been acted on.
_NOT_SENT = (EndpointConnectionError, ConnectTimeoutError)


def backoff_delay(retry: int, uniform: Callable[[float, float], float] = random.uniform) -> float:
    """Seconds to wait before the ``retry``-th retry (1-based) of a call."""
    return uniform(0.0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** (retry - 1)))


@dataclass(frozen=True)
class Failure:
    """One failed attempt, as botocore's retry rules classify it."""

    error: Exception  # the ClientError or BotoCoreError
    retryable: bool
    throttled: bool
    # The service may have acted on it before it failed (a 5xx, a dropped connection, a read
    # timeout): a retried Create must first look for what it made. A throttled or refused call
    # was never acted on.
    ambiguous: bool

    @classmethod
    def of(cls, error: Exception, operation_name: str, attempt: int, model: OperationModel | None = None) -> Failure:
        """``model``: the operation's model, for another service's call (SSM, CloudFormation);
        default: the ivs-realtime operation of that name."""
        context = _retry_context(error, model or operation(operation_name), attempt)
        throttled = _THROTTLED.is_retryable(context)
        if isinstance(error, ClientError):
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            ambiguous = status >= 500 and not throttled
        else:
            ambiguous = not isinstance(error, _NOT_SENT)
        return cls(error, _RETRYABLE.is_retryable(context), throttled, ambiguous)

    @property
    def code(self) -> str | None:
        if isinstance(self.error, ClientError):
            return self.error.response.get("Error", {}).get("Code")
        return None

    def line(self, operation_name: str, subject: str) -> str:
        """operation, subject, code and message: what CloudFormation shows."""
        if isinstance(self.error, ClientError):
            details = self.error.response.get("Error", {})
            reason = f"{details.get('Code', 'Unknown')}: {details.get('Message', '')}".rstrip(": ")
        else:
            reason = str(self.error)
        return f"{operation_name} failed for {subject}: {reason}"


def _retry_context(error: Exception, model: OperationModel, attempt: int) -> standard.RetryContext:
    parsed = http = None
    if isinstance(error, ClientError):
        parsed = error.response
        metadata = error.response.get("ResponseMetadata", {})
        # What botocore's checkers read of an HTTP response.
        http = SimpleNamespace(status_code=metadata.get("HTTPStatusCode"), headers=metadata.get("HTTPHeaders", {}))
    return standard.RetryContext(
        attempt_number=attempt,
        operation_model=model,
        parsed_response=parsed,
        http_response=http,
        caught_exception=None if isinstance(error, ClientError) else error,
    )


WAIT_OUT_CAP_SECONDS = 15.0


@dataclass(frozen=True)
class WaitOut:
    """An answer that passes with time, waited out rather than failed at once: the error ``code``
    (a conflict: the resource is still in use), asked again after 2, 4, 8, then every 15 seconds,
    for at most ``seconds`` and never past the request's deadline. Then the call fails, its line
    followed by how long it waited and what ``detail`` says (``"; still used by ..."``)."""

    code: str
    seconds: float
    detail: Callable[[], str] = lambda: ""

    @staticmethod
    def delay(wait: int) -> float:
        """Seconds before asking again, the ``wait``-th time (1-based)."""
        return min(2.0**wait, WAIT_OUT_CAP_SECONDS)


def call(
    request: Request,
    operation_name: str,
    *,
    recover: Callable[[], dict[str, Any] | None] | None = None,
    wait_out: WaitOut | None = None,
    **params: Any,
) -> dict[str, Any]:
    """``<operation>(**params)``, retried with jittered backoff while the failure is retryable,
    until the request's deadline; a failure becomes one line (``RequestFailed``).

    ``recover`` is for a call that is not idempotent (a Create): after an ambiguous failure, it
    looks for what the lost attempt made, and what it returns is the answer; it looks once more
    before giving up at the deadline. A throttled call is retried without it: the service did
    nothing. Other 4xx answers are not retried, but for ``wait_out``'s, which are waited out.
    """
    try:
        client = request.client
    except BotoCoreError as error:  # no region, no credentials: nothing was sent
        raise RequestFailed(f"{operation_name} failed for {request.subject}: {error}".replace("\n", " ")) from None
    method = getattr(client, snake_case(operation_name))
    model = _operation_model(client, operation_name)
    started, attempt, waits = time.monotonic(), 0, 0
    while True:
        attempt += 1
        try:
            return method(**params)
        except (ClientError, BotoCoreError) as error:
            failure = Failure.of(error, operation_name, attempt, model)
        if wait_out is not None and failure.code == wait_out.code:
            waits, attempt = waits + 1, 0  # the retries' backoff starts over after a wait
            delay, waited = wait_out.delay(waits), time.monotonic() - started
            if waited + delay > wait_out.seconds or request.seconds_left() < delay:
                raise RequestFailed(
                    f"{failure.line(operation_name, request.subject)} (gave up after {waited:.0f}s{wait_out.detail()})",
                    failure.code,
                ) from failure.error
            time.sleep(delay)
            continue
        if not failure.retryable:
            raise RequestFailed(failure.line(operation_name, request.subject), failure.code) from failure.error
        delay = backoff_delay(attempt)
        if request.seconds_left() < delay:
            made = _recovered(recover) if failure.ambiguous else None  # one last look: nothing left behind
            if made is not None:
                return made
            raise RequestFailed(
                _given_up(failure, operation_name, request.subject, time.monotonic() - started), failure.code
            ) from failure.error
        time.sleep(delay)
        if failure.ambiguous and recover is not None:
            made = recover()
            if made is not None:
                return made


def _operation_model(client: Any, operation_name: str) -> OperationModel:
    """The operation's model from the client's own service (IVS Real-Time, or the SSM and
    CloudFormation calls of the desired state and the drift detector); the shipped ivs-realtime
    model for a client that carries none (a test's stand-in)."""
    service = getattr(getattr(client, "meta", None), "service_model", None)
    if isinstance(service, ServiceModel) and service.service_name != SERVICE_NAME:
        return service.operation_model(operation_name)
    return operation(operation_name)


def _recovered(recover: Callable[[], dict[str, Any] | None] | None) -> dict[str, Any] | None:
    """What ``recover`` finds, when the time is up anyway (its own failure is not the story)."""
    try:
        return recover() if recover is not None else None
    except RequestFailed:
        return None


def _given_up(failure: Failure, operation_name: str, subject: str, seconds: float) -> str:
    if failure.throttled and operation_name in service_model().operation_names:
        return (
            f"{failure.line(operation_name, subject)} (throttled for {seconds:.0f} s, until the function's "
            f"deadline; IVS Real-Time allows {rate_quota(operation_name):g} {operation_name} calls per "
            f"second per account and region)"
        )
    return f"{failure.line(operation_name, subject)} (retried for {seconds:.0f} s, until the function's deadline)"


# The code the service answers for a resource that is not there (every module that reads one).
NOT_FOUND = "ResourceNotFoundException"


def error_code(error: BaseException) -> str | None:
    return getattr(error, "code", None)
