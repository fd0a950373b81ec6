"""AWS CDK constructs for Amazon IVS Real-Time (the ``ivs-realtime`` API): the public API."""

from __future__ import annotations

from constructs_ivsrt._provider import (
    IvsRealtimeProvider,
)
from constructs_ivsrt._validation import (
    IvsRealtimeValidationError,
)
from constructs_ivsrt.composition import (
    ChannelDestination,
    Composition,
    GridLayout,
    IComposition,
    PipBehavior,
    PipLayout,
    PipPosition,
    S3Destination,
    VideoAspectRatio,
    VideoFillMode,
)
from constructs_ivsrt.drift_watch import (
    DriftWatch,
)
from constructs_ivsrt.encoder_configuration import (
    EncoderConfiguration,
    IEncoderConfiguration,
    Video,
)
from constructs_ivsrt.event_rules import (
    CompositionStateEvent,
    ParticipantRecordingEvent,
    StageUpdateEvent,
)
from constructs_ivsrt.ingest_configuration import (
    IIngestConfiguration,
    IngestConfiguration,
    IngestProtocol,
)
from constructs_ivsrt.participant_token_signing_key import (
    ParticipantTokenSigningKey,
)
from constructs_ivsrt.participant_token_vendor import (
    ParticipantTokenCapability,
    ParticipantTokenVendor,
)
from constructs_ivsrt.public_key import (
    IPublicKey,
    PublicKey,
)
from constructs_ivsrt.stage import (
    AutoParticipantRecording,
    IStage,
    RecordingMediaType,
    Stage,
    StageEndpoints,
    ThumbnailConfiguration,
    ThumbnailRecordingMode,
    ThumbnailStorage,
)
from constructs_ivsrt.stage_dashboard import (
    StageDashboard,
)
from constructs_ivsrt.storage_configuration import (
    IStorageConfiguration,
    StorageConfiguration,
)

__all__ = [
    "AutoParticipantRecording",
    "ChannelDestination",
    "Composition",
    "CompositionStateEvent",
    "DriftWatch",
    "EncoderConfiguration",
    "GridLayout",
    "IComposition",
    "IEncoderConfiguration",
    "IIngestConfiguration",
    "IPublicKey",
    "IStage",
    "IStorageConfiguration",
    "IngestConfiguration",
    "IngestProtocol",
    "IvsRealtimeProvider",
    "IvsRealtimeValidationError",
    "ParticipantRecordingEvent",
    "ParticipantTokenCapability",
    "ParticipantTokenSigningKey",
    "ParticipantTokenVendor",
    "PipBehavior",
    "PipLayout",
    "PipPosition",
    "PublicKey",
    "RecordingMediaType",
    "S3Destination",
    "Stage",
    "StageDashboard",
    "StageEndpoints",
    "StageUpdateEvent",
    "StorageConfiguration",
    "ThumbnailConfiguration",
    "ThumbnailRecordingMode",
    "ThumbnailStorage",
    "Video",
    "VideoAspectRatio",
    "VideoFillMode",
]
