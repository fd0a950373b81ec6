"""StorageConfiguration: its template (the bucket policy), its validation (the bucket) and its lifecycle."""

from __future__ import annotations

import threading
import time

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template
from conftest import STAGE, STORAGE, make_storage, resources
from synth import ENV, expect, new_stack

from constructs_ivsrt import IvsRealtimeValidationError, StorageConfiguration


@pytest.mark.parametrize(
    "build, message",
    [
        pytest.param(
            lambda s: StorageConfiguration(
                s, "Sto", bucket=s3.Bucket.from_bucket_name(s, "B", "my-bucket"), storage_configuration_name="x" * 129
            ),
            f"T/Sto: storage_configuration_name must have at most 128 characters, got: '{'x' * 129}'",
            id="storage-name",
        ),
        pytest.param(
            lambda s: StorageConfiguration(s, "Sto", bucket=s3.Bucket.from_bucket_name(s, "B", "Bad_Bucket")),
            "T/Sto: bucket.bucket_name must match the pattern [a-z0-9-.]+, got: 'Bad_Bucket'",
            id="bucket-name",
        ),
        pytest.param(
            lambda s: StorageConfiguration.from_storage_configuration_arn(s, "S", "arn:aws:ivs:eu-west-1:1:stage/a"),
            "T/S: storage_configuration_arn must match the pattern "
            "arn:aws:ivs:[a-z0-9-]+:[0-9]+:storage-configuration/[a-zA-Z0-9-]+, got: 'arn:aws:ivs:eu-west-1:1:stage/a'",
            id="storage-arn",
        ),
        pytest.param(
            lambda s: StorageConfiguration(s, "Sto", bucket=s3.Bucket(s, "B", encryption=s3.BucketEncryption.KMS)),
            "T/Sto: bucket encryption must be SSE-S3 (BucketEncryption.S3_MANAGED): IVS cannot write to "
            "KMS-encrypted buckets, got: 'aws:kms'",
            id="bucket-kms",
        ),
        pytest.param(
            lambda s: StorageConfiguration(s, "Sto", bucket=s3.Bucket(s, "B", object_ownership=s3.ObjectOwnership.OBJECT_WRITER)),
            "T/Sto: bucket object ownership must be BucketOwnerEnforced or BucketOwnerPreferred so recordings "
            "belong to the bucket owner, got: 'ObjectWriter'",
            id="bucket-ownership",
        ),
    ],
)
def test_rule(build, message):
    expect(message, build)


def test_storage_configuration_may_edit_only_its_bucket_policy():
    stack = new_stack("Test")
    bucket = s3.Bucket(stack, "Bucket")
    StorageConfiguration(stack, "Storage", bucket=bucket)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": ["s3:GetBucketLocation", "s3:GetBucketPolicy", "s3:PutBucketPolicy"],
                            "Effect": "Allow",
                            "Resource": {"Fn::GetAtt": [Match.string_like_regexp("^Bucket"), "Arn"]},
                        }
                    ]
                )
            }
        },
    )


def test_bucket_policy_carries_the_ivs_statement_and_comes_first():
    stack = new_stack("Test")
    bucket = s3.Bucket(stack, "Bucket", enforce_ssl=True)
    StorageConfiguration(stack, "Storage", bucket=bucket)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Sid": "IvsRealtimeRecordingWrite",
                            "Action": "s3:PutObject",
                            "Effect": "Allow",
                            "Principal": {"Service": "ivs-composite.eu-west-1.amazonaws.com"},
                            "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
                            "Resource": Match.any_value(),
                        }
                    ]
                )
            }
        },
    )
    storage = next(iter(template.find_resources(STORAGE).values()))
    assert any(d.startswith("BucketPolicy") for d in storage["DependsOn"])


def test_imported_bucket_policy_is_left_alone():
    stack = new_stack("Test")
    StorageConfiguration(stack, "Storage", bucket=s3.Bucket.from_bucket_name(stack, "B", "existing-bucket"))
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::S3::BucketPolicy", 0)
    template.has_resource_properties(STORAGE, {"s3": {"bucketName": "existing-bucket"}})


def test_bucket_in_another_region():
    app = cdk.App()
    elsewhere = cdk.Stack(app, "Elsewhere", env=cdk.Environment(account="123456789012", region="us-west-2"))
    bucket = s3.Bucket(elsewhere, "B")
    here = cdk.Stack(app, "Here", env=ENV)
    with pytest.raises(IvsRealtimeValidationError) as caught:
        StorageConfiguration(here, "Sto", bucket=bucket)
    assert str(caught.value) == (
        "Here/Sto: bucket must be in the stack's region eu-west-1 (IVS writes only to same-region buckets), got: 'us-west-2'"
    )


def test_kms_key_bucket_is_rejected_too():
    def build(s):
        StorageConfiguration(s, "Sto", bucket=s3.Bucket(s, "B", encryption_key=kms.Key(s, "K")))

    with pytest.raises(IvsRealtimeValidationError, match="bucket encryption must be SSE-S3 .* got: 'aws:kms'"):
        build(new_stack())


def test_storage_in_use_is_waited_for_then_fails_naming_its_user(cfn, ivs, handler):
    storage, _ = make_storage(cfn)
    stage = cfn.create(STAGE, {"name": "s", "autoParticipantRecordingConfiguration": {"storageConfigurationArn": storage}})
    cfn.timeout_seconds = handler.ANSWER_MARGIN_SECONDS + 4  # the Lambda has ~4 s left to wait
    started = time.monotonic()
    with pytest.raises(Exception) as caught:
        cfn.delete(STORAGE, storage)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"DeleteStorageConfiguration failed for {STORAGE} Resource ({storage}): ConflictException: ")
    assert message.endswith(f"; still used by {stage['PhysicalResourceId']})")
    assert ivs.state.calls.count("DeleteStorageConfiguration") >= 2  # retried with backoff
    assert time.monotonic() - started < 6  # and answered before the Lambda would have been stopped
    assert len(resources(ivs, "StorageConfiguration")) == 1


def test_storage_in_use_is_deleted_once_its_user_goes(cfn, ivs):
    storage, _ = make_storage(cfn)
    stage = cfn.create(STAGE, {"name": "s", "autoParticipantRecordingConfiguration": {"storageConfigurationArn": storage}})
    # CloudFormation may delete a storage configuration while a stage elsewhere is still going.
    later = threading.Timer(1.5, lambda: cfn.delete(STAGE, stage["PhysicalResourceId"]))
    later.start()
    cfn.delete(STORAGE, storage)
    later.join()
    assert resources(ivs) == []
    assert ivs.state.calls.count("DeleteStorageConfiguration") >= 2
