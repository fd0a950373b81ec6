"""IAM at the local endpoint: the identity-based policies a CDK app gives a function, enforced on
the requests signed with credentials bound to that function.

Without this, the local endpoint answers anyone: a backend that was never granted ``kms:Sign``
signs anyway, and every local test passes. With it, a request whose SigV4 access key is bound to
a principal (``Enforcement.enforce``) is evaluated as IAM evaluates an identity-based policy:

- an explicit ``Deny`` wins; otherwise an ``Allow`` must match, else the request is implicitly
  denied. Both answer ``AccessDeniedException`` (HTTP 403) in AWS's words;
- ``Action`` / ``NotAction`` match case-insensitively, with ``*`` and ``?``; ``Resource`` /
  ``NotResource`` match case-sensitively, each of an ARN's six parts on its own, with ``*`` and ``?``;
- a request that names several resources (``StartComposition``: the stage and its
  configurations) must be allowed on each;
- ``Condition``: the String, Arn, Numeric, Bool and Null operators, ``...IfExists`` and the
  ``ForAllValues:`` / ``ForAnyValue:`` qualifiers, over the keys ``REQUEST_KEYS`` lists. Any other key
  is absent from the request, and the condition is evaluated as IAM evaluates a missing key. An
  operator not listed is refused when the policy is read, never guessed.

Left out: resource-based policies (KMS key policies: CDK's default key policy delegates to IAM,
which is what this evaluates), permission boundaries, SCPs, session policies, policy variables
(``${aws:username}``), and AWS managed policies (their text is not in the template: they allow
nothing here). Requests signed with an access key bound to no principal are not checked.

The template side (``function_principal``) reads a synthesized template: a function's role, the
``AWS::IAM::Policy`` and ``AWS::IAM::ManagedPolicy`` resources attached to it and its inline
policies, resolved with the deploy runner's ``Resolver`` (passed in, so a policy naming a
deployed stage's ARN names the ARN the local endpoint gave it).
"""

from __future__ import annotations

import functools
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ivsrt_runtime import rules

ALLOWED, EXPLICIT_DENY, IMPLICIT_DENY = "allowed", "explicit deny", "implicit deny"

# The condition keys the local endpoint puts in a request's context (lower case: IAM compares
# key names case-insensitively). Every other key is absent.
REQUEST_KEYS = (
    "aws:RequestedRegion",
    "aws:PrincipalAccount",
    "aws:PrincipalArn",
    "aws:ResourceAccount",
    "aws:ResourceTag/<key> (IVS resources)",
    "aws:RequestTag/<key>",
    "aws:TagKeys",
)

# ARNs of the resources an IVS create also uses: the types each create checks them against.
_CREATES = {r.create_operation: r for r in rules.RESOURCES.values()}
_IVS_ARN = re.compile(rules.ARN_PATTERN)


# ---------------------------------------------------------------------------------------------
# Policies
# ---------------------------------------------------------------------------------------------


class UnsupportedPolicy(ValueError):
    """A policy this evaluator cannot evaluate faithfully (an operator it does not know)."""


def _listed(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(str(v) for v in (value if isinstance(value, list) else [value]))


@dataclass(frozen=True)
class Statement:
    """One policy statement. Exactly one of ``actions`` / ``not_actions`` is set, and of
    ``resources`` / ``not_resources``."""

    effect: str
    actions: tuple[str, ...] | None = None
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] | None = None
    not_resources: tuple[str, ...] | None = None
    conditions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_json(cls, statement: Mapping[str, Any]) -> Statement:
        conditions = statement.get("Condition") or {}
        for operator in conditions:
            _operator(operator)  # refused now, not at the first request
        return cls(
            statement["Effect"],
            _listed(statement.get("Action")),
            _listed(statement.get("NotAction")),
            _listed(statement.get("Resource")),
            _listed(statement.get("NotResource")),
            conditions,
        )


def statements_of(document: Mapping[str, Any]) -> tuple[Statement, ...]:
    """A policy document's statements (``Statement`` is one object or a list)."""
    found = document.get("Statement", [])
    return tuple(Statement.from_json(s) for s in (found if isinstance(found, list) else [found]))


@dataclass(frozen=True)
class Principal:
    """Who a bound access key signs as: a function's assumed role, and its role's statements."""

    arn: str  # arn:aws:sts::<account>:assumed-role/<role>/<function>, as a denial names it
    role_arn: str
    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class Request:
    """What IAM authorizes: one action on each of ``resources``, with the request's condition keys
    (``context``) and each resource's own (``resource_context``, by ARN)."""

    action: str
    resources: tuple[str, ...]
    context: Mapping[str, Any] = field(default_factory=dict)
    resource_context: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one; nothing else is special."""
    body = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile(f"^{body}$", flags)


def action_matches(pattern: str, action: str) -> bool:
    return _glob(pattern, True).match(action) is not None


def arn_matches(pattern: str, arn: str) -> bool:
    """``*`` matches everything; otherwise each of the six colon-separated parts on its own (a
    wildcard does not reach into the next part), the last part whole. A pattern that is not six
    parts matches no ARN."""
    if pattern == "*":
        return True
    wanted, given = pattern.split(":", 5), arn.split(":", 5)
    return len(wanted) == len(given) and all(_glob(w, False).match(g) is not None for w, g in zip(wanted, given, strict=True))


def _string_equals(value: str, expected: str) -> bool:
    return value == expected


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def test(value: str, expected: str) -> bool:
        try:
            return compare(float(value), float(expected))
        except ValueError:
            return False

    return test


# Operator -> (test of one request value against one policy value, negated?).
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (lambda v, e: v.lower() == e.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda v, e: v.lower() == e.lower(), True),
    "StringLike": (lambda v, e: _glob(e, False).match(v) is not None, False),
    "StringNotLike": (lambda v, e: _glob(e, False).match(v) is not None, True),
    "ArnEquals": (lambda v, e: arn_matches(e, v), False),
    "ArnLike": (lambda v, e: arn_matches(e, v), False),
    "ArnNotEquals": (lambda v, e: arn_matches(e, v), True),
    "ArnNotLike": (lambda v, e: arn_matches(e, v), True),
    "NumericEquals": (_numeric(lambda v, e: v == e), False),
    "NumericNotEquals": (_numeric(lambda v, e: v == e), True),
    "NumericLessThan": (_numeric(lambda v, e: v < e), False),
    "NumericLessThanEquals": (_numeric(lambda v, e: v <= e), False),
    "NumericGreaterThan": (_numeric(lambda v, e: v > e), False),
    "NumericGreaterThanEquals": (_numeric(lambda v, e: v >= e), False),
    "Bool": (lambda v, e: v.lower() == e.lower(), False),
}
_QUALIFIERS = ("", "ForAllValues", "ForAnyValue")


def _operator(name: str) -> tuple[str, str, bool]:
    """(qualifier, base operator, IfExists) of a condition operator; UnsupportedPolicy if unknown."""
    qualifier, _, base = name.rpartition(":")
    if_exists = base.endswith("IfExists") and base != "Null"
    base = base.removesuffix("IfExists")
    if qualifier not in _QUALIFIERS or (base not in _OPERATORS and base != "Null"):
        raise UnsupportedPolicy(
            f"the local endpoint cannot evaluate the condition operator {name!r} "
            f"(it evaluates: {', '.join(sorted(_OPERATORS))}, Null)"
        )
    return qualifier, base, if_exists


def _condition_holds(name: str, key: str, expected: Any, context: Mapping[str, Any]) -> bool:
    """One key of one operator, as IAM evaluates it; a key missing from the request makes a
    plain operator false and a negated one (or ForAllValues, or IfExists) true."""
    qualifier, base, if_exists = _operator(name)
    expected_values = [str(e) for e in (expected if isinstance(expected, list) else [expected])]
    value = context.get(key.lower())
    if base == "Null":
        return (value is None) == (expected_values[0].lower() == "true")
    test, negated = _OPERATORS[base]
    if value is None:
        return if_exists or negated or qualifier == "ForAllValues"
    values = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    results = [any(test(v, e) for e in expected_values) != negated for v in values]
    return all(results) if qualifier == "ForAllValues" else any(results)


def conditions_hold(conditions: Mapping[str, Mapping[str, Any]], context: Mapping[str, Any]) -> bool:
    return all(
        _condition_holds(name, key, expected, context) for name, block in conditions.items() for key, expected in block.items()
    )


def _applies(statement: Statement, action: str, resource: str, context: Mapping[str, Any]) -> bool:
    if statement.actions is not None:
        action_ok = any(action_matches(p, action) for p in statement.actions)
    else:
        action_ok = not any(action_matches(p, action) for p in statement.not_actions or ())
    if statement.resources is not None:
        resource_ok = any(arn_matches(p, resource) for p in statement.resources)
    else:
        resource_ok = not any(arn_matches(p, resource) for p in statement.not_resources or ())
    return action_ok and resource_ok and conditions_hold(statement.conditions, context)


def decide(statements: Iterable[Statement], action: str, resource: str, context: Mapping[str, Any]) -> str:
    """ALLOWED, EXPLICIT_DENY or IMPLICIT_DENY for one action on one resource."""
    applying = [s.effect for s in statements if _applies(s, action, resource, context)]
    if "Deny" in applying:
        return EXPLICIT_DENY
    return ALLOWED if "Allow" in applying else IMPLICIT_DENY


def denial(principal: Principal, request: Request) -> str | None:
    """AWS's AccessDeniedException message for the first resource the request is not allowed
    on, or None when it is allowed on all."""
    for resource in request.resources:
        context = {**request.context, **request.resource_context.get(resource, {})}
        decision = decide(principal.statements, request.action, resource, context)
        if decision == ALLOWED:
            continue
        reason = (
            "with an explicit deny in an identity-based policy"
            if decision == EXPLICIT_DENY
            else f"because no identity-based policy allows the {request.action} action"
        )
        return f"User: {principal.arn} is not authorized to perform: {request.action} on resource: {resource} {reason}"
    return None


# ---------------------------------------------------------------------------------------------
# Requests: the action, resources and condition keys of an IVS or KMS call
# ---------------------------------------------------------------------------------------------


def _tag_keys(params: Mapping[str, Any]) -> dict[str, Any]:
    """aws:RequestTag/<key> and aws:TagKeys from a request's ``tags`` (a map) or ``tagKeys``."""
    tags = params.get("tags") if isinstance(params.get("tags"), dict) else {}
    keys = list(tags) or list(params.get("tagKeys") or [])
    found: dict[str, Any] = {f"aws:requesttag/{k}".lower(): str(v) for k, v in tags.items()}
    return {**found, "aws:tagkeys": keys} if keys else found


def _ivs_resources(operation: str, params: Mapping[str, Any], region: str, account: str) -> tuple[str, ...]:
    """A create: its new resource (``<type>/*``, the id is not known yet) and the resources of the
    types it uses (``ResourceRules.create_uses``); a List: ``*``; a call on one resource (an
    ``arn`` or ``resourceArn`` member): that resource, not the others it names (an ingest
    configuration's new stage); any other call: the ARNs its top-level ``...Arn`` members name
    (``CreateParticipantToken``: the stage)."""
    created = _CREATES.get(operation)
    if created is not None:
        used = [a for a in _IVS_ARN.findall(json.dumps(params)) if a.split(":")[5].split("/")[0] in created.create_uses]
        return (f"arn:aws:ivs:{region}:{account}:{created.arn_segment}/*", *dict.fromkeys(used))
    if operation.startswith("List") and operation != "ListTagsForResource":
        return ("*",)
    own = [params[k] for k in ("arn", "resourceArn") if isinstance(params.get(k), str)]
    named = own or [v for k, v in params.items() if k.endswith("Arn") and isinstance(v, str)]
    return tuple(named) or ("*",)


def ivs_request(
    operation: str, params: Mapping[str, Any], region: str, account: str, tags_of: Callable[[str], Mapping[str, str]]
) -> Request:
    """``ivs:<Operation>``: IVS Real-Time's actions carry the ``ivs`` prefix, as IVS's."""
    resources = _ivs_resources(operation, params, region, account)
    resource_context = {
        arn: {f"aws:resourcetag/{k}".lower(): v for k, v in tags_of(arn).items()} for arn in resources if arn.startswith("arn:")
    }
    return Request(f"ivs:{operation}", resources, _common_keys(region, account) | _tag_keys(params), resource_context)


def kms_key_arn(key_id: str, region: str, account: str) -> str:
    """The ARN IAM authorizes a KMS call on: a key id, alias name or ARN, as KMS resolves it."""
    if key_id.startswith("arn:"):
        return key_id
    return f"arn:aws:kms:{region}:{account}:{key_id if key_id.startswith('alias/') else 'key/' + key_id}"


def kms_request(operation: str, params: Mapping[str, Any], region: str, account: str) -> Request:
    """``kms:<Operation>`` on the key the request names (``*`` for one that names none, CreateKey)."""
    key_id = params.get("KeyId") if isinstance(params, Mapping) else None
    resource = kms_key_arn(key_id, region, account) if isinstance(key_id, str) else "*"
    return Request(f"kms:{operation}", (resource,), _common_keys(region, account))


def ssm_request(operation: str, params: Mapping[str, Any], region: str, account: str) -> Request:
    """``ssm:<Operation>`` on the parameter the request names (``Name``, or ``Path`` for
    GetParametersByPath): ``arn:aws:ssm:REGION:ACCOUNT:parameter/<name without its leading />``."""
    name = params.get("Name", params.get("Path", "")) if isinstance(params, Mapping) else ""
    resource = f"arn:aws:ssm:{region}:{account}:parameter/{str(name).lstrip('/')}"
    return Request(f"ssm:{operation}", (resource,), _common_keys(region, account))


def cloudformation_request(operation: str, params: Mapping[str, Any], region: str, account: str) -> Request:
    """``cloudformation:<Operation>`` on the stack the request names (``StackName``: its id, or
    ``arn:aws:cloudformation:REGION:ACCOUNT:stack/<name>/*``), else ``*`` (by physical id the
    stack is not known in advance)."""
    name = params.get("StackName") if isinstance(params, Mapping) else None
    if not isinstance(name, str) or not name:
        resource = "*"
    elif name.startswith("arn:"):
        resource = name
    else:
        resource = f"arn:aws:cloudformation:{region}:{account}:stack/{name}/*"
    return Request(f"cloudformation:{operation}", (resource,), _common_keys(region, account))


def _common_keys(region: str, account: str) -> dict[str, Any]:
    return {"aws:requestedregion": region, "aws:principalaccount": account, "aws:resourceaccount": account}


# ---------------------------------------------------------------------------------------------
# Enforcement: access keys bound to principals
# ---------------------------------------------------------------------------------------------

_ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)/")


def access_key_of(headers: Any) -> str | None:
    """The access key id a SigV4 request was signed with."""
    found = _ACCESS_KEY.search((headers.get("Authorization") if headers is not None else None) or "")
    return found.group(1) if found else None


class Enforcement:
    """Which access keys sign as which principal. A request signed with another key is not
    checked, so everything that does not ask for enforcement works as before."""

    def __init__(self) -> None:
        self._principals: dict[str, Principal] = {}
        self._lock = threading.Lock()

    def enforce(self, principal: Principal, access_key_id: str | None = None) -> str:
        """Bind ``access_key_id`` (default: a new one) to ``principal``; returns the key."""
        key = access_key_id or f"ASIALOCAL{secrets.token_hex(6).upper()}"
        with self._lock:
            self._principals[key] = principal
        return key

    def clear(self) -> None:
        with self._lock:
            self._principals.clear()

    def denial(self, headers: Any, request: Callable[[], Request]) -> str | None:
        """The AccessDeniedException message for this request, or None (allowed, or not checked).
        ``request`` is built only for a bound key."""
        with self._lock:
            principal = self._principals.get(access_key_of(headers) or "")
        if principal is None:
            return None
        built = request()
        built = Request(
            built.action, built.resources, {**built.context, "aws:principalarn": principal.role_arn}, built.resource_context
        )
        return denial(principal, built)


# ---------------------------------------------------------------------------------------------
# The template side: a function's role and the policies attached to it
# ---------------------------------------------------------------------------------------------

ROLE_TYPE = "AWS::IAM::Role"
ATTACHED_POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")


def _role_of(template: Mapping[str, Any], function_id: str) -> str:
    role = template["Resources"][function_id].get("Properties", {}).get("Role")
    target = role.get("Fn::GetAtt") if isinstance(role, dict) else None
    role_id = (target[0] if isinstance(target, list) else str(target).split(".")[0]) if target else None
    if role_id is None or template["Resources"].get(role_id, {}).get("Type") != ROLE_TYPE:
        raise ValueError(
            f"function {function_id}'s role is not a role of this template ({role!r}): its policies are unknown here"
        )
    return role_id


def _role_documents(template: Mapping[str, Any], role_id: str) -> list[Any]:
    """Every policy document attached to the role in the template: its inline ``Policies``, the
    policies whose ``Roles`` name it, and the template's managed policies in its
    ``ManagedPolicyArns`` (AWS managed ones are not in the template, and are left out)."""
    resources = template["Resources"]
    role = resources[role_id].get("Properties", {})
    attached = {
        k
        for k, d in resources.items()
        if d.get("Type") in ATTACHED_POLICY_TYPES and {"Ref": role_id} in d.get("Properties", {}).get("Roles", [])
    }
    attached |= {
        arn["Ref"]
        for arn in role.get("ManagedPolicyArns", [])
        if isinstance(arn, dict) and resources.get(arn.get("Ref"), {}).get("Type") == "AWS::IAM::ManagedPolicy"
    }
    return [p["PolicyDocument"] for p in role.get("Policies", [])] + [
        resources[k]["Properties"]["PolicyDocument"] for k in sorted(attached)
    ]


def function_principal(template: Mapping[str, Any], function_id: str, resolve: Callable[[Any], Any], account: str) -> Principal:
    """The principal a function signs as, with its role's statements resolved by ``resolve`` (the
    deploy runner's ``Resolver.resolve``, over the deployed stack's state)."""
    role_id = _role_of(template, function_id)
    role = template["Resources"][role_id].get("Properties", {})
    function = template["Resources"][function_id].get("Properties", {})
    role_name = resolve(role.get("RoleName") or {"Ref": role_id})
    function_name = resolve(function.get("FunctionName") or {"Ref": function_id})
    statements = tuple(s for document in _role_documents(template, role_id) for s in statements_of(resolve(document)))
    return Principal(
        f"arn:aws:sts::{account}:assumed-role/{role_name}/{function_name}", f"arn:aws:iam::{account}:role/{role_name}", statements
    )
