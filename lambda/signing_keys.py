"""The signing keys' retirement entry: the Lambda ``Handler`` setting ``signing_keys.retire``
(``ivsrt_runtime.entries``), run on a schedule by ``ParticipantTokenSigningKey``.

The work is done in ``ivsrt_runtime.key_ring``; it does not import the provider's handler.
"""

from typing import Any

from ivsrt_runtime import key_ring


def retire(event: Any, context: Any = None) -> dict[str, Any]:
    """Delete the ring's public keys whose longest token has expired (``key_ring.retire_expired``)."""
    return key_ring.retire_expired(event, context)
