"""Faults at the endpoint: transient ones are retried by botocore, permanent ones fail in one line."""

from __future__ import annotations

import logging

import pytest

from conftest import ENCODER, STAGE, STORAGE, Fault, resources

PROPS = {STAGE: {"name": "s", "tags": {"a": "1"}},
         ENCODER: {"name": "e", "video": {"width": 640, "height": 360}},
         STORAGE: {"name": "r", "s3": {"bucketName": "bucket-x"}}}
CREATE = {STAGE: "CreateStage", ENCODER: "CreateEncoderConfiguration", STORAGE: "CreateStorageConfiguration"}


@pytest.mark.parametrize("kind", ["throttle", "server_error"])
@pytest.mark.parametrize("resource_type", [STAGE, ENCODER, STORAGE])
def test_transient_faults_are_retried(cfn, ivs, resource_type, kind):
    ivs.inject(Fault(kind, CREATE[resource_type], times=2))
    arn = cfn.create(resource_type, PROPS[resource_type])["PhysicalResourceId"]
    assert ivs.state.calls.count(CREATE[resource_type]) == 3
    assert [r["arn"] for r in resources(ivs)] == [arn]


def test_latency_below_the_timeout_is_waited_for(cfn, ivs):
    ivs.inject(Fault("latency", "CreateStage", seconds=0.5))
    arn = cfn.create(STAGE, PROPS[STAGE])["PhysicalResourceId"]
    assert [r["arn"] for r in resources(ivs)] == [arn]


def test_throttling_on_delete_is_retried(cfn, ivs):
    arn = cfn.create(STAGE, PROPS[STAGE])["PhysicalResourceId"]
    ivs.inject(Fault("throttle", "DeleteStage", times=2))
    cfn.delete(STAGE, arn)
    assert resources(ivs) == []


def test_retries_are_bounded(cfn, ivs, handler):
    ivs.inject(Fault("server_error", "CreateStage", times=100))
    with pytest.raises(Exception, match="InternalServerException"):
        cfn.create(STAGE, PROPS[STAGE])
    assert ivs.state.calls.count("CreateStage") == handler.TOTAL_ATTEMPTS == 5
    assert resources(ivs) == []


@pytest.mark.parametrize("code", ["AccessDeniedException", "ServiceQuotaExceededException", "ValidationException"])
def test_permanent_error_is_one_line_without_traceback(cfn, ivs, code):
    ivs.inject(Fault("error", "CreateStage", code=code))
    with pytest.raises(Exception) as caught:
        cfn.create(STAGE, PROPS[STAGE], logical_id="MyStage")
    message = str(caught.value)
    quota = " (quota: Stages per account and region, default 1000; request an increase in Service Quotas)"
    assert message == f"CreateStage failed for {STAGE} MyStage: {code}: {code} (injected)" + (
        quota if code == "ServiceQuotaExceededException" else "")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # `raise ... from None`
    assert ivs.state.calls.count("CreateStage") == 1  # not retried
    assert resources(ivs) == []


def test_invalid_properties_fail_before_any_call(cfn, ivs):
    with pytest.raises(Exception) as caught:
        cfn.create(STAGE, {"name": "no spaces allowed"})
    assert str(caught.value) == (
        f"Invalid {STAGE} properties: Stage.name must match the pattern [a-zA-Z0-9-_]*, got: 'no spaces allowed'"
    )
    assert ivs.state.calls == []


def test_unknown_resource_type_fails_clearly(cfn, ivs):
    with pytest.raises(Exception, match="Unsupported request 'Create' for resource type 'Custom::Nope'"):
        cfn.create("Custom::Nope", {})


def test_logs_are_structured_and_never_carry_the_response_url(cfn, ivs, caplog):
    with caplog.at_level(logging.INFO, logger="constructs_ivsrt.handler"):
        arn = cfn.create(STAGE, PROPS[STAGE], logical_id="LoggedStage")["PhysicalResourceId"]
        cfn.delete(STAGE, arn)
    text = caplog.text
    assert "secret-presigned-url" not in text and "ResponseURL" not in text
    assert '"logicalId": "LoggedStage"' in text and '"outcome": "SUCCESS"' in text
    assert f'"newPhysicalId": "{arn}"' in text


def test_malformed_tags_fail_in_one_line(cfn, ivs):
    with pytest.raises(Exception) as caught:
        cfn.create(STAGE, {"name": "s", "tags": ["not", "a", "map"]})
    assert "\n" not in str(caught.value) and "Stage.tags must be a map" in str(caught.value)
    assert ivs.state.calls == []
