"""The IVS Real-Time client every function of this package uses: one per execution environment.

Importing this module prepares botocore for the function: the shipped model on its search path
and its wire-level loggers kept quiet (they would log secrets at DEBUG).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from botocore.loaders import Loader

from ivsrt_runtime import rules
from ivsrt_runtime.rules import MODEL_DIR

ENDPOINT_ENV = "AWS_ENDPOINT_URL_IVS_REALTIME"
KMS_ENDPOINT_ENV = "AWS_ENDPOINT_URL_KMS"
SSM_ENDPOINT_ENV = "AWS_ENDPOINT_URL_SSM"
CLOUDFORMATION_ENDPOINT_ENV = "AWS_ENDPOINT_URL_CLOUDFORMATION"
CLOUDWATCH_ENDPOINT_ENV = "AWS_ENDPOINT_URL_CLOUDWATCH"
EVENTS_ENDPOINT_ENV = "AWS_ENDPOINT_URL_EVENTBRIDGE"

# The Lambda runtime's bundled botocore may predate fields this project uses: put the model we
# ship on botocore's search path before the first session reads it. AWS_DATA_PATH is searched
# before botocore's bundled data; a value the operator set is kept, and searched before ours.
_MODEL_DIR = str(MODEL_DIR)
_existing_data_path = os.environ.get("AWS_DATA_PATH")
if not _existing_data_path or _MODEL_DIR not in _existing_data_path.split(os.pathsep):
    os.environ["AWS_DATA_PATH"] = os.pathsep.join(p for p in (_existing_data_path, _MODEL_DIR) if p)

# At DEBUG, botocore logs whole response bodies, and a stream key or participant token would go
# with them. Keep its wire-level loggers at INFO whatever level the function runs at.
for _wire_logger in ("botocore.parsers", "botocore.endpoint", "botocore.hooks", "urllib3"):
    logging.getLogger(_wire_logger).setLevel(logging.INFO)

# One client per execution environment and endpoint. Lambda runs one invocation at a time in an
# environment, so per thread is the same thing there; a local runner that plays many
# environments with threads gets one client (and connection pool) each, as Lambda would.
_environment = threading.local()
# Clients come from one session, one at a time: botocore's session is not safe to build clients
# from in several threads at once, and a session per environment would load the models again
# (about 75 ms each, against 30 ms for a client).
_session_lock = threading.Lock()
_session: Any = None


def ivs_client(endpoint_url: str | None = None) -> Any:
    """The IVS Real-Time client: one attempt per call (``lifecycle.call`` retries, until the
    function's deadline), bounded timeouts."""
    return _client("ivs-realtime", endpoint_url or os.environ.get(ENDPOINT_ENV) or None, attempts=1)


def kms_client() -> Any:
    """The KMS client (a signing key's public half, and signing). botocore's own retries
    (standard mode): KMS's quotas are not the ones lifecycle.call waits out."""
    return _client("kms", os.environ.get(KMS_ENDPOINT_ENV) or None, attempts=5)


def ssm_client() -> Any:
    """The SSM client of the desired state (``desired.py``): one attempt per call, as ``calls.call``
    retries (Parameter Store's throughput quota is shared by the account, like IVS's)."""
    return _client("ssm", os.environ.get(SSM_ENDPOINT_ENV) or None, attempts=1)


def cloudformation_client() -> Any:
    """The CloudFormation client of the drift detector (its stacks' resources): one attempt per
    call, as ``calls.call`` retries."""
    return _client("cloudformation", os.environ.get(CLOUDFORMATION_ENDPOINT_ENV) or None, attempts=1)


def cloudwatch_client() -> Any:
    """The CloudWatch client of DriftWatch's metrics (``PutMetricData``): one attempt per call, as
    ``calls.call`` retries."""
    return _client("cloudwatch", os.environ.get(CLOUDWATCH_ENDPOINT_ENV) or None, attempts=1)


def events_client() -> Any:
    """The EventBridge client of DriftWatch's events (``PutEvents``): one attempt per call, as
    ``calls.call`` retries."""
    return _client("events", os.environ.get(EVENTS_ENDPOINT_ENV) or None, attempts=1)


def _client(service: str, endpoint_url: str | None, attempts: int) -> Any:
    """The one place a client is built: one per execution environment, service, endpoint and
    region, with bounded timeouts.

    Built lazily: the first request pays for boto3, not the import. The endpoint variables are
    read explicitly because the runtime's botocore may be too old to honour service-specific
    endpoint variables by itself.
    """
    global _session
    key = (service, endpoint_url, os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    clients = _environment.__dict__.setdefault("clients", {})
    if key not in clients:
        import boto3
        from botocore.config import Config

        config = Config(
            # total_max_attempts counts the first call; the legacy "max_attempts" key would mean
            # that many retries (one call more).
            retries={"mode": "standard", "total_max_attempts": attempts},
            connect_timeout=5,
            read_timeout=30,
            user_agent_extra="constructs-ivsrt",
        )
        with _session_lock:
            _session = _session or boto3.session.Session(botocore_session=_botocore_session())
            clients[key] = _session.client(service, endpoint_url=endpoint_url, config=config)
    return clients[key]


# The Parameter Store operations the runtime calls (the desired state, a signing key's ring, the
# drift detector): the runtime's session reads a model of these alone (scripts/trim_model.py makes
# it from botocore's), not botocore's whole ssm model.
SSM_OPERATIONS = ("PutParameter", "GetParameter", "DeleteParameter", "GetParametersByPath")
SSM_API_VERSION = "2014-11-06"
TRIMMED_SSM_MODEL = Path(__file__).parent / "trimmed_models" / f"ssm-{SSM_API_VERSION}.json"


class _ShippedModelLoader(Loader):
    """botocore's data loader, except for ivs-realtime's files while the ones it would read are
    ours (first on AWS_DATA_PATH, above): the service model is the JSON the rules already parsed,
    not a second copy, and no file is looked for by listing every service botocore knows first
    (about 8 ms a file type): the two were most of what the handler's first request cost beyond
    boto3's."""

    def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
        if (service_name, type_name, api_version or SSM_API_VERSION) == ("ssm", "service-2", SSM_API_VERSION):
            # Parameter Store: the operations the runtime calls (SSM_OPERATIONS), 1/35 of the JSON.
            return json.loads(TRIMMED_SSM_MODEL.read_text())
        if service_name == rules.SERVICE_NAME and self._reads_ours(type_name, api_version):
            if type_name == "service-2":
                return rules.service_description()
            return self.load_data(os.path.join(service_name, rules.API_VERSION, type_name))
        return super().load_service_model(service_name, type_name, api_version)

    def _reads_ours(self, type_name: str, api_version: str | None) -> bool:
        version = api_version or self.determine_latest_version(rules.SERVICE_NAME, type_name)
        found = next(
            (
                path
                for path in self.search_paths
                if self.file_loader.exists(os.path.join(path, rules.SERVICE_NAME, version, type_name))
            ),
            None,
        )
        return version == rules.API_VERSION and found == _MODEL_DIR


def _botocore_session() -> Any:
    """A botocore session whose data loader is ``_ShippedModelLoader`` on the search path botocore
    would use (``botocore.loaders.create_loader`` of AWS_DATA_PATH)."""
    import botocore.session

    session = botocore.session.Session()
    data_path = session.get_config_variable("data_path")
    paths = [os.path.expanduser(os.path.expandvars(path)) for path in data_path.split(os.pathsep)] if data_path else []
    session.register_component("data_loader", _ShippedModelLoader(extra_search_paths=paths))
    return session
