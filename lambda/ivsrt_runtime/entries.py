"""The Lambda entries, named once for both sides: each function's ``Handler`` setting
(``<file>.<function>``). The constructs write these; ``lambda/handler.py``,
``lambda/token_vendor.py``, ``lambda/drift_watch.py`` and ``lambda/signing_keys.py`` define the
functions they name (a test imports each, as Lambda does).

aws-cdk's Provider framework does the same with its ``consts.ts``, "to compiler-enforce the
coupling".
"""

ON_EVENT = "handler.on_event"  # the provider's onEvent
IS_COMPLETE = "handler.is_complete"  # the provider's isComplete, for the asynchronous types
CREATE_TOKEN = "token_vendor.create_token"  # ParticipantTokenVendor's function
DRIFT_CHECK = "drift_watch.check"  # DriftWatch's scheduled function
RETIRE_KEYS = "signing_keys.retire"  # ParticipantTokenSigningKey's scheduled retirement

HANDLERS = (ON_EVENT, IS_COMPLETE, CREATE_TOKEN, DRIFT_CHECK, RETIRE_KEYS)
# The entry files, beside ivsrt_runtime/ in the asset.
FILES = tuple(dict.fromkeys(f"{handler.rsplit('.', 1)[0]}.py" for handler in HANDLERS))
