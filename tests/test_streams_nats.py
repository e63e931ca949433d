"""JetStream consumer and the relay against a real nats-server (and moto, the Pub/Sub emulator)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import nats
import orjson
import pytest
from click.testing import CliRunner
from stream_fixtures import (
    assert_landed_once,
    corpus_lines,
    eventbridge,
    feed_message,
    free_port,
    pubsub_publish,
    pubsub_subscription,
    table,
)

from pipelines.cli import main
from resolvers.drain import drain, land
from resolvers.ingest import Record
from resolvers.lake.storage import Lake
from resolvers.lake.writer import LakeWriter
from resolvers.streams.aws import aws_client
from resolvers.streams.base import PullLimits, StreamUnavailable, pump
from resolvers.streams.nats import NatsSource, record_id
from resolvers.streams.nats_publish import JetStreamPublisher
from resolvers.streams.relay import relay
from resolvers.streams.sqs import SqsSource

pytest_plugins = ["stream_fixtures"]
pytestmark = pytest.mark.service
INVICTUS = "invictus_aws_dataset.cloudtrail.jsonl"
STRATUS = "stratus_red_team_detonation_logs.cloudtrail.jsonl"


def _names(kind: str) -> tuple[str, str]:
    unique = time.monotonic_ns()
    return f"ASSETLAKE_{kind.upper()}_{unique}", f"assetlake.{kind}.{unique}"


def _records(values: list[object]) -> list[Record]:
    return [Record(orjson.dumps(v).decode(), v, f"test#{i}") for i, v in enumerate(values)]


def _stream_messages(url: str, stream: str) -> int:
    async def count() -> int:
        client = await nats.connect(url)
        try:
            return (await client.jetstream().stream_info(stream)).state.messages
        finally:
            await client.close()

    return asyncio.run(count())


def test_jetstream_redelivery_after_a_crash_lands_nothing_twice(
    nats_url: str, corpus: Path, lake: Lake
) -> None:
    values = corpus_lines(corpus, INVICTUS, 600)
    stream, subject = _names("consumer")
    poison = [Record("{not json", None, "poison"), Record('{"unknown": 1}', {"unknown": 1}, "p")]
    with JetStreamPublisher(nats_url, stream, subject) as publisher:
        assert publisher.publish([*_records(values), *poison]).stored == len(values) + 2
    writer = LakeWriter(lake)
    with NatsSource(nats_url, stream, subject, "lake", ack_wait=1.0, wait_seconds=0.2) as source:
        batch = source.pull(PullLimits(max_records=400))
        land(writer, batch.records, source.default_source)  # ... and the tick dies: no ack
        assert len(batch.records) == 400
        source.close()  # the process is gone
        time.sleep(1.1)  # ack_wait passes: JetStream delivers those 400 again, then the rest
        results = [pump(writer, source, PullLimits(max_records=400)) for _ in range(3)]
    assert [(r.records, r.acked) for r in results] == [(400, 400), (202, 202), (0, 0)]
    assert results[0].landed == 0 and results[1].landed == 202
    drain(writer, "nats", "aws_cloudtrail")
    assert_landed_once(lake, values, poison=2)
    reasons = table(lake, "unresolved_events").get_column("reason").to_list()
    assert {"malformed", "unrecognised_record"} <= set(reasons)


def test_a_duplicate_publish_is_stored_once(nats_url: str, corpus: Path) -> None:
    records = _records(corpus_lines(corpus, STRATUS, 50))
    stream, subject = _names("dedup")
    with JetStreamPublisher(nats_url, stream, subject) as publisher:
        first, again = publisher.publish(records), publisher.publish(records[:20])
    assert (first.stored, first.duplicates, again.stored, again.duplicates) == (50, 0, 0, 20)
    assert _stream_messages(nats_url, stream) == 50
    # a CloudTrail record has the same id bare or in its EventBridge envelope
    wrapped = eventbridge(records[0].value)
    assert record_id(_records([wrapped])[0]) == record_id(records[0])


def _delete_stream(url: str, stream: str) -> None:
    async def delete() -> None:
        client = await nats.connect(url)
        try:
            await client.jetstream().delete_stream(stream)
        finally:
            await client.close()

    asyncio.run(delete())


def test_a_publish_no_stream_stores_as_asked_is_one_clear_line(nats_url: str) -> None:
    records = _records([{"n": i} for i in range(5)])
    stream, subject = _names("gone")
    with JetStreamPublisher(nats_url, stream, subject) as publisher:
        assert publisher.publish(records[:2]).stored == 2
        assert publisher.publish([]).stored == 0
        _delete_stream(nats_url, stream)  # nothing takes the subject now
        with pytest.raises(StreamUnavailable, match="no stream takes the subject"):
            publisher.publish(records[2:])
    # the subject is another stream's: the stream named holds none of it
    other, other_subject = _names("other")
    with JetStreamPublisher(nats_url, other, other_subject) as owner:
        owner.publish(records[:1])
    with JetStreamPublisher(nats_url, stream, subject) as publisher:
        publisher.publish(records[:1])
    with (
        JetStreamPublisher(nats_url, other, subject, create_stream=False) as misdirected,
        pytest.raises(StreamUnavailable) as error,
    ):
        misdirected.publish(records)
    assert f"stored in stream '{stream}', not '{other}'" in str(error.value)
    assert "\n" not in str(error.value)
    for name in (stream, other):
        _delete_stream(nats_url, name)


@pytest.mark.usefixtures("aws_env")
def test_relay_from_sqs_republishes_after_a_crash_and_the_stream_drops_the_repeats(
    nats_url: str, moto_endpoint: str, corpus: Path, lake: Lake
) -> None:
    events = [eventbridge(r) for r in corpus_lines(corpus, STRATUS, 40)]
    sqs = aws_client("sqs", moto_endpoint)
    queue_url = sqs.create_queue(QueueName=f"relay-{time.monotonic_ns()}")["QueueUrl"]
    for start in range(0, 40, 10):
        entries = [{"Id": str(i), "MessageBody": orjson.dumps(e).decode()} for i, e in
                   enumerate(events[start : start + 10])]  # fmt: skip
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    stream, subject = _names("relay")
    source = SqsSource(queue_url, endpoint_url=moto_endpoint, visibility_timeout=2, wait_seconds=0)
    with JetStreamPublisher(nats_url, stream, subject) as publisher:
        crashed = source.pull(PullLimits())
        assert publisher.publish(crashed.records).stored == 40  # ... and the relay dies: no ack
        time.sleep(2.1)
        result = relay(source, publisher)
    assert (result.records, result.stored, result.duplicates, result.acked) == (40, 0, 40, 40)
    assert _stream_messages(nats_url, stream) == 40
    with NatsSource(nats_url, stream, subject, "lake", wait_seconds=0.2) as consumer:
        assert pump(LakeWriter(lake), consumer, PullLimits()).landed == 40
    assert_landed_once(lake, events)


def test_the_relay_command_moves_a_pubsub_subscription_into_a_stream(
    nats_url: str, pubsub_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic, subscription = pubsub_subscription(pubsub_host, "asset-feed-relay")
    pubsub_publish(pubsub_host, topic, [orjson.dumps(feed_message(i)) for i in range(30)])
    stream, subject = _names("cli")
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_host)
    target = f"{nats_url}/{stream}/{subject}"
    runner = CliRunner()
    result = runner.invoke(main, ["relay", "--from", f"pubsub://{subscription}", "--to", target])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("relayed 30 records (30 messages, 1 batches): 30 stored, 0 dup")
    assert _stream_messages(nats_url, stream) == 30
    bad = runner.invoke(main, ["relay", "--from", "kafka://x", "--to", target])
    assert bad.exit_code == 2 and "expected sqs://QUEUE_URL" in bad.output


def test_a_broker_that_is_down_or_a_missing_stream_is_one_clear_line(nats_url: str) -> None:
    closed = f"nats://127.0.0.1:{free_port()}"
    down = NatsSource(closed, "EVENTS", "events")  # constructing does no I/O
    started = time.monotonic()
    with pytest.raises(StreamUnavailable) as error:
        down.pull(PullLimits())
    assert time.monotonic() - started < 5
    assert (
        str(error.value)
        == f"{closed}/EVENTS/assetlake-lake: cannot connect (no server is listening)"
    )
    with (
        NatsSource(nats_url, "NO_SUCH_STREAM", "nothing") as missing,
        pytest.raises(StreamUnavailable, match="not found"),
    ):
        missing.pull(PullLimits())


def _consumer(url: str, stream: str, durable: str, **config: object) -> tuple[int, int]:
    """Create ``durable`` with ``config`` (JetStream's own names: nats-py's ConsumerConfig has
    no max_batch) if given; its (pending, ack pending) counts."""

    async def run() -> tuple[int, int]:
        client = await nats.connect(url)
        try:
            if config:
                request = {"stream_name": stream, "config": {"durable_name": durable, **config}}
                subject = f"$JS.API.CONSUMER.CREATE.{stream}.{durable}"
                await client.request(subject, orjson.dumps(request), timeout=5)
            info = await client.jetstream().consumer_info(stream, durable)
            return info.num_pending or 0, info.num_ack_pending or 0
        finally:
            await client.close()

    return asyncio.run(run())


def test_pulls_take_every_message_once_in_bounded_batches(nats_url: str, corpus: Path) -> None:
    values = corpus_lines(corpus, INVICTUS, 2500)
    stream, subject = _names("batches")
    with JetStreamPublisher(nats_url, stream, subject) as publisher:
        assert publisher.publish(_records(values)).stored == len(values)
    seen: list[str] = []
    with NatsSource(nats_url, stream, subject, "lake", wait_seconds=0.2) as source:
        sizes = []
        for _ in range(5):
            batch = source.pull(PullLimits(max_records=900))
            sizes.append(len(batch.records))
            seen.extend(record.payload for record in batch.records)
            assert source.ack(batch) == len(batch.records)
    assert sizes == [900, 900, 700, 0, 0]
    assert seen == [orjson.dumps(v).decode() for v in values]  # in stream order, none twice
    assert _consumer(nats_url, stream, "lake") == (0, 0)  # every one delivered and acked


def test_a_pull_the_consumer_refuses_is_one_clear_line(nats_url: str, corpus: Path) -> None:
    stream, subject = _names("refused")
    with JetStreamPublisher(nats_url, stream, subject) as publisher:
        publisher.publish(_records(corpus_lines(corpus, STRATUS, 5)))
    _consumer(nats_url, stream, "small", max_batch=10, ack_policy="explicit")
    with (
        NatsSource(nats_url, stream, subject, "small", wait_seconds=0.2) as source,
        pytest.raises(StreamUnavailable, match="refused a pull: Exceeded MaxRequestBatch"),
    ):
        source.pull(PullLimits(max_records=100))
