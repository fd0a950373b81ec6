"""A local, stateful IVS Real-Time endpoint driven by botocore's service model.

moto has no ivs-realtime service, so this one is ours. It restates none of the API: routes,
input validation, output shapes and error status codes all come from the shipped model (the same
``rules`` the constructs and the handler use). What it adds by hand is the state behaviour the
model cannot describe: ARNs, defaults the service fills in, what is in use by what.

Start it in-process (``with LocalIvsRealtime() as ivs: ivs.url``) or as a command::

    python -m constructs_ivsrt.local.endpoint --port 4599

Faults can be injected per operation (``ivs.inject(Fault("throttle", "CreateStage"))``, or
``POST /_local/faults`` with the same fields as JSON) to exercise retries and leaks.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import secrets
import string
import threading
import time
import urllib.parse
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from constructs_ivsrt._handler_code import rules

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
CONTROL_PREFIX = "/_local/"

# Defaults the service fills in when a field is omitted (documented in the API reference).
VIDEO_DEFAULTS = {"width": 1280, "height": 720, "framerate": 30.0, "bitrate": 2500000}

DEFAULT_QUOTAS = {noun: default for noun, (_, default) in rules.QUOTAS.items()}

# ARN resource segment per API noun.
ARN_SEGMENTS = {"Stage": "stage", "EncoderConfiguration": "encoder-configuration",
                "StorageConfiguration": "storage-configuration"}


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int | None = None):
        super().__init__(message)
        self.code, self.message = code, message
        self.status = status or _error_status(code)


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


FAULT_KINDS = ("throttle", "server_error", "latency", "drop_after_success", "error")


class _DropConnection(Exception):
    """Raised after a successful operation to close the socket without a response."""


class IvsRealtimeState:
    """The resources, and the operations on them, behind one lock."""

    def __init__(self, quotas: dict[str, int] | None = None) -> None:
        self.quotas = {**DEFAULT_QUOTAS, **(quotas or {})}
        self.lock = threading.RLock()
        self.resources: dict[str, dict[str, Any]] = {}  # ARN -> resource (as the API returns it)
        self.calls: list[str] = []  # every operation received, retries included
        self._ids = (f"{i:04d}" for i in itertools.count(1))

    # -- helpers ------------------------------------------------------------------------------
    def _new_arn(self, noun: str, region: str) -> str:
        suffix = next(self._ids) + "".join(random.choices(string.ascii_letters + string.digits, k=8))
        return f"arn:aws:ivs:{region}:{ACCOUNT_ID}:{ARN_SEGMENTS[noun]}/{suffix}"

    def _get(self, noun: str, arn: str) -> dict[str, Any]:
        resource = self.resources.get(arn)
        if resource is None or resource["_noun"] != noun:
            raise ApiError("ResourceNotFoundException", f"{noun} not found: {arn}")
        return resource

    def _find_any(self, arn: str) -> dict[str, Any]:
        resource = self.resources.get(arn)
        if resource is None:
            raise ApiError("ResourceNotFoundException", f"Resource not found: {arn}")
        return resource

    def _require_storage(self, recording: dict[str, Any] | None) -> None:
        arn = (recording or {}).get("storageConfigurationArn")
        if arn and self.resources.get(arn, {}).get("_noun") != "StorageConfiguration":
            raise ApiError("ValidationException", f"Storage configuration not found: {arn}")

    def _users_of(self, arn: str) -> list[str]:
        return sorted(
            r["arn"] for r in self.resources.values()
            if (r.get("autoParticipantRecordingConfiguration") or {}).get("storageConfigurationArn") == arn
        )

    # -- operations ---------------------------------------------------------------------------
    def create(self, noun: str, params: dict[str, Any], region: str) -> dict[str, Any]:
        params = {k: v for k, v in params.items() if k != "participantTokenConfigurations"}
        if noun == "Stage":
            self._require_storage(params.get("autoParticipantRecordingConfiguration"))
        if len(self.list(noun, params, region)) >= self.quotas[noun]:
            raise ApiError("ServiceQuotaExceededException",
                           f"Quota of {self.quotas[noun]} {noun} resources per account and region reached")
        arn = self._new_arn(noun, region)
        resource = {"_noun": noun, "arn": arn, "name": "", "tags": {}, **params}
        if noun == "Stage":
            stage_id = arn.rsplit("/", 1)[1].lower()
            resource["endpoints"] = {
                "events": "wss://global.events.live-video.net",
                "whip": f"https://{stage_id}.global-bm.whip.live-video.net",
                "rtmp": f"rtmp://{stage_id}.global-contribute-staging.live-video.net/app/",
                "rtmps": f"rtmps://{stage_id}.global-contribute-staging.live-video.net:443/app/",
            }
        if noun == "EncoderConfiguration":
            resource["video"] = {**VIDEO_DEFAULTS, **(params.get("video") or {})}
        self.resources[arn] = resource
        return resource

    def get(self, noun: str, params: dict[str, Any], region: str) -> dict[str, Any]:
        return self._get(noun, params["arn"])

    def update(self, noun: str, params: dict[str, Any], region: str) -> dict[str, Any]:
        resource = self._get(noun, params["arn"])
        if "autoParticipantRecordingConfiguration" in params:
            self._require_storage(params["autoParticipantRecordingConfiguration"])
        resource.update({k: v for k, v in params.items() if k != "arn"})
        return resource

    def delete(self, noun: str, params: dict[str, Any], region: str) -> None:
        resource = self._get(noun, params["arn"])
        users = self._users_of(resource["arn"])
        if users:
            raise ApiError("ConflictException", f"{noun} {resource['arn']} is in use by {', '.join(users)}")
        del self.resources[resource["arn"]]

    def list(self, noun: str, params: dict[str, Any], region: str) -> list[dict[str, Any]]:
        return [r for r in self.resources.values() if r["_noun"] == noun]

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
        """Every resource, as the API shows it plus its type: what tests compare."""
        with self.lock:
            return [json.loads(json.dumps(r)) for r in self.resources.values()]


def _routes() -> list[tuple[str, re.Pattern[str], str]]:
    """(method, path regex, operation) for every operation in the model."""
    table = []
    for name in rules.service_model().operation_names:
        http = rules.operation(name).http
        path = http["requestUri"].split("?")[0]
        pattern = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(path))
        table.append((http["method"], re.compile(f"^{pattern}$"), name))
    return table


class LocalIvsRealtime:
    """The server: start/stop, state, injected faults. Use as a context manager in tests."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, quotas: dict[str, int] | None = None) -> None:
        self.state = IvsRealtimeState(quotas)
        self._faults: list[Fault] = []
        self._fault_lock = threading.Lock()
        self._routes = _routes()
        self._operations = self._operation_table()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "LocalIvsRealtime":
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-ivs-realtime", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "LocalIvsRealtime":
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
        for noun in ARN_SEGMENTS:
            key = noun[0].lower() + noun[1:]
            table[f"Create{noun}"] = lambda p, r, n=noun, k=key: {k: state.create(n, p, r)}
            table[f"Get{noun}"] = lambda p, r, n=noun, k=key: {k: state.get(n, p, r)}
            table[f"Delete{noun}"] = lambda p, r, n=noun: state.delete(n, p, r) or {}
            table[f"List{noun}s"] = lambda p, r, n=noun, k=key: {f"{k}s": state.list(n, p, r)}
        table["UpdateStage"] = lambda p, r: {"stage": state.update("Stage", p, r)}
        table["TagResource"] = lambda p, r: state.tag(p) or {}
        table["UntagResource"] = lambda p, r: state.untag(p) or {}
        table["ListTagsForResource"] = lambda p, r: {"tags": dict(state._find_any(p["resourceArn"])["tags"])}
        return table

    def handle(self, method: str, raw_path: str, body: bytes, headers: Any) -> tuple[int, dict[str, str], bytes]:
        """One API request in, (status, headers, body) out. Raises _DropConnection for that fault."""
        parsed = urllib.parse.urlsplit(raw_path)
        for route_method, pattern, name in self._routes:
            match = pattern.match(parsed.path)
            if route_method == method and match:
                break
        else:
            return _error_response(ApiError("UnknownOperationException", f"No route for {method} {parsed.path}", 404))
        with self.state.lock:
            self.state.calls.append(name)
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

    def _run(self, name: str, match: re.Match[str], query: str, body: bytes, headers: Any) -> dict[str, Any]:
        operation = rules.operation(name)
        params = _request_parameters(operation, match, query, body)
        problems = rules.check(operation.input_shape, params, name) if operation.input_shape else []
        if problems:
            raise ApiError("ValidationException", "; ".join(problems))
        implementation = self._operations.get(name)
        if implementation is None:
            raise ApiError("ValidationException", f"{name} is not implemented by the local endpoint")
        with self.state.lock:
            result = implementation(params, _region(headers))
            # Deep copy through JSON while the lock is held, shaped by the model's output.
            result = json.loads(json.dumps(result))
        return rules.project(operation.output_shape, result) if operation.output_shape else {}

    def handle_control(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """The test/CLI control plane: state, call log, faults, reset."""
        action = path[len(CONTROL_PREFIX):]
        if action == "state" and method == "GET":
            payload: Any = {"resources": self.state.snapshot(), "calls": list(self.state.calls)}
        elif action == "faults" and method == "POST":
            self.inject(*(Fault(**f) for f in json.loads(body or b"[]")))
            payload = {"faults": [asdict(f) for f in self._faults]}
        elif action == "reset" and method == "POST":
            self.clear_faults()
            with self.state.lock:
                self.state.resources.clear()
                self.state.calls.clear()
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


def _region(headers: Any) -> str:
    credential = re.search(r"Credential=[^/]+/\d+/([^/]+)/", headers.get("Authorization", "") or "")
    return credential.group(1) if credential else DEFAULT_REGION


def _error_response(error: ApiError) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": error.code}
    body = json.dumps({"__type": error.code, "message": error.message, "exceptionMessage": error.message})
    return error.status, headers, body.encode()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the local IVS Real-Time endpoint.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4599, help="port (default: 4599; 0 picks a free one)")
    args = parser.parse_args(argv)
    endpoint = LocalIvsRealtime(args.host, args.port)
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
