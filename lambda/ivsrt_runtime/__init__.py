"""The code the provider's Lambda functions run: an ordinary package with unique module names.

- ``rules``: what each resource type is, derived from the botocore model in ``models/``; read by
  the constructs at synth time as well, so it imports only the standard library and botocore.
- ``lifecycle``: create, update, delete and settle of any type, driven by its rules.
- ``clients``: the one IVS Real-Time client, per execution environment.
- ``provider``: the custom-resource provider's ``on_event`` / ``is_complete``.
- ``tokens``: the token-vending function's ``create_token``.

The Lambda entries are ``lambda/handler.py`` and ``lambda/token_vendor.py``; the asset is that
folder. The package never imports ``constructs_ivsrt``.
"""
