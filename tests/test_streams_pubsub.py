"""Pub/Sub sources against the real Google Pub/Sub emulator: asset feed and audit-log sink."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from chaos.services import chaos_env, forwarder
from stream_fixtures import (
    PROJECT,
    assert_landed_once,
    corpus_lines,
    feed_message,
    free_port,
    pubsub_clients,
    pubsub_publish,
    pubsub_subscription,
    table,
)

from resolvers.drain import drain, land
from resolvers.errors import InputError
from resolvers.lake.storage import Lake
from resolvers.lake.writer import LakeWriter
from resolvers.streams.base import PullLimits, StreamUnavailable, pump
from resolvers.streams.pubsub import PubSubSource

pytest_plugins = ["stream_fixtures"]
pytestmark = pytest.mark.service
AUDIT = "panther_analysis_rule_tests.gcp_audit.jsonl"


def _drain_all(lake: Lake, source: PubSubSource, limits: PullLimits) -> list[int]:
    writer = LakeWriter(lake)
    counts = []
    while (result := pump(writer, source, limits)).records:
        counts.append(result.records)
    return counts


def test_asset_feed_messages_land_once_and_poison_is_unresolved(
    pubsub_host: str, lake: Lake
) -> None:
    feed = [feed_message(i) for i in range(250)]
    poison = [b"\xff not json", b'{"unknown": 1}', orjson.dumps({"pad": "x" * 9000})]
    topic, subscription = pubsub_subscription(pubsub_host, "asset-feed")
    pubsub_publish(pubsub_host, topic, [orjson.dumps(m) for m in feed] + poison)

    source = PubSubSource(
        subscription, "gcp_asset_feed", emulator_host=pubsub_host, wait_seconds=0.5
    )
    limits = PullLimits(max_records=100, max_record_bytes=8192)
    assert _drain_all(lake, source, limits) == [100, 100, 53]
    source.close()

    drained = drain(LakeWriter(lake), "feed", "gcp_asset_feed")
    assert drained.records == 253 and drained.total("asset_changes") == 250
    assert_landed_once(lake, feed, poison=3)
    unresolved = table(lake, "unresolved_events").sort("reason")
    assert unresolved.get_column("reason").to_list() == [
        "malformed", "malformed", "unrecognised_record"
    ]  # fmt: skip
    assert set(unresolved.get_column("source")) == {"gcp_asset_feed"}


def test_audit_log_redelivered_after_a_crash_lands_nothing_twice(
    pubsub_host: str, corpus: Path, lake: Lake
) -> None:
    entries = corpus_lines(corpus, AUDIT)
    topic, subscription = pubsub_subscription(pubsub_host, "audit-log-sink")
    pubsub_publish(pubsub_host, topic, [orjson.dumps(e) for e in entries])
    source = PubSubSource(
        subscription, "gcp_audit_log", emulator_host=pubsub_host, wait_seconds=0.5
    )
    writer = LakeWriter(lake)

    batch = source.pull(PullLimits())
    assert land(writer, batch.records, source.default_source).landed == len(entries)
    # the tick dies before acking; the ack deadline passing is brought forward to now
    _, subscriber = pubsub_clients(pubsub_host)
    subscriber.modify_ack_deadline(
        subscription=subscription, ack_ids=batch.handles, ack_deadline_seconds=0
    )
    again = pump(writer, source, PullLimits())
    assert (again.records, again.landed, again.acked) == (len(entries), 0, len(entries))
    assert pump(writer, source, PullLimits()).records == 0
    raw = assert_landed_once(lake, entries)
    assert set(raw.get_column("source")) == {"gcp_audit_log"}


def test_the_emulator_host_comes_from_the_environment(
    pubsub_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic, subscription = pubsub_subscription(pubsub_host, "asset-feed-env")
    pubsub_publish(pubsub_host, topic, [orjson.dumps(feed_message(1))])
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_host)
    source = PubSubSource(subscription, wait_seconds=0.5)
    batch = source.pull(PullLimits())
    assert len(batch.records) == 1 and source.ack(batch) == 1
    source.close()


def test_a_subscription_that_is_down_missing_or_misnamed_is_one_clear_line(
    pubsub_host: str,
) -> None:
    closed = f"127.0.0.1:{free_port()}"
    down = PubSubSource(f"{PROJECT}/subscriptions/feed", emulator_host=closed)  # no I/O yet
    started = time.monotonic()
    with pytest.raises(StreamUnavailable) as error:
        down.pull(PullLimits())
    assert time.monotonic() - started < 5
    assert str(error.value).startswith(f"pubsub://{PROJECT}/subscriptions/feed: ServiceUnavailable")
    assert "\n" not in str(error.value)
    missing = PubSubSource(f"{PROJECT}/subscriptions/absent", emulator_host=pubsub_host)
    with pytest.raises(StreamUnavailable, match="NotFound"):
        missing.pull(PullLimits())
    with pytest.raises(InputError):
        PubSubSource("feed-without-project")


def test_a_pull_on_a_slow_link_strands_no_message(
    pubsub_host: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pull that gives up at its client deadline after the server has handed it messages
    leaves them leased, unseen, until the ack deadline (60 s) delivers them again: a burst
    through the full bench lost 100 messages that way for a minute. A pull here asks the server
    to answer at once and waits for its answer, so a server that answers late strands nothing:
    every message arrives in a few seconds, well inside the ack deadline."""
    topic, subscription = pubsub_subscription(pubsub_host, "slow-link")
    pubsub_publish(pubsub_host, topic, [orjson.dumps(feed_message(i)) for i in range(300)])
    monkeypatch.setenv("PYTHONPATH", chaos_env()["PYTHONPATH"])  # for chaos.proxy
    link = forwarder("slow-link", pubsub_host, tmp_path, delay=0.4)
    try:
        source = PubSubSource(subscription, emulator_host=link.address, wait_seconds=0.2)
        received: set[bytes] = set()
        give_up = time.monotonic() + 15.0
        while len(received) < 300 and time.monotonic() < give_up:
            batch = source.pull(PullLimits(max_records=100, max_seconds=0.2))
            received.update(record.payload.encode() for record in batch.records)
            source.ack(batch)
        source.close()
    finally:
        link.stop()
    assert len(received) == 300
