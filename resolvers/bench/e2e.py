"""Latency and throughput through the whole Dagster path, with the daemon running the sensors.

A ``dagster-daemon`` (started as a process: this module does not import Dagster) runs the code
location of workspace.yaml on a lake in a work folder, with drain runs following their stream,
once per transport: the Pub/Sub emulator read by ``gcp_asset_feed_sensor`` (the GCP feed path),
and a nats-server JetStream stream read by ``nats_events_sensor`` (the internal bus every source
can be relayed onto). Feed messages are published with their event time set to the moment of
publishing, so a version's ``recorded_at - valid_from`` is the time from publishing a change to
its commit (it is visible a few milliseconds later, once the commit lands).

- ``e2e_latency_p50_s`` / ``e2e_latency_p99_s``: a slow trickle (a few messages a second), once
  a warm-up message has gone through (the daemon started, a drain run following); the worse of
  the transports;
- ``e2e_events_per_s``: a burst published as fast as the transport takes it, divided by the time
  from the first publish to the last commit; the best of the transports (the goal asks whether
  the pipeline can sustain the rate), each one's figure alongside;
- ``e2e_pubsub_pull_ceiling_per_s``: what the emulator itself delivers (pull and ack with no
  lake work, same run): the Pub/Sub figure cannot exceed it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from resolvers.embedded import default_sigterm, free_port, launch, launch_pubsub, stop_group
from resolvers.errors import LakeError
from resolvers.ingest import Record
from resolvers.lake.layout import read_table
from resolvers.lake.maintenance import active_files
from resolvers.lake.storage import Lake
from resolvers.streams.base import PullLimits
from resolvers.timeutil import isoformat, utcnow

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "projects/assetlake-bench"
NATS_STREAM, NATS_SUBJECT = "ASSETLAKE_BENCH", "assetlake.bench"
# what configures a stream sensor: only the transport under measurement is set for the daemon
SENSOR_SETTINGS = (
    "ASSETLAKE_SQS_QUEUE_URL", "ASSETLAKE_CLOUDTRAIL_BUCKET", "ASSETLAKE_ASSET_FEED_SUBSCRIPTION",
    "ASSETLAKE_AUDIT_LOG_SUBSCRIPTION", "ASSETLAKE_NATS_URL", "PUBSUB_EMULATOR_HOST",
)  # fmt: skip


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
    folder: Path, lake: str, sensor_env: dict[str, str], follow: float
) -> subprocess.Popen[bytes]:
    home = folder / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **{k: v for k, v in os.environ.items() if k not in SENSOR_SETTINGS},
        **sensor_env,
        "DAGSTER_HOME": str(home),
        "ASSETLAKE_LAKE": lake,
        "ASSETLAKE_DRAIN_FOLLOW_SECONDS": str(follow),
    }
    daemon = Path(sys.executable).with_name("dagster-daemon")
    with (folder / "dagster-daemon.log").open("ab") as log:  # the daemon keeps its own copy
        return subprocess.Popen(
            [str(daemon), "run", "-w", str(ROOT / "workspace.yaml")],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=default_sigterm,  # _stop ends it with SIGTERM
        )  # fmt: skip


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the daemon and everything it started (its code server, the runs it launched and
    their resolver workers: one process group), and wait for all of them: a drain run that
    outlived the daemon kept writing into the lake the bench was removing."""
    stop_group(process, timeout=20)


def _versions(lake: Lake, kind: str) -> pl.DataFrame:
    try:
        frame = read_table(lake, "asset_versions").filter(
            pl.col("asset_key").str.contains(f"bench-{kind}-")
        )
        return frame.select("asset_key", "valid_from", "recorded_at").collect()
    except LakeError:  # no lake yet, or the daemon is between its marker and its last table
        return pl.DataFrame()


def _stored_rows(lake: Lake) -> int:
    """Rows in asset_versions and its tail, from the tables' file statistics (no data read).

    Reading the versions themselves every second cost about 3 CPU-seconds over a 20,000-message
    burst, a growing scan on the two cores the pipeline being measured runs on. Every message
    of the bench is a new asset, one tail row at least, so the count only says when reading
    the versions is worth it (a fold in progress may count rows twice, never too few).
    """
    total = 0
    try:
        for name in ("asset_versions", "asset_versions_tail"):
            total += int(active_files(lake.table(name)).get_column("num_records").sum() or 0)
    except LakeError:  # no lake yet, or the daemon is between its marker and its last table
        return 0
    return total


def _wait_for(lake: Lake, kind: str, count: int, rows: int, deadline: float) -> pl.DataFrame:
    """The versions of ``kind`` once ``count`` of them are committed (``rows``: the rows the
    lake holds by then, at least), or what there is at ``deadline``."""
    while time.monotonic() < deadline:
        if _stored_rows(lake) >= rows:
            seen = _versions(lake, kind)
            if seen.height >= count:
                return seen
        time.sleep(1.0)
    return _versions(lake, kind)


def _trickle(transport: Transport, sizes: E2ESizes) -> int:
    sent, started = 0, time.monotonic()
    while time.monotonic() - started < sizes.trickle_seconds:
        transport.publish([_message(sent, "trickle")])
        sent += 1
        time.sleep(1.0 / sizes.trickle_per_s)
    return sent


def _burst(transport: Transport, count: int) -> None:
    for start in range(0, count, 1000):
        transport.publish([_message(i, "burst") for i in range(start, min(start + 1000, count))])


@dataclass
class Transport:
    """A queue the bench publishes feed messages onto and a sensor of the daemon reads."""

    name: str
    env: dict[str, str]  # what configures the sensor
    publish: Callable[[list[bytes]], None]
    stop: Callable[[], None]
    ceiling_per_s: float | None = None  # what the queue alone delivers, where measured


def _pubsub_transport(folder: Path) -> Transport | str:
    emulator = launch_pubsub(folder)
    if emulator is None:
        return "no gcloud SDK: the Pub/Sub emulator is not on this machine"
    try:
        emulator.wait_ready()
        publisher, subscriber, topic, subscription = _pubsub(emulator.address)
        ceiling = _pull_ceiling(publisher, subscriber, emulator.address)
    except BaseException:
        emulator.stop()
        raise

    def publish(messages: list[bytes]) -> None:
        publisher.publish(topic=topic, messages=[{"data": m} for m in messages])

    env = {
        "ASSETLAKE_ASSET_FEED_SUBSCRIPTION": subscription,
        "PUBSUB_EMULATOR_HOST": emulator.address,
    }
    return Transport("pubsub", env, publish, emulator.stop, ceiling)


def _pull_ceiling(publisher: Any, subscriber: Any, host: str, count: int = 5000) -> float:
    """Messages a second the emulator delivers to the source client (pull and ack only)."""
    from resolvers.streams.pubsub import PubSubSource

    topic = publisher.create_topic(name=f"{PROJECT}/topics/ceiling").name
    subscription = f"{PROJECT}/subscriptions/ceiling"
    subscriber.create_subscription(name=subscription, topic=topic, ack_deadline_seconds=60)
    for start in range(0, count, 1000):
        batch = [{"data": b"{}"} for _ in range(start, min(start + 1000, count))]
        publisher.publish(topic=topic, messages=batch)
    source, delivered = PubSubSource(subscription, emulator_host=host, wait_seconds=2.0), 0
    started = time.monotonic()
    while delivered < count:
        batch = source.pull(PullLimits(max_records=count))
        if batch.empty:
            break
        delivered += source.ack(batch)
    seconds = time.monotonic() - started
    source.close()
    return round(delivered / seconds, 1) if seconds else 0.0


def _nats_transport(folder: Path) -> Transport | str:
    binary = shutil.which("nats-server")
    if binary is None:
        return "nats-server is not on this machine"
    port = free_port()
    argv = [binary, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(folder / "nats")]
    server = launch("nats", argv, port, f"nats://127.0.0.1:{port}", folder)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    from resolvers.streams.nats_publish import JetStreamPublisher

    publisher = JetStreamPublisher(server.address, NATS_STREAM, NATS_SUBJECT)

    def publish(messages: list[bytes]) -> None:
        publisher.publish([Record(m.decode(), None, "bench") for m in messages])

    def stop() -> None:
        publisher.close()
        server.stop()

    env = {
        "ASSETLAKE_NATS_URL": server.address,
        "ASSETLAKE_NATS_STREAM": NATS_STREAM,
        "ASSETLAKE_NATS_SUBJECT": NATS_SUBJECT,
    }
    return Transport("nats", env, publish, stop)


TRANSPORTS = {"pubsub": _pubsub_transport, "nats": _nats_transport}


def measure_e2e(folder: Path, sizes: E2ESizes = E2ESizes()) -> dict[str, Any]:
    """Run the daemon over each transport, publish, and measure; everything started is
    stopped. A transport that is not on the machine is named in ``e2e_detail``."""
    folder.mkdir(parents=True, exist_ok=True)
    figures: dict[str, dict[str, Any]] = {}
    missing: dict[str, str] = {}
    for name, start in TRANSPORTS.items():
        work = folder / name
        work.mkdir(exist_ok=True)
        transport = start(work)
        if isinstance(transport, str):
            missing[name] = transport
            continue
        try:
            figures[name] = _measure(work, transport, sizes)
        finally:
            transport.stop()
    if not figures:
        return {"e2e_skipped": "; ".join(missing.values())}
    return _headline(figures, missing)


def _measure(folder: Path, transport: Transport, sizes: E2ESizes) -> dict[str, Any]:
    lake_uri = str(folder / "lake")
    daemon = _daemon(folder, lake_uri, transport.env, sizes.follow_seconds)
    try:
        lake = Lake(lake_uri)
        # warm-up: the first message waits for the code location, the first tick and the first
        # drain run to start; the figures are those of a running pipeline
        transport.publish([_message(0, "warmup")])
        warm = _wait_for(lake, "warmup", 1, 1, time.monotonic() + sizes.wait_seconds)
        sent = _trickle(transport, sizes)
        rows = 1 + sent
        trickle = _wait_for(lake, "trickle", sent, rows, time.monotonic() + sizes.wait_seconds)
        burst_started = utcnow()
        _burst(transport, sizes.burst_messages)
        rows += sizes.burst_messages
        burst = _wait_for(
            lake, "burst", sizes.burst_messages, rows, time.monotonic() + sizes.wait_seconds
        )
    finally:
        _stop(daemon)
    result = _figures(sent, trickle, sizes.burst_messages, burst, burst_started)
    result["e2e_detail"]["pull_ceiling_per_s"] = transport.ceiling_per_s
    result["e2e_detail"]["warmed_up"] = warm.height == 1
    return result


def _headline(figures: dict[str, dict[str, Any]], missing: dict[str, str]) -> dict[str, Any]:
    """The worse latency and the best throughput of the transports, each one's alongside."""
    result: dict[str, Any] = {}
    for name, values in figures.items():
        for key in ("e2e_latency_p50_s", "e2e_latency_p99_s", "e2e_events_per_s"):
            result[key.replace("e2e_", f"e2e_{name}_")] = values[key]
    for key in ("e2e_latency_p50_s", "e2e_latency_p99_s"):
        known = [v[key] for v in figures.values() if v[key] is not None]
        result[key] = max(known) if known else None
    rates = {n: v["e2e_events_per_s"] for n, v in figures.items() if v["e2e_events_per_s"]}
    best = max(rates, key=lambda n: rates[n]) if rates else None
    result["e2e_events_per_s"] = rates[best] if best else None
    if "pubsub" in figures:
        result["e2e_pubsub_pull_ceiling_per_s"] = figures["pubsub"]["e2e_detail"][
            "pull_ceiling_per_s"
        ]
    result["e2e_detail"] = {
        "events_per_s_through": best,
        **{name: values["e2e_detail"] for name, values in figures.items()},
        **{name: f"not measured: {why}" for name, why in missing.items()},
    }
    return result


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
