#!/usr/bin/env python3
"""Copy the installed botocore's ivs-realtime model into lambda/models/ (the model we ship).

The Lambda runtime's bundled botocore is older than the model we build against; the handler puts
this folder on AWS_DATA_PATH. Run after upgrading botocore in requirements.txt; a test fails
while the shipped model and the installed one differ.
"""

import gzip
import json
from pathlib import Path

import botocore

SOURCE = Path(botocore.__file__).parent / "data" / "ivs-realtime" / "2020-07-14"
TARGET = Path(__file__).resolve().parent.parent / "lambda" / "models" / "ivs-realtime" / "2020-07-14"


def read(path: Path):
    """botocore ships .json or .json.gz; older runtimes read only plain .json, so we write that."""
    gz = path.with_name(path.name + ".gz")
    return json.loads(gzip.decompress(gz.read_bytes()) if gz.exists() else path.read_text())


def main() -> None:
    TARGET.mkdir(parents=True, exist_ok=True)
    for name in ("service-2.json", "endpoint-rule-set-1.json", "paginators-1.json"):
        (TARGET / name).write_text(json.dumps(read(SOURCE / name), indent=1, sort_keys=True) + "\n")
        print(f"wrote {TARGET / name}")


if __name__ == "__main__":
    main()
