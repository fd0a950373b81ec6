"""A bad-input corpus generated from the model's constraints (hypothesis), and its valid twin.

Every invalid value must fail with our message (construct path, prop, rule, received value) and
nothing may synthesize; no other exception may escape. Every valid value must synthesize. The
counts are printed at the end of the test session (see conftest.py).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from conftest import P384_KEY_A
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from constructs_ivsrt import (
    AutoParticipantRecording,
    Composition,
    EncoderConfiguration,
    GridLayout,
    IngestConfiguration,
    IvsRealtimeValidationError,
    ParticipantTokenVendor,
    PipLayout,
    PublicKey,
    S3Destination,
    Stage,
    StorageConfiguration,
    ThumbnailConfiguration,
    Video,
)
from ivsrt_runtime import rules

COUNTS: Counter = Counter()
PER_CONSTRUCT: Counter = Counter()  # (construct, "invalid tried" | "rejected" | "valid tried" | "synthesized")
EXAMPLES = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
STORAGE_ARN = "arn:aws:ivs:us-east-1:123456789012:storage-configuration/AbCd"
RECORDING = rules.STAGE.property_shape("autoParticipantRecordingConfiguration")


def new_stack() -> cdk.Stack:
    return cdk.Stack(cdk.App(), "C", env=cdk.Environment(account="123456789012", region="us-east-1"))


def recording(stack: cdk.Stack, **fields: Any) -> AutoParticipantRecording:
    storage = StorageConfiguration.from_storage_configuration_arn(stack, "Storage", STORAGE_ARN)
    return AutoParticipantRecording(storage_configuration=storage, **fields)


def composition(stack: cdk.Stack, layout: Any = None, **destination: Any) -> Composition:
    stage = Stage.from_stage_arn(stack, "Stage", "arn:aws:ivs:us-east-1:123456789012:stage/AbCd")
    s3_destination = S3Destination(
        storage_configuration=StorageConfiguration.from_storage_configuration_arn(stack, "Storage", STORAGE_ARN),
        encoder_configuration=EncoderConfiguration.from_encoder_configuration_arn(
            stack, "Encoder", "arn:aws:ivs:us-east-1:123456789012:encoder-configuration/AbCd"
        ),
        **destination,
    )
    return Composition(stack, "X", stage=stage, destinations=[s3_destination], layout=layout)


def stage_of(stack: cdk.Stack) -> Any:
    return Stage.from_stage_arn(stack, "Stage", "arn:aws:ivs:us-east-1:123456789012:stage/AbCd")


LAYOUT = rules.COMPOSITION.property_shape("layout")
DESTINATION = rules.COMPOSITION.property_shape("destinations").member
TOKEN_INPUT = rules.operation("CreateParticipantToken").input_shape


# (label as the message names it, model shape, how a value becomes a construct, path of that construct)
PROPS: list[tuple[str, Any, Callable[[cdk.Stack, Any], Any], str]] = [
    ("stage_name", rules.STAGE.property_shape("name"), lambda s, v: Stage(s, "X", stage_name=v), "C/X"),
    (
        "encoder_configuration_name",
        rules.ENCODER_CONFIGURATION.property_shape("name"),
        lambda s, v: EncoderConfiguration(s, "X", encoder_configuration_name=v),
        "C/X",
    ),
    (
        "storage_configuration_name",
        rules.STORAGE_CONFIGURATION.property_shape("name"),
        lambda s, v: StorageConfiguration(
            s, "X", bucket=s3.Bucket.from_bucket_name(s, "B", "bucket-x"), storage_configuration_name=v
        ),
        "C/X",
    ),
    (
        "bucket.bucket_name",
        rules.shape_at(rules.STORAGE_CONFIGURATION.property_shape("s3"), "bucketName"),
        lambda s, v: StorageConfiguration(s, "X", bucket=s3.Bucket.from_bucket_name(s, "B", v)),
        "C/X",
    ),
    *[
        (
            f"video.{field}",
            rules.shape_at(rules.ENCODER_CONFIGURATION.property_shape("video"), field),
            (lambda f: lambda s, v: EncoderConfiguration(s, "X", video=Video(**{f: v})))(field),
            "C/X",
        )
        for field in ("width", "height", "framerate", "bitrate")
    ],
    (
        "auto_participant_recording.reconnect_window (seconds)",
        rules.shape_at(RECORDING, "recordingReconnectWindowSeconds"),
        lambda s, v: Stage(s, "X", auto_participant_recording=recording(s, reconnect_window=cdk.Duration.millis(v * 1000))),
        "C/X",
    ),
    (
        "auto_participant_recording.hls_target_segment_duration (seconds)",
        rules.shape_at(RECORDING, "hlsConfiguration", "targetSegmentDurationSeconds"),
        lambda s, v: Stage(
            s, "X", auto_participant_recording=recording(s, hls_target_segment_duration=cdk.Duration.millis(v * 1000))
        ),
        "C/X",
    ),
    (
        "auto_participant_recording.thumbnails.target_interval (seconds)",
        rules.shape_at(RECORDING, "thumbnailConfiguration", "targetIntervalSeconds"),
        lambda s, v: Stage(
            s,
            "X",
            auto_participant_recording=recording(
                s, thumbnails=ThumbnailConfiguration(target_interval=cdk.Duration.millis(v * 1000))
            ),
        ),
        "C/X",
    ),
    (
        "auto_participant_recording.media_types",
        rules.shape_at(RECORDING, "mediaTypes"),
        lambda s, v: Stage(s, "X", auto_participant_recording=recording(s, media_types=v)),
        "C/X",
    ),
    (
        "auto_participant_recording.thumbnails.storage",
        rules.shape_at(RECORDING, "thumbnailConfiguration", "storage"),
        lambda s, v: Stage(s, "X", auto_participant_recording=recording(s, thumbnails=ThumbnailConfiguration(storage=v))),
        "C/X",
    ),
    (
        "auto_participant_recording.thumbnails.recording_mode",
        rules.shape_at(RECORDING, "thumbnailConfiguration", "recordingMode"),
        lambda s, v: Stage(s, "X", auto_participant_recording=recording(s, thumbnails=ThumbnailConfiguration(recording_mode=v))),
        "C/X",
    ),
    (
        "auto_participant_recording.record_participant_replicas",
        rules.shape_at(RECORDING, "recordParticipantReplicas"),
        lambda s, v: Stage(s, "X", auto_participant_recording=recording(s, record_participant_replicas=v)),
        "C/X",
    ),
    ("stage_arn", rules.STAGE.arn_shape, lambda s, v: Stage.from_stage_arn(s, "X", v), "C/X"),
    (
        "encoder_configuration_arn",
        rules.ENCODER_CONFIGURATION.arn_shape,
        lambda s, v: EncoderConfiguration.from_encoder_configuration_arn(s, "X", v),
        "C/X",
    ),
    (
        "ingest_configuration_name",
        rules.INGEST_CONFIGURATION.property_shape("name"),
        lambda s, v: IngestConfiguration(s, "X", ingest_configuration_name=v),
        "C/X",
    ),
    ("user_id", rules.INGEST_CONFIGURATION.property_shape("userId"), lambda s, v: IngestConfiguration(s, "X", user_id=v), "C/X"),
    (
        "public_key_name",
        rules.PUBLIC_KEY.property_shape("name"),
        lambda s, v: PublicKey(s, "X", public_key_material=P384_KEY_A, public_key_name=v),
        "C/X",
    ),
    *[
        (
            f"layout.{prop}",
            rules.shape_at(LAYOUT, kind, member),
            (lambda c, p: lambda s, v: composition(s, c(**{p: v})))(cls, prop),
            "C/X",
        )
        for kind, cls, prop, member in (
            ("grid", GridLayout, "grid_gap", "gridGap"),
            ("pip", PipLayout, "pip_width", "pipWidth"),
            ("pip", PipLayout, "pip_height", "pipHeight"),
            ("pip", PipLayout, "pip_offset", "pipOffset"),
        )
    ],
    (
        "destinations[0].target_segment_duration (seconds)",
        rules.shape_at(DESTINATION, "s3", "recordingConfiguration", "hlsConfiguration", "targetSegmentDurationSeconds"),
        lambda s, v: composition(s, target_segment_duration=cdk.Duration.millis(v * 1000)),
        "C/X",
    ),
    (
        "token_duration (minutes)",
        TOKEN_INPUT.members["duration"],
        lambda s, v: ParticipantTokenVendor(s, "X", stage=stage_of(s), token_duration=cdk.Duration.millis(v * 60_000)),
        "C/X",
    ),
]

# Which construct each label belongs to, for the counts per construct.
CONSTRUCT_OF_PREFIX = {
    "stage_": "Stage",
    "auto_participant_recording": "Stage",
    "encoder_configuration": "EncoderConfiguration",
    "video.": "EncoderConfiguration",
    "storage_configuration": "StorageConfiguration",
    "bucket.": "StorageConfiguration",
    "ingest_": "IngestConfiguration",
    "user_id": "IngestConfiguration",
    "public_key": "PublicKey",
    "layout.": "Composition",
    "destinations": "Composition",
    "token_": "ParticipantTokenVendor",
}


def construct_of(label: str) -> str:
    return next(name for prefix, name in CONSTRUCT_OF_PREFIX.items() if label.startswith(prefix))


# Durations cannot be negative in CDK (Duration itself refuses), so those props get no negatives.
NON_NEGATIVE = {label for label, *_ in PROPS if "(seconds)" in label or "(minutes)" in label}
# Validated before it reaches us: aws-cdk-lib's Bucket.from_bucket_name checks the type and S3's
# naming rules itself (stricter than the model's pattern). Only the valid corpus uses it.
CHECKED_UPSTREAM = {"bucket.bucket_name"}


def invalid(shape: Any, label: str) -> st.SearchStrategy:
    """Values that break one of ``shape``'s constraints, as the model states them."""
    meta, kind = shape.metadata, shape.type_name
    wrong_type = st.integers() if kind == "string" else st.text(max_size=5)
    options = [] if label in NON_NEGATIVE or kind in ("list",) else [wrong_type]
    if kind == "string":
        if shape.enum:
            options.append(st.text(min_size=1, max_size=12).filter(lambda v: v not in shape.enum))
        if "max" in meta:
            options.append(st.text(alphabet="abc", min_size=meta["max"] + 1, max_size=meta["max"] + 20))
        if meta.get("min", 0) > 0:
            options.append(st.text(alphabet="abc", max_size=meta["min"] - 1))
        pattern = rules.PATTERN_ERRATA.get(shape.name, meta.get("pattern"))
        if pattern:
            options.append(st.text(min_size=1, max_size=30).filter(lambda v: not re.fullmatch(pattern, v)))
    elif kind in ("integer", "long", "float", "double"):
        low, high = meta.get("min"), meta.get("max")
        if low is not None and (low > 0 or label not in NON_NEGATIVE):
            options.append(st.integers(min_value=-(10**6) if label not in NON_NEGATIVE else 0, max_value=int(low) - 1))
        if high is not None:
            options.append(st.integers(min_value=int(high) + 1, max_value=int(high) * 10 + 10))
        if kind == "integer" and low is not None and high is not None and high > low:
            options.append(st.floats(min_value=low, max_value=high).filter(lambda v: not float(v).is_integer()))
    elif kind == "boolean":
        options.append(st.sampled_from(["yes", "true", 1, 0, None]).filter(lambda v: v is not None))
    elif kind == "list":
        members = st.sampled_from(shape.member.enum) if shape.member.enum else st.text(max_size=3)
        options.append(st.lists(members, min_size=meta["max"] + 1, max_size=meta["max"] + 3))
        if shape.member.enum:
            options.append(
                st.lists(st.text(min_size=1, max_size=8).filter(lambda v: v not in shape.member.enum), min_size=1, max_size=1)
            )
    return st.one_of(options)


def valid(shape: Any) -> st.SearchStrategy:
    meta, kind = shape.metadata, shape.type_name
    if kind == "string":
        if shape.enum:
            return st.sampled_from(shape.enum)
        pattern = rules.PATTERN_ERRATA.get(shape.name, meta.get("pattern"))
        if shape.name == "S3BucketName":  # S3's own naming rule, stricter than the model's, which CDK applies
            return st.from_regex(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", fullmatch=True)
        if shape.name.endswith("Arn"):
            return st.from_regex(r"arn:aws:ivs:[a-z]{2}-[a-z]+-[1-9]:[0-9]{12}:", fullmatch=True).map(
                lambda prefix: prefix + ("stage" if "Stage" in shape.name else "encoder-configuration") + "/Ab1"
            )
        low, high = meta.get("min", 0), meta.get("max", 64)
        return st.from_regex(pattern or ".*", fullmatch=True).filter(lambda v: low <= len(v) <= high and v)
    if kind in ("integer", "long"):
        return st.integers(min_value=int(meta.get("min", 0)), max_value=int(meta.get("max", 10**6)))
    if kind in ("float", "double"):
        return st.integers(min_value=int(meta.get("min", 0)), max_value=int(meta.get("max", 100)))
    if kind == "boolean":
        return st.booleans()
    return st.lists(st.sampled_from(shape.member.enum), min_size=1, max_size=1)


def assert_rejected(label: str, shape: Any, build: Callable, path: str, value: Any) -> None:
    stack = new_stack()
    try:
        build(stack, value)
    except IvsRealtimeValidationError as error:
        first = str(error).splitlines()[0]
        assert first.startswith(f"{path}: {label}"), first
        assert re.search(r" must .*, got: ", first), first
        COUNTS["invalid rejected with the message"] += 1
        PER_CONSTRUCT[construct_of(label), "rejected"] += 1
        return
    cdk.App.of(stack).synth()
    raise AssertionError(f"{label}={value!r} synthesized")


def test_invalid_props_are_rejected_with_the_message():
    for label, shape, build, path in PROPS:
        if label in CHECKED_UPSTREAM:
            continue

        @EXAMPLES
        @given(value=invalid(shape, label))
        def check(value):
            COUNTS["invalid tried"] += 1
            PER_CONSTRUCT[construct_of(label), "invalid tried"] += 1
            assert_rejected(label, shape, build, path, value)

        check()


def test_valid_props_synthesize():
    for label, shape, build, _ in PROPS:

        @settings(
            max_examples=15,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        @given(value=valid(shape))
        def check(value):
            COUNTS["valid tried"] += 1
            PER_CONSTRUCT[construct_of(label), "valid tried"] += 1
            stack = new_stack()
            build(stack, value)
            cdk.App.of(stack).synth()
            COUNTS["valid synthesized"] += 1
            PER_CONSTRUCT[construct_of(label), "synthesized"] += 1

        check()


TAG_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " _.:/=+-@", min_size=1, max_size=20)


@EXAMPLES
@given(
    tags=st.one_of(
        st.dictionaries(TAG_TEXT, TAG_TEXT, min_size=50, max_size=60),  # too many
        st.dictionaries(TAG_TEXT.map(lambda k: "aws:" + k), TAG_TEXT, min_size=1, max_size=3),  # reserved prefix
        st.dictionaries(TAG_TEXT, st.text(alphabet="#$%^&*!?<>", min_size=1, max_size=5), min_size=1, max_size=3),
        st.dictionaries(st.text(alphabet="abc", min_size=129, max_size=140), TAG_TEXT, min_size=1, max_size=2),
        st.dictionaries(TAG_TEXT, st.text(alphabet="abc", min_size=257, max_size=270), min_size=1, max_size=2),
    )
)
def test_invalid_tags_fail_synth(tags):
    COUNTS["invalid tried"] += 1
    stack = new_stack()
    EncoderConfiguration(stack, "X")
    for key, value in tags.items():
        cdk.Tags.of(stack).add(key, value)
    try:
        cdk.App.of(stack).synth()
    except Exception as error:  # noqa: BLE001 - CDK raises its own validation error type
        message = str(error)
        assert "Validation failed" in message and "C/X: tags" in message and ", got: " in message, message
        COUNTS["invalid rejected with the message"] += 1
        return
    raise AssertionError(f"tags {tags!r} synthesized")


def summary_lines() -> list[str]:
    if not COUNTS:
        return []
    return [
        "bad-input corpus (generated from the ivs-realtime model's constraints)",
        f"  invalid tried: {COUNTS['invalid tried']}   rejected with path/prop/rule/value message: "
        f"{COUNTS['invalid rejected with the message']}",
        f"  valid tried: {COUNTS['valid tried']}   synthesized: {COUNTS['valid synthesized']}",
        "  per construct (invalid rejected / tried, valid synthesized / tried):",
        *(
            f"    {name:<24} {PER_CONSTRUCT[name, 'rejected']:>4} / {PER_CONSTRUCT[name, 'invalid tried']:<4} "
            f"{PER_CONSTRUCT[name, 'synthesized']:>4} / {PER_CONSTRUCT[name, 'valid tried']}"
            for name in sorted({name for name, _ in PER_CONSTRUCT})
        ),
    ]
