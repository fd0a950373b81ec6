"""Faults at the endpoint: transient ones are retried until the deadline, permanent ones fail in one line."""

from __future__ import annotations

import logging
import re

import pytest
from conftest import ENCODER, STAGE, STORAGE, Fault, resources

PROPS = {
    STAGE: {"name": "s", "tags": {"a": "1"}},
    ENCODER: {"name": "e", "video": {"width": 640, "height": 360}},
    STORAGE: {"name": "r", "s3": {"bucketName": "bucket-x"}},
}
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


@pytest.mark.parametrize("resource_type", [STAGE, ENCODER, STORAGE])
def test_the_happy_path_is_one_call(cfn, ivs, resource_type):
    cfn.create(resource_type, PROPS[resource_type])
    assert ivs.state.calls == [CREATE[resource_type]]


def test_a_throttled_create_is_retried_without_a_search(cfn, ivs):
    """A throttled request was never acted on: nothing to look for before trying again."""
    ivs.inject(Fault("throttle", "CreateStage", times=3))
    cfn.create(STAGE, PROPS[STAGE])
    assert ivs.state.calls == ["CreateStage"] * 4


def test_an_ambiguous_create_failure_searches_before_the_retry(cfn, ivs):
    """A 5xx may come after the service acted: look for what it made (none here), then retry."""
    ivs.inject(Fault("server_error", "CreateStage", times=1))
    cfn.create(STAGE, PROPS[STAGE])
    assert ivs.state.calls == ["CreateStage", "ListStages", "CreateStage"]


def test_a_create_whose_answer_was_lost_is_adopted(cfn, ivs):
    ivs.inject(Fault("drop_after_success", "CreateStage", times=1))
    arn = cfn.create(STAGE, PROPS[STAGE])["PhysicalResourceId"]
    assert ivs.state.calls == ["CreateStage", "ListStages", "GetStage"]
    assert [r["arn"] for r in resources(ivs)] == [arn]


@pytest.mark.parametrize(
    "kind, said",
    [
        (
            "throttle",
            r"ThrottlingException: Rate exceeded \(injected\) \(throttled for \d+ s, until the function's "
            r"deadline; IVS Real-Time allows 5 CreateStage calls per second per account and region\)$",
        ),
        (
            "server_error",
            r"InternalServerException: Internal failure \(injected\) \(retried for \d+ s, until the "
            r"function's deadline\)$",
        ),
    ],
)
def test_retries_end_at_the_deadline_in_one_line(cfn, ivs, handler, kind, said):
    """Retries are bounded by time, not a count: the function's time left minus the answer margin."""
    cfn.timeout_seconds = handler.ANSWER_MARGIN_SECONDS + 2
    ivs.inject(Fault(kind, "CreateStage", times=10_000))
    with pytest.raises(Exception, match="^CreateStage failed for " + re.escape(STAGE) + " Resource: " + said) as caught:
        cfn.create(STAGE, PROPS[STAGE])
    assert "\n" not in str(caught.value)
    assert ivs.state.calls.count("CreateStage") > 2
    assert resources(ivs) == []


def test_an_ambiguous_failure_at_the_deadline_looks_once_more(cfn, ivs, handler):
    """The last attempt's answer was lost as time ran out: what it made is adopted, not leaked."""
    cfn.timeout_seconds = handler.ANSWER_MARGIN_SECONDS  # no time for a retry
    ivs.inject(Fault("drop_after_success", "CreateStage"))
    arn = cfn.create(STAGE, PROPS[STAGE])["PhysicalResourceId"]
    assert ivs.state.calls == ["CreateStage", "ListStages", "GetStage"]
    assert [r["arn"] for r in resources(ivs)] == [arn]


@pytest.mark.parametrize(
    "operation, request_type",
    [
        ("ListStages", "adoption search"),
        ("GetStage", "adoption search"),
        ("UntagResource", "Update"),
        ("TagResource", "Update"),
        ("UpdateStage", "Update"),
        ("DeleteStage", "Delete"),
    ],
)
def test_every_call_retries_throttling(cfn, ivs, operation, request_type):
    """Not only Create: the search's Lists and Gets, updates, tags and deletes ride out throttling."""
    if request_type == "adoption search":
        ivs.inject(Fault("drop_after_success", "CreateStage"), Fault("throttle", operation, times=3))
        arn = cfn.create(STAGE, {"name": "s", "tags": {"a": "1"}})["PhysicalResourceId"]
    else:
        arn = cfn.create(STAGE, {"name": "s", "tags": {"a": "1"}})["PhysicalResourceId"]
        ivs.inject(Fault("throttle", operation, times=3))
        arn = cfn.update(STAGE, arn, {"name": "s", "tags": {"a": "1"}}, {"name": "t", "tags": {"b": "2"}})["PhysicalResourceId"]
        cfn.delete(STAGE, arn)
    assert ivs.state.calls.count(operation) == 4
    assert len(resources(ivs)) == (1 if request_type == "adoption search" else 0)


@pytest.mark.parametrize("code", ["AccessDeniedException", "ServiceQuotaExceededException", "ValidationException"])
def test_permanent_error_is_one_line_without_traceback(cfn, ivs, code):
    ivs.inject(Fault("error", "CreateStage", code=code))
    with pytest.raises(Exception) as caught:
        cfn.create(STAGE, PROPS[STAGE], logical_id="MyStage")
    message = str(caught.value)
    quota = " (quota: Stages per account and region, default 1000; request an increase in Service Quotas)"
    assert message == f"CreateStage failed for {STAGE} MyStage: {code}: {code} (injected)" + (
        quota if code == "ServiceQuotaExceededException" else ""
    )
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
