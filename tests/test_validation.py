"""Validation every construct shares: tags (checked at synth, after Tags.of) and deploy-time values.

The rules of each construct's own props are tested in its own module (test_stage.py, ...)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from synth import new_stack, recording, synth_error

from constructs_ivsrt import (
    EncoderConfiguration,
    Stage,
    StorageConfiguration,
)


def test_unresolved_tokens_are_skipped():
    st = new_stack("V")
    name = cdk.CfnParameter(st, "StageName").value_as_string
    window = cdk.CfnParameter(st, "Window", type="Number").value_as_number
    Stage(st, "Stage", stage_name=name, auto_participant_recording=recording(st, reconnect_window=cdk.Duration.seconds(window)))
    bucket = s3.Bucket.from_bucket_name(st, "B", cdk.Fn.import_value("BucketName"))
    StorageConfiguration(st, "Sto", bucket=bucket)
    cdk.App.of(st).synth()  # no error


def test_more_than_49_tags_fail_synth():
    st = new_stack("V")
    Stage(st, "Stage", tags={f"own{i}": "v" for i in range(40)})
    for i in range(11):
        cdk.Tags.of(st).add(f"added{i}", "v")
    message = synth_error(st)
    assert "Validation failed" in message
    assert (
        "V/Stage: tags must have at most 49 entries (IVS allows 50 and the provider adds "
        "constructs-ivsrt:identity), got: 51 tags: [" in message
    )


def test_reserved_tag_prefix_fails_synth():
    st = new_stack("V")
    EncoderConfiguration(st, "Enc", tags={"aws:cloudformation:x": "v"})
    assert "V/Enc: tags key must not start with the reserved prefix 'aws:', got: 'aws:cloudformation:x'" in synth_error(st)


def test_bad_tag_characters_fail_synth():
    st = new_stack("V")
    EncoderConfiguration(st, "Enc")
    cdk.Tags.of(st).add("owner", "a#b")
    assert "V/Enc: tags value must contain only letters, numbers, spaces and _ . : / = + - @, got: 'a#b'" in synth_error(st)
