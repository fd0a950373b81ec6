#!/usr/bin/env python3
"""Write the models the Lambda runtime ships, from the installed botocore (the project's pin):

- lambda/ivsrt_runtime/models/ivs-realtime/2020-07-14/: botocore's ivs-realtime model as it is.
  The Lambda runtime's bundled botocore is older than the model we build against; the handler
  puts this folder on AWS_DATA_PATH.
- lambda/ivsrt_runtime/trimmed_models/ssm-2014-11-06.json: botocore's ssm model cut to the
  operations the runtime calls (``clients.SSM_OPERATIONS``) and the shapes they reach, which the
  runtime's own session reads (``clients._ShippedModelLoader``): the whole model is about 1.5 MB of
  JSON to parse for four operations, 14 ms of a cold start against 2 ms.

Run after upgrading botocore in requirements.txt; tests/test_rules.py fails while either differs
from what this writes (``trim`` is the function it checks with).
"""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import botocore

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lambda"))

from ivsrt_runtime.clients import SSM_API_VERSION, SSM_OPERATIONS, TRIMMED_SSM_MODEL  # noqa: E402
from ivsrt_runtime.rules import API_VERSION, MODEL_DIR, SERVICE_NAME  # noqa: E402

DATA = Path(botocore.__file__).parent / "data"


def read(path: Path) -> Any:
    """botocore ships .json or .json.gz; older runtimes read only plain .json, so we write that."""
    gz = path.with_name(path.name + ".gz")
    return json.loads(gzip.decompress(gz.read_bytes()) if gz.exists() else path.read_text())


def trim(model: dict[str, Any], operations: Iterable[str]) -> dict[str, Any]:
    """``model`` with only ``operations`` and the shapes their inputs, outputs and errors reach."""
    wanted = list(operations)
    shapes: set[str] = set()

    def reach(name: str) -> None:
        if name in shapes:
            return
        shapes.add(name)
        shape = model["shapes"][name]
        for ref in [*shape.get("members", {}).values(), *(shape[k] for k in ("member", "key", "value") if k in shape)]:
            reach(ref["shape"])

    for name in wanted:
        operation = model["operations"][name]
        for ref in [operation.get("input"), operation.get("output"), *operation.get("errors", [])]:
            if ref is not None:
                reach(ref["shape"])
    return {
        **model,
        "operations": {name: model["operations"][name] for name in wanted},
        "shapes": {name: shape for name, shape in model["shapes"].items() if name in shapes},
    }


def trimmed_ssm() -> dict[str, Any]:
    return trim(read(DATA / "ssm" / SSM_API_VERSION / "service-2.json"), SSM_OPERATIONS)


def _write(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path}")


def main() -> None:
    for name in ("service-2.json", "endpoint-rule-set-1.json", "paginators-1.json"):
        _write(MODEL_DIR / SERVICE_NAME / API_VERSION / name, read(DATA / SERVICE_NAME / API_VERSION / name))
    _write(TRIMMED_SSM_MODEL, trimmed_ssm())


if __name__ == "__main__":
    main()
