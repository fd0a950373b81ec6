"""Participant tokens the stage owner signs with KMS (ivsrt_runtime.signing), checked by the local
endpoint as IVS checks them when a participant joins: the right key, the right stage, in time."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import time

import aws_cdk as cdk
import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import PUBLIC_KEY, STAGE, make
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ivsrt_local.tokens import TokenRefused
from ivsrt_runtime import key_ring, signer
from ivsrt_runtime.calls import Request, RequestFailed
from ivsrt_runtime.keys import pem
from ivsrt_runtime.rules import operation
from ivsrt_runtime.signing import PARTICIPANT_ID, TokenRequestError, jws_signature, sign_participant_token


@pytest.fixture
def kms(ivs, monkeypatch):
    return boto3.client("kms", endpoint_url=ivs.url, config=Config(retries={"total_max_attempts": 1}))


def _signing_key(kms, cfn, name: str) -> tuple[str, str]:
    """A KMS key, and the ARN of its public half imported into IVS (as the provider will do)."""
    key = kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    material = pem(kms.get_public_key(KeyId=key)["PublicKey"])
    return key, make(cfn, PUBLIC_KEY, {"name": name, "publicKeyMaterial": material})


@pytest.fixture
def stage(cfn):
    created = cfn.create(STAGE, {"name": "town-hall"})
    return created["PhysicalResourceId"], created["Data"]


def _sign(kms, key, public_key, stage, **kw):
    arn, data = stage
    return sign_participant_token(
        kms,
        key_id=key,
        public_key_arn=public_key,
        stage_arn=arn,
        whip_url=data["WhipEndpoint"],
        events_url=data["EventsEndpoint"],
        **kw,
    )


def test_a_signed_token_admits_its_holder_with_no_ivs_call(ivs, cfn, kms, stage):
    key, public_key = _signing_key(kms, cfn, "signer")
    calls = len(ivs.state.calls)
    signed = _sign(
        kms,
        key,
        public_key,
        stage,
        user_id="ada",
        attributes={"displayName": "Ada"},
        capabilities=["SUBSCRIBE"],
        duration_minutes=60,
    )
    assert ivs.state.calls[calls:] == ["kms:Sign"]  # no IVS call per token
    participant = ivs.join(stage[0], signed.token)
    assert participant == {
        "participantId": signed.participant_id,
        "userId": "ada",
        "attributes": {"displayName": "Ada"},
        "capabilities": ["SUBSCRIBE"],
        "expirationTime": signed.expiration_time,
    }
    assert signed.expiration_time - time.time() == pytest.approx(3600, abs=5)


def test_a_token_signed_by_another_key_expired_or_for_another_stage_is_refused(ivs, cfn, kms, stage):
    key, public_key = _signing_key(kms, cfn, "signer")
    other_key, _ = _signing_key(kms, cfn, "other")
    other_stage = cfn.create(STAGE, {"name": "backstage"})["PhysicalResourceId"]
    forged = _sign(kms, other_key, public_key, stage)  # claims the imported key, signed by another
    with pytest.raises(TokenRefused, match=f"the signature does not verify with {public_key}"):
        ivs.join(stage[0], forged.token)
    expired = _sign(kms, key, public_key, stage, duration_minutes=60, now=time.time() - 7200)
    with pytest.raises(TokenRefused, match="expired at"):
        ivs.join(stage[0], expired.token)
    valid = _sign(kms, key, public_key, stage)
    with pytest.raises(TokenRefused, match=f"the token is for {stage[0]}, not {other_stage}"):
        ivs.join(other_stage, valid.token)
    not_imported = _sign(kms, key, public_key.replace("public-key/", "public-key/x"), stage)
    with pytest.raises(TokenRefused, match="kid names no public key imported"):
        ivs.join(stage[0], not_imported.token)
    head, claims, signature = valid.token.split(".")
    lengthened = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    lengthened["exp"] += 86400  # the holder makes it last a day longer
    claims = base64.urlsafe_b64encode(json.dumps(lengthened).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenRefused, match="the signature does not verify"):
        ivs.join(stage[0], f"{head}.{claims}.{signature}")
    assert ivs.join(stage[0], valid.token)["participantId"] == valid.participant_id


def test_deleting_the_public_key_invalidates_its_tokens(ivs, cfn, kms, stage):
    key, public_key = _signing_key(kms, cfn, "signer")
    signed = _sign(kms, key, public_key, stage)
    cfn.delete(PUBLIC_KEY, public_key)
    with pytest.raises(TokenRefused, match="kid names no public key"):
        ivs.join(stage[0], signed.token)


def test_a_minted_token_admits_to_its_own_stage_only(ivs, cfn, stage):
    from ivsrt_runtime.clients import ivs_client

    minted = ivs_client().create_participant_token(stageArn=stage[0], userId="bob")["participantToken"]
    assert ivs.join(stage[0], minted["token"])["userId"] == "bob"
    other_stage = cfn.create(STAGE, {"name": "backstage"})["PhysicalResourceId"]
    with pytest.raises(TokenRefused, match="not " + other_stage):
        ivs.join(other_stage, minted["token"])


@pytest.mark.parametrize(
    "request_, message",
    [
        ({"duration_minutes": 20161}, "duration_minutes must be between 1 and 20160, got: 20161"),
        ({"user_id": "u" * 129}, f"user_id must have at most 128 characters, got: '{'u' * 129}'"),
        ({"capabilities": ["ADMIN"]}, "capabilities[0] must be one of PUBLISH, SUBSCRIBE, got: 'ADMIN'"),
        ({"capabilities": "PUBLISH"}, "capabilities must be a list, got: 'PUBLISH'"),
        (
            {"attributes": {"bio": "\U0001f600" * 256}},
            "attributes must have at most 1024 bytes in all (keys and values, UTF-8), got: 1027 bytes",
        ),
        ({"user_id": "ada\udc80"}, "user_id must be Unicode text (no lone surrogates), got: 'ada\\udc80'"),
        # The participant id is the jti: 1 to 64 of [A-Za-z0-9-_] (the User Guide's rule).
        (
            {"participant_id": "user@example.com"},
            "participant_id must be 1 to 64 letters, digits, hyphens or underscores, got: 'user@example.com'",
        ),
        (
            {"participant_id": "p" * 65},
            f"participant_id must be 1 to 64 letters, digits, hyphens or underscores, got: '{'p' * 65}'",
        ),
        ({"participant_id": ""}, "participant_id must be 1 to 64 letters, digits, hyphens or underscores, got: ''"),
        (
            {"duration_minutes": datetime.timedelta(hours=1)},
            "duration_minutes must be a whole number of minutes, got: datetime.timedelta(seconds=3600) (a timedelta; "
            "pass int(duration.total_seconds() // 60))",
        ),
        (
            {"duration_minutes": cdk.Duration.hours(1)},
            "duration_minutes must be a whole number of minutes, got: a Duration (pass duration.to_minutes())",
        ),
        ({"duration_minutes": 1.5}, "duration_minutes must be a whole number, got: 1.5"),
    ],
    ids=[
        "duration",
        "user-id",
        "capability",
        "one-capability-string",
        "attributes-bytes",
        "lone-surrogate",
        "participant-id-email",
        "participant-id-65",
        "participant-id-empty",
        "timedelta",
        "cdk-duration",
        "fractional-minutes",
    ],
)
def test_what_create_participant_token_would_refuse_is_refused_before_signing(ivs, cfn, kms, stage, request_, message):
    key, public_key = _signing_key(kms, cfn, "signer")
    calls = len(ivs.state.calls)
    with pytest.raises(TokenRequestError) as caught:
        _sign(kms, key, public_key, stage, **request_)
    assert str(caught.value) == message
    assert ivs.state.calls[calls:] == []


def test_every_problem_is_named_at_once_by_its_parameter(ivs, cfn, kms, stage):
    key, public_key = _signing_key(kms, cfn, "signer")
    with pytest.raises(TokenRequestError) as caught:
        _sign(kms, key, public_key, stage, duration_minutes=0, user_id="u" * 129, participant_id="a b")
    assert str(caught.value).split("; ") == [
        f"user_id must have at most 128 characters, got: '{'u' * 129}'",
        "duration_minutes must be between 1 and 20160, got: 0",
        "participant_id must be 1 to 64 letters, digits, hyphens or underscores, got: 'a b'",
    ]


def test_the_participant_id_rule_is_the_models_with_one_character_at_least():
    """The User Guide's jti rule agrees with the model's ParticipantToken.participantId (which
    allows an empty one; a jti cannot be empty)."""
    shape = operation("CreateParticipantToken").output_shape.members["participantToken"].members["participantId"]
    assert (shape.metadata["pattern"], shape.metadata["max"]) == ("[a-zA-Z0-9-_]*", 64)
    assert PARTICIPANT_ID.pattern == r"[A-Za-z0-9_-]{1,64}"


def test_a_given_participant_id_is_the_tokens_jti(ivs, cfn, kms, stage):
    key, public_key = _signing_key(kms, cfn, "signer")
    signed = _sign(kms, key, public_key, stage, participant_id="Ada_Lovelace-1815" + "x" * 47)
    assert len(signed.participant_id) == 64
    assert ivs.join(stage[0], signed.token)["participantId"] == signed.participant_id


def _claims(token: str) -> tuple[bytes, dict]:
    claims_part = token.split(".")[1]
    raw = base64.urlsafe_b64decode(claims_part + "=" * (-len(claims_part) % 4))
    return raw, json.loads(raw)


def test_attributes_at_their_limit_in_emoji_are_signed_as_a_digest_and_admitted(ivs, cfn, kms, stage):
    """Issue 18's case: 254 emoji (1019 UTF-8 bytes with the key) pass the 1 KB rule; with \\u
    escapes the signing input was 4710 bytes, over KMS's 4096 for a RAW message."""
    key, public_key = _signing_key(kms, cfn, "signer")
    attributes = {"bio": "\U0001f600" * 254}
    assert sum(len(part.encode()) for part in ("bio", attributes["bio"])) == 1019
    calls = len(ivs.state.calls)
    signed = _sign(kms, key, public_key, stage, user_id="ada", attributes=attributes)
    assert ivs.state.calls[calls:] == ["kms:Sign"]
    raw, claims = _claims(signed.token)
    assert claims["attributes"] == attributes
    assert "\U0001f600".encode() * 254 in raw and b"\\u" not in raw  # compact UTF-8, no escapes
    signing_input = signed.token.rsplit(".", 1)[0].encode()
    # What was signed before: the same claims with \\u escapes, RAW; KMS (and the endpoint) refuse it.
    escaped = ".".join(
        base64.urlsafe_b64encode(json.dumps(json.loads(_unpadded(part)), separators=(",", ":"), sort_keys=True).encode())
        .rstrip(b"=")
        .decode()
        for part in signed.token.split(".")[:2]
    ).encode()
    assert len(escaped) > 4096 >= len(signing_input)
    with pytest.raises(ClientError, match="Member must have length less than or equal to 4096"):
        kms.sign(KeyId=key, Message=escaped, MessageType="RAW", SigningAlgorithm="ECDSA_SHA_384")
    # ES384 as any JWT library checks it: ECDSA P-384 over SHA-384 of the signing input, with the
    # public key KMS gives (not only the endpoint's check).
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key)["PublicKey"])
    signature = _unpadded(signed.token.rsplit(".", 1)[1])
    public.verify(
        encode_dss_signature(int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big")),
        signing_input,
        ec.ECDSA(hashes.SHA384()),
    )
    assert ivs.join(stage[0], signed.token)["attributes"] == attributes


def test_kms_is_asked_to_sign_the_sha384_digest_of_the_signing_input(cfn, kms, stage):
    """What reaches KMS: MessageType DIGEST, the 48 bytes of SHA-384 (the RAW form had a 4096-byte cap)."""
    key, public_key = _signing_key(kms, cfn, "signer")
    sent = []

    class Recording:
        def sign(self, **params):
            sent.append(params)
            return kms.sign(**params)

    signed = _sign(Recording(), key, public_key, stage, attributes={"bio": "x" * 1000})
    (params,) = sent
    signing_input = signed.token.rsplit(".", 1)[0].encode()
    assert (params["MessageType"], params["SigningAlgorithm"]) == ("DIGEST", "ECDSA_SHA_384")
    assert params["Message"] == hashlib.sha384(signing_input).digest()


def _unpadded(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def test_a_der_signature_becomes_r_and_s_of_48_bytes_each():
    """DER integers carry a leading zero when the high bit is set and drop leading zeros; the
    JWS form is fixed-width."""
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    for r, s in ((1, 2), (2**383 + 5, 7), (2**384 - 1, 2**383)):
        assert jws_signature(encode_dss_signature(r, s)) == r.to_bytes(48, "big") + s.to_bytes(48, "big")
    with pytest.raises(ValueError, match="not a DER ECDSA signature"):
        jws_signature(b"\x31" + bytes(10))


# ---------------------------------------------------------------------------------------------
# ParticipantTokenSigningKey: the provider imports a KMS key's public half; the vendor signs
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def kms_at_endpoint(ivs, monkeypatch, kms):
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", ivs.url)  # the handler's and the vendor's KMS client
    return kms


def _new_key(kms) -> str:
    return kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]


def test_the_provider_imports_a_kms_keys_public_half(ivs, cfn, kms_at_endpoint):
    kms = kms_at_endpoint
    first, second = _new_key(kms), _new_key(kms)
    created = cfn.create(PUBLIC_KEY, {"name": "signer", "kmsKeyArn": first})
    arn = created["PhysicalResourceId"]
    der = kms.get_public_key(KeyId=first)["PublicKey"]
    digest = hashlib.sha256(der).hexdigest()  # as IVS shows it: SHA-256 of the DER, colon-separated
    assert created["Data"]["Fingerprint"] == ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
    assert "kms:GetPublicKey" in ivs.state.calls
    # Another key is other material: the public key is replaced (a new ARN), as a new PEM would.
    replaced = cfn.update(PUBLIC_KEY, arn, {"name": "signer", "kmsKeyArn": first}, {"name": "signer", "kmsKeyArn": second})[
        "PhysicalResourceId"
    ]
    assert replaced != arn
    cfn.delete(PUBLIC_KEY, arn, {"name": "signer", "kmsKeyArn": first})
    calls = len(ivs.state.calls)
    cfn.delete(PUBLIC_KEY, replaced, {"name": "signer", "kmsKeyArn": second})
    assert [call for call in ivs.state.calls[calls:] if call.startswith("kms:")] == []  # a delete reads no key
    assert [r for r in ivs.state.snapshot() if r["_noun"] == "PublicKey"] == []


def test_a_missing_kms_key_fails_the_create_in_one_line(ivs, cfn, kms_at_endpoint):
    missing = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    with pytest.raises(RequestFailed) as caught:
        cfn.create(PUBLIC_KEY, {"name": "signer", "kmsKeyArn": missing})
    assert str(caught.value).startswith(f"kms:GetPublicKey failed for {missing}: ") and "\n" not in str(caught.value)
    assert "NotFoundException" in str(caught.value)


def test_the_vendor_signs_with_the_key_and_never_calls_create_participant_token(ivs, cfn, kms_at_endpoint, stage, monkeypatch):
    from ivsrt_runtime import tokens

    key = _new_key(kms_at_endpoint)
    public_key = make(cfn, PUBLIC_KEY, {"name": "signer", "kmsKeyArn": key})
    tokens._ENDPOINTS.clear()
    monkeypatch.setattr(signer, "_RING", {})
    # The ring a signing key's deployment writes: generation 1 signs.
    ring = "/constructs-ivsrt/signing-keys/T/vendor"
    ssm = Request(get_client=lambda: boto3.client("ssm", endpoint_url=ivs.url, region_name="us-east-1"), subject="ring")
    key_ring.write(ssm, ring, key_ring.Ring(1, (key_ring.Generation(1, key, public_key),)))
    for name, value in {
        "STAGE_ARN": stage[0],
        "TOKEN_DURATION_MINUTES": "30",
        "TOKEN_CAPABILITIES": "PUBLISH,SUBSCRIBE",
        key_ring.PARAMETER_ENV: ring,
    }.items():
        monkeypatch.setenv(name, value)
    calls = len(ivs.state.calls)
    answers = [tokens.create_token({"userId": f"viewer-{n}"}) for n in range(3)]
    assert ivs.state.calls[calls:] == ["GetStage", "kms:Sign", "kms:Sign", "kms:Sign"]  # the endpoints read once
    for n, answer in enumerate(answers):
        joined = ivs.join(stage[0], answer["token"])
        assert (joined["userId"], joined["participantId"], joined["capabilities"]) == (
            f"viewer-{n}",
            answer["participantId"],
            ["PUBLISH", "SUBSCRIBE"],
        )
