"""The Lambda asset: the entries (``handler.py``, ``token_vendor.py``) beside ``ivsrt_runtime/``.

In a checkout that folder is the repository's ``lambda/``, found beside the ``ivsrt_runtime``
package. An installed wheel ships the entries in ``constructs_ivsrt/_lambda/`` and
``ivsrt_runtime`` as a package of its own; the asset is then staged once per process from those
same files into a temporary folder: the same contents, so the same asset hash as a checkout's.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import ivsrt_runtime

ENTRIES = ("handler.py", "token_vendor.py")
# Files that must not reach the asset: they would change its hash between machines (bytecode
# caches) or are not code.
ASSET_EXCLUDES: list[str] = ["__pycache__", "*.pyc", ".pytest_cache", ".DS_Store"]

_RUNTIME_DIR = Path(ivsrt_runtime.__file__).resolve().parent
_SHIPPED_ENTRIES_DIR = Path(__file__).resolve().parent / "_lambda"


@functools.cache
def lambda_asset_dir() -> Path:
    """The folder ``lambda_.Code.from_asset`` reads (with ``exclude=ASSET_EXCLUDES``)."""
    checkout = _RUNTIME_DIR.parent
    if checkout.name == "lambda" and all((checkout / entry).is_file() for entry in ENTRIES):
        return checkout
    return _staged(_SHIPPED_ENTRIES_DIR, _RUNTIME_DIR)


def _staged(entries_dir: Path, runtime_dir: Path) -> Path:
    staged = Path(tempfile.mkdtemp(prefix="constructs-ivsrt-lambda-"))
    atexit.register(shutil.rmtree, staged, ignore_errors=True)
    for entry in ENTRIES:
        shutil.copyfile(entries_dir / entry, staged / entry)
    shutil.copytree(runtime_dir, staged / runtime_dir.name, ignore=shutil.ignore_patterns(*ASSET_EXCLUDES))
    return staged
