"""EventBridge rules for what IVS Real-Time reports about a stage or a composition.

IVS sends these events (source ``aws.ivs``) on a best-effort basis: an event may arrive hours
late, out of order (Participant Unpublished before Participant Published), or not at all. A rule
is a trigger, not a record: a program that needs the truth reads it back
(``ListParticipants``, ``GetComposition``), with the grants of the resource.

The detail-types and ``detail.event_name`` values are the ones the IVS Real-Time User Guide
documents ("Using Amazon EventBridge with IVS Real-Time Streaming"); ``resources`` holds the ARN
of the stage (stage and recording events) or of the composition (composition events).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from aws_cdk import aws_events as events
from constructs import Construct

from constructs_ivsrt._fields import api_value
from constructs_ivsrt._validation import PropChecker

SOURCE: str = "aws.ivs"


class StageUpdateEvent(str, enum.Enum):
    """``detail.event_name`` of an "IVS Stage Update" event."""

    PARTICIPANT_PUBLISHED = "Participant Published"
    PARTICIPANT_UNPUBLISHED = "Participant Unpublished"
    PARTICIPANT_PUBLISH_ERROR = "Participant Publish Error"
    PARTICIPANT_REPLICATION_START = "Participant Replication Start"
    PARTICIPANT_REPLICATION_END = "Participant Replication End"
    TOKEN_EXCHANGED = "Token Exchanged"


class ParticipantRecordingEvent(str, enum.Enum):
    """``detail.event_name`` of an "IVS Participant Recording State Change" event."""

    RECORDING_START = "Recording Start"
    RECORDING_END = "Recording End"
    RECORDING_START_FAILURE = "Recording Start Failure"
    RECORDING_END_FAILURE = "Recording End Failure"


class CompositionStateEvent(str, enum.Enum):
    """``detail.event_name`` of an "IVS Composition State Change" event."""

    SESSION_START = "Session Start"
    SESSION_END = "Session End"
    SESSION_FAILURE = "Session Failure"
    DESTINATION_START = "Destination Start"
    DESTINATION_END = "Destination End"
    DESTINATION_FAILURE = "Destination Failure"
    DESTINATION_RECONNECTING = "Destination Reconnecting"


# Each kind of event: its detail-type, and the enum of its event names.
EventKind = tuple[str, type[enum.Enum]]
STAGE_UPDATE: EventKind = ("IVS Stage Update", StageUpdateEvent)
PARTICIPANT_RECORDING_STATE_CHANGE: EventKind = ("IVS Participant Recording State Change", ParticipantRecordingEvent)
COMPOSITION_STATE_CHANGE: EventKind = ("IVS Composition State Change", CompositionStateEvent)


def event_rule(
    scope: Construct,
    id: str,
    kind: EventKind,
    resource_arn: str,
    *,
    event_names: Sequence[enum.Enum | str] | None,
    target: events.IRuleTarget | None,
    description: str | None,
    rule_name: str | None,
) -> events.Rule:
    """A rule on the default bus for one resource's events of one kind, narrowed to
    ``event_names`` when given (a name the enum does not know fails synth)."""
    detail_type, names = kind
    known = [event.value for event in names]
    values = None if event_names is None else api_value(list(event_names))
    checker = PropChecker(scope, id)
    checker.require(
        values is None or (len(values) > 0 and all(value in known for value in values)),
        f"event_names must be one or more of {', '.join(known)}, got: {values!r}",
    )
    checker.raise_if_any()
    return events.Rule(
        scope,
        id,
        description=description,
        rule_name=rule_name,
        event_pattern=events.EventPattern(
            source=[SOURCE],
            detail_type=[detail_type],
            resources=[resource_arn],
            detail={"event_name": values} if values is not None else None,
        ),
        targets=[target] if target is not None else None,
    )
