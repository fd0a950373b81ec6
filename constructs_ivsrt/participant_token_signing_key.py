"""``ParticipantTokenSigningKey``: a KMS key that signs participant tokens, its public half in IVS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import jsii
from aws_cdk import ITaggable, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from constructs_ivsrt._fields import Fields, member
from constructs_ivsrt._resource import ManagedResource
from constructs_ivsrt._types import typed_props
from constructs_ivsrt.public_key import PublicKeyBase
from ivsrt_runtime import rules


@jsii.implements(ITaggable)
class _PublicKeyFromKms(ManagedResource, PublicKeyBase):
    """The IVS public key whose material the provider reads from a KMS key (kms:GetPublicKey):
    the same resource type as ``PublicKey``, named by the key's ARN instead of its PEM."""

    FIELDS: ClassVar[Fields] = {"public_key_name": member("name")}
    NAME_PROP: ClassVar[str | None] = "public_key_name"

    def __init__(self, scope: Construct, id: str, *, key: kms.IKey, public_key_name: str | None,
                 tags: Mapping[str, str] | None, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, id)
        self._manage(scope, id, {"public_key_name": public_key_name}, tags=tags, removal_policy=removal_policy,
                     extra={rules.KMS_KEY_PROPERTY: key.key_arn})
        key.grant(self._provider.role, "kms:GetPublicKey")


class ParticipantTokenSigningKey(Construct):
    """A KMS key (ECC_NIST_P384, SIGN_VERIFY) that signs participant tokens, and its public half
    imported into IVS (``ImportPublicKey``), which verifies the tokens when participants join.

    The private key never leaves KMS: tokens are signed with ``kms:Sign``
    (``ivsrt_runtime.signing.sign_participant_token``, or ``ParticipantTokenVendor(...,
    signing_key=key)``), and no IVS call is made per token, so joins are not held to
    ``CreateParticipantToken``'s 50 calls a second.

    IVS keys do not expire, and deleting the public key invalidates every token signed with it.
    To rotate, add a second signing key, sign with it, and remove the first once its tokens have
    expired. A new key replaces the public key (a new ARN). The account holds at most 3 public
    keys in a region (not adjustable).
    """

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        public_key_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
    ) -> None:
        """
        :param public_key_name: The IVS public key's name (letters, digits, ``-``, ``_``; at most 128).
            :default: - generated from the construct path
        :param tags: Tags of the IVS public key (``Tags.of(scope)`` adds to them, and to the KMS key).
            :default: - none besides ``Tags.of``
        :param removal_policy: What happens to both keys on stack delete: DESTROY schedules the KMS
            key's deletion (KMS waits 30 days) and deletes the IVS public key, which ends every
            token signed with it. :default: RemovalPolicy.DESTROY
        """
        super().__init__(scope, id)
        self.key: kms.Key = kms.Key(
            self,
            "Key",
            key_spec=kms.KeySpec.ECC_NIST_P384,
            key_usage=kms.KeyUsage.SIGN_VERIFY,
            description="constructs_ivsrt: signs IVS Real-Time participant tokens",
            removal_policy=removal_policy,
        )
        self._public_key = _PublicKeyFromKms(self, "PublicKey", key=self.key, public_key_name=public_key_name,
                                             tags=tags, removal_policy=removal_policy)

    @property
    def key_arn(self) -> str:
        """The KMS key's ARN: what ``kms:Sign`` is called with."""
        return self.key.key_arn

    @property
    def public_key_arn(self) -> str:
        """The IVS public key's ARN: a signed token's ``kid``."""
        return self._public_key.public_key_arn

    @property
    def fingerprint(self) -> str:
        """The IVS public key's fingerprint, as IVS reports it."""
        return self._public_key._attribute("Fingerprint")

    def grant_sign(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``kms:Sign`` with the key: whatever mints tokens (a backend, a vendor function)."""
        return self.key.grant(grantee, "kms:Sign")
