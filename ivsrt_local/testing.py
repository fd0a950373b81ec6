"""Test your own CDK app against the local IVS Real-Time endpoint, with pytest.

    import aws_cdk as cdk
    from ivsrt_local.testing import local_ivs_realtime  # noqa: F401  (a pytest fixture)

    def test_my_app_deploys_and_destroys(local_ivs_realtime, tmp_path):
        app = cdk.App(outdir=str(tmp_path / "cdk.out"))
        MyVideoStack(app, "Video")
        local_ivs_realtime.deploy(app)                 # synth, then every stack, dependencies first
        assert len(local_ivs_realtime.resources("Stage")) == 1
        local_ivs_realtime.destroy()
        assert local_ivs_realtime.resources() == []

The fixture starts an endpoint of its own (the service's rate quotas on) and points the
handler at it; stack states go to a temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ivsrt_local.deploy import Change, deploy_stacks, destroy_stacks, read_assembly, select_stacks
from ivsrt_local.endpoint import LocalIvsRealtime


@dataclass
class LocalDeployment:
    """The endpoint and what was deployed to it."""

    endpoint: LocalIvsRealtime
    state_dir: Path
    region: str = "us-east-1"  # for stacks whose environment names no region

    def deploy(self, app: Any, stacks: Sequence[str] = ()) -> dict[str, list[Change]]:
        """Synthesize ``app`` (a ``cdk.App``) and deploy ``stacks`` (default: all), by stack name."""
        assembly = Path(app.synth().directory)
        return deploy_stacks(select_stacks(read_assembly(assembly), list(stacks)), self.state_dir, self.region)

    def destroy(self, stacks: Sequence[str] = ()) -> dict[str, list[Change]]:
        """Destroy ``stacks`` (default: every deployed one), importers first."""
        return destroy_stacks(list(stacks), self.state_dir)

    def resources(self, noun: str | None = None) -> list[dict[str, Any]]:
        """What the endpoint holds, as the API shows it, with ``_noun`` ("Stage", ...)."""
        return [r for r in self.endpoint.state.snapshot() if noun is None or r["_noun"] == noun]


@pytest.fixture
def local_ivs_realtime(tmp_path: Path) -> Iterator[LocalDeployment]:
    """A local IVS Real-Time endpoint for one test, with the handler pointed at it."""
    # The runner sets the region (the stack's) and stand-in credentials, as Lambda would: put
    # them back afterwards, set or not.
    saved = {name: os.environ.get(name) for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID",
                                                     "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_IVS_REALTIME",
                                                     "AWS_ENDPOINT_URL_KMS")}
    try:
        with LocalIvsRealtime() as endpoint:
            # The endpoint answers the KMS calls a signing key makes, too.
            os.environ["AWS_ENDPOINT_URL_IVS_REALTIME"] = os.environ["AWS_ENDPOINT_URL_KMS"] = endpoint.url
            yield LocalDeployment(endpoint, tmp_path / "local-deploy")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
