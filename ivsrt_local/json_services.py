"""What the endpoint's JSON-protocol services (KMS, SSM) share: botocore's model of each, and a
request checked against it as the service checks it, before anything is done."""

from __future__ import annotations

import functools
from typing import Any

import botocore.session
from botocore.model import ServiceModel
from botocore.validate import ParamValidator


@functools.cache
def service_model(service: str) -> ServiceModel:
    """The installed botocore's model of ``service`` ("kms", "ssm")."""
    return botocore.session.get_session().get_service_model(service)


def validation_report(service: str, operation: str, params: dict[str, Any]) -> str | None:
    """What botocore's validator finds wrong with ``params`` for ``operation`` (types, required
    members, minimums), as the service's ValidationException words it; None when nothing."""
    report = ParamValidator().validate(params, service_model(service).operation_model(operation).input_shape)
    return report.generate_report() if report.has_errors() else None
