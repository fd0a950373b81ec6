"""One base for every IVS Real-Time resource: imported by ARN, or managed through the provider.

``IvsRealtimeResource`` is what an import and a managed resource share: the ARN, ``grant()``
and ``_import`` (the ``from_<type>_arn`` functions). ``ManagedResource`` adds, for a type that
declares its ``RULES`` and its props (``FIELDS``, see _fields.py): the generated name, the
props' validation with their own names, the custom resource, its tags and its removal
policy. A construct module then holds its props, their docs, and what is its own.

One jsii message per resource, because stacks hold hundreds of stages (docs/design.md, "Synth
cost"): the custom resource is a ``TaggableCustomResource`` (native/, TypeScript), made with its
properties, tags, removal policy and warnings at once, whose TagManager and properties
JavaScript reads at synth without calling back into Python; the ARN is read when first asked
for, the provider is found on the Python side, the stack's reconcile value is one shared
object, and the synth-time checks of all of a stack's resources run in one callback
(``_provider.ManagedResources``).
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from aws_cdk import IResource, RemovalPolicy, Resource, Token
from aws_cdk import aws_iam as iam
from constructs import Construct, Node

from constructs_ivsrt._fields import Fields, build, labels, take_props
from constructs_ivsrt._names import generated_name
from constructs_ivsrt._native import TaggableCustomResource, TaggableCustomResourceProps
from constructs_ivsrt._provider import IvsRealtimeProvider
from constructs_ivsrt._regions import Place, Relation, relation, remember_place
from constructs_ivsrt._validation import PropChecker, is_unresolved, on_path
from ivsrt_runtime import rules, validation


class IIvsRealtimeResource(IResource, Protocol):
    """Any IVS Real-Time resource, managed here or imported by ARN: what every type can grant."""

    def grant(self, grantee: iam.IGrantable, *actions: str) -> iam.Grant: ...

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant: ...


class IvsRealtimeResource:
    """An imported or managed IVS Real-Time resource: its ARN and grants.

    A mixin, not a construct class: a managed resource is its own ``CfnResource``
    (``ManagedResource``), an import a ``Resource`` (``_imported_class``); both get these.
    """

    if TYPE_CHECKING:  # what the construct class it is mixed into provides

        @property
        def node(self) -> Node: ...

    # What grant_read allows: the type's Get unless a type names more.
    READ_ACTIONS: ClassVar[tuple[str, ...]] = ()

    # The prop that names an ARN to import ("stage_arn"), as messages call it.
    ARN_PROP: ClassVar[str]
    RULES: ClassVar[rules.ResourceRules]
    _arn_value: str | None = None

    @property
    def _as_construct(self) -> Construct:
        """This resource as the construct it is: the mixin is only ever on one (a ``CfnResource`` or
        a ``Resource``), which a type checker cannot know."""
        return typing.cast(Construct, self)

    @property
    def _arn(self) -> str:
        if self._arn_value is None:
            self._arn_value = self._read_arn()
        return self._arn_value

    def _read_arn(self) -> str:
        raise NotImplementedError  # an import has it from the start

    def grant(self, grantee: iam.IGrantable, *actions: str) -> iam.Grant:
        """Allow ``grantee`` the IAM ``actions`` (``"ivs:GetStage"``, ...) on this resource's ARN;
        the ``grant_*`` methods are this with their actions named."""
        checker = PropChecker(self._as_construct)
        checker.require(hasattr(grantee, "grant_principal"), f"grant's grantee must be an iam.IGrantable, got: {grantee!r}")
        checker.require(
            bool(actions) and all(isinstance(a, str) and ":" in a for a in actions),
            f"grant's actions must be one or more IAM actions such as 'ivs:GetStage', got: {actions!r}",
        )
        checker.raise_if_any()
        return iam.Grant.add_to_principal(grantee=grantee, actions=list(actions), resource_arns=[self._arn])

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow reading this resource: its type's Get (``ivs:GetStage``, ...); a stage's
        ``READ_ACTIONS`` add its sessions and participants."""
        return self.grant(grantee, *(self.READ_ACTIONS or (f"ivs:{self.RULES.get_operation}",)))

    @classmethod
    def _import(cls, scope: Construct, id: str, arn: str) -> Any:
        """An existing resource of this type: the ARN checked against the type's rule, then an
        instance of ``cls`` (the type's base class, with its attributes and grants)."""
        checker = PropChecker(scope, id).require(arn is not None, f"{cls.ARN_PROP} is required, got: None")
        checker.check(cls.ARN_PROP, arn, cls.RULES.arn_shape).raise_if_any()
        imported = _imported_class(cls)(scope, id, environment_from_arn=arn)
        imported._arn_value = arn
        return imported


@functools.cache
def _imported_class(base: type[IvsRealtimeResource]) -> type[Any]:
    """The class of ``base``'s imports: ``base`` (its attributes and grants) on a ``Resource``
    whose environment is the ARN's, as aws-cdk-lib's imports are. One per type."""
    return type(
        f"Imported{base.__name__}",
        (base, Resource),
        {"__module__": base.__module__, "__doc__": f"An imported {base.__name__.removesuffix('Base')}."},
    )


class ManagedResource(TaggableCustomResource, IvsRealtimeResource):
    """A resource this stack creates, updates and deletes through the provider.

    The construct is itself the custom resource's ``CfnResource`` (type ``Custom::IvsRealtime*``,
    ``ServiceToken`` among its properties), as an L1 is: one construct per resource, written in
    TypeScript (``TaggableCustomResource``), which keeps synth at ``CfnStage``'s (docs/design.md,
    "Synth cost"). Its logical id is the construct's.

    A subclass declares ``RULES`` and its props, each once, as a typed class attribute made with
    ``api(...)`` (``stage_name: str = api("name")``: the attribute users read, the API member
    path and conversion), named as its constructor's keyword argument. Those declarations are
    its ``FIELDS``; the one at the API's ``name`` is its ``NAME_PROP``. Its ``__init__`` calls
    ``_manage(scope, id, locals())`` first thing: the arguments as given, which ``_manage``
    validates by the declarations, sets as the attributes, and only then makes the construct
    with (a ``CfnResource`` takes its properties when made). ``_check_props`` therefore runs
    before the construct exists: it reports through the checker (its ``warn`` waits for the
    construct).
    Tags: ``Tags.of(scope).add(...)`` on any scope above the construct lands in its TagManager,
    whose rendered tags are the custom resource's ``tags``, as CloudFormation's
    ``[{"Key": ..., "Value": ...}]`` list (a key known only at deploy time could not be a key of a
    JSON object); the handler reads it back as the API's map.
    """

    # The props declared with api(...) on the class, taken off it by __init_subclass__.
    FIELDS: ClassVar[Fields] = {}
    # The prop at the API's ``name``: generated from the construct path when not given.
    NAME_PROP: ClassVar[str | None] = None

    _removal_policy: RemovalPolicy

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = take_props(cls)
        if own:  # a subclass that declares nothing (a user's) keeps its base's
            cls.FIELDS = {**cls.FIELDS, **own}
            cls.NAME_PROP = next((name for name, spec in cls.FIELDS.items() if spec.path == ("name",)), None)

    def _manage(self, scope: Construct, id: str, arguments: Mapping[str, Any], *, extra: Mapping[str, Any] | None = None) -> None:
        """Validate the props, set them as the attributes, then make the custom resource.

        ``arguments``: the constructor's, as given (its ``locals()`` before anything else):
        every declared prop by name, ``tags`` and ``removal_policy``; ``_check_props`` sees the
        others too. ``extra``: template properties that are not API members (delete options).
        ``adopt_arn`` (the types that take it): the resource to take over, as ``adoptArn``; the
        removal policy is then RETAIN unless one is given (None: DESTROY otherwise)."""
        props = dict(arguments)
        if self.NAME_PROP is not None and props[self.NAME_PROP] is None:
            props[self.NAME_PROP] = generated_name(scope, id, max_length=128, separator="-")
        with on_path(scope, id):
            members = build(self.FIELDS, props)
        provider = IvsRealtimeProvider.of(scope)
        self._place: Place = provider.place  # where the stack is, known without a jsii call
        self._parent: Construct = scope  # for _check_props, which runs before the construct exists
        checker = PropChecker(scope, id)
        names = labels(self.FIELDS, props)
        for member, value in members.items():
            label = validation.Label("", names=names).member(member)
            checker.problems += validation.check(self.RULES.property_shape(member), value, label, is_unresolved=is_unresolved)
        self._check_props(checker, props, members)
        adopt_arn = props.get("adopt_arn")
        if adopt_arn is not None:
            _check_adopt_arn(checker, self.RULES, self._place, adopt_arn)
        checker.raise_if_any()
        for name in self.FIELDS:
            setattr(self, name, props[name])
        # What CustomResource renders: ServiceToken first, then the properties as given (the
        # stack's reconcile value is rendered after them, shared: reconcile_on_deploy may come after).
        self._properties: dict[str, Any] = {
            "ServiceToken": provider.manage(self.RULES),
            **members,
            **{k: v for k, v in {**(extra or {}), rules.ADOPT_ARN_PROPERTY: adopt_arn}.items() if v is not None},
        }
        # As CustomResource applies it (DESTROY: DeletionPolicy and UpdateReplacePolicy Delete).
        policy = props["removal_policy"] or (RemovalPolicy.RETAIN if adopt_arn is not None else RemovalPolicy.DESTROY)
        self._removal_policy = self._kept_or_destroyed(policy, checker)
        # One message makes the resource, its tags, removal policy and warnings (native/src/index.ts).
        TaggableCustomResource.__init__(
            self,
            scope,
            id,
            TaggableCustomResourceProps(
                type=self.RULES.resource_type,
                properties=self._properties,
                tags_property=rules.TAGS_PROPERTY,
                initial_tags=dict(props["tags"] or {}),
                removal_policy=self._removal_policy,
                warnings=checker.warnings_by_id() or None,
                shared=provider.shared_properties,
            ),
        )
        remember_place(self, self._place)
        self._provider = provider
        if adopt_arn is not None:
            provider.allow_adoption()
        provider.resources.add(self)  # its tags checked at synth, with the stack's others

    def _check_props(self, checker: PropChecker, props: Mapping[str, Any], members: Mapping[str, Any]) -> None:
        """Rules that span props (the model describes members one at a time): none by default."""

    def _read_arn(self) -> str:
        return self.ref

    @property
    def removal_policy(self) -> RemovalPolicy:
        """What happens to the resource when it leaves the stack (the last policy applied)."""
        return self._removal_policy

    def apply_removal_policy(
        self,
        policy: RemovalPolicy | None = None,
        *,
        apply_to_update_replace_policy: bool | None = None,
        default: RemovalPolicy | None = None,
    ) -> None:
        """As ``CfnResource.apply_removal_policy`` (no policy: ``default``, else RETAIN), except
        that SNAPSHOT, which means nothing here, is DESTROY with a warning."""
        checker = PropChecker(self)
        self._removal_policy = self._kept_or_destroyed(policy or default or RemovalPolicy.RETAIN, checker)
        checker.warn_on(self)
        super().apply_removal_policy(self._removal_policy, apply_to_update_replace_policy=apply_to_update_replace_policy)

    @staticmethod
    def _kept_or_destroyed(policy: RemovalPolicy, checker: PropChecker) -> RemovalPolicy:
        if policy == RemovalPolicy.SNAPSHOT:
            checker.warn(
                "constructs-ivsrt:snapshotRemovalPolicy",
                "RemovalPolicy.SNAPSHOT means nothing for an IVS Real-Time resource (there is no snapshot of "
                "it): the resource is deleted, as with RemovalPolicy.DESTROY",
            )
            return RemovalPolicy.DESTROY
        return policy

    def _attribute(self, name: str) -> str:
        """One of the resource's attributes (the handler's ``Data``), resolved at deploy time."""
        return Token.as_string(self.get_att(name))


def _check_adopt_arn(checker: PropChecker, resource: rules.ResourceRules, place: Place, arn: str) -> None:
    """``adopt_arn``: an ARN of the type (its Get's rule), in the stack's region and account
    where both are known at synth (a resource is managed by a stack of its place)."""
    checker.check("adopt_arn", arn, resource.arn_shape)
    if checker.problems or is_unresolved(arn):
        return
    region, account = arn.split(":")[3:5]
    for what, here, there in (("region", place.region, region), ("account", place.account, account)):
        if relation(here, there) is Relation.DIFFERENT:
            checker.problems.append(
                f"adopt_arn must be in the stack's {what} {here} (a stack manages resources of its "
                f"own region and account), got: {arn!r}"
            )
