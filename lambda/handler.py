"""The provider function's entry (``handler.on_event``, ``handler.is_complete``).

The work is done in ``ivsrt_runtime.provider``; this file only names the entry points that the
Lambda function's ``Handler`` setting and the Provider framework call.
"""

from ivsrt_runtime.provider import is_complete, on_event

__all__ = ["is_complete", "on_event"]
