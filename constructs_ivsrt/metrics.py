"""The CloudWatch metrics IVS Real-Time publishes (namespace ``AWS/IVSRealTime``).

Per stage, with the dimension ``Stage`` = the stage's resource id (the ARN's last part): the
participant counts and the stage-wide media quality. For the whole account and region, with no
dimension: concurrent publishers and subscriptions. The names, dimensions and statistics are the
IVS Real-Time User Guide's ("Monitoring IVS Real-Time Streaming"); the service publishes them
from the broadcast SDKs' reports (Web Broadcast SDK 1.5.2 and later).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch

NAMESPACE: str = "AWS/IVSRealTime"
STAGE_DIMENSION: str = "Stage"


class MetricOptions(TypedDict, total=False):
    """What a metric helper takes (``cloudwatch.MetricOptions``' common fields), so that a type
    checker sees a misspelt option."""

    statistic: str
    period: Duration
    label: str
    unit: cloudwatch.Unit
    color: str
    dimensions_map: Mapping[str, str]
    account: str
    region: str


# Per-stage metrics this library has helpers for, with the statistic each helper uses unless told
# otherwise (the service publishes Average, Maximum and Minimum for all of them).
PUBLISHERS: tuple[str, str] = ("Publishers", "Maximum")  # Count
SUBSCRIBERS: tuple[str, str] = ("Subscribers", "Maximum")  # Count
PUBLISH_BITRATE: tuple[str, str] = ("PublishBitrate", "Average")  # Bits/Second
SUBSCRIBE_BITRATE: tuple[str, str] = ("SubscribeBitrate", "Average")  # Bits/Second
DOWNLOAD_PACKET_LOSS: tuple[str, str] = ("DownloadPacketLoss", "Average")  # Percent
DROPPED_FRAMES: tuple[str, str] = ("DroppedFrames", "Average")  # Percent
# Account-level (no dimension).
CONCURRENT_PUBLISHERS: tuple[str, str] = ("ConcurrentPublishers", "Maximum")  # Count
CONCURRENT_SUBSCRIPTIONS: tuple[str, str] = ("ConcurrentSubscriptions", "Maximum")  # Count


def stage_metric(stage_id: str, metric_name: str, options: MetricOptions) -> cloudwatch.Metric:
    """``metric_name`` of one stage. Other dimensions in ``options`` are kept; ``Stage`` is always
    this stage's."""
    props: MetricOptions = {**options, "dimensions_map": {**options.get("dimensions_map", {}), STAGE_DIMENSION: stage_id}}
    return cloudwatch.Metric(namespace=NAMESPACE, metric_name=metric_name, **props)


def located(options: MetricOptions, *, region: str | None, account: str | None) -> MetricOptions:
    """``options`` with a region and an account (those known: None is left out) unless they name
    their own: a metric carries where it is, as ``cloudwatch.Metric.attach_to`` does."""
    where: MetricOptions = {}
    if region is not None:
        where["region"] = region
    if account is not None:
        where["account"] = account
    return {**where, **options}


def named_metric(stage_id: str | None, metric: tuple[str, str], options: MetricOptions) -> cloudwatch.Metric:
    """A metric with a helper: its default statistic unless ``options`` names one; account-level
    when ``stage_id`` is None."""
    name, statistic = metric
    props: MetricOptions = {"statistic": statistic, **options}
    if stage_id is None:
        return cloudwatch.Metric(namespace=NAMESPACE, metric_name=name, **props)
    return stage_metric(stage_id, name, props)
