"""The token-vending function's entry: the Lambda ``Handler`` setting ``token_vendor.create_token``
(``ivsrt_runtime.entries``).

The work is done in ``ivsrt_runtime.tokens``; it does not import the provider's handler.
"""

from typing import Any

from ivsrt_runtime import tokens


def create_token(event: Any, context: Any = None) -> dict[str, Any]:
    """One participant token (see ``ivsrt_runtime.tokens.create_token``)."""
    return tokens.create_token(event, context)
