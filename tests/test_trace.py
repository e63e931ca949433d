"""assetlake trace: the journey of an event, or of every change of an asset, through the lake."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pyarrow as pa
import pytest
from click.testing import CliRunner, Result
from deltalake import DeltaTable, write_deltalake

from pipelines.cli import main
from resolvers.drain import drain, land
from resolvers.ingest import Record, read_file, resolve_records
from resolvers.lake.rows import raw_events_table
from resolvers.lake.storage import Lake
from resolvers.lake.tables import ASSET_CHANGES, RAW_EVENTS, UNRESOLVED_EVENTS
from resolvers.lake.writer import LakeWriter
from resolvers.model import Lineage
from resolvers.trace import trace

CORPUS_FILE = "cloud_custodian_tests.cloudtrail.jsonl"
RUN_INSTANCES = "6da8b953-741f-4273-be3f-289b92b4d1fc"  # one RunInstances, two instances
INSTANCE = "arn:aws:ec2:us-west-1:619193117841:instance/i-784cdacd"
COLLIDING = "6589a9eb-59b7-4895-b7ab-962ed3cc257c"  # two records of different content
READ_ID = "11111111-2222-3333-4444-555555555555"
BUCKET = "//storage.googleapis.com/trace-bucket"
OLD_LANDING = dt.datetime(2026, 1, 5, 11, 0, tzinfo=dt.UTC)
READ_RECORD = {
    "eventVersion": "1.08",
    "eventID": READ_ID,
    "eventTime": "2026-01-05T10:00:00Z",
    "eventSource": "ec2.amazonaws.com",
    "eventName": "DescribeInstances",
    "awsRegion": "us-east-1",
    "recipientAccountId": "123456789012",
    "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice"},
    "readOnly": True,
    "eventType": "AwsApiCall",
}


def _bucket(labels: dict[str, str], etag: str = "e1") -> dict[str, Any]:
    data = {"name": "trace-bucket", "location": "US", "labels": labels, "etag": etag}
    return {
        "name": BUCKET,
        "asset_type": "storage.googleapis.com/Bucket",
        "resource": {"discovery_name": "Bucket", "data": data},
    }


def _feed() -> list[dict[str, Any]]:
    """Create, update, then the same state again (a new etag only): no third version."""
    dev, prod, again = (
        _bucket({"env": "dev"}),
        _bucket({"env": "prod"}),
        _bucket({"env": "prod"}, "e2"),
    )
    steps = [
        {"asset": dev, "prior_asset_state": "DOES_NOT_EXIST"},
        {"asset": prod, "prior_asset": dev, "prior_asset_state": "PRESENT"},
        {"asset": again, "prior_asset": prod, "prior_asset_state": "PRESENT"},
    ]
    return [{**m, "window": {"start_time": f"2026-01-05T1{i}:00:00Z"}} for i, m in enumerate(steps)]


def run(*args: str) -> Result:
    """The command line, in-process."""
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def traced(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A lake from a corpus CloudTrail file, a read and a malformed line, and feed messages."""
    folder = tmp_path_factory.mktemp("trace")
    reads = folder / "reads.jsonl"
    reads.write_text(orjson.dumps(READ_RECORD).decode() + '\n{"eventID": broken\n')
    feed = folder / "feed.jsonl"
    feed.write_text("".join(orjson.dumps(m).decode() + "\n" for m in _feed()))
    uri = str(folder / "lake")
    files = [str(corpus / CORPUS_FILE), str(reads), str(feed)]
    result = run("ingest", "--lake", uri, "--offline", *files)
    assert result.exit_code == 0, result.output
    return uri


def _event_ids(uri: str, where: str) -> list[str]:
    result = run("sql", "--lake", uri, "--format", "json", f"SELECT event_id FROM {where}")
    return [row["event_id"] for row in json.loads(result.output)]


def test_a_change_event_shows_its_changes_versions_findings_and_alerts(traced: str) -> None:
    result = trace(Lake(traced), RUN_INSTANCES)
    (record,) = result["records"]
    assert record["classification"] == "change" and record["source"] == "aws_cloudtrail"
    assert record["batch_id"] and record["landed_version"] is not None
    assert {c["asset_key"] for c in result["changes"]} == {
        INSTANCE,
        INSTANCE.replace("i-784cdacd", "i-7b4cdace"),
    }
    assert {(v["asset_key"], v["version"]) for v in result["versions"]} >= {(INSTANCE, 1)}
    assert result["no_version_reason"] is None
    assert {f["effect"] for f in result["findings"]} == {"opened"}
    assert {a["finding_id"] for a in result["alerts"]} == {
        f["finding_id"] for f in result["findings"]
    }
    stages = result["stages"]
    assert stages["event_to_received_s"] > 0 and stages["event_to_version_s"] > 0
    # `assetlake ingest` resolves, then lands and commits in one step
    assert stages["received_to_landed_s"] > 0 and stages["landed_to_resolved_s"] is None
    assert stages["resolved_to_committed_s"] >= 0
    assert record["landed_by"] == "assetlake ingest"


def test_colliding_event_ids_show_each_record(traced: str) -> None:
    records = trace(Lake(traced), COLLIDING)["records"]
    assert len(records) == 2 and len({r["record_hash"] for r in records}) == 2


def test_why_no_version_read_malformed_and_repeat(traced: str) -> None:
    lake = Lake(traced)
    assert trace(lake, READ_ID)["no_version_reason"] == "a read: it changes no asset"
    (malformed,) = _event_ids(traced, "unresolved_events WHERE reason = 'malformed'")
    reason = trace(lake, malformed)["no_version_reason"]
    assert reason.startswith("unresolved (malformed)") and "not JSON" in reason
    (repeat,) = _event_ids(traced, "raw_events WHERE event_time = '2026-01-05T12:00:00Z'")
    assert trace(lake, repeat)["no_version_reason"].startswith("a repeat of the state")


def test_an_asset_shows_its_versions_and_each_change_event(traced: str) -> None:
    result = trace(Lake(traced), BUCKET)
    assert [v["version"] for v in result["versions"]] == [1, 2]
    events = result["events"]
    assert [e["action"] for e in events] == ["create", "update", "update"]
    assert [e["versions"] for e in events] == [[1], [2], None]
    assert events[2]["no_version_reason"].startswith("a repeat")
    text = run("trace", "--lake", traced, BUCKET).output
    assert text.startswith(f"asset {BUCKET}") and text.count("event_id=") == 3


def test_command_line_table_json_and_unknown_id(traced: str) -> None:
    table = run("trace", "--lake", traced, RUN_INSTANCES)
    assert table.exit_code == 0 and "asset changes (2):" in table.output
    assert "findings (2):" in table.output and "stages:" in table.output
    parsed = json.loads(run("trace", "--lake", traced, RUN_INSTANCES, "--format", "json").output)
    assert parsed["kind"] == "event" and parsed["records"][0]["received_at"].endswith("Z")
    unknown = run("trace", "--lake", traced, "no-such-event")
    assert unknown.exit_code == 2 and "no event or asset" in unknown.output


def test_a_drained_record_shows_the_drain_that_resolved_it(lake: Lake, tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_text(orjson.dumps(_feed()[0]).decode() + "\n")
    writer = LakeWriter(lake)
    landed = land(writer, read_file(feed), "gcp_asset_feed")
    drain(writer, "gcp-feed", "gcp_asset_feed")
    (record,) = trace(lake, BUCKET)["events"]
    result = trace(lake, record["event_id"])
    (raw,) = result["records"]
    assert raw["landed_version"] == landed.raw_events_version
    assert [d["consumer"] for d in raw["drains"]] == ["gcp-feed"]
    assert raw["resolved_by"] == "gcp-feed"
    assert result["versions"] and result["stages"]["landed_to_resolved_s"] >= 0


def _older_lake(tmp_path: Path) -> Lake:
    """A lake whose record tables predate the run_id and lineage columns, with one record
    landed in raw_events in that older shape."""
    lake = Lake(str(tmp_path / "lake")).create()
    older: dict[str, pa.Schema] = {}
    for spec in (RAW_EVENTS, ASSET_CHANGES, UNRESOLVED_EVENTS):
        uri = lake.table_uri(spec.name)
        older[spec.name] = pa.schema([f for f in spec.schema if f.name not in spec.added_columns])
        DeltaTable(uri).delete()  # no rows; the table is then replaced by its older shape
        DeltaTable.create(
            uri,
            schema=older[spec.name],
            partition_by=list(spec.partition_by),
            configuration=dict(spec.configuration) or None,
            mode="overwrite",
        )
    landed = resolve_records(_records(_feed()[:1]), lake.salt, "gcp_asset_feed").raw
    rows = raw_events_table(landed, "old-batch", OLD_LANDING)
    write_deltalake(lake.table_uri(RAW_EVENTS.name), rows.select(older[RAW_EVENTS.name].names),
                    mode="append")  # fmt: skip
    return Lake(lake.uri)


def _records(messages: list[dict[str, Any]]) -> list[Record]:
    return [Record(orjson.dumps(m).decode(), m, f"test#{i}") for i, m in enumerate(messages)]


def test_an_older_lake_gains_the_lineage_columns_and_a_run_is_traced(tmp_path: Path) -> None:
    lake = _older_lake(tmp_path)
    assert "run_id" not in DeltaTable(lake.table_uri(RAW_EVENTS.name)).schema().to_arrow().names
    lake.create()
    for spec in (RAW_EVENTS, ASSET_CHANGES, UNRESOLVED_EVENTS):
        names = DeltaTable(lake.table_uri(spec.name)).schema().to_arrow().names
        assert set(spec.added_columns) <= set(names)
    writer = LakeWriter(lake, run_id="run-1234")
    land(writer, _records(_feed()[1:2]), "gcp_asset_feed")
    drain(writer, "gcp-feed", "gcp_asset_feed")
    changes = pl.read_delta(lake.table_uri(ASSET_CHANGES.name)).sort("event_time")
    assert changes.get_column("run_id").to_list() == ["run-1234", "run-1234"]
    # the record landed before lineage: landed when it was received
    assert changes.get_column("landed_at").to_list()[0] == OLD_LANDING
    (old, new) = trace(lake, BUCKET)["events"]
    assert old["landed_at"] == OLD_LANDING and new["landed_at"] > OLD_LANDING
    result = trace(lake, new["event_id"])
    assert result["changes"][0]["run_url"].endswith("/runs/run-1234")
    assert result["changes"][0]["run_id"] == "run-1234"


def test_every_row_of_a_record_carries_its_lineage(lake: Lake) -> None:
    received = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)
    poison = Record("{not json", None, "poison")
    ticked = Lineage(received_at=received, landed_by="gcp_asset_feed_sensor tick T")
    land(LakeWriter(lake), [*_records(_feed()), poison], "gcp_asset_feed", lineage=ticked)
    drain(LakeWriter(lake, run_id="run-9"), "gcp-feed", "gcp_asset_feed")
    raw = pl.read_delta(lake.table_uri(RAW_EVENTS.name))
    assert set(raw.get_column("received_at")) == {received}
    assert set(raw.get_column("landed_by")) == {"gcp_asset_feed_sensor tick T"}
    (landed_at,) = set(raw.get_column("landed_at"))
    assert landed_at > received and raw.get_column("run_id").null_count() == raw.height
    changes = pl.read_delta(lake.table_uri(ASSET_CHANGES.name))
    unresolved = pl.read_delta(lake.table_uri(UNRESOLVED_EVENTS.name))
    assert changes.height == 3 and unresolved.height == 1
    assert set(changes.get_column("run_id")) == {"run-9"}
    for rows in (changes, unresolved):
        assert set(rows.get_column("received_at")) == {received}
        assert set(rows.get_column("landed_at")) == {landed_at}
    # the poison record was refused at landing (no run), its changes later by the drain's run
    assert unresolved.get_column("run_id").to_list() == [None]
    (resolved_at,) = set(changes.get_column("resolved_at"))
    (recorded_at,) = set(changes.get_column("recorded_at"))
    assert landed_at < resolved_at <= recorded_at
    journey = trace(lake, changes.get_column("event_id")[0])
    assert journey["records"][0]["landed_by"] == "gcp_asset_feed_sensor tick T"
    stages = journey["stages"]
    assert stages["received_to_landed_s"] == (landed_at - received).total_seconds()
    assert stages["landed_to_resolved_s"] == (resolved_at - landed_at).total_seconds()
    assert stages["resolved_to_committed_s"] == (recorded_at - resolved_at).total_seconds()
