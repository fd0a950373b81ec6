"""The CloudWatch metrics IVS Real-Time publishes (namespace ``AWS/IVSRealTime``).

Per stage, with the dimension ``Stage`` = the stage's resource id (the ARN's last part): the
participant counts and the stage-wide media quality. For the whole account and region, with no
dimension: concurrent publishers and subscriptions. The names, dimensions and statistics are the
IVS Real-Time User Guide's ("Monitoring IVS Real-Time Streaming"); the service publishes them
from the broadcast SDKs' reports (Web Broadcast SDK 1.5.2 and later).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_cloudwatch as cloudwatch

NAMESPACE = "AWS/IVSRealTime"
STAGE_DIMENSION = "Stage"

# Per-stage metrics this library has helpers for, with the statistic each helper uses unless told
# otherwise (the service publishes Average, Maximum and Minimum for all of them).
PUBLISHERS = ("Publishers", "Maximum")  # Count
SUBSCRIBERS = ("Subscribers", "Maximum")  # Count
PUBLISH_BITRATE = ("PublishBitrate", "Average")  # Bits/Second
SUBSCRIBE_BITRATE = ("SubscribeBitrate", "Average")  # Bits/Second
DOWNLOAD_PACKET_LOSS = ("DownloadPacketLoss", "Average")  # Percent
DROPPED_FRAMES = ("DroppedFrames", "Average")  # Percent
# Account-level (no dimension).
CONCURRENT_PUBLISHERS = ("ConcurrentPublishers", "Maximum")  # Count
CONCURRENT_SUBSCRIPTIONS = ("ConcurrentSubscriptions", "Maximum")  # Count


def stage_metric(stage_id: str, metric_name: str, props: dict[str, Any]) -> cloudwatch.Metric:
    """``metric_name`` of one stage; ``props`` are cloudwatch.MetricOptions (statistic, period, ...)."""
    dimensions = {**props.pop("dimensions_map", {}), STAGE_DIMENSION: stage_id}
    return cloudwatch.Metric(namespace=NAMESPACE, metric_name=metric_name, dimensions_map=dimensions, **props)


def named_metric(stage_id: str | None, metric: tuple[str, str], props: dict[str, Any]) -> cloudwatch.Metric:
    """A metric with a helper: its default statistic unless ``props`` names one; account-level
    when ``stage_id`` is None."""
    name, statistic = metric
    props = {"statistic": statistic, **props}
    if stage_id is None:
        return cloudwatch.Metric(namespace=NAMESPACE, metric_name=name, **props)
    return stage_metric(stage_id, name, props)
