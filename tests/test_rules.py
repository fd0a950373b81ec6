"""The resource rules: derived from the shipped model, used by constructs, handler and endpoint."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import botocore
import pytest

from ivsrt_runtime import clients, conversion, rules, validation

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_model_is_the_model_we_build_against():
    """lambda/models must be botocore's own model (scripts/vendor_model.py refreshes it)."""
    source = Path(botocore.__file__).parent / "data" / "ivs-realtime" / "2020-07-14" / "service-2.json"
    installed = json.loads(
        gzip.decompress(source.with_suffix(".json.gz").read_bytes())
        if source.with_suffix(".json.gz").exists()
        else source.read_text()
    )
    shipped = json.loads((rules.MODEL_DIR / "ivs-realtime" / "2020-07-14" / "service-2.json").read_text())
    assert shipped == installed


def test_the_shipped_parameter_store_model_is_botocores_trimmed_to_what_the_runtime_calls():
    """scripts/vendor_model.py writes it; the runtime's session reads it instead of the whole model."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("vendor_model", ROOT / "scripts" / "vendor_model.py")
    vendor_model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(vendor_model)
    shipped = json.loads(clients.TRIMMED_SSM_MODEL.read_text())
    assert shipped == vendor_model.trimmed_ssm()
    assert sorted(shipped["operations"]) == sorted(clients.SSM_OPERATIONS)
    # Every Parameter Store call in the runtime is one of them.
    called = {
        name
        for path in (ROOT / "lambda" / "ivsrt_runtime").glob("*.py")
        for name in re.findall(r'"((?:Put|Get|Delete)Parameters?(?:ByPath)?)"', path.read_text())
    }
    assert called <= set(clients.SSM_OPERATIONS), called


def test_replacement_rules_match_the_native_types():
    assert rules.STAGE.replacing_properties == frozenset()
    assert rules.STAGE.in_place_properties == {"name", "autoParticipantRecordingConfiguration"}
    assert rules.ENCODER_CONFIGURATION.replacing_properties == {"name", "video"}
    assert rules.STORAGE_CONFIGURATION.replacing_properties == {"name", "s3"}


def test_conversion_follows_shape_types():
    shape = rules.STAGE.create_input
    converted = conversion.from_cloudformation(
        shape,
        {
            "autoParticipantRecordingConfiguration": {
                "recordingReconnectWindowSeconds": "30",
                "recordParticipantReplicas": "false",
                "thumbnailConfiguration": {"targetIntervalSeconds": "5", "storage": ["LATEST"]},
            },
            "tags": {"n": "123"},  # a string map stays strings
        },
    )
    assert converted["autoParticipantRecordingConfiguration"] == {
        "recordingReconnectWindowSeconds": 30,
        "recordParticipantReplicas": False,
        "thumbnailConfiguration": {"targetIntervalSeconds": 5, "storage": ["LATEST"]},
    }
    assert converted["tags"] == {"n": "123"}
    video = conversion.from_cloudformation(rules.ENCODER_CONFIGURATION.create_input, {"video": {"framerate": "29.97"}})
    assert video == {"video": {"framerate": 29.97}}


def test_unconvertible_value_is_left_for_validation_to_name():
    converted = conversion.from_cloudformation(rules.ENCODER_CONFIGURATION.create_input, {"video": {"width": "wide"}})
    assert validation.check(rules.ENCODER_CONFIGURATION.create_input, converted, "E") == [
        "E.video.width must be a whole number, got: 'wide'"
    ]


def test_a_whole_float_is_a_whole_number_at_synth():
    """jsii renders 1280.0 as 1280; the wire check is the endpoint's (botocore's ParamValidator)."""
    assert validation.check(rules.ENCODER_CONFIGURATION.create_input, {"video": {"width": 1920 / 1.5}}, "E") == []
    assert validation.check(rules.ENCODER_CONFIGURATION.create_input, {"video": {"width": 1280.5}}, "E") == [
        "E.video.width must be a whole number, got: 1280.5"
    ]


@pytest.mark.parametrize(
    "tags, message",
    [
        ({"aws:owner": "x"}, "tags key must not start with the reserved prefix 'aws:', got: 'aws:owner'"),
        ({"k": "v#"}, "tags value must contain only letters, numbers, spaces and _ . : / = + - @, got: 'v#'"),
        ({"": "v"}, "tags key must have at least 1 characters, got: ''"),
        ({"k" * 129: "v"}, f"tags key must have at most 128 characters, got: {'k' * 129!r}"),
        ({"k": "v" * 257}, f"tags['k'] must have at most 256 characters, got: {'v' * 257!r}"),
    ],
)
def test_tag_rules(tags, message):
    assert validation.check_tags(tags) == [message]


def test_at_most_49_user_tags_leaving_room_for_the_identity_tag():
    assert validation.check_tags({f"k{i:02}": "v" for i in range(49)}) == []
    problems = validation.check_tags({f"k{i:02}": "v" for i in range(50)})
    assert problems == [
        "tags must have at most 49 entries (IVS allows 50 and the provider adds constructs-ivsrt:identity), "
        f"got: 50 tags: {[f'k{i:02}' for i in range(50)]!r}"
    ]


def test_identity_tag_prefix_is_reserved():
    assert validation.check_tags({"constructs-ivsrt:identity": "x"}) == [
        "tags key must not start with the reserved prefix 'constructs-ivsrt:', got: 'constructs-ivsrt:identity'"
    ]


def test_model_errata_are_still_needed():
    """When botocore fixes ResourceArn's pattern, drop the erratum."""
    shape = rules.operation("TagResource").input_shape.members["resourceArn"]
    assert shape.metadata["pattern"] != rules.PATTERN_ERRATA["ResourceArn"]
    assert validation.check(shape, "arn:aws:ivs:us-east-1:123456789012:stage/abcd", "arn") == []


def test_owns_recognises_only_its_own_arns():
    assert rules.STAGE.owns("arn:aws:ivs:us-east-1:123456789012:stage/AbC-1")
    assert not rules.STAGE.owns("arn:aws:ivs:us-east-1:123456789012:storage-configuration/AbC")
    assert not rules.STAGE.owns("")


def test_the_1_kb_attribute_limit_is_read_from_the_models_prose():
    """The model states it only in documentation; if its wording changes, this flags it."""
    token_attributes = rules.operation("CreateParticipantToken").input_shape.members["attributes"]
    assert validation.documented_total_bytes(token_attributes) == 1024
    assert validation.documented_total_bytes(rules.INGEST_CONFIGURATION.property_shape("attributes")) == 1024
    assert validation.documented_total_bytes(rules.STAGE.property_shape(rules.TAGS_PROPERTY)) is None


def test_delete_options_come_from_the_delete_operations_input():
    assert rules.INGEST_CONFIGURATION.delete_options == ("force",)
    assert [r.delete_options for r in rules.RESOURCES.values() if r is not rules.INGEST_CONFIGURATION] == [()] * 5
    assert rules.INGEST_CONFIGURATION.delete_parameters({"deleteOptions": {"force": "true", "other": 1}}) == {"force": True}
    assert rules.INGEST_CONFIGURATION.delete_parameters({"deleteOptions": {"force": "maybe"}}) == {}


def test_every_delete_option_names_a_prop_of_its_construct():
    import inspect

    from constructs_ivsrt import IngestConfiguration

    constructs = {"IngestConfiguration": IngestConfiguration}
    for resource in rules.RESOURCES.values():
        for option in resource.delete_options:
            prop, _effect = rules.DELETE_OPTION_PROPS[option]
            assert prop in inspect.signature(inspect.unwrap(constructs[resource.noun].__init__)).parameters
