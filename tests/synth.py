"""What the synth-time tests of every construct share: a stack, imports by ARN, the expected error."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match

from constructs_ivsrt import (
    AutoParticipantRecording,
    EncoderConfiguration,
    IvsRealtimeValidationError,
    S3Destination,
    Stage,
    StorageConfiguration,
)

ENV = cdk.Environment(account="123456789012", region="eu-west-1")
STAGE_ARN = "arn:aws:ivs:eu-west-1:123456789012:stage/AbCd"
STORAGE_ARN = "arn:aws:ivs:eu-west-1:123456789012:storage-configuration/AbCd"
ENCODER_ARN = "arn:aws:ivs:eu-west-1:123456789012:encoder-configuration/AbCd"
CHANNEL_ARN = "arn:aws:ivs:eu-west-1:123456789012:channel/AbCd"


def new_stack(name: str = "T") -> cdk.Stack:
    return cdk.Stack(cdk.App(), name, env=ENV)


def expect(message: str, build: Any) -> None:
    """``build(stack)`` fails synth with exactly ``message``."""
    with pytest.raises(IvsRealtimeValidationError) as caught:
        build(new_stack())
    assert str(caught.value) == message


def synth_error(st: cdk.Stack) -> str:
    with pytest.raises(Exception) as caught:
        cdk.App.of(st).synth()
    return str(caught.value)


def warnings_of(st: cdk.Stack) -> list[str]:
    return [str(w.entry.data) for w in Annotations.from_stack(st).find_warning("*", Match.any_value())]


def logical_id_of(st: cdk.Stack, construct: Any) -> str:
    return st.get_logical_id(construct)  # a managed resource is its own CfnResource


def imported_stage(st: cdk.Stack) -> Any:
    return Stage.from_stage_arn(st, "Stage", STAGE_ARN)


def recording(st: cdk.Stack, **fields: Any) -> AutoParticipantRecording:
    storage = StorageConfiguration.from_storage_configuration_arn(st, "Storage", STORAGE_ARN)
    return AutoParticipantRecording(storage_configuration=storage, **fields)


def s3_destination(st: cdk.Stack, **fields: Any) -> S3Destination:
    return S3Destination(
        storage_configuration=StorageConfiguration.from_storage_configuration_arn(st, "Storage", STORAGE_ARN),
        encoder_configuration=EncoderConfiguration.from_encoder_configuration_arn(st, "Encoder", ENCODER_ARN),
        **fields,
    )


def ivs_event(detail_type: str, event_name: str, resource_arn: str, **detail: Any) -> dict[str, Any]:
    """An event as IVS sends it to EventBridge (the User Guide's samples, with these values)."""
    return {
        "version": "0",
        "id": "01234567-0123-0123-0123-012345678901",
        "detail-type": detail_type,
        "source": "aws.ivs",
        "account": "123456789012",
        "time": "2026-12-02T00:00:00Z",
        "region": "eu-west-1",
        "resources": [resource_arn],
        "detail": {"session_id": "st-ZyXwVuTsRqPo", "event_name": event_name, "participant_id": "xYz1c2d3e4f", **detail},
    }


def rule_patterns(st: cdk.Stack) -> dict[str, Any]:
    """Each EventBridge rule of the stack (by logical id), as EventBridge matches its pattern
    (moto's implementation of the matching rules)."""
    from aws_cdk.assertions import Template
    from moto.events.models import EventPattern

    rules = Template.from_stack(st).find_resources("AWS::Events::Rule")
    return {logical_id: EventPattern.load(json.dumps(rule["Properties"]["EventPattern"])) for logical_id, rule in rules.items()}


def render(value: Any) -> str:
    """A template string value with its Fn::Join / Ref written out, for readable assertions."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return "${" + value["Ref"] + "}"
    separator, parts = value["Fn::Join"]
    return separator.join(render(p) for p in parts)
