"""Stream sensors and drain runs through Dagster's Python APIs, against the Pub/Sub emulator.

Publish, tick, run, read the rows: what the daemon does, minus the daemon.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import dagster as dg
import nats
import orjson
import polars as pl
import pytest
from stream_fixtures import feed_message, pubsub_publish, pubsub_subscription

from assets.resources import LakeResource, StreamsResource
from pipelines.definitions import defs
from resolvers.ingest import Record
from resolvers.lake.layout import read_table
from resolvers.lake.storage import Lake
from resolvers.streams.nats_publish import JetStreamPublisher
from sensors import streams as sensor_streams
from sensors.gcp_asset_feed_sensor import gcp_asset_feed_sensor
from sensors.nats_events_sensor import nats_events_sensor
from sensors.streams import StreamCursor

pytest_plugins = ["stream_fixtures"]
pytestmark = pytest.mark.service


@pytest.fixture(autouse=True)
def drain_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drain runs that drain once and end (the following mode has its own test)."""
    monkeypatch.setenv("ASSETLAKE_DRAIN_FOLLOW_SECONDS", "0")


def _tick(lake_uri: str, streams: StreamsResource, cursor: str | None = None):
    context = dg.build_sensor_context(
        cursor=cursor, resources={"lake": LakeResource(uri=lake_uri), "streams": streams}
    )
    return gcp_asset_feed_sensor(context)


def _run(request: dg.RunRequest, lake_uri: str) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def("drain_job")
    return job.execute_in_process(
        run_config=request.run_config,
        resources={"lake": LakeResource(uri=lake_uri)},
        tags=request.tags,
    )


def test_publish_tick_run_read(pubsub_host: str, tmp_path: Path) -> None:
    lake_uri = str(tmp_path / "lake")
    topic, subscription = pubsub_subscription(pubsub_host, "asset-feed")
    streams = StreamsResource(
        asset_feed_subscription=subscription, pubsub_emulator_host=pubsub_host, keep_polling=False
    )
    messages = [feed_message(i) for i in range(40)]
    pubsub_publish(pubsub_host, topic, [orjson.dumps(m) for m in messages])

    result = _tick(lake_uri, streams)
    assert isinstance(result, dg.SensorResult)
    assert result.asset_events and result.asset_events[0].metadata["landed"].value == 40
    (request,) = result.run_requests or []
    assert request.tags["assetlake/stream"] == "gcp_asset_feed"
    assert request.tags["dagster/max_runtime"] == "3600"  # a run that died frees its slot
    assert _run(request, lake_uri).success

    versions = read_table(Lake(lake_uri), "asset_versions").collect()
    assert versions.height == 40 and versions.get_column("is_current").all()
    assert pl.read_delta(f"{lake_uri}/raw_events").height == 40

    # nothing new: the next tick lands nothing and asks for no run (the consumer caught up)
    again = _tick(lake_uri, streams, result.cursor)
    assert isinstance(again, dg.SensorResult) and not again.run_requests
    assert not again.asset_events


def test_a_redelivered_batch_lands_nothing_twice(pubsub_host: str, tmp_path: Path) -> None:
    lake_uri = str(tmp_path / "lake")
    topic, subscription = pubsub_subscription(pubsub_host, "asset-feed")
    streams = StreamsResource(
        asset_feed_subscription=subscription, pubsub_emulator_host=pubsub_host, keep_polling=False
    )
    pubsub_publish(pubsub_host, topic, [orjson.dumps(feed_message(i)) for i in range(10)])
    first = _tick(lake_uri, streams)
    assert isinstance(first, dg.SensorResult)
    # the same messages published again (a redelivery by another path): landed once
    pubsub_publish(pubsub_host, topic, [orjson.dumps(feed_message(i)) for i in range(10)])
    second = _tick(lake_uri, streams, first.cursor)
    assert isinstance(second, dg.SensorResult) and not second.asset_events
    for request in [*(first.run_requests or []), *(second.run_requests or [])]:
        assert _run(request, lake_uri).success
    assert pl.read_delta(f"{lake_uri}/raw_events").height == 10
    assert pl.read_delta(f"{lake_uri}/asset_changes").height == 10


def test_unconfigured_or_unreachable_sources_skip_with_a_reason(tmp_path: Path) -> None:
    lake_uri = str(tmp_path / "lake")
    skipped = _tick(lake_uri, StreamsResource())
    assert isinstance(skipped, dg.SkipReason)
    assert "ASSETLAKE_ASSET_FEED_SUBSCRIPTION" in (skipped.skip_message or "")
    down = StreamsResource(
        asset_feed_subscription="projects/assetlake-test/subscriptions/feed",
        pubsub_emulator_host="127.0.0.1:9",  # nothing listens there
    )
    result = _tick(lake_uri, down)
    assert isinstance(result, dg.SkipReason) and "pubsub://" in (result.skip_message or "")


def test_a_cursor_that_cannot_be_decoded_resets() -> None:
    assert StreamCursor.decode("{not json") == StreamCursor()
    assert StreamCursor.decode('{"requested": {"x": 3}}').requested == {"x": 3}


def test_a_following_drain_run_resolves_what_lands_while_it_runs(
    pubsub_host: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSETLAKE_DRAIN_FOLLOW_SECONDS", "6")
    lake_uri = str(tmp_path / "lake")
    topic, subscription = pubsub_subscription(pubsub_host, "asset-feed")
    streams = StreamsResource(
        asset_feed_subscription=subscription, pubsub_emulator_host=pubsub_host, keep_polling=False
    )
    pubsub_publish(pubsub_host, topic, [orjson.dumps(feed_message(i)) for i in range(5)])
    first = _tick(lake_uri, streams)
    assert isinstance(first, dg.SensorResult)
    (request,) = first.run_requests or []
    assert request.run_key and "window" in request.run_key
    assert request.tags["dagster/max_runtime"] == "3606"  # its window, then the grace
    runs: list[dg.ExecuteInProcessResult] = []
    follower = threading.Thread(target=lambda: runs.append(_run(request, lake_uri)))
    follower.start()
    time.sleep(2.0)  # the run is following: land more, as the next ticks would
    pubsub_publish(pubsub_host, topic, [orjson.dumps(feed_message(i)) for i in range(5, 12)])
    second = _tick(lake_uri, streams, first.cursor)
    assert isinstance(second, dg.SensorResult)
    for later in second.run_requests or []:  # none within the window; one if it just rolled
        assert later.run_key != request.run_key
    follower.join(timeout=60)
    (run,) = runs
    assert run.success
    logged = [
        m for m in run.get_asset_materialization_events() if m.asset_key.path == ["asset_versions"]
    ]
    assert len(logged) >= 3  # the two landings, reported while following, and the run's total
    assert read_table(Lake(lake_uri), "asset_versions").collect().height == 12


def _consumer_state(url: str, stream: str, durable: str, within_s: float) -> tuple[int, int]:
    """(messages delivered but not acked, messages not delivered yet) of a JetStream consumer,
    once both are 0 or ``within_s`` has passed (JetStream applies acks asynchronously)."""

    async def state() -> tuple[int, int]:
        client = await nats.connect(url)
        try:
            deadline = time.monotonic() + within_s
            while True:
                info = await client.jetstream().consumer_info(stream, durable)
                found = (info.num_ack_pending or 0, info.num_pending or 0)
                if found == (0, 0) or time.monotonic() > deadline:
                    return found
                await asyncio.sleep(0.2)
        finally:
            await client.close()

    return asyncio.run(state())


def test_ticks_that_end_in_the_middle_of_a_burst_strand_nothing(
    nats_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tick ends at its budget while JetStream is still delivering a fetch's batch: what the
    client holds then goes to the next tick, not to the consumer's 60-second ack wait."""
    monkeypatch.setattr(sensor_streams, "TICK_BUDGET_S", 0.05)
    lake_uri = str(tmp_path / "lake")
    unique = time.monotonic_ns()
    stream, subject = f"ASSETLAKE_TICKS_{unique}", f"assetlake.ticks.{unique}"
    count = 8000
    with JetStreamPublisher(nats_url, stream, subject) as publisher:
        for start in range(0, count, 1000):
            bodies = [orjson.dumps(feed_message(i)).decode() for i in range(start, start + 1000)]
            publisher.publish([Record(body, None, "test") for body in bodies])
    streams = StreamsResource(nats_url=nats_url, nats_stream=stream, nats_subject=subject)
    landed, ticks, cursor = 0, 0, None
    while landed < count and ticks < 60:
        context = dg.build_sensor_context(
            cursor=cursor, resources={"lake": LakeResource(uri=lake_uri), "streams": streams}
        )
        result = nats_events_sensor(context)
        assert isinstance(result, dg.SensorResult)
        landed += sum(e.metadata["landed"].value for e in result.asset_events or [])  # type: ignore[union-attr, misc]
        cursor, ticks = result.cursor, ticks + 1
    assert landed == count and ticks > 1  # every message, over several ticks, within seconds
    # nothing waits for the consumer's 60-second ack wait
    assert _consumer_state(nats_url, stream, "assetlake-lake", within_s=15) == (0, 0)
    assert pl.read_delta(f"{lake_uri}/raw_events").height == count
    sensor_streams.forget_source("nats_events_sensor")
