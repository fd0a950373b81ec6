"""An IVS Real-Time API error, as the local endpoint answers it: the code, the message, and the
HTTP status the model declares for the code."""

from __future__ import annotations

import json

from ivsrt_runtime import rules


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


def error_response(error: ApiError) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": error.code}
    body = json.dumps({"__type": error.code, "message": error.message, "exceptionMessage": error.message})
    return error.status, headers, body.encode()
