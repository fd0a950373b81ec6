"""Create -> update in place -> replace -> rollback -> delete -> delete again, for each type.

The real handler, real boto3 over HTTP, the local endpoint; after each step the endpoint's whole
state is compared with what should be there: nothing leaked, tags exact.
"""

from __future__ import annotations

import pytest
from conftest import ENCODER, STAGE, STORAGE, Fault, make_storage, only, resources, user_tags

from ivsrt_local.scenarios import lifecycle
from ivsrt_runtime.rules import RESOURCES

# Every call the handler makes here is held to the provider's own IAM policy (conftest.provider_role).
pytestmark = pytest.mark.usefixtures("provider_role")

# ---------------------------------------------------------------------------------------------
# Stage: everything changes in place.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "resource_type, props", [(ENCODER, {"name": "e"}), (STORAGE, {"name": "r", "s3": {"bucketName": "b-1"}})]
)
def test_tag_only_update_of_a_configuration_is_the_tag_calls_alone(cfn, ivs, resource_type, props):
    created = cfn.create(resource_type, {**props, "tags": {"a": "1", "b": "2"}})
    ivs.state.calls.clear()
    updated = cfn.update(
        resource_type, created["PhysicalResourceId"], {**props, "tags": {"a": "1", "b": "2"}}, {**props, "tags": {"a": "9"}}
    )
    assert ivs.state.calls == ["UntagResource", "TagResource"]
    assert updated["Data"] == created["Data"]  # what Fn::GetAtt reads is the same as after a Get


def test_unchanged_update_only_reads(cfn, ivs):
    props = {"name": "s", "tags": {"a": "1"}}
    arn = cfn.create(STAGE, props)["PhysicalResourceId"]
    ivs.state.calls.clear()
    result = cfn.update(STAGE, arn, props, props)
    assert result["PhysicalResourceId"] == arn
    assert ivs.state.calls == ["GetStage"]  # Data must still be returned; nothing is changed


# ---------------------------------------------------------------------------------------------
# Encoder and storage configurations: name and body replace, tags do not.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("resource_type", [ENCODER, STORAGE], ids=["encoder-configuration", "storage-configuration"])
def test_replacing_type_lifecycle(cfn, ivs, resource_type):
    noun = RESOURCES[resource_type].noun
    bodies = lifecycle(resource_type, {})
    v1_body, v2_body = bodies.first, bodies.replacing
    v1 = {**v1_body, "tags": {"team": "live", "env": "dev"}}
    arn = cfn.create(resource_type, v1)["PhysicalResourceId"]
    assert user_tags(only(ivs, noun)) == v1["tags"]

    # Tag-only change: in place.
    v2 = {**v1, "tags": {"team": "broadcast", "new": "x"}}
    assert cfn.update(resource_type, arn, v1, v2)["PhysicalResourceId"] == arn
    assert user_tags(only(ivs, noun)) == {"team": "broadcast", "new": "x"}

    # Body change: a new resource with a new ARN; the old stays until CloudFormation deletes it.
    v3 = {**v2_body, "tags": v2["tags"]}
    new_arn = cfn.update(resource_type, arn, v2, v3)["PhysicalResourceId"]
    assert new_arn != arn
    assert {r["arn"] for r in resources(ivs, noun)} == {arn, new_arn}
    replacement = next(r for r in resources(ivs, noun) if r["arn"] == new_arn)
    assert user_tags(replacement) == v2["tags"]

    # Rollback of that update: CloudFormation sends the swapped Update to the replacement. The
    # original (same stack resource, the old immutable properties) still exists: it is adopted,
    # with the old tags, and CloudFormation's cleanup then deletes the replacement.
    rolled_back = cfn.update(resource_type, new_arn, v3, v2)["PhysicalResourceId"]
    assert rolled_back == arn
    cfn.delete(resource_type, new_arn, v3)
    original = only(ivs, noun)
    assert original["arn"] == arn
    for key, value in v1_body.items():
        if key != "video":  # the endpoint fills in video defaults
            assert original[key] == value
    assert user_tags(original) == v2["tags"]

    cfn.delete(resource_type, arn, v2)
    assert resources(ivs) == []
    cfn.delete(resource_type, arn, v2)  # already gone
    assert resources(ivs) == []


def test_rollback_adopts_the_original_even_when_tags_differ(cfn, ivs):
    v1 = {"name": "one", "video": {"width": 640, "height": 360}, "tags": {"t": "1"}}
    arn = cfn.create(ENCODER, v1)["PhysicalResourceId"]
    v2 = {"name": "two", "video": {"width": 640, "height": 360}, "tags": {"t": "2", "extra": "x"}}
    new_arn = cfn.update(ENCODER, arn, v1, v2)["PhysicalResourceId"]
    assert cfn.update(ENCODER, new_arn, v2, v1)["PhysicalResourceId"] == arn
    cfn.delete(ENCODER, new_arn, v2)
    assert [user_tags(r) for r in resources(ivs)] == [{"t": "1"}]


def test_rollback_of_a_failed_replacement_keeps_the_resource(cfn, ivs):
    """The replacing Create failed, so the stack still points at the original; the rollback's
    swapped Update asks for the properties the original already has: nothing new is made."""
    v1 = {"name": "one", "s3": {"bucketName": "bucket-a"}, "tags": {"t": "1"}}
    arn = cfn.create(STORAGE, v1)["PhysicalResourceId"]
    v2 = {"name": "one", "s3": {"bucketName": "bucket-b"}, "tags": {"t": "1"}}
    ivs.inject(Fault("error", "CreateStorageConfiguration", code="AccessDeniedException"))
    with pytest.raises(Exception, match="AccessDeniedException"):
        cfn.update(STORAGE, arn, v1, v2)
    assert cfn.update(STORAGE, arn, v2, v1)["PhysicalResourceId"] == arn
    assert [r["arn"] for r in resources(ivs)] == [arn]


def test_lost_create_response_is_adopted_not_duplicated(cfn, ivs):
    ivs.inject(Fault("drop_after_success", "CreateEncoderConfiguration"))
    arn = cfn.create(ENCODER, {"name": "e", "tags": {"a": "1"}})["PhysicalResourceId"]
    assert [r["arn"] for r in resources(ivs)] == [arn]
    assert ivs.state.calls == ["CreateEncoderConfiguration", "ListEncoderConfigurations", "GetEncoderConfiguration"]


def test_same_name_different_request_is_not_adopted(cfn, ivs):
    """IVS names are not unique: a resource with the same name made by another request is not ours."""
    other = cfn.create(STAGE, {"name": "same"}, logical_id="Other")["PhysicalResourceId"]
    ivs.inject(Fault("drop_after_success", "CreateStage"))
    mine = cfn.create(STAGE, {"name": "same"}, logical_id="Mine")["PhysicalResourceId"]
    assert mine != other
    assert sorted(r["arn"] for r in resources(ivs)) == sorted([mine, other])


def test_happy_path_create_is_one_call(cfn, ivs):
    for resource_type, props in (
        (STAGE, {"name": "s"}),
        (ENCODER, {"name": "e"}),
        (STORAGE, {"name": "r", "s3": {"bucketName": "b-1"}}),
    ):
        ivs.state.calls.clear()
        cfn.create(resource_type, {**props, "tags": {"a": "1"}})
        assert len(ivs.state.calls) == 1, ivs.state.calls


def test_replacing_name_change(cfn, ivs):
    v1 = {"name": "one", "video": {"width": 640, "height": 360}}
    arn = cfn.create(ENCODER, v1)["PhysicalResourceId"]
    new_arn = cfn.update(ENCODER, arn, v1, {**v1, "name": "two"})["PhysicalResourceId"]
    assert new_arn != arn
    assert next(r for r in resources(ivs) if r["arn"] == new_arn)["name"] == "two"


def test_service_token_change_is_not_a_change(cfn, ivs, handler):
    props = {"name": "x", "s3": {"bucketName": "b-1"}}
    arn = cfn.create(STORAGE, props)["PhysicalResourceId"]
    event = {
        "RequestType": "Update",
        "ResourceType": STORAGE,
        "LogicalResourceId": "R",
        "PhysicalResourceId": arn,
        "ResourceProperties": {"ServiceToken": "new-token", **props},
        "OldResourceProperties": {"ServiceToken": "old-token", **props},
    }
    assert handler.on_event(event, None)["PhysicalResourceId"] == arn
    assert len(resources(ivs)) == 1


# ---------------------------------------------------------------------------------------------
# Delete edge cases.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "physical_id",
    [
        "",
        "IvsRealtimeStage-create-failed",
        "arn:aws:ivs:us-east-1:123456789012:encoder-configuration/abc",  # another type's ARN
    ],
)
def test_delete_of_an_id_we_never_made_deletes_nothing(cfn, ivs, physical_id):
    """One List (was it a cancelled Create of this stack resource's?), then success."""
    kept = cfn.create(STAGE, {"name": "s"}, logical_id="Other")["PhysicalResourceId"]
    ivs.state.calls.clear()
    cfn.delete(STAGE, physical_id)
    assert ivs.state.calls == ["ListStages"]
    assert [r["arn"] for r in resources(ivs)] == [kept]


def test_update_of_resource_deleted_outside_cloudformation_fails_in_one_line(cfn, ivs):
    props = {"name": "s", "tags": {"a": "1"}}
    arn = cfn.create(STAGE, props)["PhysicalResourceId"]
    cfn.delete(STAGE, arn)
    with pytest.raises(Exception) as caught:
        cfn.update(STAGE, arn, props, {**props, "name": "t"})
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"UpdateStage failed for {STAGE} Resource ({arn}): ResourceNotFoundException")


def test_adoption_and_the_in_use_diagnosis_read_every_page(cfn, ivs, handler):
    """Lists are paged (100 per page): the resource to find is on the second page."""
    from ivsrt_runtime.calls import RequestFailed

    storage, _ = make_storage(cfn)
    with ivs.state.lock:
        for index in range(100):  # not ours: no identity tag
            ivs.state.create("Stage", {"name": f"filler-{index}"}, "us-east-1")
    # Paging is the point here: without rate limits, the diagnosis's 101 GetStage calls fit in the
    # half second the conflict is given.
    ivs.rate_limits.reset(scale=0)
    ivs.state.calls.clear()
    ivs.inject(Fault("drop_after_success", "CreateStage"))
    stage = cfn.create(STAGE, {"name": "s", "autoParticipantRecordingConfiguration": {"storageConfigurationArn": storage}})[
        "PhysicalResourceId"
    ]
    assert len(resources(ivs, "Stage")) == 101 and ivs.state.calls.count("ListStages") == 2
    cfn.timeout_seconds = handler.ANSWER_MARGIN_SECONDS + 0.5  # give up on the conflict at once
    with pytest.raises(RequestFailed, match=f"still used by {stage}"):
        cfn.delete(STORAGE, storage)


def test_a_delete_of_a_made_up_id_removes_what_the_cancelled_create_made(cfn, ivs):
    """CloudFormation's Delete after it cancelled a Create in flight: the physical id is its own
    invention; the stack resource's identity (owner, properties) says what to delete, and nothing
    else: not another stack resource's."""
    made = cfn.create(STAGE, {"name": "s"}, logical_id="Cancelled")["PhysicalResourceId"]
    other_owner = cfn.create(STAGE, {"name": "s"}, logical_id="Other")["PhysicalResourceId"]
    cfn.delete(STAGE, "Test-Cancelled-1A2B3C4D5E6F", {"name": "s"})  # logical id "Resource": not ours
    assert sorted(r["arn"] for r in resources(ivs, "Stage")) == sorted([made, other_owner])
    ivs.state.calls.clear()
    cfn.send("Delete", STAGE, {"name": "s"}, physical_id="Test-Cancelled-1A2B3C4D5E6F", logical_id="Cancelled")
    assert [r["arn"] for r in resources(ivs, "Stage")] == [other_owner]
    assert ivs.state.calls == ["ListStages", "DeleteStage"]
