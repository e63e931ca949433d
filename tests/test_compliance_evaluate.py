"""Evaluation over real Delta tables: intervals end to end, idempotency, incrementality."""

from __future__ import annotations

import copy
import datetime as dt
import random
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest

from resolvers.compliance.evaluate import evaluate
from resolvers.compliance.sinks import AlertConfig
from resolvers.ingest import Record, ingest_files, ingest_records
from resolvers.lake.storage import Lake
from resolvers.lake.tables import FINDINGS
from resolvers.lake.writer import LakeWriter

NO_SINKS = AlertConfig(sinks=())
BUCKET = "//storage.googleapis.com/shared-reports"
ROWS = ["rule_id", "asset_key", "status", "opened_at", "resolved_at", "opened_by_event_id",
        "resolved_by_event_id", "evidence", "frameworks", "finding_id"]  # fmt: skip


def _cai(corpus: Path, line: int) -> dict[str, Any]:
    text = (corpus / "gcp_policy_library_fixtures.cai_assets.jsonl").read_text().splitlines()
    return orjson.loads(text[line - 1])


def feed(
    asset: dict[str, Any], minute: int, name: str | None = None, deleted: bool = False
) -> dict:
    """A Cloud Asset Inventory feed message (TemporalAsset) at 2026-03-01 12:MM."""
    body = copy.deepcopy(asset)
    if name:
        body["name"] = name
    message = {"window": {"startTime": f"2026-03-01T12:{minute:02d}:00Z"}, "asset": body}
    message["priorAssetState"] = "PRESENT"
    if deleted:
        message["deleted"] = True
    return message


def ingest(lake: Lake, messages: list[dict], batch_size: int = 1000) -> None:
    records = [Record(orjson.dumps(m).decode(), m, f"m{i}") for i, m in enumerate(messages)]
    ingest_records(LakeWriter(lake), records, "gcp_asset_feed", batch_size)


def rows(lake: Lake) -> list[dict]:
    frame = lake.scan(FINDINGS.name).select(ROWS).sort("finding_id").collect()
    return frame.to_dicts()


@pytest.fixture
def bucket_story(corpus: Path) -> list[dict]:
    """A bucket made public (allUsers, fixture my-test-bucket) three minutes after it was
    created private (my-third-test-bucket), reverted two minutes later, then deleted."""
    private, public = _cai(corpus, 340), _cai(corpus, 338)
    return [
        feed(private, 0, BUCKET),
        feed(public, 3, BUCKET),
        feed(private, 5, BUCKET),
        feed(private, 9, BUCKET, deleted=True),
    ]


def test_public_for_two_minutes_is_one_resolved_finding(lake: Lake, bucket_story: list) -> None:
    ingest(lake, bucket_story[:3])
    result = evaluate(lake, alerts=NO_SINKS)
    assert result.mode == "full" and result.written >= 1
    [finding] = [r for r in rows(lake) if r["rule_id"] == "gcp-storage-bucket-public-iam"]
    changes = lake.scan("asset_changes").sort("event_time").collect()
    opened_by, resolved_by = changes.get_column("event_id").to_list()[1:3]
    assert finding["status"] == "resolved"
    assert (finding["opened_by_event_id"], finding["resolved_by_event_id"]) == (
        opened_by,
        resolved_by,
    )
    assert finding["resolved_at"] - finding["opened_at"] == dt.timedelta(minutes=2)
    assert finding["frameworks"] == ["cis-gcp-3.0:5.1"]


def test_evaluating_again_changes_nothing(lake: Lake, bucket_story: list) -> None:
    ingest(lake, bucket_story)
    evaluate(lake, alerts=NO_SINKS)
    before, version = rows(lake), lake.table(FINDINGS.name).version()
    again = evaluate(lake, alerts=NO_SINKS)
    full = evaluate(lake, full=True, alerts=NO_SINKS)
    assert (again.written, again.deleted, full.written, full.deleted) == (0, 0, 0, 0)
    assert rows(lake) == before and lake.table(FINDINGS.name).version() == version


def test_findings_do_not_depend_on_batching_or_order(
    tmp_path: Path, bucket_story: list, corpus: Path
) -> None:
    messages = [*bucket_story, feed(_cai(corpus, 262), 1), feed(_cai(corpus, 315), 2)]
    results = []
    for seed, size in ((1, 1000), (2, 1), (3, 2)):
        lake = Lake(str(tmp_path / f"lake{seed}")).create()
        shuffled = messages[:]
        random.Random(seed).shuffle(shuffled)
        for start in range(0, len(shuffled), size):  # batches, each evaluated as it lands
            ingest(lake, shuffled[start : start + size])
            evaluate(lake, alerts=NO_SINKS)
        results.append(rows(lake))
    assert results[0] == results[1] == results[2] and len(results[0]) >= 4


def test_deletion_resolves(lake: Lake, bucket_story: list, corpus: Path) -> None:
    public = _cai(corpus, 338)
    ingest(lake, [feed(public, 0, BUCKET), feed(public, 8, BUCKET, deleted=True)])
    evaluate(lake, alerts=NO_SINKS)
    [finding] = [r for r in rows(lake) if r["rule_id"] == "gcp-storage-bucket-public-iam"]
    assert finding["status"] == "resolved" and finding["resolved_at"].minute == 8


def test_incremental_evaluates_only_what_changed(lake: Lake, corpus: Path) -> None:
    firewalls = [feed(_cai(corpus, line), 0) for line in range(249, 262)]
    ingest(lake, firewalls)
    first = evaluate(lake, alerts=NO_SINKS, margin=dt.timedelta(0))
    ingest(lake, [feed(_cai(corpus, 315), 30)])
    second = evaluate(lake, alerts=NO_SINKS, margin=dt.timedelta(0))
    assert (first.mode, second.mode) == ("full", "incremental")
    assert first.assets == len(firewalls) and second.assets == 1
    assert any(r["rule_id"] == "gcp-sql-instance-public-ip" for r in rows(lake))
    keyed = evaluate(lake, [BUCKET], alerts=NO_SINKS)
    assert (keyed.mode, keyed.written, keyed.deleted) == ("keys", 0, 0)


def test_clock_rule_opens_later_without_a_new_version(lake: Lake, corpus: Path) -> None:
    key = copy.deepcopy(_cai(corpus, 152))  # a USER_MANAGED service account key
    key["resource"]["data"]["validAfterTime"] = "2026-03-01T00:00:00Z"
    ingest(lake, [feed(key, 0)])
    early = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    evaluate(lake, alerts=NO_SINKS, now=early, margin=dt.timedelta(0))
    assert not [r for r in rows(lake) if r["rule_id"] == "gcp-iam-sa-key-not-rotated"]
    later = evaluate(lake, alerts=NO_SINKS, now=early + dt.timedelta(days=60))
    [aged] = [r for r in rows(lake) if r["rule_id"] == "gcp-iam-sa-key-not-rotated"]
    assert later.mode == "incremental" and aged["opened_at"] == dt.datetime(
        2026, 5, 30, tzinfo=dt.UTC
    )


def test_security_group_opened_and_reverted_from_a_cloudtrail_file(
    tmp_path: Path, corpus: Path
) -> None:
    """Stratus Red Team's open-port-22 technique as Invictus captured it: SSH opened to the
    internet at 12:10:08 and revoked at 12:11:57, in a CloudTrail log file."""
    lines = (corpus / "invictus_aws_dataset.cloudtrail.jsonl").read_text().splitlines()
    records = [orjson.loads(lines[n - 1]) for n in (1660, 1663, 1664, 1558, 1712)]
    log = tmp_path / "123837392027_CloudTrail_us-east-1_20230710T1210Z.json"
    log.write_text(orjson.dumps({"Records": records}).decode())
    lake = Lake(str(tmp_path / "lake"))
    ingest_files(lake, [log])
    evaluate(lake, alerts=NO_SINKS)
    [finding] = [r for r in rows(lake) if r["rule_id"] == "aws-event-sg-admin-port-opened"]
    assert (
        finding["asset_key"]
        == "arn:aws:ec2:us-east-1:123837392027:security-group/sg-04cfb7a4712d75b00"
    )
    assert finding["status"] == "resolved"
    assert finding["opened_by_event_id"] == records[2]["eventID"]
    assert finding["resolved_by_event_id"] == records[3]["eventID"]
    assert finding["resolved_at"] - finding["opened_at"] == dt.timedelta(seconds=109)
    assert "cis-aws-3.0:5.2" in finding["frameworks"]
    before = rows(lake)
    evaluate(lake, full=True, alerts=NO_SINKS)  # findings from raw records are their own log
    evaluate(lake, [finding["asset_key"]], alerts=NO_SINKS)
    assert rows(lake) == before


def test_no_lake_is_an_error(tmp_path: Path) -> None:
    from resolvers.errors import LakeError

    with pytest.raises(LakeError):
        evaluate(Lake(str(tmp_path / "none")), alerts=NO_SINKS)


def test_findings_query_reads_the_table(lake: Lake, bucket_story: list) -> None:
    from resolvers.query import findings

    ingest(lake, bucket_story[:2])
    evaluate(lake, alerts=NO_SINKS)
    table = pl.from_arrow(findings(lake, open_only=True, rule="gcp-storage-bucket-public-iam"))
    assert table.height == 1 and table["asset_key"][0] == BUCKET  # type: ignore[index]
