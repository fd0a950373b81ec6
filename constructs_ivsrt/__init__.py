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
