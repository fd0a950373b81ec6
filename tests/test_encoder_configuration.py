"""EncoderConfiguration: its template, its validation and its lifecycle at the local endpoint."""

from __future__ import annotations

import pytest
from synth import expect, new_stack

from constructs_ivsrt import EncoderConfiguration, IvsRealtimeValidationError, Video


@pytest.mark.parametrize(
    "build, message",
    [
        pytest.param(
            lambda s: EncoderConfiguration(s, "Enc", video=Video(width=1921)),
            "T/Enc: video.width must be between 2 and 1920, got: 1921",
            id="video-width",
        ),
        pytest.param(
            lambda s: EncoderConfiguration(s, "Enc", video=Video(height=1)),
            "T/Enc: video.height must be between 2 and 1920, got: 1",
            id="video-height",
        ),
        pytest.param(
            lambda s: EncoderConfiguration(s, "Enc", video=Video(framerate=60.5)),
            "T/Enc: video.framerate must be between 1 and 60, got: 60.5",
            id="video-framerate",
        ),
        pytest.param(
            lambda s: EncoderConfiguration(s, "Enc", video=Video(bitrate=8_500_001)),
            "T/Enc: video.bitrate must be between 1 and 8500000, got: 8500001",
            id="video-bitrate",
        ),
        pytest.param(
            lambda s: EncoderConfiguration(s, "Enc", video=Video(width=1280.5)),
            "T/Enc: video.width must be a whole number, got: 1280.5",
            id="video-width-integer",
        ),
        pytest.param(
            lambda s: EncoderConfiguration(s, "Enc", encoder_configuration_name="a/b"),
            "T/Enc: encoder_configuration_name must match the pattern [a-zA-Z0-9-_]*, got: 'a/b'",
            id="encoder-name",
        ),
        pytest.param(
            lambda s: EncoderConfiguration.from_encoder_configuration_arn(s, "E", "not-an-arn"),
            "T/E: encoder_configuration_arn must match the pattern "
            "arn:aws:ivs:[a-z0-9-]+:[0-9]+:encoder-configuration/[a-zA-Z0-9-]+, got: 'not-an-arn'",
            id="encoder-arn",
        ),
    ],
)
def test_rule(build, message):
    expect(message, build)


def test_every_violation_is_reported_at_once():
    with pytest.raises(IvsRealtimeValidationError) as caught:
        EncoderConfiguration(new_stack(), "Enc", video=Video(width=0, height=0))
    assert str(caught.value).splitlines() == [
        "T/Enc: video.width must be between 2 and 1920, got: 0",
        "T/Enc: video.height must be between 2 and 1920, got: 0",
    ]
