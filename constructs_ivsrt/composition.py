"""``Composition``: server-side composition of a stage into one view, sent to an IVS channel or
recorded to S3 (``StartComposition`` / ``StopComposition``)."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from collections.abc import Mapping, Sequence

import jsii
from aws_cdk import Annotations, Duration, IResource, ITaggable, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ivs as ivs
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
from constructs_ivsrt.encoder_configuration import IEncoderConfiguration
from constructs_ivsrt.stage import IStage, ThumbnailStorage
from constructs_ivsrt.storage_configuration import IStorageConfiguration

RULES = rules.COMPOSITION
_COMPOSITIONS_ON_STAGE = "_constructs_ivsrt_compositions"  # stage ARN -> count, kept on the stack's Python object


class VideoFillMode(str, enum.Enum):
    """How a participant's video fills its slot."""

    FILL = "FILL"
    COVER = "COVER"
    CONTAIN = "CONTAIN"


class VideoAspectRatio(str, enum.Enum):
    """The grid slots' aspect ratio."""

    AUTO = "AUTO"
    VIDEO = "VIDEO"
    SQUARE = "SQUARE"
    PORTRAIT = "PORTRAIT"


class PipBehavior(str, enum.Enum):
    """``STATIC``: the PiP participant stays; ``DYNAMIC``: it fills the view when alone."""

    STATIC = "STATIC"
    DYNAMIC = "DYNAMIC"


class PipPosition(str, enum.Enum):
    TOP_LEFT = "TOP_LEFT"
    TOP_RIGHT = "TOP_RIGHT"
    BOTTOM_LEFT = "BOTTOM_LEFT"
    BOTTOM_RIGHT = "BOTTOM_RIGHT"


@dataclass(frozen=True, kw_only=True)
class GridLayout:
    """Participants in a grid (the API's ``GridConfiguration``). Every field defaults to the service's."""

    featured_participant_attribute: str | None = None
    """Participant attribute that marks the featured participant. :default: - none"""
    participant_order_attribute: str | None = None
    """Participant attribute that orders the slots. :default: - join order"""
    grid_gap: int | None = None
    """Pixels between slots. :default: - 2"""
    omit_stopped_video: bool | None = None
    """Leave out participants whose video stopped. :default: - false"""
    video_aspect_ratio: VideoAspectRatio | None = None
    """:default: - VIDEO"""
    video_fill_mode: VideoFillMode | None = None
    """:default: - COVER for the grid's tiles, CONTAIN for the featured participant"""

    def to_api(self) -> dict[str, Any]:
        return {"grid": _api_fields(self)}


@dataclass(frozen=True, kw_only=True)
class PipLayout:
    """One participant full frame, one in a picture-in-picture (the API's ``PipConfiguration``)."""

    featured_participant_attribute: str | None = None
    """Participant attribute that marks the full-frame participant. :default: - none"""
    participant_order_attribute: str | None = None
    """:default: - join order"""
    pip_participant_attribute: str | None = None
    """Participant attribute that marks the PiP participant. :default: - none"""
    pip_behavior: PipBehavior | None = None
    """:default: - STATIC"""
    pip_position: PipPosition | None = None
    """:default: - BOTTOM_RIGHT"""
    pip_offset: int | None = None
    """Pixels from the frame's edge. :default: - 0"""
    pip_width: int | None = None
    """Pixels. :default: - derived from pip_height and the aspect ratio"""
    pip_height: int | None = None
    """Pixels. :default: - derived from pip_width and the aspect ratio"""
    grid_gap: int | None = None
    """:default: - 0"""
    omit_stopped_video: bool | None = None
    """:default: - false"""
    video_fill_mode: VideoFillMode | None = None
    """:default: - COVER"""

    def to_api(self) -> dict[str, Any]:
        return {"pip": _api_fields(self)}


Layout = GridLayout | PipLayout


@dataclass(frozen=True, kw_only=True)
class ChannelDestination:
    """Send the composition to an IVS (low-latency) channel."""

    channel: str | ivs.CfnChannel
    """The channel: its ARN, or an ``aws_ivs.CfnChannel`` in this app."""
    encoder_configuration: IEncoderConfiguration | None = None
    """How the composition is encoded. :default: - the service's defaults (1280x720, 30 fps, 2.5 Mbps)"""
    name: str | None = None
    """A name for the destination (shown in failures). :default: - none"""

    def to_api(self) -> dict[str, Any]:
        arn = self.channel.attr_arn if isinstance(self.channel, ivs.CfnChannel) else self.channel
        encoder = self.encoder_configuration.encoder_configuration_arn if self.encoder_configuration else None
        return _named(self.name, {"channel": present({"channelArn": arn, "encoderConfigurationArn": encoder})})


@dataclass(frozen=True, kw_only=True)
class S3Destination:
    """Record the composition to S3 as HLS."""

    storage_configuration: IStorageConfiguration
    """Where recordings go."""
    encoder_configuration: IEncoderConfiguration
    """How the recording is encoded (the API takes exactly one)."""
    target_segment_duration: Duration | None = None
    """HLS segment length, 2 to 10 s. :default: - 2 seconds"""
    thumbnail_interval: Duration | None = None
    """Take a thumbnail this often (1 s to 24 h). :default: - no thumbnails (60 s if thumbnail_storage is set)"""
    thumbnail_storage: Sequence[ThumbnailStorage] | None = None
    """How thumbnails are kept. :default: - SEQUENTIAL"""
    name: str | None = None
    """A name for the destination (shown in failures). :default: - none"""

    def to_api(self) -> dict[str, Any]:
        segment = seconds(self.target_segment_duration)
        thumbnails = present({
            "targetIntervalSeconds": seconds(self.thumbnail_interval),
            "storage": [enum_value(s) for s in self.thumbnail_storage] if self.thumbnail_storage is not None else None,
        })
        return _named(self.name, {"s3": present({
            "storageConfigurationArn": self.storage_configuration.storage_configuration_arn,
            "encoderConfigurationArns": [self.encoder_configuration.encoder_configuration_arn],
            "recordingConfiguration": ({"hlsConfiguration": {"targetSegmentDurationSeconds": segment}}
                                       if segment is not None else None),
            "thumbnailConfigurations": [thumbnails] if thumbnails else None,
        })})


Destination = ChannelDestination | S3Destination


@runtime_checkable
class IComposition(IResource, Protocol):
    """A composition, managed here or imported by ARN."""

    @property
    def composition_arn(self) -> str:
        ...

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        ...


class CompositionBase(IvsRealtimeResourceBase):
    @property
    def composition_arn(self) -> str:
        return self._arn

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``ivs:GetComposition`` on this composition."""
        return self.grant(grantee, "ivs:GetComposition")

    def grant_stop(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``ivs:StopComposition`` on this composition."""
        return self.grant(grantee, "ivs:StopComposition")


class _ImportedComposition(CompositionBase):
    """An existing composition (``Composition.from_composition_arn``)."""


@jsii.implements(ITaggable)
class Composition(ManagedMixin, CompositionBase):
    """A server-side composition of a stage (``StartComposition`` on create, ``StopComposition``
    on delete).

    Starting is asynchronous: the deploy waits (the Provider framework's isComplete, every 5 s,
    at most 15 minutes) until the composition is ACTIVE, and fails with the destinations that
    failed if it becomes FAILED, stopping it so nothing is left running. Delete waits until it has
    stopped. The API cannot change a composition: any change of stage, layout or destinations
    starts a new one (CloudFormation then stops the old). Tags change in place.

    A composition is not permanent: IVS stops it about a minute after the last participant
    leaves the stage. CloudFormation cannot see that. The next update of this resource starts a
    new composition, and a delete of an ended one succeeds.
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stage: IStage,
        destinations: Sequence[Destination],
        layout: Layout | None = None,
        tags: Mapping[str, str] | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
    ) -> None:
        """
        :param stage: The stage to compose.
        :param destinations: One or two: an IVS channel and/or an S3 recording.
        :param layout: A grid or picture-in-picture. :default: - a grid with the service's defaults
        :param tags: Tags (``Tags.of(scope)`` adds to them). :default: - none besides ``Tags.of``
        :param removal_policy: :default: RemovalPolicy.DESTROY (RETAIN leaves it running)
        """
        super().__init__(scope, id)
        checker = PropChecker(self)  # the props' own types were checked by @typed_props
        with on_path(self):
            destinations_api = [d.to_api() for d in destinations]
        layout_api = layout.to_api() if layout is not None else None
        checker.check("stage", stage.stage_arn, RULES.member("stageArn")).check(
            "destinations", destinations_api, RULES.member("destinations")).check(
            "layout", layout_api, RULES.member("layout"))
        for kind, cls in (("channel", "ChannelDestination"), ("s3", "S3Destination")):
            count = sum(1 for d in destinations_api if kind in d)
            # The API documents at most one destination of each kind.
            checker.require(count <= 1, f"destinations must have at most one {cls}, got: {count}")
        checker.problems = [_prop_label(problem) for problem in checker.problems]
        checker.raise_if_any()
        self._managed = ManagedResource(
            self, RULES, {"stageArn": stage.stage_arn, "layout": layout_api, "destinations": destinations_api},
            tags, removal_policy)
        self._arn = self._managed.resource.ref
        self.stage = stage
        self._count_on_stage(stage)

    def _count_on_stage(self, stage: IStage) -> None:
        """IVS runs at most a few compositions per stage (a quota): warn on the one past it.
        Counted per stage ARN in the stack, so two imports of one stage count together."""
        counts = Stack.of(self).__dict__.setdefault(_COMPOSITIONS_ON_STAGE, {})
        counts[stage.stage_arn] = count = counts.get(stage.stage_arn, 0) + 1
        limit = rules.QUOTAS["Composition"].per_stage
        if limit is not None and count > limit:
            Annotations.of(self).add_warning_v2(
                "constructs-ivsrt:compositionsPerStageQuota",
                f"this is composition {count} on {stage.node.path}: IVS allows {limit} per stage (a service quota), "
                "so this one would fail to start with ServiceQuotaExceededException unless the quota was raised")

    @staticmethod
    def from_composition_arn(scope: Construct, id: str, composition_arn: str) -> IComposition:
        """Import an existing composition by ARN."""
        return import_arn(scope, id, composition_arn, RULES, "composition_arn", _ImportedComposition)


# The model names API members; a message should name the prop the user wrote. API path (after
# "destinations[i]." or "layout.") -> prop.
_DESTINATION_PROPS = {
    "channel.channelArn": "channel",
    "channel.encoderConfigurationArn": "encoder_configuration",
    "s3.storageConfigurationArn": "storage_configuration",
    "s3.encoderConfigurationArns": "encoder_configuration",
    "s3.encoderConfigurationArns[0]": "encoder_configuration",
    "s3.recordingConfiguration.hlsConfiguration.targetSegmentDurationSeconds": "target_segment_duration (seconds)",
    "s3.thumbnailConfigurations[0].targetIntervalSeconds": "thumbnail_interval (seconds)",
    "s3.thumbnailConfigurations[0].storage": "thumbnail_storage",
}
_API_LABEL = re.compile(r"^(destinations\[\d+\]|layout)\.(\S+?)(\[\d+\])?( .*)$", re.S)


def _prop_label(problem: str) -> str:
    """``destinations[0].s3.recordingConfiguration...Seconds must ...`` ->
    ``destinations[0].target_segment_duration (seconds) must ...``; ``layout.pip.pipWidth`` ->
    ``layout.pip_width``."""
    match = _API_LABEL.match(problem)
    if match is None:
        return problem
    where, path, index, rest = match.group(1), match.group(2), match.group(3) or "", match.group(4)
    if where == "layout":
        kind, _, field = path.partition(".")
        return f"layout.{rules.snake_case(field)}{index}{rest}" if field and "." not in field else problem
    prop = _DESTINATION_PROPS.get(path + index) or _DESTINATION_PROPS.get(path)
    return f"{where}.{prop}{rest}" if prop else problem


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _api_fields(layout: Any) -> dict[str, Any]:
    return present({_camel(name): enum_value(value) for name, value in vars(layout).items()})


def _named(name: str | None, destination: dict[str, Any]) -> dict[str, Any]:
    return {**destination, "name": name} if name is not None else destination
