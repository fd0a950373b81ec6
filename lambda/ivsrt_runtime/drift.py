"""Compare: a resource's desired state (``desired.DesiredState``) with what ``observe`` saw, as
differences (dotted path, expected, actual), each classified as correctable in place (an
``Update<Type>`` member, a tag) or replacing.

What the service fills in that the desired state does not name (a stage's recording media types,
a layout's defaults) is not drift; a property the desired state leaves out that an update would
clear (no recording: ``storageConfigurationArn: ""``) is compared with that empty form. The
identity tag is never compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ivsrt_runtime.desired import DesiredState, is_secret, secret_digest
from ivsrt_runtime.lifecycle import _cleared
from ivsrt_runtime.observe import observable
from ivsrt_runtime.rules import TAGS_PROPERTY, ResourceRules


@dataclass(frozen=True)
class Difference:
    path: str  # "name", "autoParticipantRecordingConfiguration.storageConfigurationArn", "tags.team"
    expected: Any  # None: should not be there (a tag)
    actual: Any  # None: not there
    in_place: bool  # correctable without replacing the resource (Update<Type>, TagResource / UntagResource)

    @property
    def member(self) -> str:
        """The top-level property (or "tags") the difference is in."""
        return self.path.split(".", 1)[0]


def _empty(value: Any) -> bool:
    return value is None or value == "" or value is False or value == [] or value == {}


def _same(expected: Any, actual: Any) -> bool:
    if is_secret(expected):
        return actual is None or secret_digest(actual) == expected  # a secret the Get does not show: unseen
    if isinstance(expected, str) and isinstance(actual, str):
        return expected.strip() == actual.strip()  # a PEM's trailing newline
    return expected == actual or (_empty(expected) and _empty(actual))


def _walk(expected: Any, actual: Any, path: str) -> list[tuple[str, Any, Any]]:
    """Differences between ``expected`` and ``actual``, only where ``expected`` says something."""
    if isinstance(expected, dict):
        actual = actual if isinstance(actual, dict) else {}
        return [found for key, value in expected.items() for found in _walk(value, actual.get(key), f"{path}.{key}")]
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        pairs = enumerate(zip(expected, actual, strict=True))
        return [found for index, (e, a) in pairs for found in _walk(e, a, f"{path}.{index}")]
    return [] if _same(expected, actual) else [(path, expected, actual)]


def compare(rules: ResourceRules, desired: DesiredState, observed: dict[str, Any]) -> list[Difference]:
    """Every difference between the desired state and the observed resource, properties first
    (in the type's order), then tags (sorted by key)."""
    differences = []
    for prop in observable(rules):
        expected = desired.properties.get(prop)
        if expected is None:
            if prop not in rules.in_place_properties:
                continue  # the service's default, which nothing here can change
            expected = _cleared(None, rules, prop)
        in_place = prop in rules.in_place_properties
        differences += [Difference(path, e, a, in_place) for path, e, a in _walk(expected, observed.get(prop), prop)]
    wanted, actual = desired.tags, observed.get(TAGS_PROPERTY) or {}
    for key in sorted(set(wanted) | set(actual)):
        if wanted.get(key) != actual.get(key):
            differences.append(Difference(f"{TAGS_PROPERTY}.{key}", wanted.get(key), actual.get(key), True))
    return differences
