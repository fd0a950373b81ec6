"""What a deployment will do to each IVS Real-Time resource of a stack, from two templates: the
one deployed (or an older synth) and the new one. ``cdk diff`` shows a custom resource's changed
properties but cannot know which of them replace it; the rules can, so this says so.

Each ``Custom::IvsRealtime*`` resource, by logical id, is created, deleted, updated in place
(the properties that change) or REPLACED (the properties that force it: the rules'
``replacing_properties``, decided by ``lifecycle.analyze_update``, the handler's own decision),
or left as it is; one whose new template names ``adoptArn`` is adopted, not created: the resource
at that ARN is taken over and keeps it (a changed ``adoptArn`` is shown as the handler will
refuse it). A property whose text is the same but which refers to a resource that is
replaced changes too (its ARN is new): "(via <logical id> replaced)". Tags never replace,
``ServiceToken`` is not a property of the resource, and delete options only say how it goes.

Where the old template comes from is the caller's: another cloud assembly
(``assembly_templates``), CloudFormation's ``GetTemplate`` (``deployed_templates``), or the local
runner's state (``python -m ivsrt_local plan``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ivsrt_cli.assembly import Stack, read_stacks
from ivsrt_runtime.conversion import from_cloudformation
from ivsrt_runtime.lifecycle import analyze_update
from ivsrt_runtime.rules import (
    ADOPT_ARN_PROPERTY,
    DELETE_OPTIONS_PROPERTY,
    KMS_KEY_PROPERTY,
    RESOURCES,
    ResourceRules,
)

SERVICE_TOKEN = "ServiceToken"
KEEPING_POLICIES = ("Retain", "RetainExceptOnCreate")

Action = Literal["create", "adopt", "update", "replace", "delete", "none"]
# The order of the summary, and the order of the rows (what a reviewer must see first).
SUMMARY_ORDER: tuple[Action, ...] = ("create", "adopt", "update", "replace", "delete")
ROW_ORDER: tuple[Action, ...] = ("replace", "update", "create", "adopt", "delete", "none")
# The summary leaves these out when there are none (a plan without adoptions reads as before).
SUMMARY_IF_ANY: tuple[Action, ...] = ("adopt",)
SUMMARY_WORDS: dict[str, str] = {
    "create": "to create",
    "adopt": "to adopt (existing ARN kept)",
    "update": "to update in place",
    "replace": "to REPLACE (new ARN)",
    "delete": "to delete",
}


class PlanError(Exception):
    """A plan that cannot be made: a template that cannot be read, a stack that cannot be asked for."""


@dataclass(frozen=True)
class PropertyChange:
    name: str
    # The replaced resources it refers to, when only they change it (its text is the same).
    via: tuple[str, ...] = ()
    # What the handler will make of it, when that is not the change itself (a refused adoptArn).
    note: str = ""


@dataclass(frozen=True)
class ResourceChange:
    logical_id: str
    resource_type: str
    action: Action
    properties: tuple[PropertyChange, ...] = ()  # update: what changes; replace: what forces it
    kept: str = ""  # the policy that keeps the old resource (delete, replace): "DeletionPolicy: Retain"
    adopts: str = ""  # adopt: the ARN taken over (as the template writes it)

    @property
    def noun(self) -> str:
        rules = RESOURCES.get(self.resource_type)
        return rules.noun if rules else self.resource_type


@dataclass(frozen=True)
class StackPlan:
    artifact_id: str
    stack_name: str
    deployed: bool  # False: there was no old template, everything is created
    changes: tuple[ResourceChange, ...]  # every IVS resource, unchanged ones too, in ROW_ORDER

    def count(self, action: Action) -> int:
        return sum(change.action == action for change in self.changes)

    @property
    def summary(self) -> str:
        counts = [
            f"{self.count(action)} {SUMMARY_WORDS[action]}"
            for action in SUMMARY_ORDER
            if action not in SUMMARY_IF_ANY or self.count(action)
        ]
        return ", ".join(counts) + f", {self.count('none')} unchanged"


# ---------------------------------------------------------------------------------------------
# The plan of one stack: two templates in, a change per IVS resource out.
# ---------------------------------------------------------------------------------------------


def plan_template(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> tuple[ResourceChange, ...]:
    """The change of every IVS Real-Time resource from ``old`` (None: not deployed) to ``new``."""
    before, after = _ivs_resources(old or {}), _ivs_resources(new)
    decided: dict[str, ResourceChange] = {}

    def renewed(logical_id: str, visiting: frozenset[str]) -> bool:
        """Whether a reference to ``logical_id`` will read a new value (a new ARN)."""
        if logical_id not in before or logical_id not in after or logical_id in visiting:
            return False  # not ours, or created (a reference to it is new text anyway)
        if before[logical_id]["Type"] != after[logical_id]["Type"]:
            return True
        return decide(logical_id, visiting).action == "replace"

    def decide(logical_id: str, visiting: frozenset[str] = frozenset()) -> ResourceChange:
        if logical_id not in decided:
            decided[logical_id] = _updated(
                logical_id, before[logical_id], after[logical_id], lambda other: renewed(other, visiting | {logical_id})
            )
        return decided[logical_id]

    changes: list[ResourceChange] = []
    for logical_id, definition in after.items():
        if logical_id not in before:
            changes.append(_created(logical_id, definition))
        elif before[logical_id]["Type"] != definition["Type"]:  # not an update: a resource of another type
            changes += [_deleted(logical_id, before[logical_id]), _created(logical_id, definition)]
        else:
            changes.append(decide(logical_id))
    changes += [_deleted(logical_id, definition) for logical_id, definition in before.items() if logical_id not in after]
    return tuple(sorted(changes, key=lambda change: (ROW_ORDER.index(change.action), change.logical_id)))


def _ivs_resources(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: definition
        for logical_id, definition in (template.get("Resources") or {}).items()
        if isinstance(definition, dict) and definition.get("Type") in RESOURCES
    }


def _created(logical_id: str, definition: Mapping[str, Any]) -> ResourceChange:
    """A new stack resource: a resource created, or, with ``adoptArn``, the one at that ARN taken
    over (its ARN kept; the handler refuses at deploy what it cannot adopt)."""
    adopt_arn = (definition.get("Properties") or {}).get(ADOPT_ARN_PROPERTY)
    if adopt_arn:
        shown = adopt_arn if isinstance(adopt_arn, str) else json.dumps(adopt_arn, sort_keys=True)
        return ResourceChange(logical_id, definition["Type"], "adopt", adopts=shown)
    return ResourceChange(logical_id, definition["Type"], "create")


# What the handler answers an Update whose adoptArn names another resource (adopt.may_update).
ADOPT_ARN_REFUSED = "refused at deploy: adopt_arn cannot change on a resource the stack already has, unless to its own ARN"


def _note(key: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """A changed property's note: an ``adoptArn`` set to another value is refused by the handler
    (unless it names the resource the stack resource holds, which a template cannot tell)."""
    if key == ADOPT_ARN_PROPERTY and new.get(key) and new.get(key) != old.get(key):
        return ADOPT_ARN_REFUSED
    return ""


def _deleted(logical_id: str, definition: Mapping[str, Any]) -> ResourceChange:
    policy = definition.get("DeletionPolicy", "Delete")
    return ResourceChange(
        logical_id, definition["Type"], "delete", kept=f"DeletionPolicy: {policy}" if policy in KEEPING_POLICIES else ""
    )


def _updated(logical_id: str, old: Mapping[str, Any], new: Mapping[str, Any], renewed: Callable[[str], bool]) -> ResourceChange:
    """One resource in both templates: replaced, updated in place, or unchanged, as the handler
    decides it (``analyze_update``) from the properties it will be sent."""
    rules = RESOURCES[new["Type"]]
    old_properties, new_properties = old.get("Properties") or {}, new.get("Properties") or {}
    before, after = _view(rules, old_properties), _view(rules, new_properties)
    via: dict[str, tuple[str, ...]] = {}
    for key, value in list(after.items()):
        through = tuple(sorted(other for other in references(value) if other != logical_id and renewed(other)))
        if through:
            if before.get(key) == value:
                via[key] = through
            after[key] = ("a new value through", through, value)  # never equal to a template value
    update = analyze_update(rules, before, after)
    names = (
        update.replacing
        if update.replace
        else (
            *update.in_place,
            *sorted(key for key in {*before, *after} - set(rules.properties) if before.get(key) != after.get(key)),
        )
    )
    action: Action = "replace" if update.replace else "update" if names else "none"
    policy = new.get("UpdateReplacePolicy", "Delete")
    return ResourceChange(
        logical_id,
        new["Type"],
        action,
        tuple(
            PropertyChange(_shown(rules, key, old_properties, new_properties), via.get(key, ()), _note(key, before, after))
            for key in names
        ),
        kept=f"UpdateReplacePolicy: {policy}" if update.replace and policy in KEEPING_POLICIES else "",
    )


def _view(rules: ResourceRules, properties: Mapping[str, Any]) -> dict[str, Any]:
    """The properties as the handler compares them: CloudFormation's strings converted by the
    model (so 2500000 and "2500000" are one value, and tags are a map), a KMS key standing for
    the key material it yields, ``ServiceToken`` left out. Intrinsics stay as they are."""
    view = {key: value for key, value in properties.items() if key != SERVICE_TOKEN}
    if rules.key_material_property and KMS_KEY_PROPERTY in view:
        view[rules.key_material_property] = {KMS_KEY_PROPERTY: view.pop(KMS_KEY_PROPERTY)}
    shapes = {**rules.create_input.members, DELETE_OPTIONS_PROPERTY: rules.delete_input}
    return {key: _converted(shapes.get(key), value) for key, value in view.items()}


def _converted(shape: Any, value: Any) -> Any:
    if shape is None:
        return value
    try:
        return from_cloudformation(shape, value)
    except TypeError:  # an intrinsic where a map key should be (a tag key from a parameter)
        return value


def _shown(rules: ResourceRules, key: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """The property's name as the template writes it (a KMS key for the key material)."""
    from_kms = KMS_KEY_PROPERTY in new or KMS_KEY_PROPERTY in old
    return KMS_KEY_PROPERTY if key == rules.key_material_property and from_kms else key


def references(value: Any) -> set[str]:
    """The logical ids a template value refers to: Ref, Fn::GetAtt, Fn::Sub's ${Id} and ${Id.Attribute}."""
    found: set[str] = set()
    if isinstance(value, dict):
        if isinstance(value.get("Ref"), str):
            found.add(value["Ref"])
        target = value.get("Fn::GetAtt")
        if isinstance(target, list) and target and isinstance(target[0], str):
            found.add(target[0])
        elif isinstance(target, str):
            found.add(target.split(".", 1)[0])
        sub = value.get("Fn::Sub")
        text = sub[0] if isinstance(sub, list) and sub else sub
        if isinstance(text, str):
            found |= {name.split(".", 1)[0] for name in re.findall(r"\$\{([^!}][^}]*)\}", text)}
        for item in value.values():
            found |= references(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            found |= references(item)
    return found


# ---------------------------------------------------------------------------------------------
# Where the old templates come from.
# ---------------------------------------------------------------------------------------------

# The old template of a stack of the new assembly; None when it has none (not deployed).
TemplateSource = Callable[[Stack], "dict[str, Any] | None"]


def plan_stacks(stacks: Iterable[Stack], old: TemplateSource) -> list[StackPlan]:
    plans = []
    for stack in stacks:
        template = old(stack)
        plans.append(
            StackPlan(stack.artifact_id, stack.stack_name, template is not None, plan_template(template, stack.template))
        )
    return plans


def assembly_templates(assembly: Path) -> TemplateSource:
    """The same stack's template in another cloud assembly (by artifact id, else by stack name
    and region): ``cdk synth`` of the base branch."""
    old = read_stacks(assembly)

    def template(stack: Stack) -> dict[str, Any] | None:
        found = old.get(stack.artifact_id) or next(
            (s for s in old.values() if (s.stack_name, s.region) == (stack.stack_name, stack.region)), None
        )
        return found.template if found else None

    return template


def deployed_templates(client_for: Callable[[str | None], Any] | None = None) -> TemplateSource:
    """The stack's template as CloudFormation has it (``GetTemplate``), with the caller's
    credentials, in the stack's region (else the default one); ``AWS_ENDPOINT_URL_CLOUDFORMATION``
    is honoured, as by any boto3 client. ``client_for(region)`` makes the client (tests)."""
    clients: dict[str | None, Any] = {}

    def client(region: str | None) -> Any:
        if region not in clients:
            if client_for is not None:
                clients[region] = client_for(region)
            else:
                import boto3

                clients[region] = boto3.session.Session().client("cloudformation", region_name=region)
        return clients[region]

    def template(stack: Stack) -> dict[str, Any] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = client(stack.region).get_template(StackName=stack.stack_name)["TemplateBody"]
        except ClientError as error:
            details = error.response.get("Error", {})
            if details.get("Code") == "ValidationError" and "does not exist" in details.get("Message", ""):
                return None
            raise PlanError(f"cloudformation:GetTemplate failed for stack {stack.stack_name}: {error}") from None
        except BotoCoreError as error:
            raise PlanError(f"cloudformation:GetTemplate failed for stack {stack.stack_name}: {error}") from None
        if isinstance(body, str):  # botocore decodes a JSON body itself; a YAML one stays a string
            try:
                body = json.loads(body)
            except ValueError:
                raise PlanError(f"stack {stack.stack_name}'s deployed template is not JSON (a CDK app's always is)") from None
        return dict(body)

    return template


# ---------------------------------------------------------------------------------------------
# Renderings: a table for a terminal, Markdown for a pull request, JSON for a program.
# ---------------------------------------------------------------------------------------------


def _properties_text(change: ResourceChange, strong: Callable[[str], str] = str, code: Callable[[str], str] = str) -> str:
    text = ", ".join(
        strong(p.name) + (f" (via {', '.join(map(code, p.via))} replaced)" if p.via else "") + (f" ({p.note})" if p.note else "")
        for p in change.properties
    )
    if change.adopts:
        text = f"existing ARN kept: {code(change.adopts)}"
    if change.kept:
        kept = f"old one kept ({change.kept})" if change.action == "replace" else f"kept ({change.kept})"
        text = f"{text}; {kept}" if text else kept
    return text


def _header(plan: StackPlan) -> str:
    where = plan.stack_name if plan.stack_name == plan.artifact_id else f"{plan.stack_name} ({plan.artifact_id})"
    return where + ("" if plan.deployed else ", not deployed yet")


def render_text(plans: list[StackPlan]) -> str:
    lines: list[str] = []
    labels = {"replace": "REPLACE", "update": "update", "create": "create", "adopt": "adopt", "delete": "delete"}
    for plan in plans:
        lines.append(f"{_header(plan)}: {plan.summary}")
        rows = [(labels[c.action], c.logical_id, c.noun, _properties_text(c)) for c in plan.changes if c.action != "none"]
        widths = [max((len(row[i]) for row in rows), default=0) for i in range(3)]
        lines += [f"  {a:<{widths[0]}}  {b:<{widths[1]}}  {t:<{widths[2]}}  {p}".rstrip() for a, b, t, p in rows]
    return "\n".join(lines) + "\n"


def render_markdown(plans: list[StackPlan]) -> str:
    """A GitHub-flavoured Markdown section per stack, for a pull-request comment."""
    labels = {
        "replace": "**REPLACE**",
        "update": "update in place",
        "create": "create",
        "adopt": "adopt",
        "delete": "delete",
    }
    sections = []
    for plan in plans:
        lines = [
            f"### IVS Real-Time plan: `{plan.stack_name}`" + ("" if plan.deployed else " (not deployed yet)"),
            "",
            plan.summary + ".",
        ]
        rows = [change for change in plan.changes if change.action != "none"]
        if rows:
            lines += ["", "| Change | Resource | Type | Properties |", "| --- | --- | --- | --- |"]
            for change in rows:
                replaced = change.action == "replace"
                resource = f"**`{change.logical_id}`**" if replaced else f"`{change.logical_id}`"
                properties = _properties_text(change, (lambda s: f"**{s}**") if replaced else str, lambda s: f"`{s}`")
                lines.append(f"| {labels[change.action]} | {resource} | {change.noun} | {properties} |")
        if plan.count("replace"):
            lines += [
                "",
                "REPLACE: a new resource with a new ARN is made; CloudFormation deletes the old one "
                "once the deployment has succeeded.",
            ]
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"


def render_json(plans: list[StackPlan]) -> str:
    return (
        json.dumps(
            {
                "stacks": [
                    {
                        "artifactId": plan.artifact_id,
                        "stackName": plan.stack_name,
                        "deployed": plan.deployed,
                        "counts": {action: plan.count(action) for action in (*SUMMARY_ORDER, "none")},
                        "changes": [
                            {
                                "logicalId": c.logical_id,
                                "resourceType": c.resource_type,
                                "action": c.action,
                                "properties": [
                                    {"name": p.name, "via": list(p.via), **({"note": p.note} if p.note else {})}
                                    for p in c.properties
                                ],
                                **({"kept": c.kept} if c.kept else {}),
                                **({"adoptArn": c.adopts} if c.adopts else {}),
                            }
                            for c in plan.changes
                        ],
                    }
                    for plan in plans
                ]
            },
            indent=1,
        )
        + "\n"
    )


RENDERINGS: dict[str, Callable[[list[StackPlan]], str]] = {"text": render_text, "markdown": render_markdown, "json": render_json}
