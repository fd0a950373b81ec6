"""The per-stack custom-resource provider: one Lambda (``lambda/handler.py``) behind aws-cdk-lib's
Provider framework, found or created under a fixed id on the stack."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct, IConstruct

from constructs_ivsrt._handler_code import ASSET_EXCLUDES, HANDLER_DIR, rules

PROVIDER_ID = "IvsRealtimeProvider"  # part of the public contract: renaming it replaces the provider

# Exactly the calls lambda/lifecycle.py makes, per resource type.
HANDLER_ACTIONS: tuple[str, ...] = tuple(
    f"ivs:{operation}"
    for resource in rules.RESOURCES.values()
    for operation in filter(
        None,
        (resource.create_operation, resource.get_operation, resource.update_operation, resource.delete_operation),
    )
) + ("ivs:TagResource", "ivs:UntagResource")

# ARN resource segment of each type the handler manages (stage/*, encoder-configuration/*, ...).
_ARN_RESOURCES = ("stage", "encoder-configuration", "storage-configuration")

# What IVS needs from the caller of CreateStorageConfiguration: the service reads the bucket and
# edits its policy on the caller's behalf (see StorageConfiguration).
STORAGE_BUCKET_ACTIONS = ("s3:GetBucketLocation", "s3:GetBucketPolicy", "s3:PutBucketPolicy")


class IvsRealtimeProvider(Construct):
    """Use ``IvsRealtimeProvider.of(scope)``; a stack has at most one."""

    @classmethod
    def of(cls, scope: IConstruct) -> "IvsRealtimeProvider":
        stack = Stack.of(scope)
        existing = stack.node.try_find_child(PROVIDER_ID)
        return existing if existing is not None else cls(stack, PROVIDER_ID)

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        self.on_event_function = lambda_.Function(
            self,
            "OnEvent",
            description="constructs_ivsrt: creates, updates, tags and deletes IVS Real-Time resources",
            runtime=lambda_.Runtime.PYTHON_3_13,
            handler="handler.on_event",
            code=lambda_.Code.from_asset(str(HANDLER_DIR), exclude=ASSET_EXCLUDES),
            # Retries are bounded by botocore (5 attempts, 30 s read timeout); this leaves room.
            timeout=Duration.minutes(5),
            memory_size=256,
            log_group=logs.LogGroup(self, "OnEventLogs", retention=logs.RetentionDays.ONE_YEAR),
        )
        self.on_event_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=list(HANDLER_ACTIONS),
                resources=[
                    stack.format_arn(service="ivs", resource=resource, resource_name="*",
                                     arn_format=ArnFormat.SLASH_RESOURCE_NAME)
                    for resource in _ARN_RESOURCES
                ],
            )
        )
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.on_event_function,
            log_group=logs.LogGroup(self, "ProviderLogs", retention=logs.RetentionDays.ONE_YEAR),
        )

    @property
    def service_token(self) -> str:
        return self.provider.service_token

    @property
    def role(self) -> iam.IRole:
        return self.on_event_function.role

    def allow_bucket_policy_edits(self, bucket_arn: str) -> None:
        """Let the handler create a storage configuration on this bucket, and no other."""
        self.on_event_function.add_to_role_policy(
            iam.PolicyStatement(actions=list(STORAGE_BUCKET_ACTIONS), resources=[bucket_arn])
        )
