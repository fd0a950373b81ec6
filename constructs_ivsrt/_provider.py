"""The per-stack custom-resource provider: one Lambda (``lambda/handler.py``) behind aws-cdk-lib's
Provider framework, found or created under a fixed id on the stack."""

from __future__ import annotations

from aws_cdk import Acknowledgment, ArnFormat, Duration, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct, IConstruct

from constructs_ivsrt._handler_code import ASSET_EXCLUDES, HANDLER_DIR, rules

PROVIDER_ID = "IvsRealtimeProvider"  # part of the public contract: renaming it replaces the provider
_CACHE_ATTRIBUTE = "_constructs_ivsrt_provider"

# Exactly the calls lambda/lifecycle.py makes, per resource type (tests/test_iam.py checks this
# against every call the handler makes at the local endpoint).
HANDLER_ACTIONS: tuple[str, ...] = tuple(
    f"ivs:{operation}"
    for resource in rules.RESOURCES.values()
    for operation in filter(
        None,
        (resource.create_operation, resource.get_operation, resource.update_operation, resource.delete_operation),
    )
) + ("ivs:TagResource", "ivs:UntagResource")

# Lists find the handler's own resources by their identity tag (after a lost Create response, on a
# rollback) and the stages using a storage configuration. IVS List operations take no resource
# ARN, so they cannot be scoped to one.
LIST_ACTIONS: tuple[str, ...] = tuple(f"ivs:{resource.list_operation}" for resource in rules.RESOURCES.values())

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
        # Remembered on the stack's Python object too: a jsii lookup per resource adds up in
        # stacks with hundreds of stages.
        cached = getattr(stack, _CACHE_ATTRIBUTE, None)
        if cached is None:
            cached = stack.node.try_find_child(PROVIDER_ID) or cls(stack, PROVIDER_ID)
            setattr(stack, _CACHE_ATTRIBUTE, cached)
        return cached

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        # Own roles that may write only to their own log groups, instead of the managed
        # AWSLambdaBasicExecutionRole (logs:* on every log group).
        handler_logs = logs.LogGroup(self, "OnEventLogs", retention=logs.RetentionDays.ONE_YEAR)
        handler_role = _lambda_role(self, "OnEventRole", handler_logs)
        self.on_event_function = lambda_.Function(
            self,
            "OnEvent",
            description="constructs_ivsrt: creates, updates, tags and deletes IVS Real-Time resources",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="handler.on_event",
            code=lambda_.Code.from_asset(str(HANDLER_DIR), exclude=ASSET_EXCLUDES),
            # Retries are bounded by botocore (5 attempts, 30 s read timeout) and conflict waits by
            # the time left (handler.ANSWER_MARGIN_SECONDS); this leaves room.
            timeout=Duration.minutes(5),
            memory_size=256,
            role=handler_role,
            log_group=handler_logs,
        )
        ivs_arns = [
            stack.format_arn(service="ivs", resource=resource, resource_name="*", arn_format=ArnFormat.SLASH_RESOURCE_NAME)
            for resource in _ARN_RESOURCES
        ]
        self.on_event_function.add_to_role_policy(iam.PolicyStatement(actions=list(HANDLER_ACTIONS), resources=ivs_arns))
        self.on_event_function.add_to_role_policy(iam.PolicyStatement(actions=list(LIST_ACTIONS), resources=["*"]))
        framework_logs = logs.LogGroup(self, "ProviderLogs", retention=logs.RetentionDays.ONE_YEAR)
        framework_role = _lambda_role(self, "FrameworkRole", framework_logs)
        self.provider = provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.on_event_function,
            framework_on_event_role=framework_role,
            log_group=framework_logs,
        )
        _acknowledge(handler_role, [
            (_wildcard_finding(stack, arn),
             "IVS assigns resource ids at creation, so the handler cannot name them in advance; the "
             f"statement is limited to {resource} ARNs in this account and region and to the calls the handler makes.")
            for resource, arn in zip(_ARN_RESOURCES, ivs_arns)
        ] + [(
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            "IVS List operations (" + ", ".join(LIST_ACTIONS) + ") support no resource-level "
            "permissions; they are read-only and used to find the handler's own resources by tag.",
        )])
        _acknowledge(framework_role, [(
            _wildcard_finding(stack, f"{self.on_event_function.function_arn}:*"),
            "aws-cdk-lib's Provider framework may invoke the handler function's versions and aliases; "
            "the wildcard is the qualifier of this one function.",
        )])

        # The handler's policy must exist before CloudFormation sends it any event. Every custom
        # resource references the framework function (its ServiceToken), so one dependency here
        # orders them all, instead of a DependsOn on each resource.
        provider.node.find_child("framework-onEvent").node.add_dependency(handler_role)
        # Read once: every managed resource asks for them.
        self.service_token: str = provider.service_token
        self.role: iam.IRole = handler_role

    def allow_bucket_policy_edits(self, bucket_arn: str) -> None:
        """Let the handler create a storage configuration on this bucket, and no other."""
        self.on_event_function.add_to_role_policy(
            iam.PolicyStatement(actions=list(STORAGE_BUCKET_ACTIONS), resources=[bucket_arn])
        )


def _lambda_role(scope: Construct, id: str, log_group: logs.ILogGroup) -> iam.Role:
    role = iam.Role(scope, id, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    log_group.grant_write(role)
    return role


def _acknowledge(scope: Construct, findings: list[tuple[str, str]]) -> None:
    """Record why a policy-as-code finding (cdk-nag's AwsSolutions pack) is accepted here."""
    for finding, reason in findings:
        Validations.of(scope).acknowledge(Acknowledgment(id=finding, reason=reason))


def _wildcard_finding(stack: Stack, arn: str) -> str:
    """The id cdk-nag gives a wildcard resource finding (AwsSolutions-IAM5), for this ARN.

    cdk-nag names the resource as the template renders it, with references written ``<Name>``
    and attributes ``<Name.Attr>``; rendering the same way keeps the acknowledgment exact (it
    covers this ARN only) whatever the stack's environment.
    """
    def render(value: object) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and "Ref" in value:
            return f"<{value['Ref']}>"
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            return f"<{'.'.join(value['Fn::GetAtt'])}>"
        if isinstance(value, dict) and "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(render(part) for part in parts)
        raise ValueError(f"cannot render {value!r} as cdk-nag does")

    return f"AwsSolutions::AwsSolutions-IAM5[Resource::{render(stack.resolve(arn))}]"
