"""The Lambda functions the library deploys (the provider's handler, the token vendor, the drift
watch, a signing key's retirement): each with a role of its own that may write only to its own log group, instead of the
managed AWSLambdaBasicExecutionRole (``logs:*`` on every log group), running an entry of the asset.

Typed with the concrete ``iam.Role``: to a type checker a jsii class is not its own interface
when their parameter names differ (``Role.grant_pass_role(identity)`` against
``IRole.grant_pass_role(grantee)``, aws/jsii#4541), so the two places that hand one to aws-cdk-lib
carry a targeted ignore (see pyproject.toml) and their callers need none; so does the rule
target ``scheduled_function`` makes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from constructs_ivsrt._asset import ASSET_EXCLUDES, lambda_asset_dir


def lambda_role(scope: Construct, id: str, log_group: logs.ILogGroup) -> iam.Role:
    """A role for Lambda that may write to ``log_group`` and nothing else yet."""
    # ServicePrincipal is an IPrincipal but for a parameter name (jsii#4541).
    role = iam.Role(scope, id, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))  # pyright: ignore[reportArgumentType]
    log_group.grant_write(role)
    return role


def runtime_function(
    scope: Construct,
    id: str,
    *,
    entry: str,
    description: str,
    timeout: Duration,
    role: iam.Role,
    log_group: logs.ILogGroup,
    environment: Mapping[str, str] | None = None,
    retry_attempts: int | None = None,
) -> lambda_.Function:
    """A function of the asset (``lambda/``): ``entry`` is one of ``ivsrt_runtime.entries``."""
    return lambda_.Function(
        scope,
        id,
        description=description,
        runtime=lambda_.Runtime.PYTHON_3_14,
        handler=entry,
        code=lambda_.Code.from_asset(str(lambda_asset_dir()), exclude=ASSET_EXCLUDES),
        timeout=timeout,
        memory_size=256,
        role=role,  # pyright: ignore[reportArgumentType]  # Role is an IRole but for parameter names (jsii#4541)
        log_group=log_group,
        environment=environment,
        retry_attempts=retry_attempts,
    )


@dataclass(frozen=True)
class ScheduledFunction:
    function: lambda_.Function
    role: iam.Role
    rule: events.Rule


def scheduled_function(
    scope: Construct,
    prefix: str,
    *,
    entry: str,
    description: str,
    schedule: Duration,
    rule_description: str,
    timeout: Duration,
    environment: Mapping[str, str],
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
) -> ScheduledFunction:
    """A function of the asset that an EventBridge rule runs every ``schedule``, with its own log
    group and role (``<prefix>Logs``, ``<prefix>Role``, ``<prefix>Function``, ``<prefix>Schedule``).
    Neither Lambda nor the rule retries a failed run: the next scheduled run is the retry."""
    log_group = logs.LogGroup(scope, f"{prefix}Logs", retention=log_retention)
    role = lambda_role(scope, f"{prefix}Role", log_group)
    function = runtime_function(
        scope,
        f"{prefix}Function",
        entry=entry,
        description=description,
        timeout=timeout,
        role=role,
        log_group=log_group,
        retry_attempts=0,
        environment=environment,
    )
    rule = events.Rule(
        scope,
        f"{prefix}Schedule",
        schedule=events.Schedule.rate(schedule),
        description=rule_description,
        # Function is an IFunction, and LambdaFunction an IRuleTarget, but for parameter names (jsii#4541).
        targets=[targets.LambdaFunction(function, retry_attempts=0)],  # pyright: ignore[reportArgumentType]
    )
    return ScheduledFunction(function, role, rule)
