"""A signing key's generations: the IVS public keys a ``ParticipantTokenSigningKey`` has imported,
which one signs now, and when the others retire.

Rotation is a generation the user bumps (``ParticipantTokenSigningKey(generation=2)``): the
stack makes the new generation's KMS key, and this custom resource (``Custom::IvsRealtimeSigningKeyRing``)
imports its public half, makes it the one that signs, and keeps the previous one until the
longest token it can have signed has expired (``maxTokenLifetimeSeconds``, four weeks unless
configured). What signs reads the ring's parameter (``signer.current_key``), so a rotation
switches it without a redeploy.

The ring's state is one Parameter Store parameter (JSON, the custom resource's physical id is
its ARN): the generation that signs and every generation whose public key still exists, with
when it was superseded. A scheduled function (``retire_expired``) deletes the public keys whose
time is up; every Update does the same first, so a bump frees what has expired before it imports.

Each generation's public key is made through the provider's own lifecycle (exactly once, with an
identity tag whose logical id is ``<ring>.generation<N>``: not a stack resource's, so the drift
detector does not take it for an orphan of the ring).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ivsrt_runtime import desired, keys, lifecycle
from ivsrt_runtime.calls import Request, RequestFailed, call, error_code
from ivsrt_runtime.conversion import from_cloudformation
from ivsrt_runtime.rules import PUBLIC_KEY, QUOTAS, SIGNING_KEY_RING_TYPE, TAGS_PROPERTY
from ivsrt_runtime.signing import MAX_CONNECTION_DURATION_MINUTES, expiration_time

LOG = logging.getLogger("constructs_ivsrt.key_ring")
LOG.setLevel(logging.INFO)

RESOURCE_TYPE = SIGNING_KEY_RING_TYPE
PARAMETER_PREFIX = "/constructs-ivsrt/signing-keys"
# What signs names the ring's parameter in this variable (signer.current_key reads it).
PARAMETER_ENV = "IVSRT_SIGNING_KEY_PARAMETER"

# The custom resource's properties (the construct writes them, the handler reads them).
GENERATION = "generation"
KMS_KEY_ARN = "kmsKeyArn"
PUBLIC_KEY_NAME = "publicKeyName"  # each generation's public key is "<name>-g<N>"
MAX_TOKEN_LIFETIME = "maxTokenLifetimeSeconds"
COMPROMISED = "compromisedGenerations"
PARAMETER_NAME = "parameterName"

# The longest a token IVS accepts can live: a connection token's four weeks (a participant
# token's is 14 days). What a ring waits for by default before a superseded key goes.
LONGEST_TOKEN_SECONDS = MAX_CONNECTION_DURATION_MINUTES * 60
# How long the scheduled retirement may take (its function's timeout is longer).
RETIRE_SECONDS = 60.0
PUBLIC_KEY_QUOTA = QUOTAS["PublicKey"].default


@dataclass(frozen=True)
class Generation:
    """One generation's keys: the KMS key that signs (or signed) and its public half in IVS."""

    number: int
    key_arn: str
    public_key_arn: str
    superseded_at: float | None = None  # epoch seconds; None: it signs now
    fingerprint: str = ""  # the public key's, as IVS reports it

    def retires_at(self, lifetime_seconds: int) -> float | None:
        return None if self.superseded_at is None else self.superseded_at + lifetime_seconds


@dataclass(frozen=True)
class Ring:
    """The parameter's content: the generation that signs, and every one whose public key exists."""

    current: int
    generations: tuple[Generation, ...]
    max_token_lifetime_seconds: int = LONGEST_TOKEN_SECONDS

    @property
    def signing(self) -> Generation:
        return next(g for g in self.generations if g.number == self.current)

    def to_json(self) -> str:
        return json.dumps(
            {
                "current": self.current,
                # The key that signs and the tokens' kid, first for whoever reads the parameter.
                "keyArn": self.signing.key_arn,
                "publicKeyArn": self.signing.public_key_arn,
                "maxTokenLifetimeSeconds": self.max_token_lifetime_seconds,
                "generations": [
                    {
                        "number": g.number,
                        "keyArn": g.key_arn,
                        "publicKeyArn": g.public_key_arn,
                        "supersededAt": g.superseded_at,
                        "fingerprint": g.fingerprint,
                    }
                    for g in self.generations
                ],
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Ring:
        loaded = json.loads(text)
        generations = tuple(
            Generation(g["number"], g["keyArn"], g["publicKeyArn"], g.get("supersededAt"), g.get("fingerprint", ""))
            for g in loaded["generations"]
        )
        return cls(loaded["current"], generations, loaded.get("maxTokenLifetimeSeconds", LONGEST_TOKEN_SECONDS))


@dataclass(frozen=True)
class Wanted:
    """What the template asks for: the generation that signs, its KMS key, and what goes now."""

    generation: int
    key_arn: str
    max_token_lifetime_seconds: int = LONGEST_TOKEN_SECONDS
    compromised: frozenset[int] = frozenset()

    @classmethod
    def of(cls, properties: Mapping[str, Any]) -> Wanted:
        """From the custom resource's properties (CloudFormation sends every scalar as a string)."""
        return cls(
            generation=int(properties[GENERATION]),
            key_arn=properties[KMS_KEY_ARN],
            max_token_lifetime_seconds=int(properties.get(MAX_TOKEN_LIFETIME, LONGEST_TOKEN_SECONDS)),
            compromised=frozenset(int(g) for g in properties.get(COMPROMISED) or ()),
        )


@dataclass(frozen=True)
class Step:
    """What one update of the ring does: the public keys to delete, whether the wanted
    generation's must be imported, and the generations kept (the wanted one not among them
    until imported)."""

    delete: tuple[Generation, ...]
    import_wanted: bool
    kept: tuple[Generation, ...] = field(default_factory=tuple)


def plan(ring: Ring | None, wanted: Wanted, now: float) -> Step:
    """A pure function: what makes ``ring`` the one ``wanted`` describes at ``now``.

    A generation goes when it is compromised (now), its KMS key is not the one the template names
    (replaced), or it was superseded longer ago than the longest token lifetime. The generation
    that signed until now is superseded now, a newer one too (a rollback, or a generation taken
    back in git): the tokens it signed keep working until their time, as an older one's do; list
    it in compromised_generations to end them at once."""
    existing = ring.generations if ring is not None else ()
    lifetime = wanted.max_token_lifetime_seconds
    delete, kept = [], []
    for generation in existing:
        retires_at = generation.retires_at(lifetime)
        goes = (
            generation.number in wanted.compromised
            or (generation.number == wanted.generation and generation.key_arn != wanted.key_arn)
            or (generation.number != wanted.generation and retires_at is not None and retires_at <= now)
        )
        if goes:
            delete.append(generation)
        elif generation.number == wanted.generation:
            kept.append(replace(generation, superseded_at=None))
        else:
            kept.append(generation if generation.superseded_at is not None else replace(generation, superseded_at=now))
    import_wanted = not any(g.number == wanted.generation for g in kept)
    return Step(tuple(delete), import_wanted, tuple(kept))


# ---------------------------------------------------------------------------------------------
# The custom resource's events (the provider dispatches them here by resource type)
# ---------------------------------------------------------------------------------------------


def on_event(event: Mapping[str, Any], request: lifecycle.ResourceRequest) -> lifecycle.Result:
    """Create, Update or Delete the ring; the physical id is its parameter's ARN."""
    properties = event.get("ResourceProperties", {})
    name = properties[PARAMETER_NAME]
    if event["RequestType"] == "Delete":
        _delete_all(request, _ssm(request), name)
        return lifecycle.Result(event.get("PhysicalResourceId", ""))
    ssm = _ssm(request)
    old_name = event.get("OldResourceProperties", {}).get(PARAMETER_NAME, name)
    ring = read(ssm, old_name)
    ring = apply(request, ssm, ring, Wanted.of(properties), properties, time.time(), event.get("OldResourceProperties"))
    if old_name != name:  # the construct moved: its state moves with it
        _forget(ssm, old_name)
    return lifecycle.Result(parameter_arn(request.stack_id, name), _data(ring))


def apply(
    request: lifecycle.ResourceRequest,
    ssm: Request,
    ring: Ring | None,
    wanted: Wanted,
    properties: Mapping[str, Any],
    now: float,
    old_properties: Mapping[str, Any] | None = None,
) -> Ring:
    """Make the ring ``wanted``: delete what goes (freeing quota first), import the wanted
    generation's public key if it is new, then write the parameter. A failure after the import
    deletes what it imported: nothing is left that no ring lists."""
    step = plan(ring, wanted, now)
    for generation in step.delete:
        _delete_public_key(request, generation)
    kept = step.kept
    _retag(request, kept, old_properties, properties)
    imported = None
    if step.import_wanted:
        _check_quota(request, wanted, kept, ring.current if ring is not None else None)
        imported = _import(request, wanted, properties)
        kept = (*kept, imported)
    result = Ring(wanted.generation, tuple(sorted(kept, key=lambda g: g.number)), wanted.max_token_lifetime_seconds)
    try:
        write(ssm, properties[PARAMETER_NAME], result)
    except RequestFailed:
        if imported is not None:
            _delete_public_key(request, imported)
        raise
    return result


def _import(request: lifecycle.ResourceRequest, wanted: Wanted, properties: Mapping[str, Any]) -> Generation:
    """The wanted generation's public key, read from KMS and imported exactly once."""
    generation_request = replace(request, logical_id=f"{request.logical_id}.generation{wanted.generation}")
    imported = lifecycle.create(
        generation_request,
        PUBLIC_KEY,
        keys.with_key_material(
            PUBLIC_KEY,
            {
                "name": f"{properties[PUBLIC_KEY_NAME]}-g{wanted.generation}"[:128],
                "kmsKeyArn": wanted.key_arn,
                TAGS_PROPERTY: properties.get(TAGS_PROPERTY) or [],
            },
            _clients().kms_client,
        ),
    )
    return Generation(wanted.generation, wanted.key_arn, imported.physical_id, fingerprint=imported.data.get("Fingerprint", ""))


def _retag(
    request: lifecycle.ResourceRequest,
    kept: Iterable[Generation],
    old_properties: Mapping[str, Any] | None,
    properties: Mapping[str, Any],
) -> None:
    """The tags (``Tags.of``, ``tags=``) changed: the public keys that stay get them too."""
    if old_properties is None:
        return
    old, new = (_tags(p) for p in (old_properties, properties))
    if old != new:
        for generation in kept:
            lifecycle.retag(request, generation.public_key_arn, old, new)


def _tags(properties: Mapping[str, Any]) -> dict[str, str]:
    """The API's tag map from CloudFormation's ``[{"Key", "Value"}]`` list."""
    return from_cloudformation(PUBLIC_KEY.property_shape(TAGS_PROPERTY), properties.get(TAGS_PROPERTY) or [])


def _check_quota(request: lifecycle.ResourceRequest, wanted: Wanted, kept: Iterable[Generation], signing: int | None) -> None:
    """Refuse a new generation, before its import, when the account holds the quota's public keys
    already: say which of this key's generations hold places, and when the first one frees."""
    held = sum(1 for _ in lifecycle.summaries(request, PUBLIC_KEY.list_operation, PUBLIC_KEY.list_key))
    if held < PUBLIC_KEY_QUOTA:
        return
    places, frees = [], []
    for generation in kept:
        retires = generation.retires_at(wanted.max_token_lifetime_seconds) or 0
        if generation.number == signing:
            places.append(f"generation {generation.number} (signs until this update succeeds)")
        else:
            places.append(f"generation {generation.number} (retires {expiration_time(retires)})")
            frees.append(retires)
    raise RequestFailed(
        f"{request.subject}: cannot import generation {wanted.generation}: the account holds {held} public keys, "
        f"the quota ({PUBLIC_KEY_QUOTA}, not adjustable); this key holds {len(places)}: {', '.join(places) or 'none'}. "
        + (
            f"The first place frees at {expiration_time(min(frees))}: bump the generation then, or list a retiring generation in "
            "compromised_generations to delete its public key (and end its tokens) now"
            if frees
            else "The others are not this key's: delete one of them, or use another region"
        ),
        code="ServiceQuotaExceededException",
    )


def _delete_public_key(request: lifecycle.ResourceRequest, generation: Generation) -> None:
    lifecycle.delete(request, PUBLIC_KEY, generation.public_key_arn)  # gone already: success
    LOG.info(json.dumps({"outcome": "RETIRED", "generation": generation.number, "publicKeyArn": generation.public_key_arn}))


def _delete_all(request: lifecycle.ResourceRequest, ssm: Request, name: str) -> None:
    """The stack lets the ring go: every generation's public key, then the parameter. The KMS
    keys are the stack's resources; CloudFormation schedules their deletion."""
    ring = read(ssm, name)
    for generation in ring.generations if ring is not None else ():
        _delete_public_key(request, generation)
    _forget(ssm, name)


def _data(ring: Ring) -> dict[str, str]:
    """The custom resource's attributes: the generation that signs."""
    signing = ring.signing
    return {
        "PublicKeyArn": signing.public_key_arn,
        "KeyArn": signing.key_arn,
        "Generation": str(ring.current),
        "Fingerprint": signing.fingerprint,
    }


# ---------------------------------------------------------------------------------------------
# The scheduled retirement
# ---------------------------------------------------------------------------------------------


def retire_expired(event: Any = None, context: Any = None, *, now: float | None = None) -> dict[str, Any]:
    """The scheduled function's work: delete the public keys of the ring (``PARAMETER_ENV``)
    whose longest token has expired. Returns what it retired and what remains."""
    name = os.environ[PARAMETER_ENV]
    request = lifecycle.ResourceRequest(
        get_client=_clients().ivs_client, subject=f"signing key ring {name}", deadline=time.monotonic() + RETIRE_SECONDS
    )
    ssm = _ssm(request)
    ring = read(ssm, name)
    if ring is None:
        return {"retired": [], "generations": []}
    now = time.time() if now is None else now
    signing = ring.signing
    wanted = Wanted(ring.current, signing.key_arn, ring.max_token_lifetime_seconds)
    step = plan(ring, wanted, now)
    for generation in step.delete:
        _delete_public_key(request, generation)
    if step.delete:
        write(ssm, name, Ring(ring.current, step.kept, ring.max_token_lifetime_seconds))
    return {"retired": [g.number for g in step.delete], "generations": [g.number for g in step.kept]}


# ---------------------------------------------------------------------------------------------
# The parameter
# ---------------------------------------------------------------------------------------------


def read(ssm: Request, name: str) -> Ring | None:
    try:
        return Ring.from_json(call(ssm, "GetParameter", Name=name)["Parameter"]["Value"])
    except RequestFailed as error:
        if error_code(error) == desired.NOT_FOUND:
            return None
        raise


def write(ssm: Request, name: str, ring: Ring) -> None:
    call(ssm, "PutParameter", Name=name, Value=ring.to_json(), Type="String", Overwrite=True)


def _forget(ssm: Request, name: str) -> None:
    try:
        call(ssm, "DeleteParameter", Name=name)
    except RequestFailed as error:
        if error_code(error) != desired.NOT_FOUND:
            raise


def parameter_arn(stack_id: str, name: str) -> str:
    """The parameter's ARN, in the stack's partition, region and account (from its id)."""
    parts = stack_id.split(":")
    partition, region, account = (parts[1], parts[3], parts[4]) if len(parts) > 4 else ("aws", "", "")
    return f"arn:{partition}:ssm:{region}:{account}:parameter{name}"


def _clients() -> Any:
    # Imported when used, not above: the constructs import this module for its names, and
    # importing clients prepares botocore for a function (AWS_DATA_PATH).
    from ivsrt_runtime import clients

    return clients


def _ssm(request: Request) -> Request:
    return Request(get_client=_clients().ssm_client, subject=f"the key ring of {request.subject}", deadline=request.deadline)
