"""PublicKey: its template, its validation (P-384 PEM) and its lifecycle."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Template
from conftest import P256_KEY, P384_KEY_A, P384_KEY_B, PUBLIC_KEY, arns, only, resources, user_tags
from synth import expect, logical_id_of, new_stack

from constructs_ivsrt import PublicKey
from ivsrt_runtime import rules
from ivsrt_runtime.calls import RequestFailed


@pytest.mark.parametrize(
    "build, message",
    [
        pytest.param(
            lambda s: PublicKey(s, "K", public_key_material="ssh-ed25519 AAAA"),
            "T/K: public_key_material must match the pattern "
            + rules.PUBLIC_KEY.property_shape("publicKeyMaterial").metadata["pattern"]
            + ", got: 'ssh-ed25519 AAAA'",
            id="pem-armour",
        ),
        pytest.param(
            lambda s: PublicKey(s, "K", public_key_material=P256_KEY),
            "T/K: public_key_material must be an ECDSA P-384 (secp384r1) public key, as IVS verifies "
            "ES384-signed tokens, got: a 91-byte key of another type or curve",
            id="pem-curve",
        ),
        pytest.param(
            lambda s: PublicKey(s, "K", public_key_material=P384_KEY_A.replace("MHYw", "M!Yw")),
            "T/K: public_key_material must match the pattern "
            + rules.PUBLIC_KEY.property_shape("publicKeyMaterial").metadata["pattern"]
            + ", got: "
            + repr(P384_KEY_A.replace("MHYw", "M!Yw")),
            id="pem-base64",
        ),
    ],
)
def test_rule(build, message):
    expect(message, build)


def test_public_key_properties_and_fingerprint():
    st = new_stack()
    key = PublicKey(st, "Signer", public_key_material=P384_KEY_A, public_key_name="signer")
    Template.from_stack(st).has_resource_properties(
        "Custom::IvsRealtimePublicKey", {"name": "signer", "publicKeyMaterial": P384_KEY_A}
    )
    assert st.resolve(key.fingerprint) == {"Fn::GetAtt": [logical_id_of(st, key), "Fingerprint"]}


@pytest.mark.usefixtures("provider_role")  # its calls held to the provider's own IAM policy
def test_public_key_lifecycle(cfn, ivs):
    v1 = {"name": "signer", "publicKeyMaterial": P384_KEY_A, "tags": {"team": "auth"}}
    created = cfn.create(PUBLIC_KEY, v1)
    arn = created["PhysicalResourceId"]
    key = only(ivs, "PublicKey")
    assert created["Data"]["Fingerprint"] == key["fingerprint"] != ""
    assert "NoEcho" not in created  # nothing secret in a public key
    assert user_tags(key) == {"team": "auth"}

    v2 = {**v1, "tags": {"team": "identity"}}
    updated = cfn.update(PUBLIC_KEY, arn, v1, v2)
    assert updated["PhysicalResourceId"] == arn and updated["Data"]["Fingerprint"] == key["fingerprint"]
    assert user_tags(only(ivs, "PublicKey")) == {"team": "identity"}

    v3 = {**v2, "publicKeyMaterial": P384_KEY_B}  # key rotation: a new key
    new_arn = cfn.update(PUBLIC_KEY, arn, v2, v3)["PhysicalResourceId"]
    assert new_arn != arn and arns(ivs, "PublicKey") == sorted([arn, new_arn])

    assert cfn.update(PUBLIC_KEY, new_arn, v3, v2)["PhysicalResourceId"] == arn  # rollback adopts
    cfn.delete(PUBLIC_KEY, new_arn)
    assert arns(ivs, "PublicKey") == [arn]

    cfn.delete(PUBLIC_KEY, arn)
    cfn.delete(PUBLIC_KEY, arn)
    assert resources(ivs, "PublicKey") == []


def test_public_key_that_is_not_pem_fails_in_one_line_before_any_call(cfn, ivs):
    with pytest.raises(RequestFailed) as caught:
        cfn.create(PUBLIC_KEY, {"publicKeyMaterial": "ssh-ed25519 AAAA"})
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("Invalid Custom::IvsRealtimePublicKey properties: PublicKey.publicKeyMaterial must match")
    assert ivs.state.calls == []
