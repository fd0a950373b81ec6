"""``EncoderConfiguration``: how a composition renders video (size, frame rate, bitrate)."""

from __future__ import annotations

import jsii

from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from collections.abc import Mapping

from aws_cdk import IResource, ITaggable, Names, RemovalPolicy
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_ivsrt._base import IvsRealtimeResourceBase, ManagedMixin, ManagedResource, PropChecker, import_arn, present
from constructs_ivsrt._types import typed_props
from ivsrt_runtime import rules

RULES = rules.ENCODER_CONFIGURATION


@dataclass(frozen=True, kw_only=True)
class Video:
    """Video settings; ranges come from the API model (checked at synth)."""

    width: int | None = None
    """Width in pixels, 2 to 1920. :default: - 1280 (the service's default)"""
    height: int | None = None
    """Height in pixels, 2 to 1920. :default: - 720 (the service's default)"""
    framerate: float | None = None
    """Frames per second, 1 to 60. :default: - 30 (the service's default)"""
    bitrate: int | None = None
    """Bits per second, 1 to 8,500,000. :default: - 2,500,000 (the service's default)"""

    def to_api(self) -> dict[str, float]:
        fields = {"width": self.width, "height": self.height, "framerate": self.framerate, "bitrate": self.bitrate}
        return present(fields)


@runtime_checkable
class IEncoderConfiguration(IResource, Protocol):
    """An encoder configuration, managed here or imported by ARN."""

    @property
    def encoder_configuration_arn(self) -> str:
        ...

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        ...


class EncoderConfigurationBase(IvsRealtimeResourceBase):
    @property
    def encoder_configuration_arn(self) -> str:
        return self._arn

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``ivs:GetEncoderConfiguration`` on this encoder configuration."""
        return self.grant(grantee, "ivs:GetEncoderConfiguration")


class _ImportedEncoderConfiguration(EncoderConfigurationBase):
    """An existing EncoderConfiguration (``EncoderConfiguration.from_encoder_configuration_arn``)."""


@jsii.implements(ITaggable)
class EncoderConfiguration(ManagedMixin, EncoderConfigurationBase):
    """An IVS Real-Time encoder configuration (``CreateEncoderConfiguration``).

    The API cannot change one in place: a new name or video replaces it (as
    ``AWS::IVS::EncoderConfiguration`` does); a tag change never does.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        encoder_configuration_name: str | None = None,
        video: Video | None = None,
        tags: Mapping[str, str] | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
    ) -> None:
        """
        :param encoder_configuration_name: The name (letters, digits, ``-``, ``_``; at most 128).
            :default: - generated from the construct path
        :param video: Video settings. :default: - the service's defaults (1280x720, 30 fps, 2.5 Mbps)
        :param tags: Tags (``Tags.of(scope)`` adds to them). :default: - none besides ``Tags.of``
        :param removal_policy: :default: RemovalPolicy.DESTROY
        """
        super().__init__(scope, id)
        name = (encoder_configuration_name if encoder_configuration_name is not None
                else Names.unique_resource_name(self, max_length=128, separator="-"))
        # Video() with no field is the same as no video: sending {} would be a needless replacement.
        video_api = (video.to_api() or None) if video else None
        checker = PropChecker(self).check("encoder_configuration_name", name, RULES.member("name"))
        for field, value in (video_api or {}).items():
            checker.check(f"video.{field}", value, rules.shape_at(RULES.member("video"), field))
        checker.raise_if_any()
        self._managed = ManagedResource(self, RULES, {"name": name, "video": video_api}, tags, removal_policy)
        self._arn = self._managed.resource.ref
        self.encoder_configuration_name = name

    @staticmethod
    def from_encoder_configuration_arn(scope: Construct, id: str, encoder_configuration_arn: str) -> IEncoderConfiguration:
        """Import an existing encoder configuration by ARN."""
        return import_arn(scope, id, encoder_configuration_arn, RULES, "encoder_configuration_arn", _ImportedEncoderConfiguration)
