"""Rotating a ParticipantTokenSigningKey: a generation bumped and deployed at the local endpoint.

Tokens of the old and new generations both join until the old public key retires (the
scheduled retirement, run here with a clock four weeks on), then the old ones are refused; a
compromised generation goes at once; a fourth public key is refused before anything is made;
destroy leaves no public key, and every KMS key pending deletion. The ring's plan is a pure
function, tested on its own first."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk.assertions import Match, Template
from synth import expect, new_stack

from constructs_ivsrt import ParticipantTokenSigningKey, ParticipantTokenVendor, Stage
from ivsrt_local.testing import local_ivs_realtime  # noqa: F401  (a pytest fixture)
from ivsrt_local.tokens import TokenRefused
from ivsrt_runtime import key_ring, signer
from ivsrt_runtime.key_ring import Generation, Ring, Wanted, plan
from ivsrt_runtime.signing import TokenRequestError, sign_participant_token

FOUR_WEEKS = key_ring.LONGEST_TOKEN_SECONDS
ENV = cdk.Environment(account="123456789012", region="eu-west-1")

# ---------------------------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------------------------


def _ring(*generations: Generation, current: int) -> Ring:
    return Ring(current, generations)


G1 = Generation(1, "key-1", "pk-1")
G2 = Generation(2, "key-2", "pk-2")


def test_a_new_ring_imports_its_generation():
    assert plan(None, Wanted(1, "key-1"), now=100) == key_ring.Step(delete=(), import_wanted=True, kept=())


def test_a_bump_supersedes_the_signing_generation_now_and_keeps_it():
    step = plan(_ring(G1, current=1), Wanted(2, "key-2"), now=100)
    assert step == key_ring.Step(delete=(), import_wanted=True, kept=(Generation(1, "key-1", "pk-1", superseded_at=100),))


def test_a_superseded_generation_goes_when_its_longest_token_has_expired():
    ring = _ring(Generation(1, "key-1", "pk-1", superseded_at=100), G2, current=2)
    assert plan(ring, Wanted(2, "key-2"), now=100 + FOUR_WEEKS - 1).delete == ()
    assert plan(ring, Wanted(2, "key-2"), now=100 + FOUR_WEEKS).delete == (ring.generations[0],)
    assert plan(ring, Wanted(2, "key-2", max_token_lifetime_seconds=60), now=160).delete == (ring.generations[0],)


def test_a_compromised_generation_goes_now():
    ring = _ring(Generation(1, "key-1", "pk-1", superseded_at=100), G2, current=2)
    step = plan(ring, Wanted(3, "key-3", compromised=frozenset({2})), now=200)
    assert step.delete == (G2,)
    assert step.kept == (ring.generations[0],) and step.import_wanted


def test_going_back_a_generation_makes_it_sign_again_and_retires_the_newer_on_time():
    """A rollback, or a generation taken back in git: the newer generation's tokens keep working."""
    ring = _ring(Generation(1, "key-1", "pk-1", superseded_at=100), G2, current=2)
    step = plan(ring, Wanted(1, "key-1"), now=150)
    assert step == key_ring.Step(delete=(), import_wanted=False, kept=(G1, Generation(2, "key-2", "pk-2", superseded_at=150)))
    assert plan(ring, Wanted(1, "key-1", compromised=frozenset({2})), now=150).delete == (G2,)


def test_a_generation_whose_kms_key_changed_is_imported_again():
    step = plan(_ring(G1, current=1), Wanted(1, "key-1b"), now=150)
    assert step == key_ring.Step(delete=(G1,), import_wanted=True, kept=())


def test_the_ring_round_trips_through_its_parameter_and_names_what_signs():
    ring = Ring(2, (Generation(1, "key-1", "pk-1", superseded_at=100.5, fingerprint="ab"), G2), 3600)
    assert Ring.from_json(ring.to_json()) == ring
    assert json.loads(ring.to_json())["publicKeyArn"] == "pk-2"


# ---------------------------------------------------------------------------------------------
# The template
# ---------------------------------------------------------------------------------------------


def test_generation_two_keeps_the_previous_kms_key_and_signers_read_the_ring():
    st = new_stack()
    key = ParticipantTokenSigningKey(st, "Signer", generation=2, max_token_lifetime=cdk.Duration.days(14))
    backend = cdk.aws_iam.Role(st, "Backend", assumed_by=cdk.aws_iam.ServicePrincipal("lambda.amazonaws.com"))
    key.grant_sign(backend)
    template = Template.from_stack(st)
    keys = template.find_resources("AWS::KMS::Key")
    assert sorted(keys) == sorted(st.get_logical_id(k.node.default_child) for k in key.keys.values())
    assert sorted(key.keys) == [1, 2]
    template.has_resource_properties(
        key_ring.RESOURCE_TYPE,
        {
            key_ring.GENERATION: 2,
            key_ring.KMS_KEY_ARN: {"Fn::GetAtt": [st.get_logical_id(key.key.node.default_child), "Arn"]},
            key_ring.MAX_TOKEN_LIFETIME: 14 * 24 * 3600,
            key_ring.COMPROMISED: [],
        },
    )
    (policy,) = [p for logical_id, p in template.find_resources("AWS::IAM::Policy").items() if logical_id.startswith("Backend")]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    signed_with = [s["Resource"] for s in statements if s["Action"] == "kms:Sign"]
    assert sorted(json.dumps(r) for r in signed_with) == sorted(
        json.dumps({"Fn::GetAtt": [st.get_logical_id(k.node.default_child), "Arn"]}) for k in key.keys.values()
    )
    assert [s["Action"] for s in statements if s["Action"].startswith("ssm:")] == ["ssm:GetParameter"]
    # The ring switches only once the signers may sign with the new key.
    (ring,) = template.find_resources(key_ring.RESOURCE_TYPE).values()
    assert [d for d in ring["DependsOn"] if d.startswith("Backend")]
    template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(1 hour)"})
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Handler": "signing_keys.retire", "Environment": {"Variables": {key_ring.PARAMETER_ENV: Match.any_value()}}},
    )


def test_a_compromised_previous_generation_leaves_the_template_at_once():
    st = new_stack()
    key = ParticipantTokenSigningKey(st, "Signer", generation=3, compromised_generations=[2])
    assert sorted(key.keys) == [3]
    Template.from_stack(st).has_resource_properties(key_ring.RESOURCE_TYPE, {key_ring.COMPROMISED: [2]})


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"generation": 0}, "T/Signer: generation must be 1 or more, got: 0"),
        ({"generation": "2"}, "T/Signer: generation must be a whole number (1, 2, ...), got: '2'"),
        ({"generation": True}, "T/Signer: generation must be a whole number (1, 2, ...), got: True"),
        (
            {"generation": 2, "compromised_generations": [2]},
            "T/Signer: compromised_generations must name generations other than the one that signs (1 or more, not 2), got: 2",
        ),
        ({"public_key_name": "my key"}, "T/Signer: public_key_name must match the pattern [a-zA-Z0-9-_]*, got: 'my key'"),
        (
            {"max_token_lifetime": cdk.Duration.days(29)},
            "T/Signer: max_token_lifetime must be whole minutes from 1 minute to 28 days (the longest token IVS "
            "accepts), got: 29 days",
        ),
    ],
)
def test_rotation_props_are_checked_at_synth(props, message):
    expect(message, lambda st: ParticipantTokenSigningKey(st, "Signer", **props))


# ---------------------------------------------------------------------------------------------
# At the local endpoint
# ---------------------------------------------------------------------------------------------


def _ring_parameters(local):
    """The rings' parameter names at the endpoint (kept per region and name)."""
    return [name for _region, name in local.endpoint.ssm.parameters if name.startswith(key_ring.PARAMETER_PREFIX)]


class _Keys:
    """The signing key deployed at generation N, and tokens signed as the vendor and wired
    functions sign them (``signer.current_key`` reads the ring's parameter)."""

    def __init__(self, local, tmp_path, monkeypatch):
        self.local, self.tmp_path, self.clock = local, tmp_path, time.monotonic()
        endpoint = local.endpoint
        self.kms = boto3.client("kms", endpoint_url=endpoint.url, region_name="eu-west-1")
        for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            monkeypatch.setenv(name, "eu-west-1")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
        self.monkeypatch = monkeypatch
        monkeypatch.setattr(signer, "_RING", {})  # each test's ring afresh (the name is the same)

    def deploy(self, generation, tags=None, **props):
        app = cdk.App(outdir=str(self.tmp_path / f"cdk.out.{generation}.{len(props)}.{len(tags or {})}"))
        stack = cdk.Stack(app, "Live", env=ENV)
        Stage(stack, "Stage", stage_name="show")
        self.key = ParticipantTokenSigningKey(stack, "Signer", generation=generation, public_key_name="signer", **props)
        for key, value in (tags or {}).items():
            cdk.Tags.of(stack).add(key, value)
        return self.local.deploy(app)

    @property
    def parameter(self):
        (name,) = _ring_parameters(self.local)
        return name

    def sign(self, user_id):
        self.clock += signer.RING_CACHE_SECONDS + 1  # a signer that has waited out its cache
        key = signer.current_key({key_ring.PARAMETER_ENV: self.parameter}, now=self.clock)
        (stage,) = self.local.resources("Stage")
        signed = sign_participant_token(
            self.kms,
            key_id=key.key_arn,
            public_key_arn=key.public_key_arn,
            stage_arn=stage["arn"],
            whip_url=stage["endpoints"]["whip"],
            events_url=stage["endpoints"]["events"],
            user_id=user_id,
            duration_minutes=min(key.max_token_lifetime_minutes, 14 * 24 * 60),
        )
        return key.generation, signed.token

    def joins(self, token):
        (stage,) = self.local.resources("Stage")
        try:
            self.local.endpoint.join(stage["arn"], token)
        except TokenRefused:
            return False
        return True

    def retire(self, days_on):
        """The retirement function run as Lambda runs it (its asset, environment and credentials:
        the endpoint holds it to its role's policy), with its clock ``days_on`` days ahead."""
        return self.local.invoke(self.key.retirement_function, now=time.time() + days_on * 24 * 3600)

    def public_keys(self):
        return sorted(r["name"] for r in self.local.resources("PublicKey"))

    def kms_states(self):
        return sorted(k.state for k in self.local.endpoint.kms.keys.values())


def test_tokens_of_both_generations_join_until_the_old_key_retires(local_ivs_realtime, tmp_path, monkeypatch):  # noqa: F811
    keys = _Keys(local_ivs_realtime, tmp_path, monkeypatch)
    keys.deploy(1)
    generation, before = keys.sign("ada")
    assert generation == 1 and keys.public_keys() == ["signer-g1"]

    changes = keys.deploy(2)
    assert sorted((c.action, c.resource_type) for c in changes["Live"] if c.action != "unchanged") == [
        ("create", "AWS::KMS::Key"),
        ("update", key_ring.RESOURCE_TYPE),
    ]
    generation, after = keys.sign("grace")
    assert generation == 2 and keys.public_keys() == ["signer-g1", "signer-g2"]
    assert keys.joins(before) and keys.joins(after)

    assert keys.retire(days_on=27) == {"retired": [], "generations": [1, 2]}
    assert keys.joins(before)
    assert keys.retire(days_on=28.01) == {"retired": [1], "generations": [2]}
    assert keys.public_keys() == ["signer-g2"]
    assert not keys.joins(before) and keys.joins(after)

    # Generation 3: generation 1's KMS key leaves the template (pending deletion); 2 retires on time.
    keys.deploy(3)
    assert keys.kms_states() == ["Enabled", "Enabled", "PendingDeletion"]
    assert keys.public_keys() == ["signer-g2", "signer-g3"]

    local_ivs_realtime.destroy()
    assert keys.public_keys() == []
    assert keys.kms_states() == ["PendingDeletion"] * 3
    assert _ring_parameters(local_ivs_realtime) == []


def test_a_compromised_generation_is_deleted_at_once_and_its_tokens_refused(local_ivs_realtime, tmp_path, monkeypatch):  # noqa: F811
    keys = _Keys(local_ivs_realtime, tmp_path, monkeypatch)
    keys.deploy(1)
    _, leaked = keys.sign("ada")
    keys.deploy(2, compromised_generations=[1])
    _, fresh = keys.sign("ada")
    assert keys.public_keys() == ["signer-g2"]
    assert not keys.joins(leaked) and keys.joins(fresh)
    assert keys.kms_states() == ["Enabled", "PendingDeletion"]


def test_a_fourth_public_key_is_refused_before_anything_is_made(local_ivs_realtime, tmp_path, monkeypatch):  # noqa: F811
    keys = _Keys(local_ivs_realtime, tmp_path, monkeypatch)
    for generation in (1, 2, 3):
        keys.deploy(generation)
    assert keys.public_keys() == ["signer-g1", "signer-g2", "signer-g3"]
    with pytest.raises(Exception) as caught:
        keys.deploy(4)
    message = str(caught.value)
    assert (
        "cannot import generation 4: the account holds 3 public keys, the quota (3, not adjustable); this key holds 3: "
        in message
    )
    assert "generation 1 (retires 20" in message and "generation 2 (retires 20" in message
    assert "generation 3 (signs until this update succeeds)" in message
    assert "The first place frees at 20" in message
    # Rolled back: generation 3 signs, the same three public keys, generation 4's KMS key pending deletion.
    generation, token = keys.sign("ada")
    assert generation == 3 and keys.joins(token)
    assert keys.public_keys() == ["signer-g1", "signer-g2", "signer-g3"]
    assert keys.kms_states().count("PendingDeletion") == 2  # generation 1's (left the template) and 4's


def test_a_signer_refuses_a_token_longer_than_the_rings_lifetime(local_ivs_realtime, tmp_path, monkeypatch):  # noqa: F811
    keys = _Keys(local_ivs_realtime, tmp_path, monkeypatch)
    keys.deploy(1, max_token_lifetime=cdk.Duration.hours(1))
    (stage,) = local_ivs_realtime.resources("Stage")
    environment = {
        key_ring.PARAMETER_ENV: keys.parameter,
        signer.STAGES_ENV: json.dumps([{"arn": stage["arn"], **stage["endpoints"]}]),
    }
    with pytest.raises(TokenRequestError) as caught:
        signer.sign_token(user_id="ada", duration_minutes=61, environment=environment)
    assert str(caught.value) == "duration_minutes must be at most the signing key's max_token_lifetime, 60 minutes, got: 61"
    # The default (12 hours) is capped at the key's lifetime rather than refused.
    for signed in (signer.sign_token(user_id="ada", environment=environment), signer.sign_connection(environment=environment)):
        claims = json.loads(base64.urlsafe_b64decode(signed.token.split(".")[1] + "=="))
        assert claims["exp"] - claims["iat"] == 3600


def test_tags_reach_every_generations_public_key_and_follow_a_change(local_ivs_realtime, tmp_path, monkeypatch):  # noqa: F811
    keys = _Keys(local_ivs_realtime, tmp_path, monkeypatch)
    keys.deploy(1, tags={"team": "live"})
    keys.deploy(2, tags={"team": "live"})
    keys.deploy(2, tags={"team": "video", "cost": "a"})

    def user_tags(resource):
        return {k: v for k, v in resource["tags"].items() if not k.startswith("constructs-ivsrt")}

    assert [user_tags(r) for r in local_ivs_realtime.resources("PublicKey")] == [{"team": "video", "cost": "a"}] * 2


def test_taking_a_generation_back_keeps_its_tokens_working_until_their_time(local_ivs_realtime, tmp_path, monkeypatch):  # noqa: F811
    """A `git revert` of a bump: generation 1 signs again; generation 2's KMS key goes to pending
    deletion with the template, its public key retires on time, and its tokens work until then."""
    keys = _Keys(local_ivs_realtime, tmp_path, monkeypatch)
    keys.deploy(1)
    keys.deploy(2)
    _, newer = keys.sign("ada")
    keys.deploy(1)
    generation, older = keys.sign("grace")
    assert generation == 1 and keys.joins(newer) and keys.joins(older)
    assert keys.public_keys() == ["signer-g1", "signer-g2"]
    assert keys.kms_states() == ["Enabled", "PendingDeletion"]
    assert keys.retire(days_on=28.01) == {"retired": [2], "generations": [1]}
    assert not keys.joins(newer) and keys.joins(older)


def test_a_vendor_may_not_hand_out_tokens_that_outlive_its_keys_lifetime():
    def build(st):
        key = ParticipantTokenSigningKey(st, "Signer", max_token_lifetime=cdk.Duration.hours(1))
        ParticipantTokenVendor(
            st, "Tokens", stage=Stage(st, "Stage"), signing_key=key, token_duration=cdk.Duration.hours(2), connection_tokens=True
        )

    expect(
        "T/Tokens: token_duration (minutes) must be at most the max_token_lifetime of signing_key T/Signer, 60 minutes, "
        "got: 120\nT/Tokens: connection_token_duration (minutes) must be at most the max_token_lifetime of signing_key "
        "T/Signer, 60 minutes, got: 720",
        build,
    )


def test_the_drift_detector_takes_no_generations_public_key_for_an_orphan(local_ivs_realtime, tmp_path, monkeypatch):  # noqa: F811
    keys = _Keys(local_ivs_realtime, tmp_path, monkeypatch)
    keys.deploy(1)
    keys.deploy(2)  # generation 1 retiring, 2 signing: both public keys carry the ring's identity
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_ENDPOINT_URL_IVS_REALTIME"] = local_ivs_realtime.endpoint.url
    done = subprocess.run(
        [sys.executable, "-m", "ivsrt_local", "drift", "--state-dir", str(local_ivs_realtime.state_dir), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (stack,) = json.loads(done.stdout)["stacks"]
    assert stack["orphans"] == [] and {r["status"] for r in stack["resources"]} == {"IN_SYNC"}
