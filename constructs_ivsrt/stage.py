"""``Stage``: an IVS Real-Time stage, optionally recording every participant to S3."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import jsii
from aws_cdk import (
    Annotations,
    Arn,
    ArnFormat,
    CfnDeletionPolicy,
    Duration,
    ITaggable,
    RemovalPolicy,
)
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_ivsrt._fields import SECONDS, api, attribute, props_class
from constructs_ivsrt._regions import check_event_rule_place, metric_place, place_of, require_same_region
from constructs_ivsrt._types import typed_args, typed_props
from constructs_ivsrt._validation import PropChecker
from constructs_ivsrt.event_rules import (
    PARTICIPANT_RECORDING_STATE_CHANGE,
    STAGE_UPDATE,
    ParticipantRecordingEvent,
    StageUpdateEvent,
    event_rule,
)
from constructs_ivsrt.metrics import (
    CONCURRENT_PUBLISHERS,
    CONCURRENT_SUBSCRIPTIONS,
    DOWNLOAD_PACKET_LOSS,
    DROPPED_FRAMES,
    PUBLISH_BITRATE,
    PUBLISHERS,
    SUBSCRIBE_BITRATE,
    SUBSCRIBERS,
    MetricOptions,
    located,
    named_metric,
    stage_metric,
)
from constructs_ivsrt.resource import IIvsRealtimeResource, IvsRealtimeResource, ManagedResource
from constructs_ivsrt.storage_configuration import IStorageConfiguration
from ivsrt_runtime import conversion, rules

if TYPE_CHECKING:  # typing.Unpack is Python 3.11+; annotations are not evaluated at run time
    from typing_extensions import Unpack


class RecordingMediaType(str, enum.Enum):
    """What auto participant recording keeps (the API's ``ParticipantRecordingMediaType``)."""

    AUDIO_VIDEO = "AUDIO_VIDEO"
    AUDIO_ONLY = "AUDIO_ONLY"
    NONE = "NONE"


class ThumbnailRecordingMode(str, enum.Enum):
    """``INTERVAL`` takes a thumbnail every ``target_interval``; ``DISABLED`` takes none."""

    INTERVAL = "INTERVAL"
    DISABLED = "DISABLED"


class ThumbnailStorage(str, enum.Enum):
    """``SEQUENTIAL`` keeps every thumbnail; ``LATEST`` overwrites one file."""

    SEQUENTIAL = "SEQUENTIAL"
    LATEST = "LATEST"


@props_class
class ThumbnailConfiguration:
    """Participant thumbnails written beside the recording (``ParticipantThumbnailConfiguration``)."""

    recording_mode: ThumbnailRecordingMode | None = api(default=None)
    """Whether thumbnails are taken. :default: - INTERVAL (the service's default)"""
    target_interval: Duration | None = api("targetIntervalSeconds", conversion=SECONDS, default=None)
    """Time between thumbnails, 1 s to 24 h, whole seconds. :default: - 60 seconds"""
    storage: Sequence[ThumbnailStorage] | None = api(default=None)
    """How thumbnails are kept. :default: - SEQUENTIAL"""


@props_class
class AutoParticipantRecording:
    """Record every participant of the stage to S3 (``AutoParticipantRecordingConfiguration``)."""

    storage_configuration: IStorageConfiguration = api(
        "storageConfigurationArn", conversion=attribute("storage_configuration_arn")
    )
    """Where recordings go."""
    media_types: Sequence[RecordingMediaType] | None = api(default=None)
    """What is recorded (at most one type). :default: - AUDIO_VIDEO"""
    thumbnails: ThumbnailConfiguration | None = api("thumbnailConfiguration", default=None)
    """Thumbnail settings. :default: - the service's (every 60 s, SEQUENTIAL)"""
    reconnect_window: Duration | None = api("recordingReconnectWindowSeconds", conversion=SECONDS, default=None)
    """How long a participant may be gone and still continue the same recording, 0 to 300 s.
    :default: - 0 (a reconnect starts a new recording)"""
    hls_target_segment_duration: Duration | None = api(
        "hlsConfiguration", "targetSegmentDurationSeconds", conversion=SECONDS, default=None
    )
    """Target HLS segment length, 2 to 10 s. :default: - 6 seconds"""
    record_participant_replicas: bool | None = api(default=None)
    """Also record participants replicated into this stage. :default: - true (the service's default)"""


@dataclass(frozen=True)
class StageEndpoints:
    """The stage's endpoints, resolved at deploy time."""

    whip: str
    """WHIP (WebRTC-HTTP ingestion) endpoint."""
    events: str
    """Events (WebSocket) endpoint."""
    rtmp: str
    """RTMP ingest endpoint."""
    rtmps: str
    """RTMPS ingest endpoint."""


@runtime_checkable
class IStage(IIvsRealtimeResource, Protocol):
    """A stage, managed here or imported by ARN."""

    @property
    def stage_arn(self) -> str: ...

    def grant_create_participant_token(self, grantee: iam.IGrantable) -> iam.Grant: ...

    def grant_disconnect_participant(self, grantee: iam.IGrantable) -> iam.Grant: ...

    def grant_participant_replication(self, grantee: iam.IGrantable) -> iam.Grant: ...

    @property
    def stage_id(self) -> str: ...

    def metric(self, metric_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric: ...

    def metric_publishers(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric: ...

    def metric_subscribers(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric: ...

    def metric_publish_bitrate(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric: ...

    def metric_subscribe_bitrate(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric: ...

    def metric_download_packet_loss(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric: ...

    def metric_dropped_frames(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric: ...

    def on_stage_update(
        self,
        id: str,
        *,
        event_names: Sequence[StageUpdateEvent] | None = None,
        target: events.IRuleTarget | None = None,
        description: str | None = None,
        rule_name: str | None = None,
    ) -> events.Rule: ...

    def on_participant_recording_state_change(
        self,
        id: str,
        *,
        event_names: Sequence[ParticipantRecordingEvent] | None = None,
        target: events.IRuleTarget | None = None,
        description: str | None = None,
        rule_name: str | None = None,
    ) -> events.Rule: ...


# The calls that replicate a participant from one stage to another (Service Authorization
# Reference: each on Stage*).
PARTICIPANT_REPLICATION_ACTIONS: tuple[str, ...] = (
    "ivs:StartParticipantReplication",
    "ivs:StopParticipantReplication",
    "ivs:ListParticipantReplicas",
)


class StageBase(IvsRealtimeResource):
    """What a managed stage and an imported one share: the ARN and the grants."""

    RULES: ClassVar[rules.ResourceRules] = rules.STAGE
    ARN_PROP: ClassVar[str] = "stage_arn"
    # grant_read: the stage, its sessions and its participants.
    READ_ACTIONS: ClassVar[tuple[str, ...]] = (
        "ivs:GetStage",
        "ivs:GetStageSession",
        "ivs:ListStageSessions",
        "ivs:GetParticipant",
        "ivs:ListParticipants",
        "ivs:ListParticipantEvents",
    )

    _stage_id: str | None = None

    @property
    def stage_arn(self) -> str:
        return self._arn

    @property
    def stage_id(self) -> str:
        """The stage's resource id, the ARN's last part (``AbCd`` of ``...:stage/AbCd``): the
        ``Stage`` dimension of its metrics, and the ``topic`` of a participant token."""
        if self._stage_id is None:  # read once: each split is jsii round trips
            self._stage_id = str(Arn.split(self.stage_arn, ArnFormat.SLASH_RESOURCE_NAME).resource_name)
        return self._stage_id

    def metric(self, metric_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """A metric of this stage in ``AWS/IVSRealTime``, with its ``Stage`` dimension (other
        dimensions in ``dimensions_map`` are added, ``Participant`` say). The helpers below name
        the metrics IVS publishes per stage."""
        return stage_metric(self.stage_id, metric_name, self._located(options))

    def _located(self, options: MetricOptions) -> MetricOptions:
        """``options`` with the stage's region and account (when known at synth), so that a
        dashboard or an alarm anywhere reads the stage's metrics where IVS publishes them."""
        region, account = metric_place(self, options)
        return located(options, region=region, account=account)

    def metric_publishers(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Participants publishing to the stage. :default: statistic Maximum"""
        return named_metric(self.stage_id, PUBLISHERS, self._located(options))

    def metric_subscribers(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Participants subscribed to the stage. :default: statistic Maximum"""
        return named_metric(self.stage_id, SUBSCRIBERS, self._located(options))

    def metric_publish_bitrate(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Bits per second published to the stage. :default: statistic Average"""
        return named_metric(self.stage_id, PUBLISH_BITRATE, self._located(options))

    def metric_subscribe_bitrate(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Bits per second delivered to the stage's subscribers. :default: statistic Average"""
        return named_metric(self.stage_id, SUBSCRIBE_BITRATE, self._located(options))

    def metric_download_packet_loss(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Packets lost on the way to subscribers, in percent. :default: statistic Average"""
        return named_metric(self.stage_id, DOWNLOAD_PACKET_LOSS, self._located(options))

    def metric_dropped_frames(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Video frames subscribers dropped, in percent. :default: statistic Average"""
        return named_metric(self.stage_id, DROPPED_FRAMES, self._located(options))

    @staticmethod
    def metric_concurrent_publishers(**options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Publishers across every stage of the account and region. :default: statistic Maximum"""
        return named_metric(None, CONCURRENT_PUBLISHERS, options)

    @staticmethod
    def metric_concurrent_subscriptions(**options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Subscriptions across every stage of the account and region. :default: statistic Maximum"""
        return named_metric(None, CONCURRENT_SUBSCRIPTIONS, options)

    def grant_create_participant_token(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``ivs:CreateParticipantToken`` on this stage (a backend that lets users join)."""
        return self.grant(grantee, "ivs:CreateParticipantToken")

    def grant_disconnect_participant(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``ivs:DisconnectParticipant`` on this stage."""
        return self.grant(grantee, "ivs:DisconnectParticipant")

    def grant_participant_replication(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``ivs:StartParticipantReplication``, ``ivs:StopParticipantReplication`` and
        ``ivs:ListParticipantReplicas`` on this stage. A replication names two stages, and the
        Service Authorization Reference lists both as the calls' resources: grant it on each."""
        return self.grant(grantee, *PARTICIPANT_REPLICATION_ACTIONS)

    @typed_args
    def on_stage_update(
        self,
        id: str,
        *,
        event_names: Sequence[StageUpdateEvent] | None = None,
        target: events.IRuleTarget | None = None,
        description: str | None = None,
        rule_name: str | None = None,
    ) -> events.Rule:
        """An EventBridge rule for this stage's "IVS Stage Update" events: participants
        publishing, unpublishing, failing to publish, replicated, exchanging tokens. Delivery is
        best effort (late, out of order, or missing; see ``constructs_ivsrt.event_rules``).

        :param event_names: Only these events. :default: - every event of the kind
        :param target: Where matching events go (more with ``rule.add_target``). :default: - none yet
        :param description: :default: - none
        :param rule_name: :default: - generated by CloudFormation
        """
        check_event_rule_place(self._as_construct, id, self, "on_stage_update", "stage")
        return event_rule(
            self._as_construct,
            id,
            STAGE_UPDATE,
            self.stage_arn,
            event_names=event_names,
            target=target,
            description=description,
            rule_name=rule_name,
        )

    @typed_args
    def on_participant_recording_state_change(
        self,
        id: str,
        *,
        event_names: Sequence[ParticipantRecordingEvent] | None = None,
        target: events.IRuleTarget | None = None,
        description: str | None = None,
        rule_name: str | None = None,
    ) -> events.Rule:
        """An EventBridge rule for this stage's "IVS Participant Recording State Change" events
        (auto participant recording starting, ending, failing). Delivery is best effort.

        :param event_names: Only these events. :default: - every event of the kind
        :param target: Where matching events go (more with ``rule.add_target``). :default: - none yet
        :param description: :default: - none
        :param rule_name: :default: - generated by CloudFormation
        """
        check_event_rule_place(self._as_construct, id, self, "on_participant_recording_state_change", "stage")
        return event_rule(
            self._as_construct,
            id,
            PARTICIPANT_RECORDING_STATE_CHANGE,
            self.stage_arn,
            event_names=event_names,
            target=target,
            description=description,
            rule_name=rule_name,
        )


@jsii.implements(ITaggable)
class Stage(ManagedResource, StageBase):
    """An IVS Real-Time stage (``CreateStage``).

    Name and auto participant recording change in place (``UpdateStage``); tags change in place
    (``TagResource`` / ``UntagResource``). Nothing about a stage forces a replacement.
    ``activeSessionId`` is not exposed: it changes as participants come and go, so a value read
    at deploy time would be stale. Read it at run time (``grant_read``).
    """

    stage_name: str = api("name")
    """The name, as given or generated from the construct path."""
    auto_participant_recording: AutoParticipantRecording | None = api("autoParticipantRecordingConfiguration")
    """How participants are recorded (None: they are not)."""
    _endpoints: StageEndpoints | None = None

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stage_name: str | None = None,
        auto_participant_recording: AutoParticipantRecording | None = None,
        tags: Mapping[str, str] | None = None,
        adopt_arn: str | None = None,
        removal_policy: RemovalPolicy | None = None,
    ) -> None:
        """
        :param stage_name: The name (letters, digits, ``-``, ``_``; at most 128). Not unique in IVS.
            :default: - generated from the construct path
        :param auto_participant_recording: Record every participant to S3.
            :default: - participants are not recorded
        :param tags: Tags (``Tags.of(scope)`` adds to them). :default: - none besides ``Tags.of``
        :param adopt_arn: An existing stage for the stack to take over instead of creating
            one: its ARN is kept, its props are made these (in place), and it is tagged as this
            stack resource's. Refused if another stack resource holds it, or if a prop that cannot
            change in place differs (docs/guide.md, "Adopting an existing resource"); set only when
            the resource is first added to the stack. :default: - a new stage is created
        :param removal_policy: What happens on stack delete or replacement.
            :default: RemovalPolicy.DESTROY; RemovalPolicy.RETAIN when ``adopt_arn`` is given
        """
        self._manage(scope, id, locals())
        if auto_participant_recording is not None:
            self._provider.resources.at_synth(self._warn_if_kept_beside_a_destroyed_storage)

    def _check_props(self, checker: PropChecker, props: Mapping[str, Any], members: Mapping[str, Any]) -> None:
        recording = props["auto_participant_recording"]
        if recording is not None:
            storage = recording.storage_configuration
            require_same_region(
                checker,
                self._place.region,
                "auto_participant_recording.storage_configuration",
                place_of(storage).region,
                storage,
                owner_kind="stage",
                why="IVS records a stage only to a storage configuration of its region",
            )

    def _warn_if_kept_beside_a_destroyed_storage(self) -> None:
        """A stage kept on delete that records to a storage configuration the stack deletes: IVS
        refuses to delete a storage configuration a stage uses, so the stack's destroy would fail.
        Read at synth, after every removal policy (``RemovalPolicies.of(...)`` included) applied."""
        recording = self.auto_participant_recording
        storage = recording.storage_configuration if recording is not None else None
        if not isinstance(storage, ManagedResource):
            return  # imported: not the stack's to delete
        kept, deleted = _deletion_policy(self), _deletion_policy(storage)
        if kept not in (None, CfnDeletionPolicy.DELETE) and deleted == CfnDeletionPolicy.DELETE:
            Annotations.of(self).add_warning_v2(
                "constructs-ivsrt:retainedStageRecordsToDestroyedStorage",
                f"this stage is kept on delete ({kept.name}) but records to {storage.node.path}, which the stack "
                "deletes: IVS refuses to delete a storage configuration a stage uses, so destroying the stack would "
                "wait and then fail. Keep the storage configuration too (RemovalPolicy.RETAIN), or destroy both",
            )

    @property
    def endpoints(self) -> StageEndpoints:
        """The stage's WHIP, events, RTMP and RTMPS endpoints (made on first use)."""
        if self._endpoints is None:
            self._endpoints = StageEndpoints(
                **{name: self._attribute(conversion.endpoint_attribute(name)) for name in self.RULES.endpoint_names}
            )
        return self._endpoints

    @staticmethod
    def from_stage_arn(scope: Construct, id: str, stage_arn: str) -> IStage:
        """Import an existing stage by ARN."""
        return StageBase._import(scope, id, stage_arn)


def _deletion_policy(resource: ManagedResource) -> CfnDeletionPolicy | None:
    """A managed resource's DeletionPolicy as the template will have it."""
    return resource.cfn_options.deletion_policy
