"""A fleet in one stack under the service's API rate quotas: 100 stages and 3 encoder
configurations, every event dispatched at once (as CloudFormation does), each in its own
Lambda-like environment, against the local endpoint with its rate limits on.

Create, a tag-only update of all (a ``Tags.of`` change), then destroy: no failure, no leaked or
duplicated resource, tags exact. The figures (wall time against the rate floor, calls, throttled
responses) are printed at the end of the session; the targets live in ``python -m benchmarks``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import resources, user_tags

from ivsrt_local.deployer import LocalDeployer
from ivsrt_local.stack_state import StackState
from sample import fleet

STAGES, ENCODERS = 100, 3
FIGURES: list[str] = []


def _phase(ivs: Any, name: str, run: Callable[[], Any]) -> list[Any]:
    calls, throttled = len(ivs.state.calls), sum(ivs.rate_limits.throttled.values())
    started = time.monotonic()
    changes = run()
    seconds = time.monotonic() - started
    throttled = sum(ivs.rate_limits.throttled.values()) - throttled
    accepted = len(ivs.state.calls) - calls - throttled
    floor = STAGES / 5  # CreateStage, GetStage and DeleteStage: 5 per second each
    FIGURES.append(
        f"  {name:<11} {seconds:6.1f} s = {seconds / floor:.2f} x the rate floor ({floor:.0f} s); "
        f"{accepted} calls accepted, {throttled} throttled"
    )
    return changes


@pytest.mark.slow
def test_a_fleet_deploys_updates_and_destroys_under_the_rate_quotas(tmp_path, handler, ivs):
    assert ivs.rate_limits.scale == 1.0, "the fleet must meet the service's own rates"
    deployer = LocalDeployer(StackState(fleet.STACK_NAME, "us-east-1"), handler)  # no bound on concurrency

    changes = _phase(ivs, "create", lambda: deployer.deploy(fleet.synth(tmp_path / "v1", STAGES, ENCODERS, "a")))
    assert Counter(c.action for c in changes) == {"create": STAGES + ENCODERS}
    made = {r["arn"]: r for r in resources(ivs)}
    assert Counter(r["_noun"] for r in made.values()) == {"Stage": STAGES, "EncoderConfiguration": ENCODERS}
    assert sorted(made) == sorted(r.physical_id for r in deployer.state.resources.values())  # one each, none stray
    assert all(user_tags(r) == {"environment": "a"} for r in made.values())
    assert ivs.rate_limits.throttled.get("CreateStage", 0) > 0, "the fleet never met the rate limit"

    changes = _phase(ivs, "tag update", lambda: deployer.deploy(fleet.synth(tmp_path / "v2", STAGES, ENCODERS, "b")))
    assert Counter(c.action for c in changes) == {"update": STAGES + ENCODERS}
    assert sorted(r["arn"] for r in resources(ivs)) == sorted(made)  # in place: the same resources
    assert all(user_tags(r) == {"environment": "b"} for r in resources(ivs))

    changes = _phase(ivs, "destroy", deployer.destroy)
    assert Counter(c.action for c in changes) == {"delete": STAGES + ENCODERS}
    assert resources(ivs) == [] and deployer.state.resources == {}


def summary_lines() -> list[str]:
    if not FIGURES:
        return []
    return [f"fleet under rate limits: {STAGES} stages + {ENCODERS} encoder configurations, all at once", *FIGURES]


@pytest.mark.slow
def test_the_guide_states_the_most_stages_one_stack_holds(tmp_path):
    """CloudFormation's 500 resources less the provider's own: one stage more fails synth."""
    most = fleet.max_stages(tmp_path / "one")
    guide = (Path(__file__).resolve().parent.parent / "docs" / "guide.md").read_text()
    assert f"**{most} stages**" in guide and f"less the {fleet.STACK_RESOURCE_LIMIT - most} the provider adds" in guide
    with pytest.raises(Exception, match="Number of resources in stack .* is greater than allowed maximum of 500"):
        fleet.synth(tmp_path / "too-many", most + 1)
