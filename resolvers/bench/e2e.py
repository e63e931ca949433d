"""Latency and throughput through the whole Dagster path, with the daemon running the sensors.

The Pub/Sub emulator and a ``dagster-daemon`` (started as processes: this module does not
import Dagster) run the code location of workspace.yaml on a lake in a work folder, with the
asset-feed sensor pointed at the emulator and drain runs following their stream. Feed messages
are published with their event time set to the moment of publishing, so a version's
``recorded_at - valid_from`` is the time from publishing a change to its commit (it is visible
a few milliseconds later, once the commit lands).

- ``e2e_latency_p50_s`` / ``e2e_latency_p99_s``: a slow trickle (a few messages a second);
- ``e2e_events_per_s``: a burst published as fast as the emulator takes it, divided by the
  time from the first publish to the last commit.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from resolvers.embedded import launch_pubsub
from resolvers.lake.layout import read_table
from resolvers.lake.storage import Lake
from resolvers.timeutil import isoformat, utcnow

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "projects/assetlake-bench"


@dataclass(frozen=True, slots=True)
class E2ESizes:
    """How long and how much the end-to-end measurement publishes."""

    trickle_seconds: float = 60.0
    trickle_per_s: float = 4.0
    burst_messages: int = 100_000
    wait_seconds: float = 180.0
    follow_seconds: float = 120.0


QUICK_E2E = E2ESizes(trickle_seconds=20.0, burst_messages=20_000, wait_seconds=90.0)


def _message(index: int, kind: str) -> bytes:
    name = f"//storage.googleapis.com/bench-{kind}-{index}"
    when = isoformat(utcnow())
    return orjson.dumps(
        {
            "asset": {
                "name": name,
                "assetType": "storage.googleapis.com/Bucket",
                "resource": {
                    "data": {"name": name.rsplit("/", 1)[-1], "labels": {"i": str(index)}}
                },
            },
            "priorAssetState": "DOES_NOT_EXIST",
            "window": {"startTime": when},
        }
    )


def _pubsub(host: str) -> tuple[Any, Any, str, str]:
    """A topic and a pull subscription on the emulator: (publisher, subscriber, topic, sub)."""
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
    topic = publisher.create_topic(name=f"{PROJECT}/topics/asset-feed-bench").name
    subscription = f"{PROJECT}/subscriptions/asset-feed-bench-lake"
    subscriber.create_subscription(name=subscription, topic=topic, ack_deadline_seconds=60)
    return publisher, subscriber, topic, subscription


def _daemon(
    folder: Path, lake: str, host: str, subscription: str, follow: float
) -> subprocess.Popen[bytes]:
    home = folder / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "ASSETLAKE_LAKE": lake,
        "ASSETLAKE_ASSET_FEED_SUBSCRIPTION": subscription,
        "PUBSUB_EMULATOR_HOST": host,
        "ASSETLAKE_DRAIN_FOLLOW_SECONDS": str(follow),
    }
    daemon = Path(sys.executable).with_name("dagster-daemon")
    log = (folder / "dagster-daemon.log").open("wb")
    return subprocess.Popen(
        [str(daemon), "run", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def _stop(process: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue


def _versions(lake: Lake, kind: str) -> pl.DataFrame:
    if not lake.exists():
        return pl.DataFrame()
    frame = read_table(lake, "asset_versions").filter(
        pl.col("asset_key").str.contains(f"bench-{kind}-")
    )
    return frame.select("asset_key", "valid_from", "recorded_at").collect()


def _wait_for(lake: Lake, kind: str, count: int, deadline: float) -> pl.DataFrame:
    seen = pl.DataFrame()
    while time.monotonic() < deadline:
        seen = _versions(lake, kind)
        if seen.height >= count:
            break
        time.sleep(1.0)
    return seen


def _trickle(publisher: Any, topic: str, sizes: E2ESizes) -> int:
    sent, started = 0, time.monotonic()
    while time.monotonic() - started < sizes.trickle_seconds:
        publisher.publish(topic=topic, messages=[{"data": _message(sent, "trickle")}])
        sent += 1
        time.sleep(1.0 / sizes.trickle_per_s)
    return sent


def _burst(publisher: Any, topic: str, count: int) -> None:
    for start in range(0, count, 1000):
        batch = [{"data": _message(i, "burst")} for i in range(start, min(start + 1000, count))]
        publisher.publish(topic=topic, messages=batch)


def measure_e2e(folder: Path, sizes: E2ESizes = E2ESizes()) -> dict[str, Any]:
    """Run the daemon over the emulator, publish, and measure; everything started is stopped."""
    folder.mkdir(parents=True, exist_ok=True)
    lake_uri = str(folder / "lake")
    emulator = launch_pubsub(folder)
    if emulator is None:
        return {"e2e_skipped": "no gcloud SDK: the Pub/Sub emulator is not on this machine"}
    daemon = None
    try:
        emulator.wait_ready()
        publisher, _, topic, subscription = _pubsub(emulator.address)
        daemon = _daemon(folder, lake_uri, emulator.address, subscription, sizes.follow_seconds)
        time.sleep(5.0)  # the daemon loads the code location
        lake = Lake(lake_uri)
        sent = _trickle(publisher, topic, sizes)
        trickle = _wait_for(lake, "trickle", sent, time.monotonic() + sizes.wait_seconds)
        burst_started = utcnow()
        _burst(publisher, topic, sizes.burst_messages)
        burst = _wait_for(
            lake, "burst", sizes.burst_messages, time.monotonic() + sizes.wait_seconds
        )
    finally:
        if daemon is not None:
            _stop(daemon)
        emulator.stop()
    return _figures(sent, trickle, sizes.burst_messages, burst, burst_started)


def _figures(
    sent: int, trickle: pl.DataFrame, burst_sent: int, burst: pl.DataFrame, burst_started: Any
) -> dict[str, Any]:
    lags = (
        (
            trickle.get_column("recorded_at") - trickle.get_column("valid_from")
        ).dt.total_microseconds()
        / 1e6
        if trickle.height
        else pl.Series([], dtype=pl.Float64)
    )
    last_commit = burst.get_column("recorded_at").max() if burst.height else None
    span = (last_commit - burst_started).total_seconds() if last_commit else None  # type: ignore[operator]
    return {
        "e2e_latency_p50_s": round(float(lags.quantile(0.5) or 0), 3) if len(lags) else None,
        "e2e_latency_p99_s": round(float(lags.quantile(0.99) or 0), 3) if len(lags) else None,
        "e2e_events_per_s": round(burst.height / span, 1) if span else None,
        "e2e_detail": {
            "trickle_sent": sent,
            "trickle_committed": trickle.height,
            "burst_sent": burst_sent,
            "burst_committed": burst.height,
            "burst_seconds": round(span, 2) if span else None,
        },
    }
