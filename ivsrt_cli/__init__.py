"""The ``ivsrt`` command: tools that run with nothing but AWS credentials (no CDK app needed).

Kept apart from ``constructs_ivsrt``, whose import starts jsii's Node process, and from the
Lambda asset; each subcommand is one module here and one entry in ``main.COMMANDS``.
"""
