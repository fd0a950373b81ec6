"""The Lambda asset: the entries (``handler.py``, ``token_vendor.py``) beside ``ivsrt_runtime/``.

In a checkout that folder is the repository's ``lambda/``, found beside the ``ivsrt_runtime``
package. An installed wheel ships the entries in ``constructs_ivsrt/_lambda/`` and
``ivsrt_runtime`` as a package of its own; the asset is then staged from those same files (so
its hash is a checkout's) into a folder of the user's cache, named by the files' digest. It is
kept: with asset staging disabled (SAM CLI's ``aws:cdk:disable-asset-staging``) the template
points at it after synth.

The signer layer (``ParticipantTokenSigningKey.add_to_function``) holds the same
``ivsrt_runtime`` files under ``python/``, where Lambda looks for a Python layer's packages; it
is always staged (no folder of a checkout has that shape), the same way.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import ivsrt_runtime
from ivsrt_runtime import entries

ENTRIES = entries.FILES
# Files that must not reach the asset: they would change its hash between machines (bytecode
# caches) or are not code.
ASSET_EXCLUDES: list[str] = ["__pycache__", "*.pyc", ".pytest_cache", ".DS_Store"]

_RUNTIME_DIR = Path(ivsrt_runtime.__file__).resolve().parent
_SHIPPED_ENTRIES_DIR = Path(__file__).resolve().parent / "_lambda"
# Lambda puts a layer's python/ folder on sys.path (/opt/python).
LAYER_PACKAGES_DIR = "python"


@functools.cache
def lambda_asset_dir() -> Path:
    """The folder ``lambda_.Code.from_asset`` reads (with ``exclude=ASSET_EXCLUDES``)."""
    checkout = _RUNTIME_DIR.parent
    if checkout.name == "lambda" and all((checkout / entry).is_file() for entry in ENTRIES):
        return checkout
    missing = [str(_SHIPPED_ENTRIES_DIR / entry) for entry in ENTRIES if not (_SHIPPED_ENTRIES_DIR / entry).is_file()]
    if missing:
        raise FileNotFoundError(
            f"constructs_ivsrt: no Lambda entries in {checkout} or {_SHIPPED_ENTRIES_DIR} "
            f"(missing: {', '.join(missing)}): reinstall the package"
        )
    return _staged(_SHIPPED_ENTRIES_DIR, _RUNTIME_DIR, _cache_root())


@functools.cache
def signer_layer_dir() -> Path:
    """The folder of the signer layer's ``lambda_.Code.from_asset``: ``python/ivsrt_runtime/``."""
    return _staged_files(_runtime_files(_RUNTIME_DIR, f"{LAYER_PACKAGES_DIR}/"), _cache_root(), "layer")


def _cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "constructs-ivsrt"


def _asset_files(entries_dir: Path, runtime_dir: Path) -> dict[str, Path]:
    """Relative path in the asset -> source file."""
    return {**{entry: entries_dir / entry for entry in ENTRIES}, **_runtime_files(runtime_dir)}


def _runtime_files(runtime_dir: Path, prefix: str = "") -> dict[str, Path]:
    """The ``ivsrt_runtime`` package's files, under ``prefix``: no bytecode caches, which would
    change the hash from one machine (or run) to the next."""
    files = {}
    for path in sorted(runtime_dir.rglob("*")):
        relative = path.relative_to(runtime_dir)
        if path.is_file() and "__pycache__" not in relative.parts and path.suffix != ".pyc":
            files[f"{prefix}{runtime_dir.name}/{relative.as_posix()}"] = path
    return files


def _staged(entries_dir: Path, runtime_dir: Path, cache_root: Path) -> Path:
    """The functions' asset under ``cache_root`` (see ``_staged_files``)."""
    return _staged_files(_asset_files(entries_dir, runtime_dir), cache_root, "lambda")


def _staged_files(files: dict[str, Path], cache_root: Path, kind: str) -> Path:
    """``files`` (relative path -> source) under ``cache_root``, in a folder named by their
    digest: written once (into a temporary folder, then renamed, so a concurrent synth never
    sees half of it)."""
    digest = hashlib.sha256()
    for relative, source in files.items():
        digest.update(relative.encode() + b"\0" + source.read_bytes() + b"\0")
    target = cache_root / f"{kind}-{digest.hexdigest()[:16]}"
    if not target.is_dir():
        cache_root.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=".staging-", dir=cache_root))
        for relative, source in files.items():
            (building / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, building / relative)
        try:
            building.rename(target)
        except OSError:  # another process staged it first: the same files
            shutil.rmtree(building, ignore_errors=True)
    return target
