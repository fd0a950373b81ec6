"""AWS Systems Manager Parameter Store at the local endpoint, as much as the provider's desired
state and the drift detector need: ``PutParameter``, ``GetParameter``, ``GetParametersByPath``
and ``DeleteParameter`` (``X-Amz-Target: AmazonSSM.<Operation>``, JSON 1.1), validated by
botocore's own ``ssm`` model as the KMS calls are by theirs.

Parameter Store's rules that matter here are kept: a String parameter of at most 4096 bytes in
the Standard tier and 8192 in the Advanced one, ``Overwrite`` needed to replace one (else
``ParameterAlreadyExists``), an Advanced parameter never goes back to Standard, pages of at most
10 (``GetParametersByPath``), and ``ParameterNotFound`` for a name that is not there. Parameters
are kept per region, as SSM keeps them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ivsrt_local import iam, json_services
from ivsrt_local.errors import ApiError, error_response

TARGET_PREFIX = "AmazonSSM."
TIER_BYTES = {"Standard": 4096, "Advanced": 8192}
PAGE_SIZE = 10


@dataclass
class _Parameter:
    name: str
    value: str
    type: str
    tier: str
    version: int
    modified: float

    def answer(self, region: str, account: str) -> dict[str, Any]:
        return {
            "Name": self.name,
            "Type": self.type,
            "Value": self.value,
            "Version": self.version,
            "LastModifiedDate": self.modified,
            "DataType": "text",
            "ARN": f"arn:aws:ssm:{region}:{account}:parameter/{self.name.lstrip('/')}",
        }


class LocalSsm:
    """The parameters, by region and name, and the operations on them."""

    def __init__(self, account: str) -> None:
        self.account = account
        self.lock = threading.Lock()
        self.parameters: dict[tuple[str, str], _Parameter] = {}  # (region, name) -> parameter
        # The calls received ("ssm:PutParameter", ...): apart from the IVS calls (``state.calls``),
        # whose exact sequences the lifecycle tests assert.
        self.calls: list[str] = []
        self._operations: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
            "PutParameter": self._put,
            "GetParameter": lambda params, region: {"Parameter": self._find(params["Name"], region).answer(region, self.account)},
            "GetParametersByPath": self._by_path,
            "DeleteParameter": self._delete,
        }

    def answer(
        self, target: str, body: bytes, headers: Any, region: str, enforcement: iam.Enforcement
    ) -> tuple[int, dict[str, str], bytes]:
        name = target.removeprefix(TARGET_PREFIX)
        with self.lock:
            self.calls.append(f"ssm:{name}")
        try:
            params = json.loads(body or b"{}")
            denied = enforcement.denial(headers, lambda: iam.ssm_request(name, params, region, self.account))
            if denied:
                raise ApiError("AccessDeniedException", denied, 400)
            implementation = self._operations.get(name)
            if implementation is None:
                raise ApiError("UnsupportedOperationException", f"{name} is not implemented by the local endpoint", 400)
            report = json_services.validation_report("ssm", name, params)
            if report:
                raise ApiError("ValidationException", report, 400)
            with self.lock:
                result = implementation(params, region)
        except ApiError as error:
            return error_response(error)
        return 200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(result).encode()

    def _find(self, name: str, region: str) -> _Parameter:
        found = self.parameters.get((region, name))
        if found is None:
            raise ApiError("ParameterNotFound", f"Parameter {name} not found.", 400)
        return found

    def _put(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        name, value = params["Name"], params["Value"]
        existing = self.parameters.get((region, name))
        if existing is not None and not params.get("Overwrite"):
            raise ApiError(
                "ParameterAlreadyExists",
                "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
                400,
            )
        tier = params.get("Tier") or (existing.tier if existing else "Standard")
        if existing is not None and existing.tier == "Advanced" and tier == "Standard":
            raise ApiError(
                "ValidationException",
                "This parameter uses the advanced-parameter tier. You can't "
                "downgrade a parameter from the advanced-parameter tier to the standard-parameter tier.",
                400,
            )
        if len(value.encode()) > TIER_BYTES.get(tier, TIER_BYTES["Standard"]):
            raise ApiError(
                "ValidationException",
                f"Standard tier parameters support a maximum parameter value of "
                f"{TIER_BYTES['Standard']} characters. To create a larger parameter value, upgrade the "
                "parameter to use the advanced-parameter tier.",
                400,
            )
        version = existing.version + 1 if existing else 1
        kind = params.get("Type") or (existing.type if existing else "String")
        self.parameters[(region, name)] = _Parameter(name, value, kind, tier, version, time.time())
        return {"Version": version, "Tier": tier}

    def _delete(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        del self.parameters[(region, self._find(params["Name"], region).name)]
        return {}

    def _by_path(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        path = params["Path"].rstrip("/") + "/"
        recursive = params.get("Recursive", False)
        names = sorted(
            name
            for (where, name) in self.parameters
            if where == region and name.startswith(path) and (recursive or "/" not in name[len(path) :])
        )
        start = int(params.get("NextToken") or 0)
        size = min(params.get("MaxResults") or PAGE_SIZE, PAGE_SIZE)
        page = names[start : start + size]
        result: dict[str, Any] = {"Parameters": [self.parameters[(region, n)].answer(region, self.account) for n in page]}
        if start + size < len(names):
            result["NextToken"] = str(start + size)
        return result
