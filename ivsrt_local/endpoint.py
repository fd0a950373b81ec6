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

This module is the transport: the HTTP server, the routing from the model, the control plane
(``/_local/``). The state and its operations are in ``ivsrt_local.state``; the rate limits, the
faults, the KMS calls (``ivsrt_local.kms``) and the token check (``ivsrt_local.tokens``) each in
their own module; so are the Parameter Store calls of the desired state (``ivsrt_local.ssm``)
and the CloudFormation call of adoption, answered from the stacks the runner deployed
(``ivsrt_local.cloudformation``; the runner tells them with ``POST /_local/stacks``).
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from botocore.validate import ParamValidator

from ivsrt_local import iam, tokens
from ivsrt_local.cloudformation import CONTENT_TYPE as QUERY_CONTENT_TYPE
from ivsrt_local.cloudformation import LocalCloudFormation
from ivsrt_local.errors import ApiError, error_response
from ivsrt_local.faults import DropConnection, Fault, Faults
from ivsrt_local.kms import TARGET_PREFIX as KMS_TARGET_PREFIX
from ivsrt_local.kms import LocalKms
from ivsrt_local.rate_limits import RATE_SCALE_ENV, RateLimits, default_rate_scale
from ivsrt_local.ssm import TARGET_PREFIX as SSM_TARGET_PREFIX
from ivsrt_local.ssm import LocalSsm
from ivsrt_local.state import (
    ACCOUNT_ID,
    COMPOSITION_SPEED_ENV,
    DEFAULT_REGION,
    RULES_BY_NOUN,
    TEST_COMPOSITION_SPEED,
    CompositionTimings,
    IvsRealtimeState,
    checked_composition_speed,
    default_composition_speed,
)
from ivsrt_runtime import conversion, rules, validation

# What users and the tests import from here; each lives in the module of its concern.
__all__ = [
    "ACCOUNT_ID",
    "TEST_COMPOSITION_SPEED",
    "ApiError",
    "CompositionTimings",
    "Fault",
    "IvsRealtimeState",
    "LocalIvsRealtime",
    "RateLimits",
    "checked_composition_speed",
    "default_composition_speed",
    "main",
]

CONTROL_PREFIX = "/_local/"


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

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        quotas: dict[str, int] | None = None,
        rate_scale: float | None = None,
        composition_speed: float | None = None,
    ) -> None:
        """``rate_scale``: multiplies the API rate quotas; 0 turns them off. Default: the
        ``IVSRT_LOCAL_RATE_SCALE`` variable, else 1 (the service's own rates).
        ``composition_speed``: how many times faster than the service compositions start, stop
        and leave the list. Default: the ``IVSRT_LOCAL_COMPOSITION_SPEED`` variable, else 1."""
        speed = default_composition_speed() if composition_speed is None else composition_speed
        self._composition_speed = checked_composition_speed(speed)  # what reset() goes back to
        self.state: IvsRealtimeState = IvsRealtimeState(quotas, self._composition_speed)
        self.rate_limits: RateLimits = RateLimits(default_rate_scale() if rate_scale is None else rate_scale)
        self.kms: LocalKms = LocalKms(ACCOUNT_ID)  # the signing key's operations (no rate quotas: KMS's are far higher)
        self.ssm: LocalSsm = LocalSsm(ACCOUNT_ID)  # the desired-state parameters (ivsrt_runtime.desired)
        # The runner's stacks, which adoption asks about (DescribeStackResources; ivsrt_runtime.adopt).
        self.cloudformation: LocalCloudFormation = LocalCloudFormation(ACCOUNT_ID)
        # Access keys bound to a function's role: their requests are held to its policies (ivsrt_local.iam).
        self.iam: iam.Enforcement = iam.Enforcement()
        self.faults: Faults = Faults()
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
        self.faults.inject(*faults)

    def clear_faults(self) -> None:
        self.faults.clear()

    def join(
        self, stage_arn: str, token: str, now: float | None = None, *, connection_token: str | None = None
    ) -> dict[str, Any]:
        """A participant joining ``stage_arn`` with ``token``, checked as IVS checks it, through the
        ``RealTimeConnection`` of ``connection_token`` if given (``tokens.join``); it is then
        connected (``connected``) until that connection token is revoked."""
        return tokens.join(self.state, stage_arn, token, now, connection_token)

    def connected(self, stage_arn: str | None = None) -> list[dict[str, Any]]:
        """The participants ``join`` admitted that are still connected (to ``stage_arn``, or to
        any stage), each with its ``stageArn`` and ``connectionTokenId`` (``tokens.connected``)."""
        return tokens.connected(self.state, stage_arn)

    def connect(self, token: str, now: float | None = None) -> dict[str, Any]:
        """A client connecting with a connection token (a ``RealTimeConnection``), checked against
        the User Guide's schema and the revoked ids (``tokens.connect``)."""
        return tokens.connect(self.state, token, now)

    def reset(self) -> None:
        """Back to a new endpoint's state: no resources, calls, tokens or faults, full rate
        buckets (at the scale set), compositions timed as by default (at the speed it was started with)."""
        self.clear_faults()
        self.rate_limits.reset()
        self.iam.clear()
        with self.kms.lock:
            self.kms.keys.clear()
        with self.ssm.lock:
            self.ssm.parameters.clear()
            self.ssm.calls.clear()
        self.cloudformation.clear()
        with self.state.lock:
            self.state.resources.clear()
            self.state.calls.clear()
            self.state.tokens.clear()
            self.state.revoked_connection_tokens.clear()
            self.state.connected.clear()
            self.state.compositions = CompositionTimings()
            self.state.composition_speed = self._composition_speed

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
        table["RevokeConnectionToken"] = lambda p, r: state.revoke_connection_token(p) or {}
        table["TagResource"] = lambda p, r: state.tag(p) or {}
        table["UntagResource"] = lambda p, r: state.untag(p) or {}
        table["ListTagsForResource"] = lambda p, r: {"tags": dict(state._find_any(p["resourceArn"])["tags"])}
        return table

    def handle(self, method: str, raw_path: str, body: bytes, headers: Any) -> tuple[int, dict[str, str], bytes]:
        """One API request in, (status, headers, body) out. Raises DropConnection for that fault."""
        target = (headers.get("X-Amz-Target") if headers is not None else None) or ""
        if target.startswith(KMS_TARGET_PREFIX):
            with self.state.lock:
                self.state.calls.append(f"kms:{target.removeprefix(KMS_TARGET_PREFIX)}")
            return self.kms.answer(target, body, headers, _region(headers), self.iam)
        if target.startswith(SSM_TARGET_PREFIX):
            return self.ssm.answer(target, body, headers, _region(headers), self.iam)
        parsed = urllib.parse.urlsplit(raw_path)
        content_type = (headers.get("Content-Type") if headers is not None else None) or ""
        if method == "POST" and parsed.path == "/" and content_type.startswith(QUERY_CONTENT_TYPE):
            return self.cloudformation.answer(body, headers, _region(headers), self.iam)  # query protocol
        for route_method, pattern, name in self._routes:  # noqa: B007 - `name` is the route found
            match = pattern.match(parsed.path)
            if route_method == method and match:
                break
        else:
            return error_response(ApiError("UnknownOperationException", f"No route for {method} {parsed.path}", 404))
        with self.state.lock:
            self.state.calls.append(name)
        if not self.rate_limits.admit(name, _region(headers)):
            return error_response(ApiError("ThrottlingException", "Rate exceeded"))
        fault = self.faults.take(name)
        try:
            if fault:
                fault.before()
            result = self._run(name, match, parsed.query, body, headers)
        except ApiError as error:
            return error_response(error)
        if fault:
            fault.after()
        return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()

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
        return conversion.project(operation.output_shape, result) if operation.output_shape else {}

    def _tags(self, arn: str) -> dict[str, str]:
        """A resource's tags (what ``aws:ResourceTag/<key>`` conditions read); none if there is no such resource."""
        with self.state.lock:
            return dict(self.state.resources.get(arn, {}).get("tags", {}))

    def handle_control(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """The test/CLI control plane: state, call log, faults, the runner's stacks, reset."""
        action = path[len(CONTROL_PREFIX) :]
        if action == "state" and method == "GET":
            payload: Any = {
                "resources": self.state.snapshot(),
                "calls": list(self.state.calls),
                "throttled": dict(self.rate_limits.throttled),
                "ssm_calls": list(self.ssm.calls),
                "stacks": self.cloudformation.snapshot(),
            }
        elif action == "stacks" and method == "POST":
            for stack in json.loads(body or b"{}").get("stacks", []):
                self.cloudformation.put(stack)
            payload = {"stacks": self.cloudformation.snapshot()}
        elif action == "faults" and method == "POST":
            self.inject(*(Fault(**f) for f in json.loads(body or b"[]")))
            payload = {"faults": [asdict(f) for f in self.faults.pending]}
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
                except DropConnection:
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
    for name, member in operation.input_shape.members.items() if operation.input_shape else ():
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
    problems = [report.generate_report()] if report.has_errors() else validation.check(input_shape, params, operation_name)
    if problems:
        raise ApiError("ValidationException", "; ".join(problems))


def _page(key: str, items: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    return {key: items, **({"nextToken": token} if token else {})}


def _region(headers: Any) -> str:
    credential = re.search(r"Credential=[^/]+/\d+/([^/]+)/", headers.get("Authorization", "") or "")
    return credential.group(1) if credential else DEFAULT_REGION


def _speed_argument(text: str) -> float:
    try:
        return checked_composition_speed(text, "--composition-speed")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the local IVS Real-Time endpoint.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4599, help="port (default: 4599; 0 picks a free one)")
    parser.add_argument(
        "--rate-scale",
        type=float,
        default=None,
        help=f"multiply the API rate quotas by this; 0 turns them off (default: ${RATE_SCALE_ENV} or 1)",
    )
    parser.add_argument(
        "--composition-speed",
        type=_speed_argument,
        default=None,
        help="run compositions' starts, stops and listing this many times faster than the "
        f"service (default: ${COMPOSITION_SPEED_ENV} or 1)",
    )
    args = parser.parse_args(argv)
    endpoint = LocalIvsRealtime(args.host, args.port, rate_scale=args.rate_scale, composition_speed=args.composition_speed)
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
