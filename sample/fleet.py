"""A fleet in one stack: many stages and a few encoder configurations, as a platform team would
declare them. The fleet test and the benchmarks' "fleet under rate limits" deploy it.

``stack_resource_limit`` is CloudFormation's limit per stack; ``max_stages`` is how many stages
fit beside the resources the provider itself adds (its functions, roles, policies, log groups).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk

from constructs_ivsrt import EncoderConfiguration, Stage, Video

STACK_NAME = "IvsRealtimeFleet"
STACK_RESOURCE_LIMIT = 500  # CloudFormation's, which CDK checks at synth
ENV = cdk.Environment(account="123456789012", region="us-east-1")


def synth(outdir: Path, stages: int, encoder_configurations: int = 0, environment: str = "a") -> dict[str, Any]:
    """The fleet's template; ``environment`` is a stack-wide ``Tags.of`` tag (change it for a
    tag-only update of every resource)."""
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, STACK_NAME, env=ENV)
    for index in range(stages):
        Stage(stack, f"Stage{index}")
    for index in range(encoder_configurations):
        EncoderConfiguration(stack, f"Encoder{index}", video=Video(width=1280, height=720))
    cdk.Tags.of(stack).add("environment", environment)
    return app.synth().get_stack_by_name(STACK_NAME).template


def max_stages(outdir: Path) -> int:
    """The most stages one stack holds: CloudFormation's limit less what the provider adds."""
    template = synth(outdir, stages=1)
    return STACK_RESOURCE_LIMIT - (len(template["Resources"]) - 1)
