"""The code the provider's Lambda functions run: an ordinary package with unique module names.

- ``rules``: what each resource type is, derived from the botocore model in ``models/``, with
  ``validation`` (the model's constraints) and ``conversion`` (CloudFormation's strings, ``Data``
  keys); read by the constructs at synth time as well, so they import only the standard library
  and botocore. ``deployment``: the function's settings (its timeout); ``entries``: the Lambda
  ``Handler`` settings.
- ``calls``: the call engine: one API call, retried under the rate quotas until the deadline.
- ``lifecycle``: create, update and delete of any type, driven by its rules; ``settling``: the
  ``is_complete`` look at an asynchronous one (a composition starting or stopping).
- ``clients``: the one IVS Real-Time (and KMS) client, per execution environment.
- ``provider``: the custom-resource provider's ``on_event`` / ``is_complete``; ``keys``: a
  signing key's public half, read from KMS.
- ``tokens``: the token-vending function's ``create_token``; ``signing``: participant tokens
  signed with ``kms:Sign``, and ``signer``, the same in a user's own function.

The Lambda entries are ``lambda/handler.py`` and ``lambda/token_vendor.py``; the asset is that
folder. The package never imports ``constructs_ivsrt``.
"""
