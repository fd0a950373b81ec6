"""``IngestConfiguration``: RTMP(S) ingest into a stage, for encoders that cannot speak WHIP."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

import jsii
from aws_cdk import ITaggable, RemovalPolicy, SecretValue
from constructs import Construct

from constructs_ivsrt._fields import api, attribute
from constructs_ivsrt._regions import place_of, require_same_region
from constructs_ivsrt._types import typed_props
from constructs_ivsrt._validation import PropChecker, is_unresolved, member_shape
from constructs_ivsrt.resource import IIvsRealtimeResource, IvsRealtimeResource, ManagedResource
from constructs_ivsrt.stage import IStage
from ivsrt_runtime import rules


class IngestProtocol(str, enum.Enum):
    """How the encoder sends (the API's ``IngestProtocol``)."""

    RTMP = "RTMP"
    RTMPS = "RTMPS"


@runtime_checkable
class IIngestConfiguration(IIvsRealtimeResource, Protocol):
    """An ingest configuration, managed here or imported by ARN."""

    @property
    def ingest_configuration_arn(self) -> str: ...


class IngestConfigurationBase(IvsRealtimeResource):
    """What a managed ingest configuration and an imported one share: the ARN and the grants.

    ``grant_read`` allows ``ivs:GetIngestConfiguration``, whose answer includes the stream key:
    grant it only to what may publish to the stage."""

    RULES: ClassVar[rules.ResourceRules] = rules.INGEST_CONFIGURATION
    ARN_PROP: ClassVar[str] = "ingest_configuration_arn"

    @property
    def ingest_configuration_arn(self) -> str:
        return self._arn


@jsii.implements(ITaggable)
class IngestConfiguration(ManagedResource, IngestConfigurationBase):
    """An IVS Real-Time ingest configuration (``CreateIngestConfiguration``): an RTMP(S) publisher
    that joins a stage as a participant.

    The stage and redundant ingest change in place (``UpdateIngestConfiguration``); a new name,
    user id, attributes, protocol or insecure-ingest setting replaces it, and so a new stream key
    is issued. Tags change in place.

    The stream key is a secret. The handler returns it to CloudFormation with ``NoEcho`` (masked
    in the console, in DescribeStackResource and in the framework's logs) and never logs it;
    ``stream_key`` is a ``SecretValue`` that CDK refuses to put where secrets do not belong. The
    trade-off: CloudFormation keeps the value to hand it to whatever references it, so anyone
    who can read the resources that use it (a Secrets Manager secret you create from it, an
    environment variable) can read the key.
    """

    ingest_configuration_name: str = api("name")
    """The name, as given or generated from the construct path."""
    stage: IStage | None = api("stageArn", conversion=attribute("stage_arn", shown=False))
    """The stage the publisher joins (None: unattached)."""
    user_id: str | None = api()
    """Your id for the publisher."""
    attributes: Mapping[str, str] | None = api()
    """Participant attributes the stage's clients see."""
    ingest_protocol: IngestProtocol = api()
    """RTMPS or RTMP."""
    insecure_ingest: bool | None = api()
    """Whether RTMP without TLS is allowed."""
    redundant_ingest: bool | None = api()
    """Whether a second stream key is issued for a backup encoder."""

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stage: IStage | None = None,
        ingest_protocol: IngestProtocol = IngestProtocol.RTMPS,
        ingest_configuration_name: str | None = None,
        user_id: str | None = None,
        attributes: Mapping[str, str] | None = None,
        insecure_ingest: bool | None = None,
        redundant_ingest: bool | None = None,
        force_delete: bool = False,
        tags: Mapping[str, str] | None = None,
        adopt_arn: str | None = None,
        removal_policy: RemovalPolicy | None = None,
    ) -> None:
        """
        :param stage: The stage the publisher joins. :default: - none: the configuration exists
            unattached (INACTIVE) until a stage is set
        :param ingest_protocol: RTMPS (TLS) or RTMP. :default: IngestProtocol.RTMPS
        :param ingest_configuration_name: The name (letters, digits, ``-``, ``_``; at most 128).
            :default: - generated from the construct path
        :param user_id: Your id for the publisher (at most 128 characters; not for personal data).
            :default: - none
        :param attributes: Participant attributes the stage's clients see (not for personal data).
            :default: - none
        :param insecure_ingest: Allow RTMP without TLS; must be true with ``IngestProtocol.RTMP``.
            :default: - false (the service's default)
        :param redundant_ingest: Issue a second stream key for a backup encoder.
            :default: - false (the service's default)
        :param force_delete: Delete it (stack delete, or after a replacement) even while an encoder
            is publishing through it: the publisher is disconnected (DeleteIngestConfiguration's
            ``force``). :default: false - such a delete waits up to 2 minutes for the publisher to
            stop, then fails saying so
        :param tags: Tags (``Tags.of(scope)`` adds to them). :default: - none besides ``Tags.of``
        :param adopt_arn: An existing ingest configuration for the stack to take over instead of creating
            one: its ARN is kept, its props are made these (in place), and it is tagged as this
            stack resource's. Refused if another stack resource holds it, or if a prop that cannot
            change in place differs (docs/guide.md, "Adopting an existing resource"); set only when
            the resource is first added to the stack. :default: - a new ingest configuration is created
        :param removal_policy: What happens on stack delete or replacement.
            :default: RemovalPolicy.DESTROY; RemovalPolicy.RETAIN when ``adopt_arn`` is given
        """
        # Delete options only when set, so that templates without them stay as they were.
        self._manage(
            scope, id, locals(), extra={rules.DELETE_OPTIONS_PROPERTY: {"force": True} if force_delete is True else None}
        )

    def _check_props(self, checker: PropChecker, props: Mapping[str, Any], members: Mapping[str, Any]) -> None:
        # A rule the API documents across two members (UpdateIngestConfiguration's docs).
        insecure = props["insecure_ingest"]
        checker.require(
            members.get("ingestProtocol") != IngestProtocol.RTMP.value or insecure is True,
            f"insecure_ingest must be true when ingest_protocol is RTMP, got: {insecure!r}",
        )
        force_delete = props["force_delete"]
        checker.check("force_delete", force_delete, member_shape(self.RULES.delete_input, "force"))
        checker.require(
            not is_unresolved(force_delete), "force_delete must be known at synth (true or false), got: a deploy-time value"
        )
        stage = props["stage"]
        if stage is not None:
            require_same_region(
                checker,
                self._place.region,
                "stage",
                place_of(stage).region,
                stage,
                owner_kind="ingest configuration",
                why="an encoder joins a stage through an ingest configuration of the stage's region",
            )

    @property
    def participant_id(self) -> str:
        """The participant id the publisher has on the stage."""
        return self._attribute("ParticipantId")

    @property
    def stream_key(self) -> SecretValue:
        """The stream key (returned with NoEcho; see the class docs for what that protects)."""
        return SecretValue.resource_attribute(self._attribute("StreamKey"))

    @property
    def redundant_stream_key(self) -> SecretValue:
        """The backup encoder's stream key ("" unless ``redundant_ingest``)."""
        return SecretValue.resource_attribute(self._attribute("RedundantIngestCredentialsStreamKey"))

    @staticmethod
    def from_ingest_configuration_arn(scope: Construct, id: str, ingest_configuration_arn: str) -> IIngestConfiguration:
        """Import an existing ingest configuration by ARN."""
        return IngestConfigurationBase._import(scope, id, ingest_configuration_arn)
