"""The provider's IAM policy covers every call the handler makes, on every path: every call
is checked against the policy's actions here, and held to the policy itself at the local
endpoint (conftest.provider_role), which refuses what it does not allow."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import COMPOSITION, ENCODER, INGEST, P384_KEY_A, P384_KEY_B, PUBLIC_KEY, STAGE, STORAGE, Fault

from constructs_ivsrt._provider import DESIRED_STATE_ACTIONS, HANDLER_ACTIONS, LIST_ACTIONS, handler_actions, list_actions
from ivsrt_runtime.calls import RequestFailed
from ivsrt_runtime.rules import RESOURCES

pytestmark = pytest.mark.usefixtures("provider_role")


def test_policy_covers_every_call_on_every_path(cfn, ivs, handler):
    storage = cfn.create(STORAGE, {"name": "r", "s3": {"bucketName": "b-1"}, "tags": {"a": "1"}})["PhysicalResourceId"]
    stage_v1 = {"name": "s", "tags": {"a": "1"}, "autoParticipantRecordingConfiguration": {"storageConfigurationArn": storage}}
    ivs.inject(Fault("drop_after_success", "CreateStage"))  # adoption after a lost response
    stage = cfn.create(STAGE, stage_v1)["PhysicalResourceId"]
    stage_v2 = {**stage_v1, "name": "t", "tags": {"b": "2"}}
    cfn.update(STAGE, stage, stage_v1, stage_v2)  # in place, untag, tag
    cfn.update(STAGE, stage, stage_v2, {**stage_v2, "tags": {"c": "3"}})  # tag-only: a Get for the endpoints
    enc_v1, enc_v2 = {"name": "e", "tags": {"a": "1"}}, {"name": "f", "tags": {"a": "2"}}
    encoder = cfn.create(ENCODER, enc_v1)["PhysicalResourceId"]
    replacement = cfn.update(ENCODER, encoder, enc_v1, enc_v2)["PhysicalResourceId"]  # list + create
    assert cfn.update(ENCODER, replacement, enc_v2, enc_v1)["PhysicalResourceId"] == encoder  # rollback adoption
    cfn.timeout_seconds = handler.ANSWER_MARGIN_SECONDS + 3
    with pytest.raises(RequestFailed, match=f"still used by {stage}"):
        cfn.delete(STORAGE, storage)  # in use: waits, then names the stage (ListStages, GetStage)
    # The stage goes while the storage configuration's delete waits for it; a failure of either fails the test.
    with ThreadPoolExecutor(1) as pool:
        stage_deleted = pool.submit(lambda: (time.sleep(0.5), cfn.delete(STAGE, stage)))
        cfn.delete(STORAGE, storage)
        stage_deleted.result()
    for resource_type, arn in ((ENCODER, replacement), (ENCODER, encoder)):
        cfn.delete(resource_type, arn)

    allowed = {action.split(":", 1)[1] for action in HANDLER_ACTIONS + LIST_ACTIONS} | set(DESIRED_STATE_ACTIONS)
    called = set(ivs.state.calls) | set(ivs.ssm.calls)
    assert {"ssm:PutParameter", "ssm:GetParameter", "ssm:DeleteParameter"} <= called
    assert {"ListStages", "GetStage", "ListEncoderConfigurations", "TagResource", "UntagResource"} <= called
    assert called - allowed == set()


def test_policy_covers_every_call_of_the_newer_types(cfn, ivs):
    """Each type's calls against that type's own statements: create, lost create (adoption),
    tag-only and in-place updates, replacement, rollback, delete; a composition's waits."""
    stage = cfn.create(STAGE, {"name": "s"})["PhysicalResourceId"]
    storage = cfn.create(STORAGE, {"name": "r", "s3": {"bucketName": "b-1"}})["PhysicalResourceId"]
    encoder = cfn.create(ENCODER, {"name": "e"})["PhysicalResourceId"]
    recording = [{"s3": {"storageConfigurationArn": storage, "encoderConfigurationArns": [encoder]}}]
    bodies = {
        INGEST: (
            {"name": "i", "stageArn": stage, "userId": "a", "ingestProtocol": "RTMPS"},
            {"name": "i", "stageArn": stage, "userId": "b", "ingestProtocol": "RTMPS"},
        ),
        PUBLIC_KEY: ({"name": "k", "publicKeyMaterial": P384_KEY_A}, {"name": "k", "publicKeyMaterial": P384_KEY_B}),
        COMPOSITION: (
            {"stageArn": stage, "destinations": recording, "layout": {"grid": {}}},
            {"stageArn": stage, "destinations": recording, "layout": {"pip": {}}},
        ),
    }
    for resource_type, (v1, v2) in bodies.items():
        rules = RESOURCES[resource_type]
        ivs.state.calls.clear()
        ivs.inject(Fault("drop_after_success", rules.create_operation))
        first = cfn.create(resource_type, {**v1, "tags": {"a": "1"}})["PhysicalResourceId"]
        cfn.update(resource_type, first, {**v1, "tags": {"a": "1"}}, {**v1, "tags": {"b": "2"}})
        second = cfn.update(resource_type, first, v1, v2)["PhysicalResourceId"]
        cfn.update(resource_type, second, v2, v1)
        cfn.delete(resource_type, second)
        cfn.delete(resource_type, first)
        allowed = {action.split(":", 1)[1] for action in handler_actions(rules) + list_actions(rules)}
        called = set(ivs.state.calls)
        assert {
            rules.create_operation,
            rules.get_operation,
            rules.delete_operation,
            rules.list_operation,
            "TagResource",
            "UntagResource",
        } <= called  # every path ran
        assert called - allowed == set(), resource_type
