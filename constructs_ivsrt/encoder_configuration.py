"""``EncoderConfiguration``: how a composition renders video (size, frame rate, bitrate)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Protocol, runtime_checkable

import jsii
from aws_cdk import ITaggable, RemovalPolicy
from constructs import Construct

from constructs_ivsrt._fields import api, props_class
from constructs_ivsrt._types import typed_props
from constructs_ivsrt.resource import IIvsRealtimeResource, IvsRealtimeResource, ManagedResource
from ivsrt_runtime import rules


@props_class
class Video:
    """Video settings; ranges come from the API model (checked at synth)."""

    width: int | None = api(default=None)
    """Width in pixels, 2 to 1920. :default: - 1280 (the service's default)"""
    height: int | None = api(default=None)
    """Height in pixels, 2 to 1920. :default: - 720 (the service's default)"""
    framerate: float | None = api(default=None)
    """Frames per second, 1 to 60. :default: - 30 (the service's default)"""
    bitrate: int | None = api(default=None)
    """Bits per second, 1 to 8,500,000. :default: - 2,500,000 (the service's default)"""


@runtime_checkable
class IEncoderConfiguration(IIvsRealtimeResource, Protocol):
    """An encoder configuration, managed here or imported by ARN."""

    @property
    def encoder_configuration_arn(self) -> str: ...


class EncoderConfigurationBase(IvsRealtimeResource):
    """What a managed encoder configuration and an imported one share: the ARN and the grants."""

    RULES: ClassVar[rules.ResourceRules] = rules.ENCODER_CONFIGURATION
    ARN_PROP: ClassVar[str] = "encoder_configuration_arn"

    @property
    def encoder_configuration_arn(self) -> str:
        return self._arn


@jsii.implements(ITaggable)
class EncoderConfiguration(ManagedResource, EncoderConfigurationBase):
    """An IVS Real-Time encoder configuration (``CreateEncoderConfiguration``).

    The API cannot change one in place: a new name or video replaces it (as
    ``AWS::IVS::EncoderConfiguration`` does); a tag change never does.
    """

    encoder_configuration_name: str = api("name")
    """The name, as given or generated from the construct path."""
    # Video() with no field is no video: sending {} would be a needless replacement.
    video: Video | None = api(omit_empty=True)
    """The video settings (None: the service's defaults)."""

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        encoder_configuration_name: str | None = None,
        video: Video | None = None,
        tags: Mapping[str, str] | None = None,
        adopt_arn: str | None = None,
        removal_policy: RemovalPolicy | None = None,
    ) -> None:
        """
        :param encoder_configuration_name: The name (letters, digits, ``-``, ``_``; at most 128).
            :default: - generated from the construct path
        :param video: Video settings. :default: - the service's defaults (1280x720, 30 fps, 2.5 Mbps)
        :param tags: Tags (``Tags.of(scope)`` adds to them). :default: - none besides ``Tags.of``
        :param adopt_arn: An existing encoder configuration for the stack to take over instead of creating
            one: its ARN is kept, its props are made these (in place), and it is tagged as this
            stack resource's. Refused if another stack resource holds it, or if a prop that cannot
            change in place differs (docs/guide.md, "Adopting an existing resource"); set only when
            the resource is first added to the stack. :default: - a new encoder configuration is created
        :param removal_policy: What happens on stack delete or replacement.
            :default: RemovalPolicy.DESTROY; RemovalPolicy.RETAIN when ``adopt_arn`` is given
        """
        self._manage(scope, id, locals())

    @staticmethod
    def from_encoder_configuration_arn(scope: Construct, id: str, encoder_configuration_arn: str) -> IEncoderConfiguration:
        """Import an existing encoder configuration by ARN."""
        return EncoderConfigurationBase._import(scope, id, encoder_configuration_arn)
