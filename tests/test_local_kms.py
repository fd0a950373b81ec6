"""The local endpoint's KMS: the operations a participant-token signing key uses, through real
boto3 over HTTP, with signatures checked by `cryptography`."""

from __future__ import annotations

import hashlib
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed


@pytest.fixture
def kms(ivs):
    return boto3.client("kms", endpoint_url=ivs.url, config=Config(retries={"total_max_attempts": 1}))


@pytest.fixture
def key_arn(kms):
    metadata = kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY", Description="tokens")["KeyMetadata"]
    assert (metadata["KeySpec"], metadata["KeyUsage"], metadata["SigningAlgorithms"]) == (
        "ECC_NIST_P384",
        "SIGN_VERIFY",
        ["ECDSA_SHA_384"],
    )
    assert metadata["Arn"] == f"arn:aws:kms:us-east-1:123456789012:key/{metadata['KeyId']}"
    return metadata["Arn"]


def test_a_raw_message_and_a_digest_are_signed_with_ecdsa_p384(kms, key_arn):
    answer = kms.get_public_key(KeyId=key_arn)
    public_key = serialization.load_der_public_key(answer["PublicKey"])
    assert isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name == "secp384r1"
    message = b"header.payload"
    raw = kms.sign(KeyId=key_arn, Message=message, MessageType="RAW", SigningAlgorithm="ECDSA_SHA_384")
    public_key.verify(raw["Signature"], message, ec.ECDSA(hashes.SHA384()))  # raises if wrong
    digest = hashlib.sha384(message).digest()
    signed = kms.sign(KeyId=key_arn, Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_384")
    public_key.verify(signed["Signature"], digest, ec.ECDSA(Prehashed(hashes.SHA384())))
    with pytest.raises(InvalidSignature):
        public_key.verify(raw["Signature"], b"another message", ec.ECDSA(hashes.SHA384()))
    assert kms.describe_key(KeyId=key_arn.rsplit("/", 1)[1])["KeyMetadata"]["Arn"] == key_arn


@pytest.mark.parametrize(
    "call, code",
    [
        (lambda kms, arn: kms.sign(KeyId=arn + "0", Message=b"m", SigningAlgorithm="ECDSA_SHA_384"), "NotFoundException"),
        (lambda kms, arn: kms.sign(KeyId=arn, Message=b"m", SigningAlgorithm="ECDSA_SHA_256"), "InvalidKeyUsageException"),
        (
            lambda kms, arn: kms.sign(KeyId=arn, Message=b"short", MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_384"),
            "ValidationException",
        ),
        (lambda kms, arn: kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY"), "UnsupportedOperationException"),
        (lambda kms, arn: kms.encrypt(KeyId=arn, Plaintext=b"m"), "UnsupportedOperationException"),
    ],
    ids=["unknown-key", "other-algorithm", "short-digest", "other-key-spec", "unsupported-operation"],
)
def test_what_kms_refuses_is_refused_with_its_error_code(kms, key_arn, call, code):
    with pytest.raises(ClientError) as caught:
        call(kms, key_arn)
    assert caught.value.response["Error"]["Code"] == code


def _refusal(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_a_raw_message_is_at_most_4096_bytes_and_a_digest_exactly_48_as_kms_has_them(kms, key_arn):
    """KMS's limits and words: the model's 4096-byte maximum for Message (which botocore does not
    check), and a digest of the algorithm's length (SHA-384: 48 bytes)."""

    def sign(message: bytes, kind: str):
        return kms.sign(KeyId=key_arn, Message=message, MessageType=kind, SigningAlgorithm="ECDSA_SHA_384")

    assert sign(bytes(4096), "RAW")["Signature"]
    assert _refusal(lambda: sign(bytes(4097), "RAW")) == (
        "ValidationException",
        "1 validation error detected: Value at 'message' failed to satisfy constraint: "
        "Member must have length less than or equal to 4096",
    )
    assert sign(bytes(48), "DIGEST")["Signature"]
    for length in (32, 47, 49, 64):
        assert _refusal(lambda length=length: sign(bytes(length), "DIGEST")) == (
            "ValidationException",
            "Digest is invalid length for algorithm ECDSA_SHA_384.",
        )


def test_a_key_scheduled_for_deletion_is_pending_deletion_and_signs_nothing(kms, key_arn):
    scheduled = kms.schedule_key_deletion(KeyId=key_arn, PendingWindowInDays=7)
    assert (scheduled["KeyId"], scheduled["KeyState"], scheduled["PendingWindowInDays"]) == (key_arn, "PendingDeletion", 7)
    assert (scheduled["DeletionDate"].timestamp() - time.time()) == pytest.approx(7 * 86400, abs=60)
    metadata = kms.describe_key(KeyId=key_arn)["KeyMetadata"]
    assert (metadata["KeyState"], metadata["Enabled"], metadata["DeletionDate"]) == (
        "PendingDeletion",
        False,
        scheduled["DeletionDate"],
    )
    refused = ("KMSInvalidStateException", f"{key_arn} is pending deletion.")
    assert (
        _refusal(lambda: kms.sign(KeyId=key_arn, Message=bytes(48), MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_384"))
        == refused
    )
    assert _refusal(lambda: kms.get_public_key(KeyId=key_arn)) == refused
    assert _refusal(lambda: kms.schedule_key_deletion(KeyId=key_arn)) == refused


def test_the_waiting_period_is_7_to_30_days_and_30_by_default(kms, key_arn):
    for days in (6, 31):
        assert _refusal(lambda days=days: kms.schedule_key_deletion(KeyId=key_arn, PendingWindowInDays=days)) == (
            "ValidationException",
            f"PendingWindowInDays must be between 7 and 30, got: {days}",
        )
    assert kms.describe_key(KeyId=key_arn)["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.schedule_key_deletion(KeyId=key_arn)["PendingWindowInDays"] == 30
