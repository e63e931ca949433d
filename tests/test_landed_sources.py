"""Drain runs are asked for only for consumers that something was landed for."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from deltalake import write_deltalake
from stream_fixtures import feed_message

from resolvers import landed_sources
from resolvers.drain import land, watermark
from resolvers.ingest import Record
from resolvers.lake.storage import Lake
from resolvers.lake.tables import RAW_EVENTS
from resolvers.lake.writer import LANDED_SOURCES_KEY, LakeWriter
from resolvers.landed_sources import LandedSources, sources_of
from sensors import streams as sensor_streams
from sensors.streams import CONSUMERS, StreamCursor, StreamSpec

FEED, TRAIL = ["gcp_asset_feed"], ["aws_cloudtrail"]


def _trail_event(index: int) -> dict[str, object]:
    return {
        "eventVersion": "1.08",
        "eventID": f"5b4d6e1a-0000-4000-8000-{index:012d}",
        "eventTime": "2026-03-01T10:00:00Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "PutBucketVersioning",
        "awsRegion": "us-east-1",
        "recipientAccountId": "111122223333",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"},
        "requestParameters": {"bucketName": f"bucket-{index}"},
    }


def _records(values: list[dict[str, object]]) -> list[Record]:
    return [Record(orjson.dumps(v).decode(), v, f"test:{n}") for n, v in enumerate(values)]


def _land(writer: LakeWriter, source: str, start: int, count: int = 3) -> int:
    make = feed_message if source == "gcp_asset_feed" else _trail_event
    values = [make(i) for i in range(start, start + count)]
    return land(writer, _records(values), source).raw_events_version


@pytest.fixture()
def writer(tmp_path: Path) -> LakeWriter:
    return LakeWriter(Lake(str(tmp_path / "lake")).create())


def test_raw_events_commits_name_the_sources_they_land(writer: LakeWriter) -> None:
    feed = _land(writer, "gcp_asset_feed", 0)
    trail = _land(writer, "aws_cloudtrail", 0)
    table = writer.lake.table(RAW_EVENTS.name)
    history = {commit["version"]: commit for commit in table.history(2)}
    assert history[feed][LANDED_SOURCES_KEY] == "gcp_asset_feed"
    assert history[trail][LANDED_SOURCES_KEY] == "aws_cloudtrail"
    landed = LandedSources()
    assert landed.may_hold(table, FEED, 1, feed) and not landed.may_hold(table, FEED, trail, trail)
    assert landed.may_hold(table, TRAIL, feed, trail) and not landed.may_hold(table, TRAIL, 0, feed)
    assert not landed.may_hold(table, TRAIL, trail + 1, trail)  # nothing after the last version


def test_commits_without_rows_hold_nothing_and_unknown_ones_anything(writer: LakeWriter) -> None:
    _land(writer, "gcp_asset_feed", 0)
    first = _land(writer, "gcp_asset_feed", 3)
    table = writer.lake.table(RAW_EVENTS.name)
    assert table.optimize.compact()["numFilesRemoved"] == 2  # rewrites files, adds no row
    compacted = writer.lake.table(RAW_EVENTS.name).version()
    assert compacted > first and not LandedSources().may_hold(table, TRAIL, 0, compacted)
    # rows appended by something that does not say what it lands: they may be anyone's
    rows = table.to_pyarrow_dataset().head(1)
    write_deltalake(table, rows.cast(RAW_EVENTS.schema), mode="append")
    foreign = writer.lake.table(RAW_EVENTS.name).version()
    assert LandedSources().may_hold(writer.lake.table(RAW_EVENTS.name), TRAIL, 0, foreign)
    assert sources_of({"operation": "WRITE", LANDED_SOURCES_KEY: "a,b"}) == {"a", "b"}
    assert sources_of({"operation": "WRITE", LANDED_SOURCES_KEY: ""}) == frozenset()
    assert sources_of({"operation": "MERGE", LANDED_SOURCES_KEY: "a"}) is None
    assert sources_of({"operation": "VACUUM END"}) == frozenset()


def test_a_span_too_long_to_read_may_hold_anything(
    writer: LakeWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commits that hold nothing for a consumer, but more of them than are read at a time: the
    span is taken to hold anything, without reading them."""
    last = max(_land(writer, "gcp_asset_feed", start) for start in (0, 3, 6))
    table = writer.lake.table(RAW_EVENTS.name)
    assert not LandedSources().may_hold(table, TRAIL, 1, last)
    monkeypatch.setattr(landed_sources, "MAX_INSPECTED", last - 1)
    read = LandedSources()
    assert read.may_hold(table, TRAIL, 1, last) and not read._known  # nothing was read


def test_only_consumers_with_landed_records_get_a_drain_run(
    writer: LakeWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream carrying every consumer's records (NATS) that lands only feed messages asks
    for one drain run, not one per consumer; idle consumers are moved past what they lag by."""
    monkeypatch.setenv("ASSETLAKE_DRAIN_FOLLOW_SECONDS", "0")
    monkeypatch.setattr(sensor_streams, "_landed", {})
    monkeypatch.setattr(sensor_streams, "IDLE_CATCH_UP_VERSIONS", 3)
    spec = StreamSpec("all_sensor", lambda _s, _c: None, tuple(CONSUMERS), "ALL", "every source")
    version = _land(writer, "gcp_asset_feed", 0)
    requests = sensor_streams.run_requests(writer, spec, StreamCursor())
    assert [r.tags["assetlake/stream"] for r in requests] == ["gcp_asset_feed"]
    assert all(watermark(writer, c) == -1 for c in CONSUMERS)  # 2 versions behind: not yet
    version = _land(writer, "gcp_asset_feed", 10)
    requests = sensor_streams.run_requests(writer, spec, StreamCursor())
    assert [r.tags["assetlake/stream"] for r in requests] == ["gcp_asset_feed"]
    assert watermark(writer, "gcp_asset_feed") == -1  # its drain run moves it
    assert watermark(writer, "aws_cloudtrail") == watermark(writer, "gcp_audit_log") == version
    # the idle consumers' next lag is read from the new commits only
    trail = _land(writer, "aws_cloudtrail", 0)
    requests = sensor_streams.run_requests(writer, spec, StreamCursor())
    assert sorted(r.tags["assetlake/stream"] for r in requests) == TRAIL + FEED
    assert watermark(writer, "gcp_audit_log") == version < trail
