"""A deployed Lambda function's code, run as Lambda runs it: ``LocalDeployment.invoke``.

The function's own asset (``cdk.out/asset.<hash>``, or its inline code as ``index.py``) and its
layers' ``python/`` folders on the path, in that order, in a process of its own with the
environment the function has on Lambda (``LocalDeployment.environment_for``: its variables, its
role's credentials, which the endpoint holds to its policies, the endpoint's URLs). The handler
named by its ``Handler`` setting gets the event; its answer comes back as JSON.

A clock (``now``) moves ``time.time`` in that process only: what a scheduled function does
weeks later (a signing key's retirement) can be run now.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# What the process runs: the handler, with the clock moved when asked.
_RUN = """
import importlib, json, sys, time
if sys.argv[3]:
    offset = float(sys.argv[3]) - time.time()
    _real = time.time
    time.time = lambda: _real() + offset
module, function = sys.argv[1].rsplit(".", 1)
answer = getattr(importlib.import_module(module), function)(json.loads(sys.argv[2]), None)
print(json.dumps(answer, default=str))
"""
TIMEOUT_SECONDS = 120


class InvocationFailed(Exception):
    """The handler raised: its error's last line (what Lambda reports as errorMessage), and the
    whole output in ``output``."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


def run(
    assembly: Path,
    template: Mapping[str, Any],
    definition: Mapping[str, Any],
    environment: Mapping[str, str],
    event: Any,
    now: float | None = None,
) -> Any:
    """Run the function ``definition`` (its template properties) of ``template`` on ``event``."""
    with tempfile.TemporaryDirectory(prefix="ivsrt-invoke-") as scratch:
        code = _code_dir(assembly, definition["Code"], Path(scratch))
        layers = [_layer_python(assembly, template, layer) for layer in definition.get("Layers", [])]
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
        done = subprocess.run(
            [sys.executable, "-c", _RUN, definition["Handler"], json.dumps(event), "" if now is None else str(now)],
            cwd=code,
            env={
                **inherited,
                **environment,
                "PYTHONPATH": os.pathsep.join([str(code), *map(str, layers)]),
                "PYTHONDONTWRITEBYTECODE": "1",  # the asset stays as synthesized
            },
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
        )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise InvocationFailed(lines[-1] if lines else f"exit {done.returncode}", done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _code_dir(assembly: Path, code: Mapping[str, Any], scratch: Path) -> Path:
    """The asset folder the code's S3 key names, or inline code written as ``index.py``."""
    if "ZipFile" in code:
        (scratch / "index.py").write_text(code["ZipFile"])
        return scratch
    return _asset(assembly, code)


def _layer_python(assembly: Path, template: Mapping[str, Any], layer: Any) -> Path:
    """A layer of the same template (``{"Ref": <LayerVersion>}``): its asset's ``python/``."""
    if not (isinstance(layer, Mapping) and "Ref" in layer):
        raise ValueError(f"only layers of the same stack can be run locally, got: {layer!r}")
    return _asset(assembly, template["Resources"][layer["Ref"]]["Properties"]["Content"]) / "python"


def _asset(assembly: Path, location: Mapping[str, Any]) -> Path:
    """A function's code or a layer's content, synthesized: cdk.out/asset.<hash>, the hash its
    S3 key names."""
    return assembly / f"asset.{location['S3Key'].removesuffix('.zip')}"
