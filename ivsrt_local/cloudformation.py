"""CloudFormation at the local endpoint, as much as the provider needs: ``DescribeStackResources``
(the query protocol: ``Action=DescribeStackResources&Version=2010-05-15&...`` form-encoded,
POSTed to ``/``; an XML answer), which adoption asks to learn whether another stack still holds
a resource (``ivsrt_runtime.adopt.holder_of``). Requests are validated by botocore's own
``cloudformation`` model, and answers are shaped by its output shapes, as CloudFormation's.

What it answers from are the stacks the local runner deployed: the runner tells the endpoint
each stack's resources after each deploy and destroy (``publish``: ``POST /_local/stacks``), so
the endpoint, in-process or in a process of its own, knows what CloudFormation would list. A
destroyed stack (no resources left) is forgotten: a resource it retained is in no stack, and
asking for it gets CloudFormation's ``ValidationError`` ("Stack for <id> does not exist").
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from ivsrt_local import iam, json_services
from ivsrt_local.errors import ApiError
from ivsrt_local.stack_state import DeployError, StackState
from ivsrt_local.state import ACCOUNT_ID

CONTENT_TYPE = "application/x-www-form-urlencoded"  # what a query-protocol request is sent as
ENDPOINT_ENV = "AWS_ENDPOINT_URL_CLOUDFORMATION"
IVS_ENDPOINT_ENV = "AWS_ENDPOINT_URL_IVS_REALTIME"
STACKS_PATH = "/_local/stacks"


def stack_id(state: StackState) -> str:
    """The stack id the runner's events carry (``LocalDeployer._event``) and the endpoint lists."""
    return f"arn:aws:cloudformation:{state.region}:{ACCOUNT_ID}:stack/{state.stack_name}/local"


# ---------------------------------------------------------------------------------------------
# The runner's side: telling the endpoint its stacks
# ---------------------------------------------------------------------------------------------


def stack_payload(state: StackState) -> dict[str, Any]:
    """What ``POST /_local/stacks`` takes for one stack: its name, id, region, and each resource
    it holds by logical id (physical id, type, status)."""
    return {
        "stackName": state.stack_name,
        "stackId": stack_id(state),
        "region": state.region,
        "resources": {
            r.logical_id: {"physicalId": r.physical_id, "type": r.resource_type, "status": "CREATE_COMPLETE"}
            for r in state.resources.values()
        },
    }


def endpoint_url() -> str | None:
    """Where the handler asks CloudFormation (as ``deployer.lambda_environment`` sets it): the
    local endpoint, unless none is set."""
    return os.environ.get(ENDPOINT_ENV) or os.environ.get(IVS_ENDPOINT_ENV) or None


def publish(states: Iterable[StackState], url: str | None = None) -> None:
    """Tell the endpoint at ``url`` (default: ``endpoint_url()``) these stacks as they are now;
    one without resources is gone. Nothing is sent when no endpoint is set. A URL where no local
    endpoint answers is one line (``DeployError``): the handler's adoption checks would ask it."""
    url = url or endpoint_url()
    stacks = [stack_payload(state) for state in states]
    if not url or not stacks:
        return
    request = urllib.request.Request(
        url.rstrip("/") + STACKS_PATH,
        data=json.dumps({"stacks": stacks}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the endpoint's URL
            answer.read()
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise DeployError(
            f"the local endpoint at {url} did not take the stacks (POST {STACKS_PATH}: {reason}); "
            "CloudFormation's calls go there (python -m ivsrt_local endpoint)"
        ) from None


# ---------------------------------------------------------------------------------------------
# The endpoint's side
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Resource:
    logical_id: str
    physical_id: str
    resource_type: str
    status: str
    timestamp: float

    def answer(self, stack: _Stack) -> dict[str, Any]:
        return {
            "StackName": stack.name,
            "StackId": stack.stack_id,
            "LogicalResourceId": self.logical_id,
            "PhysicalResourceId": self.physical_id,
            "ResourceType": self.resource_type,
            "Timestamp": self.timestamp,
            "ResourceStatus": self.status,
            "DriftInformation": {"StackResourceDriftStatus": "NOT_CHECKED"},
        }


@dataclass(frozen=True)
class _Stack:
    stack_id: str
    name: str
    region: str
    resources: dict[str, _Resource]


class LocalCloudFormation:
    """The stacks the runner told, by stack id, and the one call answered from them."""

    def __init__(self, account: str) -> None:
        self.account = account
        self.lock = threading.Lock()
        self.stacks: dict[str, _Stack] = {}
        self.calls: list[str] = []  # "cloudformation:DescribeStackResources", ...

    def put(self, payload: dict[str, Any]) -> None:
        """One stack as ``stack_payload`` gives it; one without resources is forgotten (deleted).
        A resource whose physical id and status are unchanged keeps its timestamp."""
        now = time.time()
        with self.lock:
            old = self.stacks.pop(payload["stackId"], None)
            if not payload.get("resources"):
                return
            resources = {}
            for logical_id, r in payload["resources"].items():
                status = r.get("status", "CREATE_COMPLETE")
                before = old.resources.get(logical_id) if old else None
                same = before is not None and (before.physical_id, before.status) == (r["physicalId"], status)
                stamp = before.timestamp if same and before else now
                resources[logical_id] = _Resource(logical_id, r["physicalId"], r["type"], status, stamp)
            self.stacks[payload["stackId"]] = _Stack(payload["stackId"], payload["stackName"], payload["region"], resources)

    def clear(self) -> None:
        with self.lock:
            self.stacks.clear()
            self.calls.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {"stackId": s.stack_id, "stackName": s.name, "region": s.region, "resources": sorted(s.resources)}
                for s in self.stacks.values()
            ]

    def answer(self, body: bytes, headers: Any, region: str, enforcement: iam.Enforcement) -> tuple[int, dict[str, str], bytes]:
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        action = (form.get("Action") or [""])[0]
        with self.lock:
            self.calls.append(f"cloudformation:{action}")
        try:
            model = json_services.service_model("cloudformation")
            if action not in model.operation_names:
                raise ApiError("InvalidAction", f"The action {action} is not valid for this web service.", 400)
            if action != "DescribeStackResources":
                raise ApiError("InvalidAction", f"{action} is not implemented by the local endpoint", 400)
            shape = model.operation_model(action).input_shape
            params = {name: form[name][0] for name in shape.members if name in form}
            denied = enforcement.denial(headers, lambda: iam.cloudformation_request(action, params, region, self.account))
            if denied:
                raise ApiError("AccessDenied", denied, 403)
            report = json_services.validation_report("cloudformation", action, params)
            if report:
                raise ApiError("ValidationError", report, 400)
            with self.lock:
                result = self._describe_stack_resources(params, region)
        except ApiError as error:
            return error.status, {"Content-Type": "text/xml"}, _error_xml(error)
        return 200, {"Content-Type": "text/xml"}, _response_xml(action, result)

    def _describe_stack_resources(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        stack_name, physical_id = params.get("StackName"), params.get("PhysicalResourceId")
        if stack_name and physical_id:
            raise ApiError("ValidationError", "Either StackName or PhysicalResourceId must be specified, but not both", 400)
        if not stack_name and not physical_id:
            raise ApiError("ValidationError", "Either StackName or PhysicalResourceId must be specified", 400)
        stacks = [s for s in self.stacks.values() if s.region == region]
        if stack_name:
            found = next((s for s in stacks if stack_name in (s.name, s.stack_id)), None)
            if found is None:
                raise ApiError("ValidationError", f"Stack with id {stack_name} does not exist", 400)
        else:
            found = next((s for s in stacks if any(r.physical_id == physical_id for r in s.resources.values())), None)
            if found is None:
                raise ApiError("ValidationError", f"Stack for {physical_id} does not exist", 400)
        logical_id = params.get("LogicalResourceId")
        chosen = [r for r in found.resources.values() if logical_id in (None, r.logical_id)]
        return {"StackResources": [r.answer(found) for r in chosen]}


# ---------------------------------------------------------------------------------------------
# XML, as the query protocol answers
# ---------------------------------------------------------------------------------------------


def _response_xml(action: str, result: dict[str, Any]) -> bytes:
    """``<ActionResponse><ActionResult>...</ActionResult><ResponseMetadata>...`` shaped by the
    operation's output shape (its members' names, ``member`` for list items)."""
    model = json_services.service_model("cloudformation")
    output = model.operation_model(action).output_shape
    wrapper = output.serialization.get("resultWrapper", f"{action}Result")
    inner = "".join(_element(output.members[name], result[name], name) for name in output.members if name in result)
    namespace = model.metadata["xmlNamespace"]
    return (
        f'<{action}Response xmlns="{namespace}"><{wrapper}>{inner}</{wrapper}>'
        f"<ResponseMetadata><RequestId>{_request_id()}</RequestId></ResponseMetadata></{action}Response>"
    ).encode()


def _element(shape: Any, value: Any, name: str) -> str:
    tag = shape.serialization.get("name", name)
    if shape.type_name == "structure":
        inner = "".join(_element(shape.members[k], value[k], k) for k in shape.members if value.get(k) is not None)
    elif shape.type_name == "list":
        inner = "".join(_element(shape.member, item, shape.member.serialization.get("name", "member")) for item in value)
    elif shape.type_name == "timestamp":
        moment = datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
        inner = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    elif shape.type_name == "boolean":
        inner = "true" if value else "false"
    else:
        inner = escape(str(value))
    return f"<{tag}>{inner}</{tag}>"


def _error_xml(error: ApiError) -> bytes:
    namespace = json_services.service_model("cloudformation").metadata["xmlNamespace"]
    return (
        f'<ErrorResponse xmlns="{namespace}"><Error><Type>Sender</Type><Code>{escape(error.code)}</Code>'
        f"<Message>{escape(error.message)}</Message></Error><RequestId>{_request_id()}</RequestId></ErrorResponse>"
    ).encode()


def _request_id() -> str:
    raw = secrets.token_hex(16)
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
