"""The local endpoint's KMS: the operations a participant-token signing key uses, through real
boto3 over HTTP, with signatures checked by `cryptography`."""

from __future__ import annotations

import hashlib

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
        "ECC_NIST_P384", "SIGN_VERIFY", ["ECDSA_SHA_384"])
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


@pytest.mark.parametrize("call, code", [
    (lambda kms, arn: kms.sign(KeyId=arn + "0", Message=b"m", SigningAlgorithm="ECDSA_SHA_384"), "NotFoundException"),
    (lambda kms, arn: kms.sign(KeyId=arn, Message=b"m", SigningAlgorithm="ECDSA_SHA_256"), "InvalidKeyUsageException"),
    (lambda kms, arn: kms.sign(KeyId=arn, Message=b"short", MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_384"),
     "ValidationException"),
    (lambda kms, arn: kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY"), "UnsupportedOperationException"),
    (lambda kms, arn: kms.encrypt(KeyId=arn, Plaintext=b"m"), "UnsupportedOperationException"),
], ids=["unknown-key", "other-algorithm", "short-digest", "other-key-spec", "unsupported-operation"])
def test_what_kms_refuses_is_refused_with_its_error_code(kms, key_arn, call, code):
    with pytest.raises(ClientError) as caught:
        call(kms, key_arn)
    assert caught.value.response["Error"]["Code"] == code
