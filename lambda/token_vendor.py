"""The token-vending function's entry (``token_vendor.create_token``).

The work is done in ``ivsrt_runtime.tokens``; it does not import the provider's handler.
"""

from ivsrt_runtime.tokens import create_token

__all__ = ["create_token"]
