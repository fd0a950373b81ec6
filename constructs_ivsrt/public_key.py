"""``PublicKey``: a key IVS Real-Time uses to verify participant tokens you sign yourself."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

import jsii
from aws_cdk import ITaggable, RemovalPolicy
from constructs import Construct

from constructs_ivsrt._fields import api
from constructs_ivsrt._types import typed_props
from constructs_ivsrt._validation import PropChecker, is_unresolved
from constructs_ivsrt.resource import IIvsRealtimeResource, IvsRealtimeResource, ManagedResource
from ivsrt_runtime import rules
from ivsrt_runtime.keys import pem_body

# IVS verifies participant tokens signed with ES384, so it takes ECDSA P-384 keys ("Distribute
# participant tokens" in the IVS Real-Time user guide). In a SubjectPublicKeyInfo these are the
# DER encodings of the algorithm (id-ecPublicKey, 1.2.840.10045.2.1) and curve (secp384r1,
# 1.3.132.0.34) identifiers. The model's pattern checks only the PEM armour.
_EC_PUBLIC_KEY_OID = bytes.fromhex("06072a8648ce3d0201")
_SECP384R1_OID = bytes.fromhex("06052b81040022")


@runtime_checkable
class IPublicKey(IIvsRealtimeResource, Protocol):
    """A public key, managed here or imported by ARN."""

    @property
    def public_key_arn(self) -> str: ...


class PublicKeyBase(IvsRealtimeResource):
    """What a managed public key and an imported one share: the ARN and the grants."""

    RULES: ClassVar[rules.ResourceRules] = rules.PUBLIC_KEY
    ARN_PROP: ClassVar[str] = "public_key_arn"

    @property
    def public_key_arn(self) -> str:
        return self._arn


@jsii.implements(ITaggable)
class PublicKey(ManagedResource, PublicKeyBase):
    """An imported public key (``ImportPublicKey``).

    The API cannot change a key: a new name or key material replaces it (a new ARN; tokens signed
    with the old private key stop verifying once the old key is deleted). Tags change in place.
    """

    public_key_name: str = api("name")
    """The name, as given or generated from the construct path."""
    public_key_material: str = api()
    """The PEM-encoded public key."""

    @typed_props
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        public_key_material: str,
        public_key_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        adopt_arn: str | None = None,
        removal_policy: RemovalPolicy | None = None,
    ) -> None:
        """
        :param public_key_material: The ECDSA P-384 public key, PEM-encoded
            (``-----BEGIN PUBLIC KEY-----``). Checked at synth: armour, base64 and curve.
        :param public_key_name: The name (letters, digits, ``-``, ``_``; at most 128).
            :default: - generated from the construct path
        :param tags: Tags (``Tags.of(scope)`` adds to them). :default: - none besides ``Tags.of``
        :param adopt_arn: An existing public key for the stack to take over instead of creating
            one: its ARN is kept, its props are made these (in place), and it is tagged as this
            stack resource's. Refused if another stack resource holds it, or if a prop that cannot
            change in place differs (docs/guide.md, "Adopting an existing resource"); set only when
            the resource is first added to the stack. :default: - a new public key is created
        :param removal_policy: What happens on stack delete or replacement.
            :default: RemovalPolicy.DESTROY; RemovalPolicy.RETAIN when ``adopt_arn`` is given
        """
        self._manage(scope, id, locals())

    def _check_props(self, checker: PropChecker, props: Mapping[str, Any], members: Mapping[str, Any]) -> None:
        material = props["public_key_material"]
        if not checker.problems and not is_unresolved(material):
            checker.problems += _key_problems(material)

    @property
    def fingerprint(self) -> str:
        """The key's fingerprint, as IVS reports it."""
        return self._attribute("Fingerprint")

    @staticmethod
    def from_public_key_arn(scope: Construct, id: str, public_key_arn: str) -> IPublicKey:
        """Import an existing public key by ARN."""
        return PublicKeyBase._import(scope, id, public_key_arn)


def _key_problems(pem: str) -> list[str]:
    """What the PEM's armour hides: a body that is not base64, or a key that is not ECDSA P-384."""
    body = pem_body(pem)
    try:
        der = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return [f"public_key_material must have a base64 body between its BEGIN and END lines, got: {body[:40]!r}..."]
    if _EC_PUBLIC_KEY_OID not in der or _SECP384R1_OID not in der:
        return [
            "public_key_material must be an ECDSA P-384 (secp384r1) public key, as IVS verifies "
            f"ES384-signed tokens, got: a {len(der)}-byte key of another type or curve"
        ]
    return []
