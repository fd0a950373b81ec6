"""Each validation rule fails synth with one message: construct path, prop, rule, received value."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from constructs_ivsrt import (
    AutoParticipantRecording,
    EncoderConfiguration,
    IvsRealtimeValidationError,
    Stage,
    StorageConfiguration,
    ThumbnailConfiguration,
    Video,
)

ENV = cdk.Environment(account="123456789012", region="eu-west-1")
STORAGE_ARN = "arn:aws:ivs:eu-west-1:123456789012:storage-configuration/AbCd"


def stack() -> cdk.Stack:
    return cdk.Stack(cdk.App(), "V", env=ENV)


def recording(st: cdk.Stack, **fields) -> AutoParticipantRecording:
    storage = StorageConfiguration.from_storage_configuration_arn(st, "Storage", STORAGE_ARN)
    return AutoParticipantRecording(storage_configuration=storage, **fields)


def expect(message: str, build) -> None:
    with pytest.raises(IvsRealtimeValidationError) as caught:
        build(stack())
    assert str(caught.value) == message


LONG = "x" * 129

CASES = [
    pytest.param(lambda s: Stage(s, "Stage", stage_name="has space"),
                 "V/Stage: stage_name must match the pattern [a-zA-Z0-9-_]*, got: 'has space'", id="stage-name-pattern"),
    pytest.param(lambda s: Stage(s, "Stage", stage_name=LONG),
                 f"V/Stage: stage_name must have at most 128 characters, got: '{LONG}'", id="stage-name-length"),
    pytest.param(lambda s: Stage(s, "Stage", auto_participant_recording=recording(s, reconnect_window=cdk.Duration.seconds(301))),
                 "V/Stage: auto_participant_recording.reconnect_window (seconds) must be between 0 and 300, got: 301",
                 id="reconnect-window-range"),
    pytest.param(lambda s: Stage(s, "Stage", auto_participant_recording=recording(
        s, hls_target_segment_duration=cdk.Duration.seconds(1))),
                 "V/Stage: auto_participant_recording.hls_target_segment_duration (seconds) must be between 2 and 10, got: 1",
                 id="hls-segment-range"),
    pytest.param(lambda s: Stage(s, "Stage", auto_participant_recording=recording(
        s, thumbnails=ThumbnailConfiguration(target_interval=cdk.Duration.days(2)))),
                 "V/Stage: auto_participant_recording.thumbnails.target_interval (seconds) must be between 1 and 86400, "
                 "got: 172800",
                 id="thumbnail-interval-range"),
    pytest.param(lambda s: Stage(s, "Stage", auto_participant_recording=recording(s, media_types=["AUDIO_VIDEO", "AUDIO_ONLY"])),
                 "V/Stage: auto_participant_recording.media_types must have at most 1 items, got: ['AUDIO_VIDEO', 'AUDIO_ONLY']",
                 id="media-types-count"),
    pytest.param(lambda s: Stage(s, "Stage", auto_participant_recording=recording(s, media_types=["VIDEO"])),
                 "V/Stage: auto_participant_recording.media_types[0] must be one of AUDIO_VIDEO, AUDIO_ONLY, NONE, got: 'VIDEO'",
                 id="media-type-enum"),
    pytest.param(lambda s: Stage(s, "Stage", auto_participant_recording=recording(
        s, thumbnails=ThumbnailConfiguration(storage=["ALL"]))),
                 "V/Stage: auto_participant_recording.thumbnails.storage[0] must be one of SEQUENTIAL, LATEST, got: 'ALL'",
                 id="thumbnail-storage-enum"),
    pytest.param(lambda s: Stage(s, "Stage", auto_participant_recording=recording(s, record_participant_replicas="yes")),
                 "V/Stage: auto_participant_recording.record_participant_replicas must be true or false, got: 'yes'",
                 id="replicas-type"),
    pytest.param(lambda s: Stage.from_stage_arn(s, "Imported", "arn:aws:ivs:eu-west-1:123456789012:channel/abc"),
                 "V/Imported: stage_arn must match the pattern arn:aws:ivs:[a-z0-9-]+:[0-9]+:stage/[a-zA-Z0-9-]+, "
                 "got: 'arn:aws:ivs:eu-west-1:123456789012:channel/abc'", id="stage-arn"),
    pytest.param(lambda s: EncoderConfiguration(s, "Enc", video=Video(width=1921)),
                 "V/Enc: video.width must be between 2 and 1920, got: 1921", id="video-width"),
    pytest.param(lambda s: EncoderConfiguration(s, "Enc", video=Video(height=1)),
                 "V/Enc: video.height must be between 2 and 1920, got: 1", id="video-height"),
    pytest.param(lambda s: EncoderConfiguration(s, "Enc", video=Video(framerate=60.5)),
                 "V/Enc: video.framerate must be between 1 and 60, got: 60.5", id="video-framerate"),
    pytest.param(lambda s: EncoderConfiguration(s, "Enc", video=Video(bitrate=8_500_001)),
                 "V/Enc: video.bitrate must be between 1 and 8500000, got: 8500001", id="video-bitrate"),
    pytest.param(lambda s: EncoderConfiguration(s, "Enc", video=Video(width=1280.5)),
                 "V/Enc: video.width must be a whole number, got: 1280.5", id="video-width-integer"),
    pytest.param(lambda s: EncoderConfiguration(s, "Enc", encoder_configuration_name="a/b"),
                 "V/Enc: encoder_configuration_name must match the pattern [a-zA-Z0-9-_]*, got: 'a/b'", id="encoder-name"),
    pytest.param(lambda s: EncoderConfiguration.from_encoder_configuration_arn(s, "E", "not-an-arn"),
                 "V/E: encoder_configuration_arn must match the pattern "
                 "arn:aws:ivs:[a-z0-9-]+:[0-9]+:encoder-configuration/[a-zA-Z0-9-]+, got: 'not-an-arn'", id="encoder-arn"),
    pytest.param(lambda s: StorageConfiguration(s, "Sto", bucket=s3.Bucket.from_bucket_name(s, "B", "my-bucket"),
                                                storage_configuration_name="x" * 129),
                 f"V/Sto: storage_configuration_name must have at most 128 characters, got: '{'x' * 129}'", id="storage-name"),
    pytest.param(lambda s: StorageConfiguration(s, "Sto", bucket=s3.Bucket.from_bucket_name(s, "B", "Bad_Bucket")),
                 "V/Sto: bucket.bucket_name must match the pattern [a-z0-9-.]+, got: 'Bad_Bucket'", id="bucket-name"),
    pytest.param(lambda s: StorageConfiguration.from_storage_configuration_arn(s, "S", "arn:aws:ivs:eu-west-1:1:stage/a"),
                 "V/S: storage_configuration_arn must match the pattern "
                 "arn:aws:ivs:[a-z0-9-]+:[0-9]+:storage-configuration/[a-zA-Z0-9-]+, got: 'arn:aws:ivs:eu-west-1:1:stage/a'",
                 id="storage-arn"),
    pytest.param(lambda s: StorageConfiguration(s, "Sto", bucket=s3.Bucket(s, "B", encryption=s3.BucketEncryption.KMS)),
                 "V/Sto: bucket encryption must be SSE-S3 (BucketEncryption.S3_MANAGED): IVS cannot write to "
                 "KMS-encrypted buckets, got: 'aws:kms'", id="bucket-kms"),
    pytest.param(lambda s: StorageConfiguration(
        s, "Sto", bucket=s3.Bucket(s, "B", object_ownership=s3.ObjectOwnership.OBJECT_WRITER)),
                 "V/Sto: bucket object ownership must be BucketOwnerEnforced or BucketOwnerPreferred so recordings "
                 "belong to the bucket owner, got: 'ObjectWriter'", id="bucket-ownership"),
]


@pytest.mark.parametrize("build, message", CASES)
def test_rule(build, message):
    expect(message, build)


def test_every_violation_is_reported_at_once():
    with pytest.raises(IvsRealtimeValidationError) as caught:
        EncoderConfiguration(stack(), "Enc", video=Video(width=0, height=0))
    assert str(caught.value).splitlines() == [
        "V/Enc: video.width must be between 2 and 1920, got: 0",
        "V/Enc: video.height must be between 2 and 1920, got: 0",
    ]


def test_bucket_in_another_region():
    app = cdk.App()
    elsewhere = cdk.Stack(app, "Elsewhere", env=cdk.Environment(account="123456789012", region="us-west-2"))
    bucket = s3.Bucket(elsewhere, "B")
    here = cdk.Stack(app, "Here", env=ENV)
    with pytest.raises(IvsRealtimeValidationError) as caught:
        StorageConfiguration(here, "Sto", bucket=bucket)
    assert str(caught.value) == (
        "Here/Sto: bucket must be in the stack's region eu-west-1 (IVS writes only to same-region buckets), got: 'us-west-2'"
    )


def test_kms_key_bucket_is_rejected_too():
    def build(s):
        StorageConfiguration(s, "Sto", bucket=s3.Bucket(s, "B", encryption_key=kms.Key(s, "K")))

    with pytest.raises(IvsRealtimeValidationError, match="bucket encryption must be SSE-S3 .* got: 'aws:kms'"):
        build(stack())


def test_unresolved_tokens_are_skipped():
    st = stack()
    name = cdk.CfnParameter(st, "StageName").value_as_string
    window = cdk.CfnParameter(st, "Window", type="Number").value_as_number
    Stage(st, "Stage", stage_name=name,
          auto_participant_recording=recording(st, reconnect_window=cdk.Duration.seconds(window)))
    bucket = s3.Bucket.from_bucket_name(st, "B", cdk.Fn.import_value("BucketName"))
    StorageConfiguration(st, "Sto", bucket=bucket)
    cdk.App.of(st).synth()  # no error


def synth_error(st: cdk.Stack) -> str:
    with pytest.raises(Exception) as caught:
        cdk.App.of(st).synth()
    return str(caught.value)


def test_more_than_49_tags_fail_synth():
    st = stack()
    Stage(st, "Stage", tags={f"own{i}": "v" for i in range(40)})
    for i in range(11):
        cdk.Tags.of(st).add(f"added{i}", "v")
    message = synth_error(st)
    assert "Validation failed" in message
    assert ("V/Stage: tags must have at most 49 entries (IVS allows 50 and the provider adds "
            "constructs-ivsrt:identity), got: 51 tags: [" in message)


def test_reserved_tag_prefix_fails_synth():
    st = stack()
    EncoderConfiguration(st, "Enc", tags={"aws:cloudformation:x": "v"})
    assert "V/Enc: tags key must not start with the reserved prefix 'aws:', got: 'aws:cloudformation:x'" in synth_error(st)


def test_bad_tag_characters_fail_synth():
    st = stack()
    EncoderConfiguration(st, "Enc")
    cdk.Tags.of(st).add("owner", "a#b")
    assert ("V/Enc: tags value must contain only letters, numbers, spaces and _ . : / = + - @, got: 'a#b'"
            in synth_error(st))


def test_list_and_duration_tokens_are_skipped():
    st = stack()
    media = cdk.CfnParameter(st, "Media", type="CommaDelimitedList").value_as_list
    window = cdk.Duration.seconds(cdk.CfnParameter(st, "Window", type="Number").value_as_number)
    Stage(st, "Stage", auto_participant_recording=recording(
        st, media_types=media, reconnect_window=window,
        thumbnails=ThumbnailConfiguration(storage=media, target_interval=window)))
    cdk.App.of(st).synth()
    other = stack()
    minutes = cdk.Duration.minutes(cdk.CfnParameter(other, "Minutes", type="Number").value_as_number)
    with pytest.raises(IvsRealtimeValidationError, match=r"must use Duration.seconds\(\), got: Duration.minutes"):
        Stage(other, "Other", auto_participant_recording=recording(other, reconnect_window=minutes))
