"""Revoking a connection token: ``RevokeConnectionToken(tokenId)``.

A connection token (``ivsrt_runtime.signing.sign_connection_token``) can be revoked "so that it
can no longer connect to a stage"; IVS also "disconnects any participant currently connected with
the revoked token". A participant token cannot be revoked: it lasts until its ``exp`` (or until
its signing public key is deleted, which invalidates every token that key signed).

Through the package's IVS Real-Time client (``clients.ivs_client``: the shipped model, so a Lambda
runtime whose boto3 predates the operation can call it) and the call engine (``calls.call``:
throttling retried until the deadline, a failure one line, ``RequestFailed``)::

    from ivsrt_runtime.revocation import revoke_connection_token
    revoke_connection_token(signed.token_id)

The caller needs ``ivs:RevokeConnectionToken`` (``ParticipantTokenSigningKey.grant_revoke``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ivsrt_runtime.calls import Request, call
from ivsrt_runtime.clients import ivs_client
from ivsrt_runtime.signing import PARTICIPANT_ID, TokenRequestError

OPERATION = "RevokeConnectionToken"
DEFAULT_DEADLINE_SECONDS = 10.0


def revoke_connection_token(
    token_id: str, *, client: Callable[[], Any] | None = None, deadline_seconds: float = DEFAULT_DEADLINE_SECONDS
) -> None:
    """Revoke the connection token whose id (its ``jti``, ``SignedConnectionToken.token_id``) is
    ``token_id``. ``client``: what builds the IVS Real-Time client (``clients.ivs_client`` unless
    given). A malformed id is refused before the call (``TokenRequestError``); the service's
    refusal, or throttling past ``deadline_seconds``, is ``calls.RequestFailed``."""
    if not (isinstance(token_id, str) and PARTICIPANT_ID.fullmatch(token_id)):
        raise TokenRequestError(f"token_id must be 1 to 64 letters, digits, hyphens or underscores, got: {token_id!r}")
    request = Request(
        get_client=client or ivs_client, subject=f"connection token {token_id}", deadline=time.monotonic() + deadline_seconds
    )
    call(request, OPERATION, tokenId=token_id)
