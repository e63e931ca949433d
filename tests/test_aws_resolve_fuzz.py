"""Fuzzing the record parsers: whatever arrives is landed and classified, never a crash.

Records are real corpus records mutated (fields dropped, values of the wrong type, unknown
eventVersion, huge values, CloudTrail's omitted and hidden markers), arbitrary JSON objects,
and truncated JSON lines. Every one goes through the same entry point as ``assetlake ingest``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resolvers.canonical import redact_record
from resolvers.ingest import Record, read_file, resolve_record
from resolvers.model import CLASSIFICATIONS

SALT = b"fuzz"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
FIELDS = ("eventVersion", "eventTime", "eventSource", "eventName", "awsRegion", "eventID",
          "userIdentity", "requestParameters", "responseElements", "recipientAccountId",
          "errorCode", "readOnly", "resources", "additionalEventData", "apiVersion", "detail",
          "protoPayload", "timestamp", "insertId", "resource")  # fmt: skip
INTS = st.integers(-(2**63), 2**64 - 1)  # what orjson parses (records are parsed by orjson)
ODD_VALUES = st.one_of(
    st.none(), st.booleans(), INTS, st.floats(allow_nan=True),
    st.text(max_size=30), st.just("HIDDEN_DUE_TO_SECURITY_REASONS"), st.just("9.99"),
    st.builds(dict, omitted=st.just(True), originalSize=st.just(204800)), st.just("x" * 200_000),
    st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=5), st.text()),
)  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | INTS | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)


def _corpus_records() -> list[dict[str, Any]]:
    records = []
    for pattern in ("*.cloudtrail.jsonl", "*.eventbridge.jsonl", "*.gcp_audit.jsonl"):
        for path in sorted(CORPUS.glob(pattern)):
            lines = path.read_text(encoding="utf-8").splitlines()
            records.extend(json.loads(line) for line in lines[:: max(1, len(lines) // 60)])
    return records


SEEDS = _corpus_records() if CORPUS.is_dir() else [{"eventVersion": "1.08"}]


def check(value: Any, payload: str | None = None) -> None:
    """The invariants every record keeps, whatever it holds."""
    text = payload if payload is not None else orjson.dumps(value).decode()
    batch = resolve_record(Record(text, value, "fuzz"), SALT, "aws_cloudtrail")
    assert len(batch.raw) == 1
    raw = batch.raw[0]
    landed = redact_record(text, value, SALT)[0]  # as received, secrets redacted
    assert raw.classification in CLASSIFICATIONS and raw.payload == landed
    if raw.classification in ("change", "unknown"):
        assert batch.changes or batch.unresolved
    assert "resolver_error" not in {row.reason for row in batch.unresolved}, batch.unresolved
    for change in batch.changes:
        assert change.event_id == raw.event_id and change.asset_key
        assert change.action in ("create", "update", "delete")
    for observation in batch.observations:
        json.loads(observation.config)


def _set_deep(record: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    target: Any = record.get("detail") if isinstance(record.get("detail"), dict) else record
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            return record
        target = target[key]
    target[path[-1]] = value
    return record


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A corpus record with some fields dropped, retyped or made huge."""
    record = json.loads(json.dumps(draw(st.sampled_from(SEEDS))))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(("drop", "retype", "nested")))
        field = draw(st.sampled_from(FIELDS))
        target = record["detail"] if isinstance(record.get("detail"), dict) else record
        if action == "drop":
            target.pop(field, None)
        elif action == "retype":
            target[field] = draw(ODD_VALUES)
        else:
            inner = draw(st.sampled_from(("requestParameters", "userIdentity", "protoPayload")))
            keys = ("bucketName", "instancesSet", "arn", "type", "resourceName", "methodName",
                    "sessionContext")  # fmt: skip
            key = draw(st.sampled_from(keys))
            record = _set_deep(record, [inner, key], draw(ODD_VALUES))
    return record


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_corpus_records(record: dict[str, Any]) -> None:
    """Real records with missing fields, wrong types, huge values: classified, never a crash."""
    check(record)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), ODD_VALUES | JSON, max_size=8))
def test_arbitrary_objects(record: Mapping[str, Any]) -> None:
    """Objects with CloudTrail/audit field names holding anything."""
    check(dict(record))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(SEEDS), st.sampled_from(["0.1", "2.0", "1.99", "", "x"]))
def test_unknown_event_versions(record: dict[str, Any], version: str) -> None:
    """An unknown eventVersion is read like any other."""
    check({**record, "eventVersion": version})


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(SEEDS), st.floats(0.05, 0.95))
def test_truncated_json_lines(tmp_path_factory: pytest.TempPathFactory,
                              record: dict[str, Any], cut: float) -> None:  # fmt: skip
    """A truncated line is landed as malformed, next to the whole lines of its file."""
    text = json.dumps(record)
    folder = tmp_path_factory.mktemp("truncated")
    path = folder / "events.jsonl"
    path.write_text(text + "\n" + text[: int(len(text) * cut)] + "\n", encoding="utf-8")
    records = read_file(path)
    assert len(records) == 2 and records[1].value is None
    batch = resolve_record(records[1], SALT, "aws_cloudtrail")
    assert [u.reason for u in batch.unresolved] == ["malformed"]
    check(records[0].value, records[0].payload)
