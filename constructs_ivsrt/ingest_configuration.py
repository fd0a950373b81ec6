"""``IngestConfiguration``: RTMP(S) ingest into a stage, for encoders that cannot speak WHIP."""

from __future__ import annotations

import enum
from typing import Protocol, runtime_checkable
from collections.abc import Mapping

import jsii
from aws_cdk import IResource, ITaggable, Names, RemovalPolicy, SecretValue
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_ivsrt._base import (
    IvsRealtimeResourceBase,
    ManagedMixin,
    ManagedResource,
    PropChecker,
    import_arn,
    is_unresolved,
)
from constructs_ivsrt._types import typed_props
from ivsrt_runtime import rules
from constructs_ivsrt.stage import IStage

RULES = rules.INGEST_CONFIGURATION


class IngestProtocol(str, enum.Enum):
    """How the encoder sends (the API's ``IngestProtocol``)."""

    RTMP = "RTMP"
    RTMPS = "RTMPS"


@runtime_checkable
class IIngestConfiguration(IResource, Protocol):
    """An ingest configuration, managed here or imported by ARN."""

    @property
    def ingest_configuration_arn(self) -> str:
        ...

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        ...


class IngestConfigurationBase(IvsRealtimeResourceBase):
    @property
    def ingest_configuration_arn(self) -> str:
        return self._arn

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``ivs:GetIngestConfiguration``. Its answer includes the stream key: grant it only
        to what may publish to the stage."""
        return self.grant(grantee, "ivs:GetIngestConfiguration")


class _ImportedIngestConfiguration(IngestConfigurationBase):
    """An existing ingest configuration (``IngestConfiguration.from_ingest_configuration_arn``)."""


@jsii.implements(ITaggable)
class IngestConfiguration(ManagedMixin, IngestConfigurationBase):
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
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
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
        :param removal_policy: :default: RemovalPolicy.DESTROY
        """
        super().__init__(scope, id)
        name = (ingest_configuration_name if ingest_configuration_name is not None
                else Names.unique_resource_name(self, max_length=128, separator="-"))
        protocol = ingest_protocol.value if isinstance(ingest_protocol, IngestProtocol) else ingest_protocol
        stage_arn = stage.stage_arn if stage is not None else None
        attributes = dict(attributes) if attributes is not None else None
        props = {"name": name, "stageArn": stage_arn, "userId": user_id, "attributes": attributes,
                 "ingestProtocol": protocol, "insecureIngest": insecure_ingest, "redundantIngest": redundant_ingest}
        checker = PropChecker(self)
        for label, key in _LABELS.items():
            checker.check(label, props[key], RULES.member(key))
        # A rule the API documents across two members (UpdateIngestConfiguration's docs).
        checker.require(protocol != IngestProtocol.RTMP.value or insecure_ingest is True,
                        f"insecure_ingest must be true when ingest_protocol is RTMP, got: {insecure_ingest!r}")
        checker.check("force_delete", force_delete, RULES.delete_input.members["force"])
        checker.require(not is_unresolved(force_delete), "force_delete must be known at synth (true or false), "
                                                         "got: a deploy-time value")
        checker.raise_if_any()
        # Only when set, so that templates without it stay as they were.
        delete_options = {"force": True} if force_delete is True else None
        self._managed = ManagedResource(self, RULES, {**props, rules.DELETE_OPTIONS_PROPERTY: delete_options},
                                        tags, removal_policy)
        self._arn = self._managed.resource.ref
        self.ingest_configuration_name = name

    @property
    def participant_id(self) -> str:
        """The participant id the publisher has on the stage."""
        return self._managed.attribute("ParticipantId")

    @property
    def stream_key(self) -> SecretValue:
        """The stream key (returned with NoEcho; see the class docs for what that protects)."""
        return SecretValue.resource_attribute(self._managed.attribute("StreamKey"))

    @property
    def redundant_stream_key(self) -> SecretValue:
        """The backup encoder's stream key ("" unless ``redundant_ingest``)."""
        return SecretValue.resource_attribute(self._managed.attribute("RedundantIngestCredentialsStreamKey"))

    @staticmethod
    def from_ingest_configuration_arn(scope: Construct, id: str, ingest_configuration_arn: str) -> IIngestConfiguration:
        """Import an existing ingest configuration by ARN."""
        return import_arn(scope, id, ingest_configuration_arn, RULES, "ingest_configuration_arn",
                          _ImportedIngestConfiguration)


# Prop name -> API member, for messages that name the prop the user wrote.
_LABELS = {
    "ingest_configuration_name": "name",
    "stage": "stageArn",
    "user_id": "userId",
    "attributes": "attributes",
    "ingest_protocol": "ingestProtocol",
    "insecure_ingest": "insecureIngest",
    "redundant_ingest": "redundantIngest",
}
