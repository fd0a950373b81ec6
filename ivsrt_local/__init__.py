"""The local harness of ``constructs-ivsrt``: try and test a CDK app's IVS Real-Time resources
with no AWS account (the ``constructs-ivsrt[local]`` extra; docs/testing.md is the guide).

Where to start:

- ``ivsrt_local.testing``: the pytest fixture ``local_ivs_realtime`` (deploy an app, read what
  was deployed, run a function's code held to its IAM policy, destroy).
- ``ivsrt_local.endpoint``: ``LocalIvsRealtime``, the local IVS Real-Time endpoint (routes,
  validation and shapes from botocore's model; the service's rate and resource quotas; faults to
  inject), which also answers the KMS calls a signing key makes.
- ``ivsrt_local.deploy``: ``deploy_stacks`` / ``destroy_stacks``, the CloudFormation-like runner
  that sends the real handler the events CloudFormation would.
- ``python -m ivsrt_local``: the same from the command line (``endpoint``, ``deploy``,
  ``destroy``, ``demo``).

The rest are the parts those are made of: the endpoint's state and per-type behaviour
(``state``, ``resource_types``, ``rate_limits``, ``faults``, ``kms``, ``tokens``, ``iam``), the
runner's (``assembly``, ``resolver``, ``graph``, ``deployer``, ``stack_state``, ``cross_region``,
``framework``), and the lifecycle bodies the tests and benchmarks share (``scenarios``).
"""
