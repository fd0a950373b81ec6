"""``StorageConfiguration``: where IVS Real-Time writes recordings (an S3 bucket)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

import jsii
from aws_cdk import ITaggable, RemovalPolicy, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from constructs_ivsrt._fields import api, attribute
from constructs_ivsrt._types import typed_props
from constructs_ivsrt._validation import PropChecker
from constructs_ivsrt.resource import IIvsRealtimeResource, IvsRealtimeResource, ManagedResource
from ivsrt_runtime import rules

# Server-side encryption IVS can write with: SSE-S3 only (KMS keys are not supported).
SUPPORTED_SSE_ALGORITHMS = ("AES256",)
# Object ownership IVS needs so the bucket owner owns the recordings.
SUPPORTED_OBJECT_OWNERSHIP = ("BucketOwnerEnforced", "BucketOwnerPreferred")


@runtime_checkable
class IStorageConfiguration(IIvsRealtimeResource, Protocol):
    """A storage configuration, managed here or imported by ARN."""

    @property
    def storage_configuration_arn(self) -> str:
        """The ARN, e.g. ``arn:aws:ivs:us-east-1:123456789012:storage-configuration/abcd``."""
        ...


class StorageConfigurationBase(IvsRealtimeResource):
    """What managed and imported storage configurations share: the ARN and the grants."""

    RULES: ClassVar[rules.ResourceRules] = rules.STORAGE_CONFIGURATION
    ARN_PROP: ClassVar[str] = "storage_configuration_arn"

    @property
    def storage_configuration_arn(self) -> str:
        return self._arn


@jsii.implements(ITaggable)
class StorageConfiguration(ManagedResource, StorageConfigurationBase):
    """An IVS Real-Time storage configuration (``CreateStorageConfiguration``).

    IVS requires the bucket to be in the stack's region, encrypted with SSE-S3 (not KMS), and
    with bucket-owner object ownership; a bucket defined in the same stack is checked at synth.
    When the storage configuration is created, the service adds a statement to the bucket's
    policy. A bucket policy managed by CloudFormation is replaced whole on each update, which
    would remove that statement; so for a bucket in the same stack the construct adds an
    equivalent statement (``ivs-composite.<region>.amazonaws.com`` may ``s3:PutObject`` into
    this account's bucket) to the CDK-managed policy, and creates the storage configuration after
    the policy. An imported bucket's policy is the owner's to manage.

    Changing the name or the bucket replaces the storage configuration (as ``AWS::IVS::StorageConfiguration`` does).
    """

    storage_configuration_name: str = api("name")
    """The name, as given or generated from the construct path."""
    bucket: s3.IBucket = api("s3", "bucketName", conversion=attribute("bucket_name"))
    """The S3 bucket recordings are written to."""

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        bucket: s3.IBucket,
        storage_configuration_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        adopt_arn: str | None = None,
        removal_policy: RemovalPolicy | None = None,
    ) -> None:
        """
        :param bucket: The S3 bucket recordings are written to.
        :param storage_configuration_name: The name (letters, digits, ``-``, ``_``; at most 128).
            :default: - generated from the construct path
        :param tags: Tags for the storage configuration (``Tags.of(scope)`` adds to them).
            :default: - no tags besides those added with ``Tags.of``
        :param adopt_arn: An existing storage configuration for the stack to take over instead of creating
            one: its ARN is kept, its props are made these (in place), and it is tagged as this
            stack resource's. Refused if another stack resource holds it, or if a prop that cannot
            change in place differs (docs/guide.md, "Adopting an existing resource"); set only when
            the resource is first added to the stack. :default: - a new storage configuration is created
        :param removal_policy: What happens on stack delete or replacement.
            :default: RemovalPolicy.DESTROY; RemovalPolicy.RETAIN when ``adopt_arn`` is given
        """
        self._manage(scope, id, locals())
        self._provider.allow_bucket_policy_edits(bucket.bucket_arn)
        _share_bucket_policy(self, bucket)

    def _check_props(self, checker: PropChecker, props: Mapping[str, Any], members: Mapping[str, Any]) -> None:
        if not checker.problems:
            _check_bucket(self._parent, props["bucket"], checker)

    @staticmethod
    def from_storage_configuration_arn(scope: Construct, id: str, storage_configuration_arn: str) -> IStorageConfiguration:
        """Import an existing storage configuration by ARN."""
        return StorageConfigurationBase._import(scope, id, storage_configuration_arn)


def _check_bucket(scope: Construct, bucket: s3.IBucket, checker: PropChecker) -> None:
    """What can be known at synth about a bucket made in this app: region, encryption, ownership."""
    cfn = bucket.node.default_child
    if not isinstance(cfn, s3.CfnBucket):
        # Imported: nothing to inspect. Its owner must meet IVS's requirements, which the class docs
        # list: the stack's region, SSE-S3 encryption, bucket-owner object ownership.
        return
    problems = checker.problems
    ours, theirs = Stack.of(scope).region, Stack.of(bucket).region
    if not Token.is_unresolved(ours) and not Token.is_unresolved(theirs) and ours != theirs:
        problems.append(f"bucket must be in the stack's region {ours} (IVS writes only to same-region buckets), got: {theirs!r}")
    # The rendered properties, not the getters: jsii cannot hand a lazily rendered struct
    # (ownershipControls) across, while the resolved property map is plain data.
    properties = _lower_keys(Stack.of(bucket).resolve(cfn._cfn_properties)) or {}
    for algorithm in _sse_algorithms(properties.get("bucketencryption")):
        if algorithm not in SUPPORTED_SSE_ALGORITHMS:
            problems.append(
                "bucket encryption must be SSE-S3 (BucketEncryption.S3_MANAGED): IVS cannot write "
                f"to KMS-encrypted buckets, got: {algorithm!r}"
            )
    for ownership in _ownerships(properties.get("ownershipcontrols")):
        if ownership not in SUPPORTED_OBJECT_OWNERSHIP:
            problems.append(
                "bucket object ownership must be BucketOwnerEnforced or BucketOwnerPreferred so "
                f"recordings belong to the bucket owner, got: {ownership!r}"
            )


def _lower_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k.lower(): _lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_keys(v) for v in value]
    return value


def _sse_algorithms(encryption: Any) -> list[str]:
    rules_ = (encryption or {}).get("serversideencryptionconfiguration") or []
    found = [r.get("serversideencryptionbydefault", {}).get("ssealgorithm") for r in rules_ if isinstance(r, dict)]
    return [value for value in found if isinstance(value, str)]  # a parameter's value is not known yet


def _ownerships(controls: Any) -> list[str]:
    rules_ = (controls or {}).get("rules") or []
    found = [r.get("objectownership") for r in rules_ if isinstance(r, dict)]
    return [value for value in found if isinstance(value, str)]


def _share_bucket_policy(owner: StorageConfiguration, bucket: s3.IBucket) -> None:
    """Put IVS's write permission in a CDK-managed bucket policy, and create after the policy."""
    stack = Stack.of(owner)
    result = bucket.add_to_resource_policy(
        iam.PolicyStatement(
            sid="IvsRealtimeRecordingWrite",
            # ServicePrincipal is an IPrincipal but for a parameter name (jsii#4541, see pyproject.toml).
            principals=[iam.ServicePrincipal(f"ivs-composite.{stack.region}.amazonaws.com")],  # pyright: ignore[reportArgumentType]
            actions=["s3:PutObject"],
            resources=[bucket.arn_for_objects("*")],
            conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
        )
    )
    if result.statement_added and result.policy_dependable is not None:
        owner.node.add_dependency(result.policy_dependable)
