"""Land then drain: what a stream sensor and its run do, without Dagster."""

from __future__ import annotations

from pathlib import Path

import orjson
import polars as pl
import pytest

from resolvers import drain as drain_module
from resolvers.drain import DrainResult, IdleVersions, Unreported, drain, land, watermark
from resolvers.ingest import Record, read_file
from resolvers.lake.storage import Lake
from resolvers.lake.writer import LakeWriter


def _feed(tmp_path: Path, count: int) -> Path:
    lines = [
        orjson.dumps(
            {
                "asset": {
                    "name": f"//storage.googleapis.com/bucket-{i}",
                    "assetType": "storage.googleapis.com/Bucket",
                    "resource": {"data": {"name": f"bucket-{i}", "labels": {"n": str(i)}}},
                },
                "window": {"startTime": f"2026-03-01T10:00:{i:02d}Z"},
                "priorAssetState": "DOES_NOT_EXIST",
            }
        ).decode()
        for i in range(count)
    ]
    path = tmp_path / "feed.jsonl"
    path.write_text("\n".join([*lines, "{not json"]) + "\n")
    return path


def test_land_is_idempotent_and_drain_resolves_each_landed_record_once(
    lake: Lake, tmp_path: Path
) -> None:
    writer = LakeWriter(lake)
    records = read_file(_feed(tmp_path, 8))
    first = land(writer, records[:4], "gcp_asset_feed")
    again = land(writer, records, "gcp_asset_feed")  # a redelivery of the first four, and more
    assert (first.landed, again.landed) == (4, 5)
    assert land(writer, records, "gcp_asset_feed").landed == 0

    drained = drain(writer, "gcp-feed", "gcp_asset_feed", ["gcp_asset_feed"])
    assert drained.records == 9
    assert drained.total("asset_changes") == 8
    assert watermark(writer, "gcp-feed") == drained.to_version
    assert drain(writer, "gcp-feed", "gcp_asset_feed").records == 0

    writer.fold()
    versions = pl.read_delta(lake.table_uri("asset_versions"))
    unresolved = pl.read_delta(lake.table_uri("unresolved_events"))
    assert versions.height == 8 and versions.get_column("is_current").all()
    assert unresolved.get_column("reason").to_list() == ["malformed"]
    assert pl.read_delta(lake.table_uri("raw_events")).height == 9


def test_a_drain_that_died_is_done_again_without_doubling(lake: Lake, tmp_path: Path) -> None:
    writer = LakeWriter(lake)
    land(writer, read_file(_feed(tmp_path, 5)), "gcp_asset_feed")
    drain(writer, "c1", "gcp_asset_feed")
    # a second consumer with no watermark re-reads everything: the derived tables do not change
    before = {
        n: pl.read_delta(lake.table_uri(n)).height for n in ("asset_changes", "asset_observations")
    }
    drain(LakeWriter(Lake(lake.uri)), "c2", "gcp_asset_feed")
    after = {
        n: pl.read_delta(lake.table_uri(n)).height for n in ("asset_changes", "asset_observations")
    }
    assert before == after == {"asset_changes": 5, "asset_observations": 5}


def _trail(count: int) -> list[Record]:
    records = [
        {
            "eventVersion": "1.08",
            "eventID": f"00000000-0000-0000-0000-{i:012d}",
            "eventTime": "2026-03-01T10:00:00Z",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "DescribeInstances",
            "awsRegion": "us-east-1",
            "recipientAccountId": "123456789012",
            "readOnly": True,
        }
        for i in range(count)
    ]
    return [Record(orjson.dumps(r).decode(), r, f"trail#{i}") for i, r in enumerate(records)]


def test_each_consumer_reads_only_its_sources_from_the_change_feed(
    lake: Lake, tmp_path: Path
) -> None:
    writer = LakeWriter(lake)
    feed = read_file(_feed(tmp_path, 6))[:6]
    trail = _trail(5)
    land(writer, [*feed[:3], *trail[:2]], "aws_cloudtrail")
    # first drains read the table, the next ones the change data feed
    firsts = [drain(writer, "feed", "gcp_asset_feed", ["gcp_asset_feed"]).records,
              drain(writer, "trail", "aws_cloudtrail", ["aws_cloudtrail"]).records]  # fmt: skip
    land(writer, [*feed[3:], *trail[2:]], "aws_cloudtrail")
    land(writer, trail[:1], "aws_cloudtrail")  # a redelivery: lands nothing
    seconds = [drain(writer, "feed", "gcp_asset_feed", ["gcp_asset_feed"]).records,
               drain(writer, "trail", "aws_cloudtrail", ["aws_cloudtrail"]).records]  # fmt: skip
    assert (firsts, seconds) == ([3, 2], [3, 3])
    assert drain(writer, "nothing", "aws_cloudtrail", []).records == 0


def test_a_backlog_is_drained_in_slices_each_marked_done(
    lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(drain_module, "SLICE_VERSIONS", 2)
    writer = LakeWriter(lake)
    records = read_file(_feed(tmp_path, 12))[:12]
    land(writer, records[:2], "gcp_asset_feed")
    first = drain(writer, "feed", "gcp_asset_feed")  # the first drain reads the table whole
    for start in range(2, 12, 2):  # five landings: three slices of at most two versions
        land(writer, records[start : start + 2], "gcp_asset_feed")
    backlog = drain(writer, "feed", "gcp_asset_feed")
    assert (first.records, backlog.records, backlog.total("asset_changes")) == (2, 10, 10)
    progress = pl.read_delta(lake.table_uri("drain_progress")).sort("to_version")
    spans = progress.select("from_version", "to_version").rows()
    assert [b - a for a, b in spans[1:]] == [1, 1, 0]  # slices of two, two and one versions
    assert spans[-1][1] == watermark(writer, "feed") == backlog.to_version
    assert drain(writer, "feed", "gcp_asset_feed").records == 0
    changes = pl.read_delta(lake.table_uri("asset_changes"))
    assert changes.height == changes.select("event_id", "asset_key").unique().height == 12


def test_a_following_run_notes_versions_of_other_consumers_now_and_then(
    lake: Lake, tmp_path: Path
) -> None:
    """A stream relayed onto NATS feeds three consumers: a following drain run of an idle one
    does not commit to drain_progress for every landing, and notes what it passed at the end."""
    writer = LakeWriter(lake)
    records = read_file(_feed(tmp_path, 6))
    progress = lambda: pl.read_delta(lake.table_uri("drain_progress"))  # noqa: E731
    commits_before = progress().height
    idle = IdleVersions(writer, "aws")
    looked = []
    for chunk in (records[:2], records[2:4], records[4:]):
        land(writer, chunk, "gcp_asset_feed")
        result = drain(writer, "aws", "aws_cloudtrail", ["aws_cloudtrail"],
                       after=idle.position, note_idle=False)  # fmt: skip
        idle.drained(result)
        looked.append((result.from_version, result.to_version, result.noted_to))
        idle.note(every=3600)  # not yet
    raw_version = lake.table("raw_events").version()
    assert [start for start, _, _ in looked[1:]] == [end + 1 for _, end, _ in looked[:-1]]
    assert all(noted is None for _, _, noted in looked) and looked[-1][1] == raw_version
    assert progress().height == commits_before and watermark(writer, "aws") == -1
    idle.note()  # the end of the run
    assert watermark(writer, "aws") == raw_version
    assert progress().height == commits_before + 1
    # a consumer whose records the versions hold notes them as it drains them
    feed = drain(writer, "feed", "gcp_asset_feed", ["gcp_asset_feed"], note_idle=False)
    assert feed.records == 7 and feed.noted_to == raw_version
    assert watermark(writer, "feed") == raw_version


def test_a_following_run_reports_its_drains_together_at_most_every_second() -> None:
    clock = [100.0]
    unreported = Unreported(clock=lambda: clock[0])
    assert not unreported.due()  # nothing drained, nothing to report

    def drained(start: int, records: int, lag: float) -> DrainResult:
        result = DrainResult("gcp-feed", start, start, records=records)
        result.event_lag_s = {"p50": lag}
        return result

    unreported.add(drained(3, 5, 0.4), 0.2)
    assert unreported.due()  # the first drain of a run is reported at once
    first, seconds = unreported.take()
    assert (first.records, first.from_version, first.to_version, seconds) == (5, 3, 3, 0.2)

    clock[0] += 0.3
    unreported.add(drained(4, 2, 0.3), 0.1)
    clock[0] += 0.3
    unreported.add(drained(5, 0, 0.0), 0.1)  # a drain of other consumers' records only
    unreported.add(drained(6, 4, 0.25), 0.1)
    assert not unreported.due()  # 0.6 s after the last report
    clock[0] += 0.5
    assert unreported.due()
    together, seconds = unreported.take()
    assert (together.records, together.from_version, together.to_version) == (6, 4, 6)
    assert together.event_lag_s == {"p50": 0.25} and round(seconds, 6) == 0.3
    assert not unreported.due()  # nothing left
