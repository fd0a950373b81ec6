"""AWS CDK constructs for Amazon IVS Real-Time (the ``ivs-realtime`` API).

The public API. Names load on first use, so tools that only need the local endpoint
(``constructs_ivsrt.local``) do not pay for importing aws-cdk-lib.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Stage": "stage",
    "IStage": "stage",
    "StageEndpoints": "stage",
    "AutoParticipantRecording": "stage",
    "ThumbnailConfiguration": "stage",
    "RecordingMediaType": "stage",
    "ThumbnailRecordingMode": "stage",
    "ThumbnailStorage": "stage",
    "EncoderConfiguration": "encoder_configuration",
    "IEncoderConfiguration": "encoder_configuration",
    "Video": "encoder_configuration",
    "StorageConfiguration": "storage_configuration",
    "IStorageConfiguration": "storage_configuration",
    "IngestConfiguration": "ingest_configuration",
    "IIngestConfiguration": "ingest_configuration",
    "IngestProtocol": "ingest_configuration",
    "PublicKey": "public_key",
    "IPublicKey": "public_key",
    "Composition": "composition",
    "IComposition": "composition",
    "GridLayout": "composition",
    "PipLayout": "composition",
    "ChannelDestination": "composition",
    "S3Destination": "composition",
    "VideoFillMode": "composition",
    "VideoAspectRatio": "composition",
    "PipBehavior": "composition",
    "PipPosition": "composition",
    "ParticipantTokenVendor": "participant_token_vendor",
    "ParticipantTokenCapability": "participant_token_vendor",
    "IvsRealtimeValidationError": "_base",
    "IvsRealtimeProvider": "_provider",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'constructs_ivsrt' has no attribute {name!r}")
    return getattr(importlib.import_module(f"constructs_ivsrt.{module}"), name)


def __dir__() -> list[str]:
    return __all__
