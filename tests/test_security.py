"""Nothing secret in any log line across a whole lifecycle; log lines are structured."""

from __future__ import annotations

import json
import logging
import os

from conftest import ENCODER, INGEST, STAGE, STORAGE, Fault


def test_no_secret_in_any_log_line_across_the_lifecycle(cfn, ivs, caplog):
    secret_key = os.environ["AWS_SECRET_ACCESS_KEY"]  # conftest's fake secret, used to sign every request
    response_url = "https://cloudformation-custom-resource-response.example/secret-presigned-url"
    with caplog.at_level(logging.DEBUG):  # everything, botocore's debug output included
        storage = cfn.create(STORAGE, {"name": "r", "s3": {"bucketName": "b-1"}, "tags": {"a": "1"}})
        stage_props = {
            "name": "s",
            "autoParticipantRecordingConfiguration": {"storageConfigurationArn": storage["PhysicalResourceId"]},
            "tags": {"a": "1"},
        }
        ivs.inject(Fault("drop_after_success", "CreateStage"), Fault("throttle", "TagResource"))
        stage = cfn.create(STAGE, stage_props)["PhysicalResourceId"]
        cfn.update(STAGE, stage, stage_props, {**stage_props, "name": "t", "tags": {"b": "2"}})
        encoder = cfn.create(ENCODER, {"name": "e"})["PhysicalResourceId"]
        replaced = cfn.update(ENCODER, encoder, {"name": "e"}, {"name": "f"})["PhysicalResourceId"]
        for resource_type, arn in (
            (ENCODER, encoder),
            (ENCODER, replaced),
            (STAGE, stage),
            (STORAGE, storage["PhysicalResourceId"]),
        ):
            cfn.delete(resource_type, arn)
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert text, "nothing was logged: the test would prove nothing"
    for secret in (response_url, "secret-presigned-url", secret_key):
        assert secret not in text
    handler_lines = [r.getMessage() for r in caplog.records if r.name == "constructs_ivsrt.handler"]
    assert len(handler_lines) >= 2 * 8  # STARTED and an outcome for each of the 8 requests
    for line in handler_lines:
        record = json.loads(line)
        assert {"requestType", "resourceType", "logicalId", "physicalId", "outcome"} <= set(record)


def test_stream_keys_and_participant_tokens_never_reach_a_log_line(cfn, ivs, caplog, monkeypatch):
    from ivsrt_runtime import tokens as token_vendor

    with caplog.at_level(logging.DEBUG):  # botocore's debug output included
        stage = cfn.create(STAGE, {"name": "s"})["PhysicalResourceId"]
        props = {"name": "studio", "stageArn": stage, "ingestProtocol": "RTMPS", "redundantIngest": True}
        ivs.inject(Fault("drop_after_success", "CreateIngestConfiguration"))  # adoption reads it back
        created = cfn.create(INGEST, props)
        cfn.update(INGEST, created["PhysicalResourceId"], props, {**props, "tags": {"a": "1"}})
        monkeypatch.setenv("STAGE_ARN", stage)
        monkeypatch.setenv("TOKEN_DURATION_MINUTES", "60")
        monkeypatch.setenv("TOKEN_CAPABILITIES", "SUBSCRIBE")
        token = token_vendor.create_token({"userId": "viewer-1"})["token"]
    secrets = [created["Data"]["StreamKey"], created["Data"]["RedundantIngestCredentialsStreamKey"], token]
    assert all(secrets) and created["NoEcho"] is True
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "CreateParticipantToken" in ivs.state.calls and text
    for secret in secrets:
        assert secret not in text
