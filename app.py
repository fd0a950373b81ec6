#!/usr/bin/env python3
"""Sample app: a stage that records every participant to S3 and a composited view of the stage
as HLS, takes an RTMPS encoder as a participant, verifies tokens signed by your own backend, and
has a function that mints participant tokens for web clients.

Deploy to AWS with ``npx cdk deploy``; deploy locally with ``make demo`` (see README).
Context ``environment`` (default ``demo``) is applied as a stack-level tag, so
``-c environment=staging`` shows an in-place tag update.
"""

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_s3 as s3

from constructs_ivsrt import (
    AutoParticipantRecording,
    Composition,
    EncoderConfiguration,
    GridLayout,
    IngestConfiguration,
    IngestProtocol,
    ParticipantTokenVendor,
    PublicKey,
    RecordingMediaType,
    S3Destination,
    Stage,
    StageDashboard,
    StorageConfiguration,
    ThumbnailConfiguration,
    ThumbnailStorage,
    Video,
    VideoFillMode,
)

# The public half of the key your backend signs participant tokens with (ECDSA P-384).
TOKEN_SIGNING_KEY = Path(__file__).resolve().parent / "sample" / "token-signing-public-key.pem"


class RealtimeVideoStack(cdk.Stack):
    def __init__(self, scope, id, **kwargs):
        super().__init__(scope, id, **kwargs)

        access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            # Log delivery by bucket policy, not ACLs (cdk.json sets serverAccessLogsUseBucketPolicy).
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        cdk.Validations.of(access_logs).acknowledge(
            cdk.Acknowledgment(
                id="AwsSolutions::AwsSolutions-S1",
                reason="This bucket receives the recordings bucket's access logs; logging it too would "
                "only move the question one bucket further.",
            )
        )
        recordings = s3.Bucket(
            self,
            "Recordings",
            encryption=s3.BucketEncryption.S3_MANAGED,  # IVS cannot write to KMS-encrypted buckets
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="recordings/",
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        storage = StorageConfiguration(self, "RecordingStorage", bucket=recordings)

        stage = Stage(
            self,
            "Stage",
            stage_name="town-hall",
            auto_participant_recording=AutoParticipantRecording(
                storage_configuration=storage,
                media_types=[RecordingMediaType.AUDIO_VIDEO],
                thumbnails=ThumbnailConfiguration(target_interval=cdk.Duration.seconds(30), storage=[ThumbnailStorage.LATEST]),
                reconnect_window=cdk.Duration.seconds(60),
                hls_target_segment_duration=cdk.Duration.seconds(6),
            ),
            tags={"team": "live-events"},
        )
        encoder = EncoderConfiguration(
            self,
            "Encoder720p",
            video=Video(width=1280, height=720, framerate=30, bitrate=2_500_000),
        )

        composition = Composition(
            self,
            "Program",
            stage=stage,
            layout=GridLayout(featured_participant_attribute="speaker", video_fill_mode=VideoFillMode.COVER),
            destinations=[
                S3Destination(
                    storage_configuration=storage,
                    encoder_configuration=encoder,
                    target_segment_duration=cdk.Duration.seconds(4),
                    name="program-hls",
                )
            ],
        )
        studio = IngestConfiguration(
            self,
            "StudioEncoder",
            stage=stage,
            ingest_protocol=IngestProtocol.RTMPS,
            user_id="studio-encoder",
            attributes={"role": "studio"},
        )
        signing_key = PublicKey(self, "TokenSigningKey", public_key_material=TOKEN_SIGNING_KEY.read_text())
        # Callers may name themselves, not make themselves the featured "speaker".
        tokens = ParticipantTokenVendor(
            self, "ParticipantTokens", stage=stage, token_duration=cdk.Duration.hours(2), allowed_attribute_keys=["displayName"]
        )

        # Its health: a dashboard, and an alarm when subscribers lose more than 5% of their packets
        # for three minutes running (add an action, such as an SNS topic, to be told).
        StageDashboard(self, "StageHealth", stages=[stage])
        stage.metric_download_packet_loss(period=cdk.Duration.minutes(1)).create_alarm(
            self,
            "SubscriberPacketLoss",
            threshold=5,
            evaluation_periods=3,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description="Subscribers of the town hall lose more than 5% of their packets",
        )

        cdk.CfnOutput(self, "StageArn", value=stage.stage_arn)
        cdk.CfnOutput(self, "StageWhipEndpoint", value=stage.endpoints.whip)
        cdk.CfnOutput(self, "StageEventsEndpoint", value=stage.endpoints.events)
        cdk.CfnOutput(self, "StageRtmpsEndpoint", value=stage.endpoints.rtmps)
        cdk.CfnOutput(self, "StorageConfigurationArn", value=storage.storage_configuration_arn)
        cdk.CfnOutput(self, "EncoderConfigurationArn", value=encoder.encoder_configuration_arn)
        cdk.CfnOutput(self, "RecordingsBucket", value=recordings.bucket_name)
        cdk.CfnOutput(self, "CompositionArn", value=composition.composition_arn)
        # The stream key is not an output: outputs are plain text to anyone who can describe the stack.
        cdk.CfnOutput(self, "StudioParticipantId", value=studio.participant_id)
        cdk.CfnOutput(self, "TokenSigningKeyFingerprint", value=signing_key.fingerprint)
        cdk.CfnOutput(self, "TokenVendorFunction", value=tokens.function.function_name)


def build(app: cdk.App) -> RealtimeVideoStack:
    stack = RealtimeVideoStack(app, "IvsRealtimeSample")
    cdk.Tags.of(stack).add("project", "constructs-ivsrt-sample")
    cdk.Tags.of(app).add("environment", app.node.try_get_context("environment") or "demo")
    return stack


if __name__ == "__main__":
    app = cdk.App()
    build(app)
    app.synth()
