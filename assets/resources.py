"""Dagster resources. Constructing them does no I/O: the lake and the queues are opened on use.

The one switch between local and cloud is configuration: the lake's URI is a folder (the
embedded default, ``./lake``) or ``s3://bucket/prefix``; the streams point at moto, the Pub/Sub
emulator and a local NATS, or at the real services, through the usual variables
(``AWS_ENDPOINT_URL``, ``PUBSUB_EMULATOR_HOST``) and the ``ASSETLAKE_*`` ones below.
"""

from __future__ import annotations

import os
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from resolvers.lake.storage import DEFAULT_LAKE, Lake
from resolvers.streams.base import StreamSource

# The source clients (boto3, google-cloud-pubsub, nats-py) are imported when a sensor first
# uses them, not when the code location loads: every run process loads the code location.

LAKE_ENV = "ASSETLAKE_LAKE"
# stream settings: resource field -> environment variable
STREAM_ENV = {
    "sqs_queue_url": "ASSETLAKE_SQS_QUEUE_URL",
    "s3_log_bucket": "ASSETLAKE_CLOUDTRAIL_BUCKET",
    "s3_log_prefix": "ASSETLAKE_CLOUDTRAIL_PREFIX",
    "asset_feed_subscription": "ASSETLAKE_ASSET_FEED_SUBSCRIPTION",
    "audit_log_subscription": "ASSETLAKE_AUDIT_LOG_SUBSCRIPTION",
    "nats_url": "ASSETLAKE_NATS_URL",
    "nats_stream": "ASSETLAKE_NATS_STREAM",
    "nats_subject": "ASSETLAKE_NATS_SUBJECT",
    "aws_endpoint_url": "AWS_ENDPOINT_URL",
    "pubsub_emulator_host": "PUBSUB_EMULATOR_HOST",
}


class LakeResource(dg.ConfigurableResource):
    """The assetlake lake: its Delta tables under a local folder or an s3:// prefix."""

    uri: str = Field(
        default=DEFAULT_LAKE,
        description="Lake folder (relative to the code location's working directory) or "
        "s3://bucket/prefix.",
    )
    _lake: Lake | None = PrivateAttr(default=None)

    def get_lake(self) -> Lake:
        """The :class:`Lake` (made on first call; it touches storage only when read)."""
        if self._lake is None:
            self._lake = Lake(self.uri)
        return self._lake


class StreamsResource(dg.ConfigurableResource):
    """Where the streams are. A stream whose setting is empty is not configured: its sensor
    skips with the name of the variable to set."""

    sqs_queue_url: str = ""
    s3_log_bucket: str = ""
    s3_log_prefix: str = ""
    asset_feed_subscription: str = ""
    audit_log_subscription: str = ""
    nats_url: str = ""
    nats_stream: str = "ASSETLAKE"
    nats_subject: str = "assetlake.records"
    aws_endpoint_url: str = ""
    pubsub_emulator_host: str = ""
    # a tick keeps pulling a quiet stream (one whose pulls wait for messages) until its budget,
    # so that what is published between two ticks is landed at once; False: a tick ends at its
    # first empty pull, as a caller that ticks by hand wants (the demo, tests)
    keep_polling: bool = True

    def configured(self) -> int:
        """How many streams are configured (their sensors share each daemon loop)."""
        settings = (
            self.sqs_queue_url,
            self.s3_log_bucket,
            self.asset_feed_subscription,
            self.audit_log_subscription,
            self.nats_url,
        )
        return sum(1 for setting in settings if setting)

    def sqs(self) -> StreamSource | None:
        """EventBridge CloudTrail events (and S3 log notifications) on an SQS queue."""
        if not self.sqs_queue_url:
            return None
        from resolvers.streams.sqs import SqsSource

        return SqsSource(self.sqs_queue_url, endpoint_url=self.aws_endpoint_url or None)

    def s3_logs(self, cursor: str | None) -> StreamSource | None:
        """CloudTrail log files under an (organisation) trail's prefix."""
        if not self.s3_log_bucket:
            return None
        from resolvers.streams.s3_logs import S3LogSource

        return S3LogSource(
            self.s3_log_bucket,
            self.s3_log_prefix,
            cursor=cursor,
            endpoint_url=self.aws_endpoint_url or None,
        )

    def pubsub(self, source: str) -> StreamSource | None:
        """A Pub/Sub pull subscription: the asset feed or the audit-log sink."""
        name = (
            self.asset_feed_subscription
            if source == "gcp_asset_feed"
            else self.audit_log_subscription
        )
        if not name:
            return None
        from resolvers.streams.pubsub import PubSubSource

        return PubSubSource(name, source, emulator_host=self.pubsub_emulator_host or None)

    def nats(self) -> StreamSource | None:
        """The internal bus: a JetStream durable pull consumer."""
        if not self.nats_url:
            return None
        from resolvers.streams.nats import NatsSource

        return NatsSource(self.nats_url, self.nats_stream, self.nats_subject)


def lake_resource() -> LakeResource:
    """The lake of ``$ASSETLAKE_LAKE`` (resolved in each run), else ``./lake``."""
    if os.environ.get(LAKE_ENV):
        return LakeResource(uri=dg.EnvVar(LAKE_ENV))
    return LakeResource(uri=DEFAULT_LAKE)


def streams_resource() -> StreamsResource:
    """The streams configured in the environment (each variable read when the resource is)."""
    settings: dict[str, Any] = {
        field: dg.EnvVar(env) for field, env in STREAM_ENV.items() if os.environ.get(env)
    }
    return StreamsResource(**settings)
