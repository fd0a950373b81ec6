"""``Composition``: server-side composition of a stage into one view, sent to an IVS channel or
recorded to S3 (``StartComposition`` / ``StopComposition``)."""

from __future__ import annotations

import collections
import enum
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import jsii
from aws_cdk import Annotations, Duration, ITaggable, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ivs as ivs
from constructs import Construct

from constructs_ivsrt._fields import SECONDS, Conversion, api, attribute, props_class
from constructs_ivsrt._regions import check_event_rule_place, place_of, region_of_arn, require_same_region
from constructs_ivsrt._types import typed_args, typed_props
from constructs_ivsrt._validation import PropChecker
from constructs_ivsrt.encoder_configuration import IEncoderConfiguration
from constructs_ivsrt.event_rules import COMPOSITION_STATE_CHANGE, CompositionStateEvent, event_rule
from constructs_ivsrt.resource import IIvsRealtimeResource, IvsRealtimeResource, ManagedResource
from constructs_ivsrt.stage import IStage, ThumbnailStorage
from constructs_ivsrt.storage_configuration import IStorageConfiguration
from ivsrt_runtime import rules

# Per stack, the compositions on each stage ARN: kept beside the stacks (weakly) rather than in
# their jsii proxies' ``__dict__``.
_compositions_on_stage: weakref.WeakKeyDictionary[Stack, collections.Counter[str]] = weakref.WeakKeyDictionary()


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
    """The corner the picture-in-picture participant's video sits in."""

    TOP_LEFT = "TOP_LEFT"
    TOP_RIGHT = "TOP_RIGHT"
    BOTTOM_LEFT = "BOTTOM_LEFT"
    BOTTOM_RIGHT = "BOTTOM_RIGHT"


@props_class
class GridLayout:
    """Participants in a grid (the API's ``GridConfiguration``). Every field defaults to the service's."""

    API_PREFIX = ("grid",)

    featured_participant_attribute: str | None = api(default=None)
    """Participant attribute that marks the featured participant. :default: - none"""
    participant_order_attribute: str | None = api(default=None)
    """Participant attribute that orders the slots. :default: - join order"""
    grid_gap: int | None = api(default=None)
    """Pixels between slots. :default: - 2"""
    omit_stopped_video: bool | None = api(default=None)
    """Leave out participants whose video stopped. :default: - false"""
    video_aspect_ratio: VideoAspectRatio | None = api(default=None)
    """:default: - VIDEO"""
    video_fill_mode: VideoFillMode | None = api(default=None)
    """:default: - COVER for the grid's tiles, CONTAIN for the featured participant"""


@props_class
class PipLayout:
    """One participant full frame, one in a picture-in-picture (the API's ``PipConfiguration``)."""

    API_PREFIX = ("pip",)

    featured_participant_attribute: str | None = api(default=None)
    """Participant attribute that marks the full-frame participant. :default: - none"""
    participant_order_attribute: str | None = api(default=None)
    """:default: - join order"""
    pip_participant_attribute: str | None = api(default=None)
    """Participant attribute that marks the PiP participant. :default: - none"""
    pip_behavior: PipBehavior | None = api(default=None)
    """:default: - STATIC"""
    pip_position: PipPosition | None = api(default=None)
    """:default: - BOTTOM_RIGHT"""
    pip_offset: int | None = api(default=None)
    """Pixels from the frame's edge. :default: - 0"""
    pip_width: int | None = api(default=None)
    """Pixels. :default: - derived from pip_height and the aspect ratio"""
    pip_height: int | None = api(default=None)
    """Pixels. :default: - derived from pip_width and the aspect ratio"""
    grid_gap: int | None = api(default=None)
    """:default: - 0"""
    omit_stopped_video: bool | None = api(default=None)
    """:default: - false"""
    video_fill_mode: VideoFillMode | None = api(default=None)
    """:default: - COVER"""


Layout = GridLayout | PipLayout


def _channel_arn(channel: str | ivs.CfnChannel) -> str:
    return channel.attr_arn if isinstance(channel, ivs.CfnChannel) else channel


_ENCODER_ARN = attribute("encoder_configuration_arn", shown=False)


@props_class
class ChannelDestination:
    """Send the composition to an IVS (low-latency) channel."""

    channel: str | ivs.CfnChannel = api("channel", "channelArn", conversion=Conversion(_channel_arn))
    """The channel: its ARN, or an ``aws_ivs.CfnChannel`` in this app."""
    encoder_configuration: IEncoderConfiguration | None = api(
        "channel", "encoderConfigurationArn", conversion=_ENCODER_ARN, default=None
    )
    """How the composition is encoded. :default: - the service's defaults (1280x720, 30 fps, 2.5 Mbps)"""
    name: str | None = api(default=None)
    """A name for the destination (shown in failures). :default: - none"""


@props_class
class S3Destination:
    """Record the composition to S3 as HLS."""

    storage_configuration: IStorageConfiguration = api(
        "s3", "storageConfigurationArn", conversion=attribute("storage_configuration_arn", shown=False)
    )
    """Where recordings go."""
    encoder_configuration: IEncoderConfiguration = api("s3", "encoderConfigurationArns", 0, conversion=_ENCODER_ARN)
    """How the recording is encoded (the API takes exactly one)."""
    target_segment_duration: Duration | None = api(
        "s3", "recordingConfiguration", "hlsConfiguration", "targetSegmentDurationSeconds", conversion=SECONDS, default=None
    )
    """HLS segment length, 2 to 10 s. :default: - 2 seconds"""
    thumbnail_interval: Duration | None = api(
        "s3", "thumbnailConfigurations", 0, "targetIntervalSeconds", conversion=SECONDS, default=None
    )
    """Take a thumbnail this often (1 s to 24 h). :default: - no thumbnails (60 s if thumbnail_storage is set)"""
    thumbnail_storage: Sequence[ThumbnailStorage] | None = api("s3", "thumbnailConfigurations", 0, "storage", default=None)
    """How thumbnails are kept. :default: - SEQUENTIAL"""
    name: str | None = api(default=None)
    """A name for the destination (shown in failures). :default: - none"""


Destination = ChannelDestination | S3Destination


@runtime_checkable
class IComposition(IIvsRealtimeResource, Protocol):
    """A composition, managed here or imported by ARN."""

    @property
    def composition_arn(self) -> str: ...

    def on_state_change(
        self,
        id: str,
        *,
        event_names: Sequence[CompositionStateEvent] | None = None,
        target: events.IRuleTarget | None = None,
        description: str | None = None,
        rule_name: str | None = None,
    ) -> events.Rule: ...


class CompositionBase(IvsRealtimeResource):
    """What a managed composition and an imported one share: the ARN and the grants."""

    RULES: ClassVar[rules.ResourceRules] = rules.COMPOSITION
    ARN_PROP: ClassVar[str] = "composition_arn"

    @property
    def composition_arn(self) -> str:
        return self._arn

    def grant_stop(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``ivs:StopComposition`` on this composition."""
        return self.grant(grantee, "ivs:StopComposition")

    @typed_args
    def on_state_change(
        self,
        id: str,
        *,
        event_names: Sequence[CompositionStateEvent] | None = None,
        target: events.IRuleTarget | None = None,
        description: str | None = None,
        rule_name: str | None = None,
    ) -> events.Rule:
        """An EventBridge rule for this composition's "IVS Composition State Change" events: its
        session and each destination starting, ending, failing, reconnecting (a failure's reason
        is in the event, not in the API). Delivery is best effort (late, out of order, or
        missing; see ``constructs_ivsrt.event_rules``).

        :param event_names: Only these events. :default: - every event of the kind
        :param target: Where matching events go (more with ``rule.add_target``). :default: - none yet
        :param description: :default: - none
        :param rule_name: :default: - generated by CloudFormation
        """
        check_event_rule_place(self._as_construct, id, self, "on_state_change", "composition")
        return event_rule(
            self._as_construct,
            id,
            COMPOSITION_STATE_CHANGE,
            self.composition_arn,
            event_names=event_names,
            target=target,
            description=description,
            rule_name=rule_name,
        )


@jsii.implements(ITaggable)
class Composition(ManagedResource, CompositionBase):
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

    stage: IStage = api("stageArn", conversion=attribute("stage_arn", shown=False))
    """The stage composed."""
    layout: Layout | None = api()
    """The layout (None: a grid with the service's defaults)."""
    destinations: Sequence[Destination] = api()
    """Where the composition goes."""

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
        self._manage(scope, id, locals())
        self._count_on_stage(stage)

    def _check_props(self, checker: PropChecker, props: Mapping[str, Any], members: Mapping[str, Any]) -> None:
        for kind, cls in (("channel", "ChannelDestination"), ("s3", "S3Destination")):
            count = sum(1 for destination in members.get("destinations", ()) if kind in destination)
            # The API documents at most one destination of each kind.
            checker.require(count <= 1, f"destinations must have at most one {cls}, got: {count}")
        for prop, region, named in _regions_used(props):
            require_same_region(
                checker,
                self._place.region,
                prop,
                region,
                named,
                owner_kind="composition",
                why="a composition reads a stage and writes to destinations of its own region",
            )

    def _count_on_stage(self, stage: IStage) -> None:
        """IVS runs at most a few compositions per stage (a quota): warn on the one past it.
        Counted per stage ARN in the stack, so two imports of one stage count together."""
        counts = _compositions_on_stage.setdefault(Stack.of(self), collections.Counter())
        counts[stage.stage_arn] += 1
        count = counts[stage.stage_arn]
        limit = rules.QUOTAS["Composition"].per_stage
        if limit is not None and count > limit:
            Annotations.of(self).add_warning_v2(
                "constructs-ivsrt:compositionsPerStageQuota",
                f"this is composition {count} on {stage.node.path}: IVS allows {limit} per stage (a service quota), "
                "so this one would fail to start with ServiceQuotaExceededException unless the quota was raised",
            )

    @staticmethod
    def from_composition_arn(scope: Construct, id: str, composition_arn: str) -> IComposition:
        """Import an existing composition by ARN."""
        return CompositionBase._import(scope, id, composition_arn)


def _regions_used(props: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(prop, region, what it names) for each resource a composition uses: its stage, and its
    destinations' storage configuration, encoder configurations and channel."""
    used = [("stage", place_of(props["stage"]).region, props["stage"].node.path)]
    for index, destination in enumerate(props["destinations"]):
        for name in ("storage_configuration", "encoder_configuration"):
            resource = getattr(destination, name, None)
            if resource is not None:
                used.append((f"destinations[{index}].{name}", place_of(resource).region, resource.node.path))
        channel = getattr(destination, "channel", None)
        if isinstance(channel, ivs.CfnChannel):
            used.append((f"destinations[{index}].channel", place_of(Stack.of(channel)).region, channel.node.path))
        elif isinstance(channel, str):
            used.append((f"destinations[{index}].channel", region_of_arn(channel), channel))
    return used
