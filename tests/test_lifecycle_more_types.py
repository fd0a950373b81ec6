"""Create -> update -> replace -> rollback -> delete -> delete again, for the ingest
configuration, the public key and the composition (asynchronous: isComplete is driven as the
Provider framework's waiter drives it).

The real handler, real boto3 over HTTP, the local endpoint; after each step the endpoint's whole
state is compared with what should be there: nothing leaked, tags exact.
"""

from __future__ import annotations

import re

import pytest

from conftest import (
    COMPOSITION,
    INGEST,
    P384_KEY_A,
    P384_KEY_B,
    PUBLIC_KEY,
    STAGE,
    STORAGE,
    ENCODER,
    Fault,
    resources,
    user_tags,
)
from ivsrt_runtime.lifecycle import ProvisioningError
from ivsrt_runtime.rules import INGEST_CONFIGURATION

STREAM_KEY = re.compile(INGEST_CONFIGURATION.resource_shape.members["streamKey"].metadata["pattern"])


def only(ivs, noun):
    found = resources(ivs, noun)
    assert len(found) == 1, f"expected exactly one {noun}, found {found}"
    return found[0]


def arns(ivs, noun):
    """The ARNs of live resources: a STOPPED composition is the service's to remove (it does, later)."""
    return sorted(r["arn"] for r in resources(ivs, noun) if r.get("state") != "STOPPED")


def running(ivs):
    """Compositions that are starting or active (not stopping, stopped or failed)."""
    return sorted(r["arn"] for r in resources(ivs, "Composition") if r["state"] in ("STARTING", "ACTIVE"))


def make(cfn, resource_type, props, **kw):
    return cfn.create(resource_type, props, **kw)["PhysicalResourceId"]


# ---------------------------------------------------------------------------------------------
# IngestConfiguration: stage and redundant ingest in place; name, user, attributes, protocol replace.
# ---------------------------------------------------------------------------------------------

def test_ingest_configuration_lifecycle(cfn, ivs):
    stage_a, stage_b = make(cfn, STAGE, {"name": "a"}), make(cfn, STAGE, {"name": "b"})
    v1 = {"name": "studio", "stageArn": stage_a, "userId": "encoder-1", "attributes": {"role": "studio"},
          "ingestProtocol": "RTMPS", "tags": {"team": "live"}}
    created = cfn.create(INGEST, v1)
    arn = created["PhysicalResourceId"]
    ingest = only(ivs, "IngestConfiguration")
    assert ingest["stageArn"] == stage_a and ingest["attributes"] == {"role": "studio"}
    assert user_tags(ingest) == {"team": "live"}
    # The stream key is an attribute, masked by CloudFormation (NoEcho), in the model's format.
    assert created["NoEcho"] is True
    assert STREAM_KEY.fullmatch(created["Data"]["StreamKey"])
    assert created["Data"]["ParticipantId"] == ingest["participantId"]
    assert created["Data"]["RedundantIngestCredentialsStreamKey"] == ""

    # Tag-only: in place, and the attributes (stream key included) still come back.
    v2 = {**v1, "tags": {"team": "broadcast"}}
    updated = cfn.update(INGEST, arn, v1, v2)
    assert updated["PhysicalResourceId"] == arn
    assert updated["Data"]["StreamKey"] == created["Data"]["StreamKey"]
    assert user_tags(only(ivs, "IngestConfiguration")) == {"team": "broadcast"}

    # Another stage and redundant ingest: in place (UpdateIngestConfiguration), same key.
    v3 = {**v2, "stageArn": stage_b, "redundantIngest": True}
    moved = cfn.update(INGEST, arn, v2, v3)
    assert moved["PhysicalResourceId"] == arn
    assert only(ivs, "IngestConfiguration")["stageArn"] == stage_b
    assert "UpdateIngestConfiguration" in ivs.state.calls

    # A new user id: replacement, with a new stream key; the old one is CloudFormation's to delete.
    v4 = {**v3, "userId": "encoder-2"}
    replaced = cfn.update(INGEST, arn, v3, v4)
    new_arn = replaced["PhysicalResourceId"]
    assert new_arn != arn and replaced["Data"]["StreamKey"] != created["Data"]["StreamKey"]
    assert arns(ivs, "IngestConfiguration") == sorted([arn, new_arn])

    # Rollback: the original is adopted (List summaries carry no tags: found by Get), not remade.
    rolled_back = cfn.update(INGEST, new_arn, v4, v3)
    assert rolled_back["PhysicalResourceId"] == arn
    cfn.delete(INGEST, new_arn)
    assert arns(ivs, "IngestConfiguration") == [arn]
    assert user_tags(only(ivs, "IngestConfiguration")) == {"team": "broadcast"}

    cfn.delete(INGEST, arn)
    cfn.delete(INGEST, arn)  # again: already gone is success
    assert resources(ivs, "IngestConfiguration") == []


def test_ingest_redundancy_turned_off_by_removing_the_prop_is_an_in_place_false(cfn, ivs):
    """A removed boolean goes back to false; "" (what a removed string is sent as) is not a
    boolean, and botocore would refuse the update before sending it."""
    stage = make(cfn, STAGE, {"name": "a"})
    v1 = {"name": "studio", "stageArn": stage, "ingestProtocol": "RTMPS", "redundantIngest": "true"}
    arn = make(cfn, INGEST, v1)
    assert only(ivs, "IngestConfiguration")["redundantIngest"] is True
    v2 = {k: v for k, v in v1.items() if k != "redundantIngest"}
    assert cfn.update(INGEST, arn, v1, v2)["PhysicalResourceId"] == arn
    assert only(ivs, "IngestConfiguration")["redundantIngest"] is False


def test_an_ingest_configuration_being_published_to_is_deleted_only_with_force(cfn, ivs, handler):
    """The service refuses the delete while an encoder publishes, unless forced: without
    force_delete the handler waits (bounded) and then says what to do; with it, it is gone."""
    stage = make(cfn, STAGE, {"name": "a"})
    props = {"name": "studio", "stageArn": stage, "ingestProtocol": "RTMPS"}
    arn = make(cfn, INGEST, props)
    ivs.state.set_publishing(arn)
    cfn.timeout_seconds = handler.ANSWER_MARGIN_SECONDS + 0.5  # give up on the conflict at once
    with pytest.raises(ProvisioningError, match=r"ConflictException: .* a participant is publishing "
                                                r"\(gave up after \d+s; force_delete=True disconnects the publisher\)"):
        cfn.delete(INGEST, arn, props)
    assert arns(ivs, "IngestConfiguration") == [arn]
    cfn.delete(INGEST, arn, {**props, "deleteOptions": {"force": "true"}})  # CloudFormation's string
    assert resources(ivs, "IngestConfiguration") == []


def test_ingest_create_whose_response_was_lost_is_adopted(cfn, ivs):
    stage = make(cfn, STAGE, {"name": "s"})
    ivs.inject(Fault("drop_after_success", "CreateIngestConfiguration"))
    arn = make(cfn, INGEST, {"name": "studio", "stageArn": stage, "ingestProtocol": "RTMPS"})
    assert arns(ivs, "IngestConfiguration") == [arn]
    assert ivs.state.calls.count("CreateIngestConfiguration") == 1


# ---------------------------------------------------------------------------------------------
# PublicKey: immutable; tags in place.
# ---------------------------------------------------------------------------------------------

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
    with pytest.raises(ProvisioningError) as caught:
        cfn.create(PUBLIC_KEY, {"publicKeyMaterial": "ssh-ed25519 AAAA"})
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("Invalid Custom::IvsRealtimePublicKey properties: PublicKey.publicKeyMaterial must match")
    assert ivs.state.calls == []


# ---------------------------------------------------------------------------------------------
# Composition: asynchronous start and stop, idempotent start, FAILED path, ended by the service.
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def stage_with_recording(cfn):
    stage = make(cfn, STAGE, {"name": "show"})
    storage = make(cfn, STORAGE, {"name": "rec", "s3": {"bucketName": "b-1"}})
    encoder = make(cfn, ENCODER, {"name": "hd"})
    destinations = [{"name": "program", "s3": {"storageConfigurationArn": storage, "encoderConfigurationArns": [encoder],
                                               "recordingConfiguration": {
                                                   "hlsConfiguration": {"targetSegmentDurationSeconds": 4}}}}]
    return {"stageArn": stage, "layout": {"grid": {"gridGap": 2}}, "destinations": destinations}


def test_composition_lifecycle(cfn, ivs, stage_with_recording):
    v1 = {**stage_with_recording, "tags": {"show": "weekly"}}
    created = cfn.create(COMPOSITION, v1)
    arn = created["PhysicalResourceId"]
    # The waiter asked until the composition was ACTIVE: STARTING first, then ACTIVE.
    assert [poll["IsComplete"] for poll in cfn.polls] == [False, True]
    assert created["Data"]["State"] == "ACTIVE"
    composition = only(ivs, "Composition")
    assert composition["state"] == "ACTIVE" and user_tags(composition) == {"show": "weekly"}
    # Strings from CloudFormation arrived as the model's types, deep in the destinations.
    s3 = composition["destinations"][0]["configuration"]["s3"]
    assert s3["recordingConfiguration"]["hlsConfiguration"]["targetSegmentDurationSeconds"] == 4

    v2 = {**v1, "tags": {"show": "daily"}}  # tag-only: in place
    assert cfn.update(COMPOSITION, arn, v1, v2)["PhysicalResourceId"] == arn
    assert user_tags(only(ivs, "Composition")) == {"show": "daily"}

    v3 = {**v2, "layout": {"pip": {"pipPosition": "TOP_LEFT"}}}  # no Update API: a new composition
    replaced = cfn.update(COMPOSITION, arn, v2, v3)
    new_arn = replaced["PhysicalResourceId"]
    assert new_arn != arn and replaced["Data"]["State"] == "ACTIVE"
    assert {r["arn"]: r["state"] for r in resources(ivs, "Composition")} == {arn: "ACTIVE", new_arn: "ACTIVE"}

    assert cfn.update(COMPOSITION, new_arn, v3, v2)["PhysicalResourceId"] == arn  # rollback adopts the original
    cfn.delete(COMPOSITION, new_arn)
    # Delete waited through STOPPING until the service had stopped (and removed) it.
    assert [poll["IsComplete"] for poll in cfn.polls][-1] is True and len(cfn.polls) >= 2
    assert arns(ivs, "Composition") == [arn]

    cfn.delete(COMPOSITION, arn)
    cfn.delete(COMPOSITION, arn)
    assert arns(ivs, "Composition") == []


def test_a_retried_start_never_starts_two(cfn, ivs, stage_with_recording):
    # The response is lost: botocore retries with the same idempotency token.
    ivs.inject(Fault("drop_after_success", "StartComposition"))
    arn = make(cfn, COMPOSITION, stage_with_recording, request_id="req-1")
    # The whole invocation delivered again (same CloudFormation request): still the same one.
    assert make(cfn, COMPOSITION, stage_with_recording, request_id="req-1") == arn
    assert arns(ivs, "Composition") == [arn]
    assert ivs.state.calls.count("StartComposition") == 3


def test_the_waiters_polls_and_the_stop_ride_out_throttling(cfn, ivs, stage_with_recording):
    ivs.inject(Fault("throttle", "GetComposition", times=3), Fault("throttle", "StopComposition", times=3))
    arn = make(cfn, COMPOSITION, stage_with_recording)
    assert only(ivs, "Composition")["state"] == "ACTIVE"
    cfn.delete(COMPOSITION, arn)
    assert arns(ivs, "Composition") == []
    assert ivs.state.calls.count("StopComposition") == 4 and ivs.state.calls.count("GetComposition") >= 5


def test_failed_composition_fails_the_create_and_is_stopped(cfn, ivs, stage_with_recording):
    ivs.state.compositions.fail_next = 1
    with pytest.raises(ProvisioningError) as caught:
        cfn.create(COMPOSITION, stage_with_recording)
    message = str(caught.value)
    assert "\n" not in message
    assert re.fullmatch(r"Composition arn:aws:ivs:\S+:composition/\S+ is FAILED: destination program FAILED "
                        r"\(the API reports no reason; see the 'IVS Composition State Change' event in EventBridge\)",
                        message), message
    assert resources(ivs, "Composition") == []  # stopped, and so removed by the service
    # CloudFormation's rollback then deletes the failed resource: a success.
    failed_arn = message.split()[1]
    cfn.delete(COMPOSITION, failed_arn)


def test_composition_ended_by_the_service_is_started_again_on_update(cfn, ivs, stage_with_recording):
    v1 = {**stage_with_recording, "tags": {"a": "1"}}
    arn = make(cfn, COMPOSITION, v1)
    ivs.state.end_composition(arn)  # the stage emptied: IVS stops it
    v2 = {**v1, "tags": {"a": "2"}}
    new_arn = cfn.update(COMPOSITION, arn, v1, v2)["PhysicalResourceId"]
    assert new_arn != arn
    live = [r for r in resources(ivs, "Composition") if r["state"] == "ACTIVE"]
    assert [r["arn"] for r in live] == [new_arn] and user_tags(live[0]) == {"a": "2"}
    cfn.delete(COMPOSITION, arn)  # CloudFormation's cleanup of the ended one: a success
    cfn.delete(COMPOSITION, new_arn)
    assert arns(ivs, "Composition") == []


def test_composition_on_a_missing_stage_fails_in_one_line(cfn, ivs, stage_with_recording):
    missing = {**stage_with_recording, "stageArn": "arn:aws:ivs:us-east-1:123456789012:stage/gone"}
    with pytest.raises(ProvisioningError) as caught:
        cfn.create(COMPOSITION, missing)
    assert str(caught.value).startswith(
        "StartComposition failed for Custom::IvsRealtimeComposition Resource: ResourceNotFoundException")
    assert resources(ivs, "Composition") == []


def test_storage_configuration_used_by_a_composition_is_in_use(cfn, ivs, stage_with_recording):
    arn = make(cfn, COMPOSITION, stage_with_recording)
    storage = stage_with_recording["destinations"][0]["s3"]["storageConfigurationArn"]
    cfn.timeout_seconds = 20.5  # the handler gives up waiting for the conflict at once
    with pytest.raises(ProvisioningError) as caught:
        cfn.delete(STORAGE, storage)
    assert "ConflictException" in str(caught.value)
    cfn.timeout_seconds = 300.0
    cfn.delete(COMPOSITION, arn)
    cfn.delete(STORAGE, storage)


def test_delete_that_met_a_conflict_while_starting_stops_again(cfn, ivs, stage_with_recording):
    arn = make(cfn, COMPOSITION, stage_with_recording)
    ivs.inject(Fault("error", "StopComposition", code="ConflictException"))
    cfn.delete(COMPOSITION, arn)
    assert ivs.state.calls.count("StopComposition") == 2
    assert arns(ivs, "Composition") == []


def test_rollback_stops_a_replacement_that_never_started_and_is_no_longer_tracked(cfn, ivs, stage_with_recording):
    v1, v2 = stage_with_recording, {**stage_with_recording, "layout": {"pip": {}}}
    original = make(cfn, COMPOSITION, v1)
    ivs.state.compositions.start_reads = 10_000  # the new one stays STARTING: the waiter times out
    stuck = cfn.update(COMPOSITION, original, v1, v2, wait=False)["PhysicalResourceId"]
    assert stuck != original
    ivs.state.compositions.start_reads = 1
    # CloudFormation rolls back from the failed update to the physical id it still tracks.
    assert cfn.update(COMPOSITION, original, v2, v1)["PhysicalResourceId"] == original
    assert running(ivs) == [original]  # the untracked one is stopping, not left running


def test_rollback_leaves_the_replacement_cloudformation_tracks_to_cloudformation(cfn, ivs, stage_with_recording):
    v1, v2 = stage_with_recording, {**stage_with_recording, "layout": {"pip": {}}}
    original = make(cfn, COMPOSITION, v1)
    replacement = cfn.update(COMPOSITION, original, v1, v2)["PhysicalResourceId"]
    # Another resource failed: the rollback goes from the replacement back to the original...
    assert cfn.update(COMPOSITION, replacement, v2, v1)["PhysicalResourceId"] == original
    # ...and the replacement is CloudFormation's to delete (or keep, under UpdateReplacePolicy: Retain).
    assert running(ivs) == sorted([original, replacement])
    cfn.delete(COMPOSITION, replacement)
    assert running(ivs) == [original]


def test_updating_back_to_a_kept_compositions_properties_stops_nothing(cfn, ivs, stage_with_recording):
    """A composition kept running (RemovalPolicy.RETAIN on replacement) is adopted by a later
    update back to its properties; the current one is CloudFormation's to delete."""
    v1, v2 = stage_with_recording, {**stage_with_recording, "layout": {"pip": {}}}
    kept = make(cfn, COMPOSITION, v1)
    current = cfn.update(COMPOSITION, kept, v1, v2)["PhysicalResourceId"]  # kept is retained, not deleted
    assert cfn.update(COMPOSITION, current, v2, v1)["PhysicalResourceId"] == kept
    assert running(ivs) == sorted([kept, current])


def test_composition_that_ends_before_it_is_active_fails_with_the_documented_reason(cfn, ivs, stage_with_recording):
    ivs.state.compositions.start_reads = 10_000
    arn = cfn.create(COMPOSITION, stage_with_recording, wait=False)["PhysicalResourceId"]
    ivs.state.end_composition(arn)  # its stage had no participant
    with pytest.raises(ProvisioningError) as caught:
        cfn.settle(cfn.last_event, {"PhysicalResourceId": arn})
    assert str(caught.value) == (
        f"Composition {arn} is STOPPING (IVS ends a composition on its own: a minute after its start if its "
        "stage has no participant, a minute after the last one leaves, or when a destination fails)")
    assert running(ivs) == []
