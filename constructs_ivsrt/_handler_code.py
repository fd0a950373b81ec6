"""Where the Lambda code lives, and the resource rules loaded from it.

The handler folder is the single home of the rules (it must be: the Lambda cannot import this
package). In a checkout it is the repository's ``lambda/``; in an installed wheel it is shipped
inside this package as ``_lambda/``. Both are found from ``__file__``, never from the current
directory.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_PACKAGE_DIR = Path(__file__).resolve().parent
_CANDIDATES = (_PACKAGE_DIR / "_lambda", _PACKAGE_DIR.parent / "lambda")


def _locate() -> Path:
    for candidate in _CANDIDATES:
        if (candidate / "handler.py").is_file():
            return candidate
    raise FileNotFoundError(f"constructs_ivsrt: no handler code in {' or '.join(map(str, _CANDIDATES))}")


HANDLER_DIR: Path = _locate()

# Files in the handler folder that must not reach the Lambda asset: they would change its hash
# between machines (bytecode caches) or are not code.
ASSET_EXCLUDES: list[str] = ["__pycache__", "*.pyc", ".pytest_cache", ".DS_Store"]


def _load(name: str, path: Path) -> ModuleType:
    """Import ``path`` once as ``name`` (the folder is named ``lambda``, a Python keyword)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


rules = _load("constructs_ivsrt._rules", HANDLER_DIR / "rules.py")
