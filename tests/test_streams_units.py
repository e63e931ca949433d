"""The stream sources' pure parts, without servers: bodies, cursors, URIs, poison records."""

from __future__ import annotations

import datetime as dt
import gzip
import time
from pathlib import Path

import orjson
import polars as pl
import pytest

from resolvers.drain import drain, land
from resolvers.errors import InputError
from resolvers.lake.storage import Lake
from resolvers.lake.writer import LakeWriter
from resolvers.streams.base import PulledBatch, PullLimits, StreamUnavailable, record_of
from resolvers.streams.relay import publisher_from_uri, source_from_uri
from resolvers.streams.s3_logs import PrefixState, S3LogsCursor, S3LogSource, file_time
from resolvers.streams.s3_objects import log_file_records
from resolvers.streams.sqs import s3_objects_of

KEY = "AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/2026/03/01/111122223333_CloudTrail_us-east-1_20260301T0005Z_x.json.gz"  # noqa: E501


def _notification(key: str, event: str = "ObjectCreated:Put") -> dict[str, object]:
    s3 = {"bucket": {"name": "trail"}, "object": {"key": key}}
    return {"Records": [{"eventSource": "aws:s3", "eventName": event, "s3": s3}]}


def test_notifications_name_the_new_log_objects_only() -> None:
    encoded = KEY.replace("/", "%2F").replace("_x", "_x+y")
    assert s3_objects_of(_notification(encoded)) == [("trail", KEY.replace("_x", "_x y"))]
    assert s3_objects_of(_notification(KEY, "ObjectRemoved:Delete")) == []
    digest = KEY.replace("/CloudTrail/", "/CloudTrail-Digest/")
    assert s3_objects_of(_notification(digest)) == []
    assert s3_objects_of({"Service": "Amazon S3", "Event": "s3:TestEvent"}) == []
    bridge = {"source": "aws.s3", "detail-type": "Object Created",
              "detail": {"bucket": {"name": "trail"}, "object": {"key": KEY}}}  # fmt: skip
    assert s3_objects_of(bridge) == [("trail", KEY)]
    assert s3_objects_of({"detail-type": "AWS API Call via CloudTrail", "detail": {}}) is None
    assert s3_objects_of({"Records": [{"eventVersion": "1.08"}]}) is None


def test_log_files_become_records_and_bad_ones_poison() -> None:
    data = gzip.compress(orjson.dumps({"Records": [{"eventVersion": "1.08"}, {"eventID": "b"}]}))
    records = log_file_records(data, "s3://trail/key", PullLimits())
    assert [r.origin for r in records] == ["s3://trail/key#0", "s3://trail/key#1"]
    assert records[1].value == {"eventID": "b"}
    [corrupt] = log_file_records(b"\x1f\x8bxx", "s3://trail/bad", PullLimits())
    assert corrupt.value is None and "not a valid gzip file" in corrupt.origin


def test_an_oversized_message_becomes_a_small_record_that_is_not_json() -> None:
    record = record_of(
        b'{"a": "' + b"x" * 5000 + b'"}', "sqs://q#1", PullLimits(max_record_bytes=100)
    )
    assert record.value is None and len(record.payload) < 2300
    assert record.payload.startswith("[oversized message: 5009 bytes > 100, sha256 ")
    assert record.origin == "sqs://q#1 (oversized: 5009 bytes > 100)"


def test_the_s3_cursor_round_trips_and_lists_from_lag_before_the_last_key() -> None:
    prefix = KEY.rsplit("/", 4)[0] + "/"
    cursor = S3LogsCursor({prefix: PrefixState(KEY, "2026/03/01", [KEY])}, 12.5, 1)
    assert S3LogsCursor.from_json(cursor.to_json()) == cursor
    source = S3LogSource("trail", cursor=cursor.to_json(), lag=dt.timedelta(minutes=10))
    start = source._start_after(prefix, cursor.prefixes[prefix])
    assert start == f"{prefix}2026/02/28/111122223333_CloudTrail_us-east-1_20260228T2355Z"
    assert file_time(KEY) == dt.datetime(2026, 3, 1, 0, 5, tzinfo=dt.UTC)


def test_relay_uris() -> None:
    assert source_from_uri("sqs://http://127.0.0.1:5000/123456789012/events").queue_url == (
        "http://127.0.0.1:5000/123456789012/events"
    )
    assert source_from_uri("sqs://sqs.eu-west-1.amazonaws.com/123456789012/ev").queue_url == (
        "https://sqs.eu-west-1.amazonaws.com/123456789012/ev"
    )
    audit = source_from_uri("pubsub://projects/p-1/subscriptions/audit?source=gcp_audit_log")
    assert audit.default_source == "gcp_audit_log" and audit.name.endswith("subscriptions/audit")
    publisher = publisher_from_uri("nats://127.0.0.1:4222/EVENTS/assetlake.events")
    assert (publisher.stream, publisher.subject) == ("EVENTS", "assetlake.events")
    for bad in ("nats://127.0.0.1:4222/EVENTS", "kafka://x/y/z"):
        with pytest.raises(InputError):
            publisher_from_uri(bad)


def test_a_body_that_is_a_json_string_drains_to_the_row_it_landed(lake: Lake) -> None:
    writer = LakeWriter(lake)
    land(writer, [record_of(b'"hello"', "sqs://q#1", PullLimits())], "aws_cloudtrail")
    drain(writer, "units", "aws_cloudtrail")
    raw = pl.read_delta(lake.table_uri("raw_events"))
    unresolved = pl.read_delta(lake.table_uri("unresolved_events"))
    assert unresolved.get_column("event_id").to_list() == raw.get_column("event_id").to_list()


def test_an_unavailable_source_is_one_line() -> None:
    error = StreamUnavailable("sqs://q", "cannot reach\n  the endpoint")
    assert str(error) == "sqs://q: cannot reach the endpoint"


class _FakeSource:
    name, default_source, long_polls = "fake://stream", "aws_cloudtrail", False

    def __init__(self, cursor: str | None, fail: bool = False) -> None:
        self.cursor, self.fail, self.closed = cursor, fail, False

    def pull(self, limits: PullLimits) -> PulledBatch:
        if self.fail:
            raise StreamUnavailable(self.name, "broker is down")
        return PulledBatch(self.name)

    def ack(self, batch: object) -> int:
        return 0

    def close(self) -> None:
        self.closed = True


def test_a_sensor_keeps_its_source_from_tick_to_tick_until_settings_or_cursor_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from assets.resources import StreamsResource
    from sensors import streams as sensor_streams

    made: list[_FakeSource] = []

    def make(_streams: StreamsResource, cursor: str | None) -> _FakeSource:
        made.append(_FakeSource(cursor))
        return made[-1]

    monkeypatch.setattr(sensor_streams, "_sources", {})
    spec = sensor_streams.StreamSpec("fake_sensor", make, (), "FAKE", "a fake stream")  # type: ignore[arg-type]
    settings = StreamsResource(nats_url="nats://127.0.0.1:1")
    first = sensor_streams.source_for(spec, settings, None)
    assert sensor_streams.source_for(spec, settings, None) is first and len(made) == 1
    # another cursor (the S3 listing moved) or other settings: a new client, the old one closed
    moved = sensor_streams.source_for(spec, settings, "c1")
    assert moved is made[1] and made[0].closed
    other = sensor_streams.source_for(spec, StreamsResource(nats_url="nats://127.0.0.1:2"), "c1")
    assert other is made[2] and made[1].closed and not made[2].closed
    sensor_streams.forget_source("fake_sensor")
    assert made[2].closed and sensor_streams._sources == {}
    assert sensor_streams.source_for(spec, StreamsResource(), None) is made[3]


def test_a_source_that_fails_a_tick_is_closed_and_the_next_tick_makes_a_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg

    from assets.resources import LakeResource, StreamsResource
    from sensors import streams as sensor_streams

    made: list[_FakeSource] = []

    def make(_streams: StreamsResource, cursor: str | None) -> _FakeSource:
        made.append(_FakeSource(cursor, fail=not made))  # the first client finds it down
        return made[-1]

    monkeypatch.setattr(sensor_streams, "_sources", {})
    spec = sensor_streams.StreamSpec("fake_sensor", make, (), "FAKE", "a fake stream")  # type: ignore[arg-type]
    lake = LakeResource(uri=str(tmp_path / "lake"))
    skipped = sensor_streams.tick(dg.build_sensor_context(), spec, lake, StreamsResource())
    assert isinstance(skipped, dg.SkipReason)
    assert skipped.skip_message == "fake://stream: broker is down"
    assert made[0].closed and sensor_streams._sources == {}
    ticked = sensor_streams.tick(dg.build_sensor_context(), spec, lake, StreamsResource())
    assert isinstance(ticked, dg.SensorResult) and not ticked.run_requests
    assert len(made) == 2 and not made[1].closed
    assert sensor_streams._sources["fake_sensor"][1] is made[1]


class _ScriptedSource:
    """Pulls that return the scripted record counts in turn (then nothing), each empty one
    after waiting as a long poll would when ``long_polls``."""

    name, default_source = "scripted://stream", "aws_cloudtrail"

    def __init__(self, counts: list[int], long_polls: bool) -> None:
        self.counts, self.long_polls, self.pulls, self.acked = list(counts), long_polls, 0, 0

    def pull(self, limits: PullLimits) -> PulledBatch:
        self.pulls += 1
        batch = PulledBatch(self.name)
        count = self.counts.pop(0) if self.counts else 0
        for index in range(count):
            body = orjson.dumps({"unknown": f"{self.long_polls} {self.pulls}-{index}"})
            batch.add([record_of(body, f"{self.name}#{self.pulls}-{index}", limits)], index)
        if not count and self.long_polls:
            time.sleep(0.05)  # the broker held the pull
        return batch

    def ack(self, batch: PulledBatch) -> int:
        self.acked += len(batch.handles)
        return len(batch.handles)

    def close(self) -> None:
        pass


def test_a_tick_keeps_pulling_a_long_polling_source_until_its_budget(lake: Lake) -> None:
    from sensors.streams import pump_for

    waiting = _ScriptedSource([3, 0, 0, 2, 0], long_polls=True)
    results = pump_for(LakeWriter(lake), waiting, budget_s=0.6)
    assert sum(r.landed for r in results) == waiting.acked == 5  # the records after the gap too
    assert waiting.pulls > 5  # and it went on pulling until the budget was spent
    listing = _ScriptedSource([3, 0, 2], long_polls=False)
    results = pump_for(LakeWriter(lake), listing, budget_s=5.0)
    assert (listing.pulls, sum(r.landed for r in results)) == (2, 3)  # an empty listing ends it


def test_the_configured_streams_share_the_daemon_loop() -> None:
    from assets.resources import StreamsResource
    from sensors.streams import MIN_TICK_BUDGET_S, TICK_BUDGET_S, tick_budget

    assert StreamsResource().configured() == 0
    both = StreamsResource(nats_url="nats://127.0.0.1:4222", sqs_queue_url="http://q")
    assert both.configured() == 2
    assert tick_budget(0) == tick_budget(1) == TICK_BUDGET_S
    assert tick_budget(2) == TICK_BUDGET_S / 2
    assert tick_budget(20) == MIN_TICK_BUDGET_S  # many streams: a round of ticks takes longer


def test_a_jetstream_message_names_its_stream_sequence_in_either_ack_form() -> None:
    from nats.aio.msg import Msg

    from resolvers.streams.nats import _stream_sequence

    replies = (
        "$JS.ACK.EVENTS.lake.1.4711.9.1700000000000000000.3",  # the first form
        "$JS.ACK.hub.ACCHASH.EVENTS.lake.2.4712.10.1700000000000000000.0.r4nd",  # with a domain
    )
    for reply in replies:
        message = Msg(_client=None, subject="events", reply=reply)  # type: ignore[arg-type]
        assert _stream_sequence(message) == str(message.metadata.sequence.stream)
    assert [_stream_sequence(Msg(_client=None, reply=r)) for r in replies] == ["4711", "4712"]  # type: ignore[arg-type]
