"""``Stage``: an IVS Real-Time stage, optionally recording every participant to S3."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from collections.abc import Mapping, Sequence

import jsii
from aws_cdk import (
    Annotations,
    CfnDeletionPolicy,
    Duration,
    IResource,
    ITaggable,
    Names,
    RemovalPolicy,
)
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_ivsrt._base import (
    IvsRealtimeResourceBase,
    ManagedMixin,
    ManagedResource,
    PropChecker,
    enum_value,
    import_arn,
    on_path,
    present,
    seconds,
)
from constructs_ivsrt._types import typed_props
from ivsrt_runtime import rules
from constructs_ivsrt.storage_configuration import IStorageConfiguration

RULES = rules.STAGE
_RECORDING = "autoParticipantRecordingConfiguration"


class RecordingMediaType(str, enum.Enum):
    """What auto participant recording keeps (the API's ``ParticipantRecordingMediaType``)."""

    AUDIO_VIDEO = "AUDIO_VIDEO"
    AUDIO_ONLY = "AUDIO_ONLY"
    NONE = "NONE"


class ThumbnailRecordingMode(str, enum.Enum):
    INTERVAL = "INTERVAL"
    DISABLED = "DISABLED"


class ThumbnailStorage(str, enum.Enum):
    """``SEQUENTIAL`` keeps every thumbnail; ``LATEST`` overwrites one file."""

    SEQUENTIAL = "SEQUENTIAL"
    LATEST = "LATEST"


@dataclass(frozen=True, kw_only=True)
class ThumbnailConfiguration:
    """Participant thumbnails written beside the recording."""

    recording_mode: ThumbnailRecordingMode | None = None
    """Whether thumbnails are taken. :default: - INTERVAL (the service's default)"""
    target_interval: Duration | None = None
    """Time between thumbnails, 1 s to 24 h, whole seconds. :default: - 60 seconds"""
    storage: Sequence[ThumbnailStorage] | None = None
    """How thumbnails are kept. :default: - SEQUENTIAL"""

    def to_api(self) -> dict[str, Any]:
        fields = {
            "recordingMode": enum_value(self.recording_mode),
            "targetIntervalSeconds": seconds(self.target_interval),
            "storage": [enum_value(s) for s in self.storage] if self.storage is not None else None,
        }
        return present(fields)


@dataclass(frozen=True, kw_only=True)
class AutoParticipantRecording:
    """Record every participant of the stage to S3 (``AutoParticipantRecordingConfiguration``)."""

    storage_configuration: IStorageConfiguration
    """Where recordings go."""
    media_types: Sequence[RecordingMediaType] | None = None
    """What is recorded (at most one type). :default: - AUDIO_VIDEO"""
    thumbnails: ThumbnailConfiguration | None = None
    """Thumbnail settings. :default: - the service's (every 60 s, SEQUENTIAL)"""
    reconnect_window: Duration | None = None
    """How long a participant may be gone and still continue the same recording, 0 to 300 s.
    :default: - 0 (a reconnect starts a new recording)"""
    hls_target_segment_duration: Duration | None = None
    """Target HLS segment length, 2 to 10 s. :default: - 6 seconds"""
    record_participant_replicas: bool | None = None
    """Also record participants replicated into this stage. :default: - true (the service's default)"""

    def to_api(self) -> dict[str, Any]:
        fields = {
            "storageConfigurationArn": self.storage_configuration.storage_configuration_arn,
            "mediaTypes": [enum_value(m) for m in self.media_types] if self.media_types is not None else None,
            "thumbnailConfiguration": self.thumbnails.to_api() if self.thumbnails else None,
            "recordingReconnectWindowSeconds": seconds(self.reconnect_window),
            "hlsConfiguration": (
                {"targetSegmentDurationSeconds": seconds(self.hls_target_segment_duration)}
                if self.hls_target_segment_duration is not None else None
            ),
            "recordParticipantReplicas": self.record_participant_replicas,
        }
        return present(fields)


# Python prop -> API path inside autoParticipantRecordingConfiguration, for readable messages.
_RECORDING_LABELS = {
    ("storageConfigurationArn",): "storage_configuration.storage_configuration_arn",
    ("mediaTypes",): "media_types",
    ("thumbnailConfiguration", "recordingMode"): "thumbnails.recording_mode",
    ("thumbnailConfiguration", "targetIntervalSeconds"): "thumbnails.target_interval (seconds)",
    ("thumbnailConfiguration", "storage"): "thumbnails.storage",
    ("recordingReconnectWindowSeconds",): "reconnect_window (seconds)",
    ("hlsConfiguration", "targetSegmentDurationSeconds"): "hls_target_segment_duration (seconds)",
    ("recordParticipantReplicas",): "record_participant_replicas",
}


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
class IStage(IResource, Protocol):
    """A stage, managed here or imported by ARN."""

    @property
    def stage_arn(self) -> str:
        ...

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        ...

    def grant_create_participant_token(self, grantee: iam.IGrantable) -> iam.Grant:
        ...

    def grant_disconnect_participant(self, grantee: iam.IGrantable) -> iam.Grant:
        ...


class StageBase(IvsRealtimeResourceBase):
    @property
    def stage_arn(self) -> str:
        return self._arn

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``ivs:GetStage``, ``ivs:GetStageSession``, ``ivs:ListStageSessions``,
        ``ivs:GetParticipant``, ``ivs:ListParticipants`` and ``ivs:ListParticipantEvents``."""
        return self.grant(
            grantee,
            "ivs:GetStage",
            "ivs:GetStageSession",
            "ivs:ListStageSessions",
            "ivs:GetParticipant",
            "ivs:ListParticipants",
            "ivs:ListParticipantEvents",
        )

    def grant_create_participant_token(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``ivs:CreateParticipantToken`` on this stage (a backend that lets users join)."""
        return self.grant(grantee, "ivs:CreateParticipantToken")

    def grant_disconnect_participant(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``ivs:DisconnectParticipant`` on this stage."""
        return self.grant(grantee, "ivs:DisconnectParticipant")


class _ImportedStage(StageBase):
    """An existing Stage (``Stage.from_stage_arn``)."""


@jsii.implements(ITaggable)
class Stage(ManagedMixin, StageBase):
    """An IVS Real-Time stage (``CreateStage``).

    Name and auto participant recording change in place (``UpdateStage``); tags change in place
    (``TagResource`` / ``UntagResource``). Nothing about a stage forces a replacement.
    ``activeSessionId`` is not exposed: it changes as participants come and go, so a value read
    at deploy time would be stale. Read it at run time (``grant_read``).
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stage_name: str | None = None,
        auto_participant_recording: AutoParticipantRecording | None = None,
        tags: Mapping[str, str] | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
    ) -> None:
        """
        :param stage_name: The name (letters, digits, ``-``, ``_``; at most 128). Not unique in IVS.
            :default: - generated from the construct path
        :param auto_participant_recording: Record every participant to S3.
            :default: - participants are not recorded
        :param tags: Tags (``Tags.of(scope)`` adds to them). :default: - none besides ``Tags.of``
        :param removal_policy: What happens on stack delete. :default: RemovalPolicy.DESTROY
        """
        super().__init__(scope, id)
        name = stage_name if stage_name is not None else Names.unique_resource_name(self, max_length=128, separator="-")
        with on_path(self):
            recording = auto_participant_recording.to_api() if auto_participant_recording else None
        checker = PropChecker(self).check("stage_name", name, RULES.member("name"))
        recording_shape = RULES.member(_RECORDING)
        for path, label in _RECORDING_LABELS.items():
            value = _dig(recording, path)
            checker.check(f"auto_participant_recording.{label}", value, rules.shape_at(recording_shape, *path))
        checker.raise_if_any()
        self._managed = ManagedResource(self, RULES, {"name": name, _RECORDING: recording}, tags, removal_policy)
        self._arn = self._managed.resource.ref
        self.stage_name = name
        self.auto_participant_recording = auto_participant_recording
        self._endpoints: StageEndpoints | None = None
        self._managed.synth_checks.append(self._warn_if_kept_beside_a_destroyed_storage)

    def _warn_if_kept_beside_a_destroyed_storage(self) -> None:
        """A stage kept on delete that records to a storage configuration the stack deletes: IVS
        refuses to delete a storage configuration a stage uses, so the stack's destroy would fail.
        Read at synth, after every removal policy (``RemovalPolicies.of(...)`` included) applied."""
        if self.auto_participant_recording is None:
            return
        storage = self.auto_participant_recording.storage_configuration
        kept, deleted = _deletion_policy(self), _deletion_policy(storage)
        if kept not in (None, CfnDeletionPolicy.DELETE) and deleted == CfnDeletionPolicy.DELETE:
            Annotations.of(self).add_warning_v2(
                "constructs-ivsrt:retainedStageRecordsToDestroyedStorage",
                f"this stage is kept on delete ({kept.name}) but records to {storage.node.path}, which the stack "
                "deletes: IVS refuses to delete a storage configuration a stage uses, so destroying the stack would "
                "wait and then fail. Keep the storage configuration too (RemovalPolicy.RETAIN), or destroy both")

    @property
    def endpoints(self) -> StageEndpoints:
        """The stage's WHIP, events, RTMP and RTMPS endpoints (made on first use)."""
        if self._endpoints is None:
            self._endpoints = StageEndpoints(
                **{name: self._managed.attribute(rules.endpoint_attribute(name)) for name in RULES.endpoint_names}
            )
        return self._endpoints


    @staticmethod
    def from_stage_arn(scope: Construct, id: str, stage_arn: str) -> IStage:
        """Import an existing stage by ARN."""
        return import_arn(scope, id, stage_arn, RULES, "stage_arn", _ImportedStage)



def _deletion_policy(resource: Any) -> CfnDeletionPolicy | None:
    """A managed resource's DeletionPolicy as the template will have it; None for an import."""
    managed = getattr(resource, "_managed", None)
    return managed.resource.node.default_child.cfn_options.deletion_policy if managed is not None else None


def _dig(value: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value
