"""DriftWatch's entry: the Lambda ``Handler`` setting ``drift_watch.check`` (``ivsrt_runtime.entries``).

The work is done in ``ivsrt_runtime.drift_watch``; it does not import the provider's handler.
"""

from typing import Any

from ivsrt_runtime import drift_watch


def check(event: Any, context: Any = None) -> dict[str, Any]:
    """One scheduled drift check of the function's stack (see ``ivsrt_runtime.drift_watch.check``)."""
    return drift_watch.check(event, context)
