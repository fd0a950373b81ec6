"""The provider function's entry: the Lambda ``Handler`` settings ``handler.on_event`` and
``handler.is_complete`` (``ivsrt_runtime.entries``) name these two, and the Provider framework
calls them.

The work is done in ``ivsrt_runtime.provider``; see its docstring for the contract.
"""

from typing import Any

from ivsrt_runtime import provider


def on_event(event: Any, context: Any = None) -> dict[str, Any]:
    """The Provider framework's onEvent: ``{"PhysicalResourceId": <ARN>, "Data": {...}}``."""
    return provider.on_event(event, context)


def is_complete(event: Any, context: Any = None) -> dict[str, Any]:
    """The Provider framework's isComplete, for a type that settles asynchronously."""
    return provider.is_complete(event, context)
