"""AWS KMS at the local endpoint, as much as participant-token signing needs: ``CreateKey``,
``GetPublicKey`` and ``Sign`` for ECC_NIST_P384 SIGN_VERIFY keys, ``DescribeKey``, and
``ScheduleKeyDeletion`` (what CloudFormation calls when a key is deleted).

KMS's limits are kept, so that what KMS would refuse is refused here too: a RAW message of at
most 4096 bytes (the model's), a DIGEST of exactly the algorithm's length (48 bytes for
ECDSA_SHA_384), and no Sign or GetPublicKey with a key pending deletion (KMSInvalidStateException).
The messages are KMS's own words.

moto has a KMS, but it is a whole mock of AWS to run beside this endpoint; these operations
are what the signing key uses, driven by botocore's own ``kms`` model as the IVS operations are
by theirs (input validation, output shapes), with real ECDSA P-384 from ``cryptography``. The
private keys never leave this process, as they never leave KMS.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from botocore.model import ServiceModel
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from ivsrt_local import iam, json_services
from ivsrt_local.errors import ApiError, error_response

TARGET_PREFIX = "TrentService."  # X-Amz-Target of a KMS request: TrentService.<Operation>
KEY_SPEC = "ECC_NIST_P384"
KEY_USAGE = "SIGN_VERIFY"
SIGNING_ALGORITHM = "ECDSA_SHA_384"
DIGEST_BYTES = 48  # a SHA-384 digest, for MessageType DIGEST
# ScheduleKeyDeletion's waiting period: KMS allows 7 to 30 days (the model says 1 to 365), 30 by default.
PENDING_WINDOW_DAYS = (7, 30)
DEFAULT_PENDING_WINDOW_DAYS = 30


class KmsError(Exception):
    """A KMS error response: its code, message and HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def service_model() -> ServiceModel:
    """The kms model of the installed botocore."""
    return json_services.service_model("kms")


@dataclass
class _Key:
    arn: str
    key_id: str
    private_key: ec.EllipticCurvePrivateKey
    created: float
    description: str
    deletion_date: float | None = None  # set by ScheduleKeyDeletion (the end of the waiting period)

    @property
    def state(self) -> str:
        """The KeyState: a scheduled deletion is not carried out here, the key stays PendingDeletion."""
        return "Enabled" if self.deletion_date is None else "PendingDeletion"

    def metadata(self, account: str) -> dict[str, Any]:
        return {
            "AWSAccountId": account,
            "KeyId": self.key_id,
            "Arn": self.arn,
            "CreationDate": self.created,
            "Enabled": self.state == "Enabled",
            "Description": self.description,
            "KeyUsage": KEY_USAGE,
            "KeyState": self.state,
            "Origin": "AWS_KMS",
            "KeyManager": "CUSTOMER",
            "CustomerMasterKeySpec": KEY_SPEC,
            "KeySpec": KEY_SPEC,
            "SigningAlgorithms": [SIGNING_ALGORITHM],
            "MultiRegion": False,
            **({"DeletionDate": self.deletion_date} if self.deletion_date is not None else {}),
        }

    def usable(self) -> _Key:
        """The key, if its state lets it be used (Sign, GetPublicKey); else KMS's refusal."""
        if self.state == "PendingDeletion":
            raise KmsError("KMSInvalidStateException", f"{self.arn} is pending deletion.")
        return self


class LocalKms:
    """The keys, and the operations on them."""

    def __init__(self, account: str) -> None:
        self.account = account
        self.lock = threading.Lock()
        self.keys: dict[str, _Key] = {}  # key ARN -> key
        self._operations: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
            "CreateKey": self._create_key,
            "DescribeKey": lambda params, region: {"KeyMetadata": self._find(params["KeyId"]).metadata(self.account)},
            "GetPublicKey": self._get_public_key,
            "ScheduleKeyDeletion": self._schedule_key_deletion,
            "Sign": self._sign,
        }

    def handle(self, target: str, body: dict[str, Any], region: str) -> dict[str, Any]:
        """One request (``X-Amz-Target`` and its JSON body) in, the response's JSON out."""
        name = target.removeprefix(TARGET_PREFIX)
        implementation = self._operations.get(name)
        if implementation is None:
            raise KmsError("UnsupportedOperationException", f"{name} is not implemented by the local endpoint")
        operation = service_model().operation_model(name)
        params = _decode_blobs(operation.input_shape, body)
        report = json_services.validation_report("kms", name, params)
        if report:
            raise KmsError("ValidationException", report)
        too_long = _length_violations(operation.input_shape, params)
        if too_long:  # botocore checks no maximum; KMS does, before anything else
            count = f"{len(too_long)} validation error{'s' if len(too_long) > 1 else ''} detected"
            raise KmsError("ValidationException", f"{count}: {'; '.join(too_long)}")
        with self.lock:
            return implementation(params, region)

    def answer(
        self, target: str, body: bytes, headers: Any, region: str, enforcement: iam.Enforcement
    ) -> tuple[int, dict[str, str], bytes]:
        """A KMS request (JSON protocol: the operation is in X-Amz-Target), for the signing key."""
        try:
            params = json.loads(body or b"{}")
            denied = enforcement.denial(
                headers, lambda: iam.kms_request(target.removeprefix(TARGET_PREFIX), params, region, self.account)
            )
            if denied:  # KMS answers it with HTTP 400, as its other client errors
                raise KmsError("AccessDeniedException", denied)
            result = self.handle(target, params, region)
        except KmsError as error:
            return error_response(ApiError(error.code, error.message, error.status))
        return 200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(result).encode()

    def _find(self, key_id: str) -> _Key:
        for key in self.keys.values():
            if key_id in (key.arn, key.key_id):
                return key
        raise KmsError("NotFoundException", f"Key '{key_id}' does not exist")

    def _create_key(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        spec, usage = params.get("KeySpec", "SYMMETRIC_DEFAULT"), params.get("KeyUsage", "ENCRYPT_DECRYPT")
        if (spec, usage) != (KEY_SPEC, KEY_USAGE):
            raise KmsError(
                "UnsupportedOperationException", f"the local endpoint makes {KEY_SPEC} {KEY_USAGE} keys only, got: {spec} {usage}"
            )
        key_id = str(uuid.uuid4())
        key = _Key(
            f"arn:aws:kms:{region}:{self.account}:key/{key_id}",
            key_id,
            ec.generate_private_key(ec.SECP384R1()),
            time.time(),
            params.get("Description", ""),
        )
        self.keys[key.arn] = key
        return {"KeyMetadata": key.metadata(self.account)}

    def _get_public_key(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        key = self._find(params["KeyId"]).usable()
        der = key.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {
            "KeyId": key.arn,
            "PublicKey": base64.b64encode(der).decode(),
            "CustomerMasterKeySpec": KEY_SPEC,
            "KeySpec": KEY_SPEC,
            "KeyUsage": KEY_USAGE,
            "SigningAlgorithms": [SIGNING_ALGORITHM],
        }

    def _schedule_key_deletion(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        key = self._find(params["KeyId"]).usable()  # a second schedule is refused as pending deletion
        days = params.get("PendingWindowInDays", DEFAULT_PENDING_WINDOW_DAYS)
        low, high = PENDING_WINDOW_DAYS
        if not low <= days <= high:
            raise KmsError("ValidationException", f"PendingWindowInDays must be between {low} and {high}, got: {days}")
        key.deletion_date = time.time() + days * 86400
        return {"KeyId": key.arn, "DeletionDate": key.deletion_date, "KeyState": key.state, "PendingWindowInDays": days}

    def _sign(self, params: dict[str, Any], region: str) -> dict[str, Any]:
        key = self._find(params["KeyId"]).usable()
        if params["SigningAlgorithm"] != SIGNING_ALGORITHM:
            raise KmsError(
                "InvalidKeyUsageException", f"{key.arn} signs with {SIGNING_ALGORITHM} only, got: {params['SigningAlgorithm']}"
            )
        message, kind = params["Message"], params.get("MessageType", "RAW")
        if kind == "DIGEST" and len(message) != DIGEST_BYTES:
            raise KmsError("ValidationException", f"Digest is invalid length for algorithm {SIGNING_ALGORITHM}.")
        algorithm = ec.ECDSA(Prehashed(hashes.SHA384()) if kind == "DIGEST" else hashes.SHA384())
        signature = key.private_key.sign(message, algorithm)  # DER, as KMS returns it
        return {"KeyId": key.arn, "Signature": base64.b64encode(signature).decode(), "SigningAlgorithm": SIGNING_ALGORITHM}


def _length_violations(shape: Any, params: dict[str, Any]) -> list[str]:
    """The top-level strings and blobs longer than the model allows, as KMS words it (member
    names in lower camel case): a Sign's RAW Message over 4096 bytes, say."""
    violations = []
    for name, member in shape.members.items():
        limit = member.metadata.get("max")
        if member.type_name in ("string", "blob") and limit is not None and len(params.get(name) or "") > limit:
            violations.append(
                f"Value at '{name[0].lower()}{name[1:]}' failed to satisfy constraint: "
                f"Member must have length less than or equal to {limit}"
            )
    return violations


def _decode_blobs(shape: Any, body: dict[str, Any]) -> dict[str, Any]:
    """The JSON protocol sends blobs as base64 strings; the validator and the operations want bytes."""
    decoded = dict(body)
    for name, member in shape.members.items():
        if member.type_name == "blob" and isinstance(decoded.get(name), str):
            try:
                decoded[name] = base64.b64decode(decoded[name], validate=True)
            except ValueError:
                raise KmsError("ValidationException", f"{name} must be base64") from None
    return decoded


# ---------------------------------------------------------------------------------------------
# The deploy runner's KMS keys: a stack's signing key, made at the local endpoint
# ---------------------------------------------------------------------------------------------

KEY_RESOURCE_TYPE = "AWS::KMS::Key"


def is_signing_key(definition: dict[str, Any]) -> bool:
    """A template resource the local runner deploys as a KMS key: the kind a participant-token
    signing key is (other keys are not deployed, as other resources are not)."""
    properties = definition.get("Properties", {})
    return definition.get("Type") == KEY_RESOURCE_TYPE and (properties.get("KeySpec"), properties.get("KeyUsage")) == (
        KEY_SPEC,
        KEY_USAGE,
    )


def on_key_event(event: dict[str, Any], kms_client: Any) -> dict[str, Any]:
    """CloudFormation's part for a signing key, against the local endpoint's KMS: a Create makes
    the key (physical id: its id; attribute Arn), an Update changes nothing that signs, a Delete
    schedules the key's deletion (``PendingWindowInDays``, 30 days by default), as
    CloudFormation does; a key already gone or pending deletion is deleted already."""
    if event["RequestType"] == "Create":
        metadata = kms_client.create_key(KeySpec=KEY_SPEC, KeyUsage=KEY_USAGE)["KeyMetadata"]
        return {"PhysicalResourceId": metadata["KeyId"], "Data": {"Arn": metadata["Arn"]}}
    if event["RequestType"] == "Update":
        metadata = kms_client.describe_key(KeyId=event["PhysicalResourceId"])["KeyMetadata"]
        return {"PhysicalResourceId": metadata["KeyId"], "Data": {"Arn": metadata["Arn"]}}
    window = int(event.get("ResourceProperties", {}).get("PendingWindowInDays", DEFAULT_PENDING_WINDOW_DAYS))
    try:
        kms_client.schedule_key_deletion(KeyId=event["PhysicalResourceId"], PendingWindowInDays=window)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("NotFoundException", "KMSInvalidStateException"):
            raise
    return {"PhysicalResourceId": event["PhysicalResourceId"]}
