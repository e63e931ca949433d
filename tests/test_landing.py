"""Landing resolves only the raw row: it must be the very row a full resolution gives.

A stream sensor lands records with ``resolve_records(..., raw_only=True)`` (no configurations,
no changes); the drain resolves them fully later, and raw_events keeps what the landing wrote.
So for every record — the whole corpus, feed messages with creations, updates and deletions,
and the hostile corpus — the raw-only row equals the full resolution's, and so do the reasons
of the records landing refuses (``malformed``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import orjson
import pytest
from hostile import hostile_cases

from resolvers.bench.feed import FeedGenerator
from resolvers.drain import land
from resolvers.ingest import Record, read_file, resolve_record
from resolvers.lake.storage import Lake
from resolvers.lake.writer import LakeWriter

SALT = b"landing-test"


def _corpus_records(corpus: Path) -> list[Record]:
    records = []
    for path in sorted(corpus.glob("*.jsonl")):
        records.extend(read_file(path))
    return records


def _feed_records() -> list[Record]:
    generator = FeedGenerator(500, 3, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    texts = generator.batch(3000)  # creations, updates and deletions (with their prior state)
    return [Record(text, orjson.loads(text), f"feed#{n}") for n, text in enumerate(texts)]


def _hostile_records(corpus: Path, tmp_path: Path) -> list[Record]:
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(case.body for case in hostile_cases(corpus)) + b"\n")
    return read_file(path)


@pytest.mark.parametrize("kind", ["corpus", "feed", "hostile"])
def test_the_landed_row_is_the_fully_resolved_row(kind: str, corpus: Path, tmp_path: Path) -> None:
    records = {
        "corpus": lambda: _corpus_records(corpus),
        "feed": _feed_records,
        "hostile": lambda: _hostile_records(corpus, tmp_path),
    }[kind]()
    assert len(records) > 1000
    differ = []
    for record in records:
        full = resolve_record(record, SALT, "aws_cloudtrail")
        landed = resolve_record(record, SALT, "aws_cloudtrail", raw_only=True)
        refused = [u for u in full.unresolved if u.reason == "malformed"]
        if landed.raw != full.raw or [u for u in landed.unresolved if u.reason == "malformed"] != (
            refused
        ):
            differ.append(record.origin)
        if full.raw[0].source != "gcp_audit_log":  # audit entries are small: resolved whole
            assert not landed.changes and not landed.observations, record.origin
    assert not differ, differ[:5]


def test_landing_then_draining_gives_what_one_ingest_gives(corpus: Path, tmp_path: Path) -> None:
    records = _feed_records()[:1500]
    landed, ingested = Lake(str(tmp_path / "landed")).create(), Lake(str(tmp_path / "ingested"))
    from resolvers.drain import drain
    from resolvers.ingest import ingest_records

    writer = LakeWriter(landed)
    land(writer, records, "gcp_asset_feed")
    drain(writer, "feed", "gcp_asset_feed")
    ingested.create()
    ingest_records(LakeWriter(ingested), records, "gcp_asset_feed")
    content = ["event_id", "account_id", "region", "event_time", "classification", "record_hash"]
    for name, columns in (("raw_events", content), ("asset_changes", ["event_id", "asset_key"])):
        rows = [
            sorted(map(tuple, Lake(lake.uri).scan(name).select(columns).collect().rows()))
            for lake in (landed, ingested)
        ]
        assert rows[0] == rows[1], name
