"""Nothing secret in any log line across a whole lifecycle; log lines are structured."""

from __future__ import annotations

import json
import logging
import os

from conftest import ENCODER, STAGE, STORAGE, Fault


def test_no_secret_in_any_log_line_across_the_lifecycle(cfn, ivs, caplog):
    secret_key = os.environ["AWS_SECRET_ACCESS_KEY"]  # conftest's fake secret, used to sign every request
    response_url = "https://cloudformation-custom-resource-response.example/secret-presigned-url"
    with caplog.at_level(logging.DEBUG):  # everything, botocore's debug output included
        storage = cfn.create(STORAGE, {"name": "r", "s3": {"bucketName": "b-1"}, "tags": {"a": "1"}})
        stage_props = {"name": "s", "autoParticipantRecordingConfiguration": {
            "storageConfigurationArn": storage["PhysicalResourceId"]}, "tags": {"a": "1"}}
        ivs.inject(Fault("drop_after_success", "CreateStage"), Fault("throttle", "TagResource"))
        stage = cfn.create(STAGE, stage_props)["PhysicalResourceId"]
        cfn.update(STAGE, stage, stage_props, {**stage_props, "name": "t", "tags": {"b": "2"}})
        encoder = cfn.create(ENCODER, {"name": "e"})["PhysicalResourceId"]
        replaced = cfn.update(ENCODER, encoder, {"name": "e"}, {"name": "f"})["PhysicalResourceId"]
        for resource_type, arn in ((ENCODER, encoder), (ENCODER, replaced), (STAGE, stage),
                                   (STORAGE, storage["PhysicalResourceId"])):
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
