"""``assetlake demo``: the Dagster-free half (the lake, the GCP feed, the summary).

The whole demo is driven by :mod:`pipelines.demo` (services, the team on moto, the sensors and
jobs); here are its parts that need no Dagster:

* the lake: refuse to mix into an existing one, or clear it with ``replace``; fold at the end;
* the GCP half: a week of Cloud Asset Inventory feed messages built from the real snapshots of
  the shared corpus (:mod:`resolvers.demo_data`), published on a Pub/Sub topic of the emulator
  when the gcloud SDK is there, else left in a file for the ingest job;
* :func:`finish_lake`: fold, and the :class:`~resolvers.demo_report.DemoResult` to print.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resolvers.demo_aws import AwsDemoResult
from resolvers.demo_data import FeedSummary, build_feed
from resolvers.demo_report import DemoResult, lake_facts
from resolvers.embedded import EmbeddedServer
from resolvers.errors import InputError, LakeError
from resolvers.lake.storage import Lake
from resolvers.lake.writer import LakeWriter
from resolvers.timeutil import utcnow

CORPUS_ENV = "ASSETLAKE_CORPUS"
FEED_PROJECT = "projects/acme-secops"
FEED_TOPIC = f"{FEED_PROJECT}/topics/cai-asset-changes"
FEED_SUBSCRIPTION = f"{FEED_PROJECT}/subscriptions/assetlake-asset-feed"
PUBLISH_BATCH = 500

__all__ = ["DemoResult", "FeedChannel", "check_corpus", "feed_channel", "finish_lake"]


def corpus_dir() -> Path:
    """``$ASSETLAKE_CORPUS``, else the shared corpus beside the repository."""
    configured = os.environ.get(CORPUS_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "shared" / "corpus"


def check_corpus() -> Path:
    """The corpus folder; InputError with what to do when it is not there."""
    corpus = corpus_dir()
    if not corpus.is_dir():
        raise InputError(f"the corpus is not at {corpus}; set {CORPUS_ENV} to its folder")
    return corpus


def prepare_lake(lake: Lake, replace: bool) -> None:
    """Refuse to mix the demo into an existing lake, or clear a previous demo with ``replace``."""
    if not lake.exists():
        return
    if not replace:
        raise LakeError(f"{lake.uri}: a lake is already there; pass --replace to start over")
    if lake.is_s3:
        lake.fs.rm(lake.uri, recursive=True)
    else:
        shutil.rmtree(lake.uri)


@dataclass(frozen=True, slots=True)
class FeedChannel:
    """How the GCP feed reaches the pipeline: a Pub/Sub subscription, or a file."""

    feed: FeedSummary
    path: Path
    topic: str | None = None
    subscription: str | None = None


def feed_channel(
    corpus: Path, scratch: Path, emulator: EmbeddedServer | None, say: Callable[[str], None]
) -> FeedChannel:
    """Build the week's feed; publish it on the emulator's topic when there is one."""
    path = scratch / "gcp-asset-feed.jsonl"
    feed = build_feed(corpus, path, now=utcnow())
    if emulator is None:
        return FeedChannel(feed, path)
    publish_feed(emulator.address, path)
    say(f"Pub/Sub emulator on {emulator.address}: {feed.messages} feed messages on {FEED_TOPIC}")
    return FeedChannel(feed, path, FEED_TOPIC, FEED_SUBSCRIPTION)


def _pubsub_clients(host: str) -> tuple[Any, Any]:
    import grpc
    from google.pubsub_v1 import PublisherClient, SubscriberClient
    from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
    from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

    publisher = PublisherClient(
        transport=PublisherGrpcTransport(channel=grpc.insecure_channel(host))
    )
    subscriber = SubscriberClient(
        transport=SubscriberGrpcTransport(channel=grpc.insecure_channel(host))
    )
    return publisher, subscriber


def publish_feed(host: str, path: Path) -> int:
    """The feed's topic and the lake's pull subscription on the emulator, then every message
    (one JSON line each, as Cloud Asset Inventory publishes them); returns how many."""
    publisher, subscriber = _pubsub_clients(host)
    try:
        publisher.create_topic(name=FEED_TOPIC)
        subscriber.create_subscription(
            name=FEED_SUBSCRIPTION, topic=FEED_TOPIC, ack_deadline_seconds=60
        )
        lines = [line for line in path.read_bytes().splitlines() if line.strip()]
        for start in range(0, len(lines), PUBLISH_BATCH):
            chunk = lines[start : start + PUBLISH_BATCH]
            publisher.publish(topic=FEED_TOPIC, messages=[{"data": line} for line in chunk])
    finally:
        publisher.transport.close()
        subscriber.transport.close()
    return len(lines)


def finish_lake(
    lake: Lake,
    channel: FeedChannel,
    aws: AwsDemoResult,
    scan: Any,
    runs: int,
    alerts: int,
    ports: list[int],
    dagster_home: Path | None,
) -> DemoResult:
    """Fold the tail (asset_versions exact on its own), then read what the demo left."""
    LakeWriter(Lake(lake.uri)).fold()
    return DemoResult(
        lake=lake,
        feed=channel.feed,
        feed_via=channel.subscription or str(channel.path.name),
        aws=aws,
        scan=scan,
        dagster_runs=runs,
        alerts=alerts,
        ports=tuple(ports),
        dagster_home=dagster_home,
        facts=lake_facts(Lake(lake.uri), aws),
    )
