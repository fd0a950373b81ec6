#!/usr/bin/env python3
"""A CDK Pipelines app for IVS Real-Time stages, with a drift gate before each deployment
(docs/gitops.md, "The pipeline variant").

    Source -> Build (synth) -> UpdatePipeline -> Assets -> Prod
                                                           DriftGate  ivsrt drift Prod-Media --json:
                                                                      drift or orphans stop the stage
                                                           Plan       ivsrt plan --deployed: what the
                                                                      deployment does to each resource
                                                           Media      the stack's deployment

Copy it into your app's repository with ``scripts/ivs-drift-gate.sh``, set the constants below,
point ``cdk.json`` at it (``"app": "python3 pipeline_app.py"``), put ``constructs-ivsrt`` in
``requirements.txt`` and deploy the pipeline once by hand (``cdk deploy MediaPipeline``); from then
on a push deploys. Both steps of the gate run with a CodeBuild role that can read and nothing more.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import pipelines
from constructs import Construct

from constructs_ivsrt import EncoderConfiguration, Stage, Video

# Set these to yours. The pipeline and the stage it deploys share one account and region here: the
# gate's CodeBuild role reads the stacks where it runs.
ACCOUNT = "111111111111"
REGION = "us-east-1"
REPOSITORY = "my-org/live-video"  # owner/name on GitHub, GitLab or Bitbucket
BRANCH = "main"
# A CodeConnections connection to that repository, made once in the console.
CONNECTION_ARN = f"arn:aws:codeconnections:{REGION}:{ACCOUNT}:connection/00000000-0000-0000-0000-000000000000"
CDK_VERSION = "2.1148.1"  # the CDK CLI, also for the pipeline's self-update
CDK_ASSETS_VERSION = "4.7.3"  # what publishes the assets (the provider's Lambda code)

# The desired state the provider records, one parameter per stack resource (docs/guide.md, "Drift").
DESIRED_STATE_PATH = "/constructs-ivsrt/desired"
GATE_SCRIPT = "scripts/ivs-drift-gate.sh"
# The IVS Real-Time calls of the detector: a Get and a List per resource type, and the tags. Not
# ivs:Get*, which includes IVS low-latency's GetStreamKey.
IVS_TYPES = ("Stage", "EncoderConfiguration", "StorageConfiguration", "IngestConfiguration", "PublicKey", "Composition")
IVS_READ_ACTIONS = (
    [f"ivs:Get{noun}" for noun in IVS_TYPES] + [f"ivs:List{noun}s" for noun in IVS_TYPES] + ["ivs:ListTagsForResource"]
)


class MediaStack(cdk.Stack):
    """The app: a few IVS Real-Time stages and an encoder configuration."""

    def __init__(self, scope: Construct, id: str, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        for name in ("Lobby", "Hall", "Backstage"):
            Stage(self, name, tags={"team": "live-events"})
        EncoderConfiguration(self, "Encoder720p", video=Video(width=1280, height=720, framerate=30, bitrate=2_500_000))


class MediaStage(cdk.Stage):
    """What the pipeline deploys: one stack, ``<stage>-Media``."""

    def __init__(self, scope: Construct, id: str, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        self.media = MediaStack(self, "Media")


def detector_statements(scope: cdk.Stack, stack_name: str) -> list[iam.PolicyStatement]:
    """What ``ivsrt drift STACK`` needs, read-only: the stack (and, for a deleted one, the list of
    deleted stacks), its resources' desired state in Parameter Store, and IVS's Get and List calls
    of the six types."""
    stack_arn = scope.format_arn(service="cloudformation", resource="stack", resource_name=f"{stack_name}/*")
    parameters = scope.format_arn(
        service="ssm", resource="parameter", resource_name=f"{DESIRED_STATE_PATH.lstrip('/')}/{stack_name}"
    )
    return [
        iam.PolicyStatement(
            actions=["cloudformation:DescribeStacks", "cloudformation:ListStackResources", "cloudformation:GetTemplate"],
            resources=[stack_arn],
        ),
        iam.PolicyStatement(actions=["cloudformation:ListStacks"], resources=["*"]),  # no resource-level permissions
        iam.PolicyStatement(actions=["ssm:GetParametersByPath"], resources=[parameters, f"{parameters}/*"]),
        iam.PolicyStatement(actions=IVS_READ_ACTIONS, resources=["*"]),
    ]


def drift_gate(pipeline_stack: cdk.Stack, stack: cdk.Stack, source: pipelines.IFileSetProducer) -> pipelines.CodeBuildStep:
    """Fails when the deployed stack has drifted (``ivsrt drift`` exits 1) or cannot be checked (2);
    a stack not deployed yet passes. The report, as JSON, is in the step's log."""
    return pipelines.CodeBuildStep(
        "DriftGate",
        input=source,
        install_commands=["python3 -m pip install -r requirements.txt"],
        commands=[f"bash {GATE_SCRIPT} --json {stack.stack_name}"],
        role_policy_statements=detector_statements(pipeline_stack, stack.stack_name),
    )


def plan_step(
    pipeline_stack: cdk.Stack, stage: MediaStage, source: pipelines.IFileSetProducer, synth: pipelines.ShellStep
) -> pipelines.CodeBuildStep:
    """``ivsrt plan --deployed`` on the synthesized stage: create, update in place, REPLACE or
    delete for each IVS resource, in the step's log (CloudFormation's GetTemplate only)."""
    stack = stage.media
    return pipelines.CodeBuildStep(
        "Plan",
        input=source,
        additional_inputs={"cdk.out": synth},  # the synth's cloud assembly, the stage's in a folder of it
        install_commands=["python3 -m pip install -r requirements.txt"],
        commands=[f"ivsrt plan --deployed --new cdk.out/{stage.artifact_id} {stack.stack_name}"],
        role_policy_statements=[
            iam.PolicyStatement(
                actions=["cloudformation:DescribeStacks", "cloudformation:GetTemplate"],
                resources=[
                    pipeline_stack.format_arn(service="cloudformation", resource="stack", resource_name=f"{stack.stack_name}/*")
                ],
            )
        ],
    )


def build(app: cdk.App) -> cdk.Stack:
    """The pipeline's stack, with the stage ``Prod`` behind the drift gate."""
    env = cdk.Environment(account=ACCOUNT, region=REGION)
    pipeline_stack = cdk.Stack(app, "MediaPipeline", env=env)
    source = pipelines.CodePipelineSource.connection(REPOSITORY, BRANCH, connection_arn=CONNECTION_ARN)
    synth = pipelines.ShellStep(
        "Synth",
        input=source,
        install_commands=[f"npm install --global aws-cdk@{CDK_VERSION}", "python3 -m pip install -r requirements.txt"],
        commands=["cdk synth"],
    )
    pipeline = pipelines.CodePipeline(
        pipeline_stack, "Pipeline", synth=synth, cli_version=CDK_VERSION, cdk_assets_cli_version=CDK_ASSETS_VERSION
    )
    prod = MediaStage(app, "Prod", env=env)
    pipeline.add_stage(
        prod,
        pre=pipelines.Step.sequence(
            [
                drift_gate(pipeline_stack, prod.media, source),
                plan_step(pipeline_stack, prod, source, synth),
            ]
        ),
    )
    return pipeline_stack


if __name__ == "__main__":
    app = cdk.App()
    build(app)
    app.synth()
