"""The Lambda's code is one ordinary package, ``ivsrt_runtime``, imported the same way everywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_constructs_harness_and_tests_share_one_rules_module():
    from constructs_ivsrt import _provider, stage
    from ivsrt_local import endpoint, framework
    from ivsrt_runtime import lifecycle, provider, rules

    assert stage.rules is rules and _provider.rules is rules and endpoint.rules is rules
    assert framework.RESOURCES is rules.RESOURCES and provider.RESOURCES is rules.RESOURCES
    assert isinstance(stage.rules.STAGE, lifecycle.ResourceRules)
    assert [name for name in sys.modules if name in ("rules", "constructs_ivsrt._rules", "lifecycle", "handler")] == []


def _entry_imports(entry: str) -> set[str]:
    """The modules a fresh interpreter holds after importing a Lambda entry, with the asset's
    folder on PYTHONPATH as the function has it."""
    script = f"import sys, {entry}; print(' '.join(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lambda")}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60, check=True)
    return set(result.stdout.split())


def test_the_token_vendor_entry_does_not_import_the_provider():
    modules = _entry_imports("token_vendor")
    assert "ivsrt_runtime.tokens" in modules
    assert not {"handler", "ivsrt_runtime.provider", "constructs_ivsrt", "aws_cdk"} & modules


def test_the_provider_entry_imports_only_the_runtime():
    modules = _entry_imports("handler")
    assert {"ivsrt_runtime.provider", "ivsrt_runtime.lifecycle", "ivsrt_runtime.rules"} <= modules
    assert not {"ivsrt_runtime.tokens", "constructs_ivsrt", "aws_cdk", "ivsrt_local"} & modules


def test_the_drift_watch_entry_imports_the_detector_not_the_provider():
    modules = _entry_imports("drift_watch")
    assert {"ivsrt_runtime.drift_watch", "ivsrt_runtime.drift_check"} <= modules
    assert (
        not {
            "handler",
            "token_vendor",
            "ivsrt_runtime.provider",
            "ivsrt_runtime.tokens",
            "constructs_ivsrt",
            "aws_cdk",
            "ivsrt_local",
            "ivsrt_cli",
        }
        & modules
    )


def test_each_entry_constant_names_a_function_of_the_asset():
    """The ``Handler`` settings the constructs write (``ivsrt_runtime.entries``) name functions
    the asset defines, looked up as Lambda does: the module from the asset's folder, then the
    function in it. The asset's entry files are exactly those the constants name."""
    from constructs_ivsrt._asset import lambda_asset_dir
    from ivsrt_runtime import entries

    asset = lambda_asset_dir()
    assert sorted(path.name for path in asset.glob("*.py")) == sorted(entries.FILES)
    script = (
        "import importlib, sys\n"
        "for handler in sys.argv[1:]:\n"
        "    module, function = handler.rsplit('.', 1)\n"
        "    assert callable(getattr(importlib.import_module(module), function, None)), handler\n"
    )
    env = {**os.environ, "PYTHONPATH": str(asset)}
    result = subprocess.run(
        [sys.executable, "-c", script, *entries.HANDLERS], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
