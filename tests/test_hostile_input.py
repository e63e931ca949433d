"""Hostile input (tests/hostile.py) through every source: the batch survives, nothing is lost.

Each hostile record is in raw_events and either resolved or in unresolved_events with a
specific reason; the good records mixed into the same batches are all resolved; the Delta
tables read cleanly afterwards; ``assetlake ingest`` of the corpus (10 MB records included)
stays within a bounded peak RSS, printed. docs/hostile-input.md says what each case becomes.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import orjson
import polars as pl
import pytest
from hostile import (
    MB,
    Case,
    array_of_records,
    bad_bytes,
    collisions,
    deep,
    good_records,
    hostile_cases,
    jsonl,
    large,
    seeds,
    shapes,
    times,
    wrong_types,
)
from stream_fixtures import table

from resolvers import ingest as ingest_module
from resolvers import resolution
from resolvers.drain import drain
from resolvers.errors import InputError
from resolvers.guard import MAX_DEPTH
from resolvers.ingest import Record, read_file, record_hash, resolve_record
from resolvers.lake.storage import Lake
from resolvers.lake.writer import LakeWriter
from resolvers.streams import s3_objects
from resolvers.streams.aws import aws_client
from resolvers.streams.base import PullLimits, pump
from resolvers.streams.nats import NatsSource
from resolvers.streams.pubsub import PubSubSource
from resolvers.streams.s3_logs import S3LogSource
from resolvers.streams.sqs import SqsSource

pytest_plugins = ["stream_fixtures"]
SALT = b"hostile"
GENERIC = {"resolver_error"}  # a reason that says a resolver failed, not what is wrong
PEAK_RSS_LIMIT_MB = 1536
COLLIDING = {"hostile-colliding-id", "hostile-colliding-unknown"}  # the collision family's ids
# what every case of a family must become (a reason, or "resolved": changes, no unresolved row)
IMPLAUSIBLE = ("year_9999", "epoch_1970", "year_1900", "before_2006", "next_century")
UNREADABLE_TIMES = ("unparseable", "month_13", "offset_beyond_24h", "epoch_number")
OVERFLOW_TIMES = ("year_9999_west_offset", "year_1_east_offset")
RESOLVED_TIMES = ("offset_plus_14", "offset_odd", "nanoseconds")
NO_TIME = {"cloudtrail": "no_event_time", "eventbridge": "no_event_time",
           "audit": "no_event_time", "feed": "bad_event_time"}  # fmt: skip


def expected(case: Case) -> str | None:
    """The outcome a case must have: a reason, "resolved", or None (any specific outcome)."""
    kind, family, detail = case.name.split(".", 2)
    if family == "deep":  # (the CloudTrail seed names its trail in the replaced request)
        if int(detail) >= MAX_DEPTH:
            return "too_deep"
        return "no_identifier" if kind == "cloudtrail" else "resolved"
    if family == "time":
        if detail in IMPLAUSIBLE:
            return "implausible_event_time"
        if detail in UNREADABLE_TIMES or detail in OVERFLOW_TIMES:
            return NO_TIME[kind]
        if detail in RESOLVED_TIMES:
            return "resolved"
        return None  # empty: the envelope's or the receive time stands in, or none
    if family == "bytes":
        if detail in ("nul_escape", "duplicate_keys", "bom"):
            return "resolved"
        return "malformed"
    if family == "large":
        return "resolved" if kind != "cloudtrail" else "no_identifier"  # its request is replaced
    if family == "collision":
        return "unknown_event" if "unknown" in detail else "resolved"
    if family == "shape":
        if detail.startswith("deep"):
            return "too_deep"
        if detail in ("not_json", "nan_alone", "big_number", "controls"):
            return "malformed"
        return "unrecognised_record"
    return None  # wrong types: whatever is specific (resolved, or the reason of the field)


def outcome(reasons: Iterable[str], changes: int) -> str:
    """'resolved' or the single reason of a record."""
    found = sorted(set(reasons))
    if not found:
        return "resolved" if changes else "landed"
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def cases(corpus: Path) -> list[Case]:
    """The whole hostile corpus (about 1,350 records, 16 MB)."""
    return hostile_cases(corpus)


# -- every case, in process ------------------------------------------------------------------
def test_every_hostile_record_becomes_one_raw_row_and_a_specific_outcome(
    cases: list[Case], tmp_path: Path
) -> None:
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(jsonl([case.body for case in cases]))
    records = read_file(path)
    assert len(records) == len(cases)  # empty lines skipped, no line split or merged
    wrong = []
    for case, record in zip(cases, records, strict=True):
        batch = resolve_record(record, SALT, "aws_cloudtrail")
        assert len(batch.raw) == 1, case.name
        reasons = [u.reason for u in batch.unresolved]
        assert not set(reasons) & GENERIC, (case.name, batch.unresolved)
        assert all(u.detail for u in batch.unresolved), case.name
        got = outcome(reasons, len(batch.changes))
        want = expected(case)
        if want is not None and got != want:
            wrong.append((case.name, want, got, [u.detail for u in batch.unresolved]))
        if got in ("implausible_event_time", "too_deep", "malformed"):
            assert not batch.changes and not batch.observations, case.name
    assert not wrong, wrong[:10]


def test_malformed_details_say_what_is_wrong(cases: list[Case]) -> None:
    details = {}
    for case in cases:
        if case.family in ("bytes", "deep", "time"):
            text = case.body.decode("utf-8", "replace")
            value = None
            with contextlib.suppress(orjson.JSONDecodeError):
                value = orjson.loads(case.body)
            batch = resolve_record(Record(text, value, case.name), SALT, "aws_cloudtrail")
            details[case.name] = " ".join(u.detail for u in batch.unresolved)
    assert "not valid UTF-8" in details["cloudtrail.bytes.invalid_utf8_ff"]
    assert "surrogate" in details["audit.bytes.escaped_lone_surrogate"]
    assert "unexpected end of data" in details["feed.bytes.truncated"]
    assert "nested deeper than" in details["eventbridge.deep.10000"]
    assert "before 2006-01-01" in details["audit.time.year_1900"]
    assert "in the future" in details["feed.time.year_9999"]
    assert "out of range" in details["feed.time.year_9999_west_offset"]


def test_a_log_file_with_one_unparseable_record_keeps_the_others(
    corpus: Path, tmp_path: Path
) -> None:
    """One record of a {"Records": [...]} file too deep for any parser (or invalid UTF-8, or a
    NaN) does not make the whole file one unreadable record."""
    found = seeds(corpus)
    good = [orjson.loads(body) for body in good_records(corpus, 8)]
    bad = [c.body for c in deep("cloudtrail", found["cloudtrail"]) if c.name.endswith("10000")]
    bad += [c.body for c in bad_bytes("cloudtrail", found["cloudtrail"]) if "utf8_ff" in c.name]
    items = [orjson.dumps(g) for g in good[:4]] + bad + [orjson.dumps(g) for g in good[4:]]
    path = tmp_path / "111122223333_CloudTrail_us-east-1_20240501T1000Z_x.json.gz"
    path.write_bytes(gzip.compress(b'\xef\xbb\xbf{"Records": [' + b",\n".join(items) + b"]}"))
    records = read_file(path)
    assert len(records) == 10
    batches = [resolve_record(r, SALT, "aws_cloudtrail") for r in records]
    reasons = [outcome((u.reason for u in b.unresolved), len(b.changes)) for b in batches]
    assert reasons == ["resolved"] * 4 + ["too_deep", "malformed"] + ["resolved"] * 4


def test_a_file_that_is_a_json_array_of_records(corpus: Path, tmp_path: Path) -> None:
    """A top-level array is read item by item, a record deeper than orjson writes included."""
    found = seeds(corpus)
    deep_300 = next(c.body for c in deep("audit", found["audit"]) if c.name.endswith(".300"))
    items = [*good_records(corpus, 3), deep_300, b"42", b"null"]
    path = tmp_path / "array.json"
    path.write_bytes(b"[" + b",".join(items) + b"]")
    records = read_file(path)
    batches = [resolve_record(r, SALT, "aws_cloudtrail") for r in records]
    reasons = [outcome((u.reason for u in b.unresolved), len(b.changes)) for b in batches]
    assert reasons == ["resolved"] * 3 + ["too_deep"] + ["unrecognised_record"] * 2


def test_gzip_garbage_truncation_and_bombs_are_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "MAX_FILE_BYTES", 8 * MB)
    whole = gzip.compress(b'{"Records": []}\n' * 1000)
    files = {
        "garbage.json.gz": b"\x1f\x8b" + bytes(range(256)) * 4,
        "truncated.json.gz": whole[: len(whole) // 2],
        "bomb.json.gz": gzip.compress(b" " * (64 * MB), compresslevel=1),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError) as raised:
            read_file(tmp_path / name)
        message = str(raised.value)
        assert "\n" not in message and "not a valid gzip file" in message, message
    assert "more than 8388608 bytes" in message


def test_a_resolver_that_raises_fails_its_record_not_the_batch(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(resolution, "resolve_audit_entry", broken)
    bodies = good_records(corpus, 4)  # CloudTrail, EventBridge, audit, feed
    records = [Record(b.decode(), orjson.loads(b), f"good#{i}") for i, b in enumerate(bodies)]
    batch = ingest_module.resolve_records(records, SALT, "aws_cloudtrail")
    assert len(batch.raw) == 4 and len(batch.changes) >= 3  # the others resolved
    (failed,) = batch.unresolved
    assert failed.reason == "resolver_error" and "RuntimeError: boom" in failed.detail
    raw = next(r for r in batch.raw if r.event_id == failed.event_id)
    assert raw.payload == records[2].payload  # landed as received, so a drain reads it again


def test_colliding_event_ids_keep_every_records_rows(corpus: Path, tmp_path: Path) -> None:
    from resolvers.ingest import ingest_files

    seed = seeds(corpus)["cloudtrail"]
    same = [{**seed, "eventID": "same", "sourceIPAddress": ip} for ip in ("1.1.1.1", "2.2.2.2")]
    unknown = {**seed, "eventID": "same-u", "eventSource": "widgets.amazonaws.com"}
    accounts = [{**unknown, "recipientAccountId": a} for a in ("111111111111", "222222222222")]
    path = tmp_path / "collisions.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in [*same, *accounts]))
    lake = Lake(str(tmp_path / "lake"))
    ingest_files(lake, [path])
    assert table(lake, "raw_events").height == 4
    # one change row per (event_id, asset_key), the contract's key: the event's first record
    changes = table(lake, "asset_changes").filter(pl.col("event_id") == "same")
    assert changes.height == len(changes.get_column("asset_key").unique())
    assert set(changes.get_column("source_ip")) == {"1.1.1.1"}
    unresolved = table(lake, "unresolved_events").filter(pl.col("event_id") == "same-u")
    assert unresolved.height == 2 and unresolved.get_column("record_hash").n_unique() == 2
    ingest_files(lake, [path])  # and again: nothing new
    assert table(lake, "unresolved_events").height == 2


# -- assetlake ingest, in a child process: peak RSS ------------------------------------------
CHILD = """
import resource, sys
from pipelines.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print("PEAK_RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def _log_file(items: list[bytes]) -> bytes:
    return gzip.compress(b'{"Records": [' + b",".join(items) + b"]}")


def test_assetlake_ingest_of_the_hostile_corpus_survives_in_bounded_memory(
    corpus: Path, cases: list[Case], tmp_path: Path
) -> None:
    found = seeds(corpus)
    good, extra = good_records(corpus, 40), good_records(corpus, 44)[40:]
    elsewhere = {**found["cloudtrail"], "awsRegion": "eu-west-3"}  # not a case of the corpus
    other_deep = {int(c.name.rsplit(".", 1)[1]): c.body for c in deep("cloudtrail", elsewhere)}
    huge = [case.body for kind in ("cloudtrail", "audit", "feed")
            for case in large(kind, found[kind], (10 * MB,))]  # fmt: skip
    mixed = [body for pair in zip(good, [c.body for c in cases[:40]], strict=True) for body in pair]
    files = {
        "hostile.jsonl": jsonl(mixed + [c.body for c in cases[40:]]),
        "large.jsonl": jsonl(huge),
        # a log file whose records are JSON one by one but not as a whole (split), and one that
        # is JSON but holds a record deeper than orjson writes (255 levels); records of their own
        "broken_CloudTrail_x.json.gz": _log_file(
            [extra[0], other_deep[1100], b'{"eventVersion": NaN}', extra[1]]
        ),
        "deep_CloudTrail_x.json.gz": _log_file([extra[2], other_deep[300]]),
    }
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    sent = len(mixed) + len(cases) - 40 + len(huge) + 4 + 2
    lake_uri = str(tmp_path / "lake")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    started = time.monotonic()
    child = subprocess.run(
        [sys.executable, "-c", CHILD, "ingest", "--offline", "--lake", lake_uri, *paths],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr[-3000:]
    peak_mb = int(child.stderr.split("PEAK_RSS_KB")[1].split()[0]) / 1024
    input_mb = sum(len(d) for d in files.values()) / MB
    print(
        f"\nassetlake ingest of the hostile corpus: {sent} records, {input_mb:.1f} MB of files, "
        f"peak RSS {peak_mb:.0f} MB, {time.monotonic() - started:.1f} s"
    )
    assert peak_mb < PEAK_RSS_LIMIT_MB

    lake = Lake(lake_uri)
    raw = table(lake, "raw_events")
    assert raw.height == sent  # every record landed, once
    assert raw.select("event_id", "record_hash").unique().height == raw.height
    changes, unresolved = table(lake, "asset_changes"), table(lake, "unresolved_events")
    resolved_ids = set(changes.get_column("event_id"))
    good_ids = {_event_id(orjson.loads(body)) for body in good + extra[:3]}
    assert good_ids <= resolved_ids  # the good records of the batches all resolved
    colliding = changes.filter(pl.col("event_id") == "hostile-colliding-id")
    assert colliding.get_column("account_id").n_unique() == 3  # one id, three accounts: all in
    _assert_accounted(raw, changes, unresolved)
    for name in ("asset_versions", "asset_observations", "findings"):
        table(lake, name)  # readable


def _event_id(value: dict) -> str:
    if "eventID" in value:
        return value["eventID"]
    if isinstance(value.get("detail"), dict):
        return value["detail"]["eventID"]
    if "insertId" in value:
        return value["insertId"]
    return "cai-" + record_hash(Record(orjson.dumps(value).decode(), value, "good"))


def _assert_accounted(raw: pl.DataFrame, changes: pl.DataFrame, unresolved: pl.DataFrame) -> None:
    """Invariant 5 and specific reasons: every change or unknown record is resolved or has a
    reason; no reason says only that a resolver failed."""
    assert not set(unresolved.get_column("reason")) & GENERIC
    assert unresolved.filter(pl.col("detail").str.len_chars() == 0).is_empty()
    ids = raw.get_column("event_id")
    shared = set(ids.filter(ids.is_duplicated()))
    assert shared <= COLLIDING, sorted(shared - COLLIDING)[:10]  # every other record: its own id
    accounted = set(changes.get_column("event_id")) | set(unresolved.get_column("event_id"))
    needing = raw.filter(pl.col("classification").is_in(["change", "unknown"]))
    missing = set(needing.get_column("event_id")) - accounted
    assert not missing, sorted(missing)[:10]


# -- the streams: land, then drain ---------------------------------------------------------------
def stream_cases(corpus: Path) -> list[Case]:
    """The stream share of the corpus: every family, wrong types of top-level fields only."""
    found = seeds(corpus)
    out: list[Case] = []
    for kind, seed in found.items():
        out += [*wrong_types(kind, seed, depth=1), *deep(kind, seed), *times(kind, seed)]
        out += bad_bytes(kind, seed)
    out += [*collisions(found["cloudtrail"]), *shapes(), array_of_records(found["cloudtrail"])]
    return out


def _check_drained(lake: Lake, sent: int, good: list[bytes], oversized: int = 0) -> None:
    drain(LakeWriter(lake), "hostile", "aws_cloudtrail")
    raw = table(lake, "raw_events")
    assert raw.height == sent
    changes, unresolved = table(lake, "asset_changes"), table(lake, "unresolved_events")
    assert {_event_id(orjson.loads(b)) for b in good} <= set(changes.get_column("event_id"))
    _assert_accounted(raw, changes, unresolved)
    stand_ins = unresolved.filter(pl.col("detail").str.contains("oversized message"))
    assert stand_ins.height == oversized
    again = drain(LakeWriter(lake), "hostile-again", "aws_cloudtrail")  # a second consumer
    assert again.total("unresolved_events") == 0 and again.total("asset_changes") == 0


def _mixed(corpus: Path, cases: list[Case]) -> tuple[list[bytes], list[bytes]]:
    good = good_records(corpus, 12)
    bodies = [c.body for c in cases]
    step = len(bodies) // len(good) + 1
    mixed = []
    for index, body in enumerate(good):
        mixed += [body, *bodies[index * step : (index + 1) * step]]
    return good, mixed


def _sqs_sendable(body: bytes) -> bool:
    """What SQS accepts as a message body (valid UTF-8 of the XML character range)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c in "\t\n\r" or "\x20" <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd"
               or c >= "\U00010000" for c in text)  # fmt: skip


@pytest.mark.service
@pytest.mark.usefixtures("aws_env")
def test_sqs_hostile_bodies_and_forged_notifications(
    moto_endpoint: str, corpus: Path, lake: Lake
) -> None:
    # what an SQS queue carries: EventBridge events (every family), and a share of the rest
    # (moto receives about 20 messages a second)
    shares = [
        c for c in stream_cases(corpus) if c.kind == "eventbridge" or c.family != "wrong_type"
    ]
    cases = [c for c in shares if _sqs_sendable(c.body)]
    good, mixed = _mixed(corpus, cases)
    forged = [
        {"source": "aws.s3", "detail-type": "Object Created", "detail": ["not", "an", "object"]},
        {"source": "aws.s3", "detail-type": "Object Created", "detail": {"bucket": "b"}},
        {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": 7}]},
        {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                      "s3": {"bucket": {"name": ["b"]}, "object": {"key": {"k": 1}}}}]},
    ]  # fmt: skip
    bodies = [*mixed, *(orjson.dumps(f) for f in forged), b"x" * 200_001, b"y" * 200_000]
    sqs = aws_client("sqs", moto_endpoint)
    queue = sqs.create_queue(QueueName=f"hostile-{time.monotonic_ns()}")["QueueUrl"]
    for start in range(0, len(bodies), 10):
        entries = [{"Id": str(i), "MessageBody": b.decode()}
                   for i, b in enumerate(bodies[start : start + 10])]  # fmt: skip
        assert not sqs.send_message_batch(QueueUrl=queue, Entries=entries).get("Failed")
    source = SqsSource(queue, endpoint_url=moto_endpoint, wait_seconds=0)
    limits = PullLimits(max_records=200, max_record_bytes=200_000)
    writer = LakeWriter(lake)
    while pump(writer, source, limits).messages:
        pass
    _check_drained(lake, len(bodies), good, oversized=1)


@pytest.mark.service
def test_pubsub_hostile_bodies(pubsub_host: str, corpus: Path, lake: Lake) -> None:
    from stream_fixtures import pubsub_publish, pubsub_subscription

    good, mixed = _mixed(corpus, stream_cases(corpus))
    bodies = [*mixed, b"z" * (MB + 1), b"w" * MB]
    topic, subscription = pubsub_subscription(pubsub_host, "hostile")
    pubsub_publish(pubsub_host, topic, bodies)
    source = PubSubSource(
        subscription, "gcp_audit_log", emulator_host=pubsub_host, wait_seconds=0.5
    )
    writer = LakeWriter(lake)
    while pump(writer, source, PullLimits(max_records=300)).records:
        pass
    source.close()
    _check_drained(lake, len(bodies), good, oversized=1)


@pytest.mark.service
def test_nats_hostile_bodies(nats_url: str, corpus: Path, lake: Lake) -> None:
    import asyncio

    import nats

    good, mixed = _mixed(corpus, stream_cases(corpus))
    bodies = [*mixed, b"", b"z" * (256 * 1024 + 1)]
    unique = time.monotonic_ns()
    stream, subject = f"HOSTILE_{unique}", f"assetlake.hostile.{unique}"

    async def publish() -> None:
        client = await nats.connect(nats_url)
        try:
            jetstream = client.jetstream()
            await jetstream.add_stream(name=stream, subjects=[subject])
            for body in bodies:
                await jetstream.publish(subject, body)
        finally:
            await client.close()

    asyncio.run(publish())
    writer = LakeWriter(lake)
    source = NatsSource(nats_url, stream, subject, "lake", wait_seconds=0.2)
    with source:
        limits = PullLimits(max_records=300, max_record_bytes=256 * 1024)
        while pump(writer, source, limits).records:
            pass
    _check_drained(lake, len(bodies), good, oversized=1)


@pytest.mark.service
@pytest.mark.usefixtures("aws_env")
def test_s3_log_objects_hostile(
    moto_endpoint: str, corpus: Path, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_objects, "MAX_LOG_OBJECT_BYTES", 8 * MB)
    cases = stream_cases(corpus)
    good = good_records(corpus, 12)
    parseable = [c.body for c in cases if _parses(c.body)]
    # records that are not JSON on their own but keep their brackets balanced (invalid UTF-8,
    # NaN, too deep, a BOM) are cut out of their file; a truncated one is cut at the file's end
    balanced = [c.body for c in cases if not _parses(c.body) and _balanced(c.body)]
    unbalanced = [c.body for c in cases if not _parses(c.body) and not _balanced(c.body)]
    objects = {
        "a": _log_file([good[0], *parseable[:200], good[1], *parseable[200:], good[2]]),
        "b": _log_file([good[3], *balanced, good[4]]),  # cut into its records
        "c": b"\xef\xbb\xbf" + b'{"Records": [' + good[5] + b"]}",  # a BOM, not gzip
        "d": b"\x1f\x8b" + b"garbage" * 100,
        "e": _log_file(good[6:7])[:40],  # truncated
        "f": gzip.compress(b" " * (64 * MB), compresslevel=1),  # a bomb: refused at 8 MB
        "g": b"this is not a log file",
    }
    for index, body in enumerate(unbalanced):
        objects[f"u{index}"] = _log_file([good[7], body])  # a truncated record ends its file
    s3 = aws_client("s3", moto_endpoint)
    bucket = f"hostile-trail-{time.monotonic_ns()}"
    s3.create_bucket(Bucket=bucket)
    prefix = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/"
    for index, (name, data) in enumerate(objects.items()):
        suffix = ".json" if name in ("c", "g") else ".json.gz"
        stamp = f"20240501T{index // 60:02d}{index % 60:02d}"
        key = f"{prefix}111122223333_CloudTrail_us-east-1_{stamp}Z_{name}{suffix}"
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    source = S3LogSource(bucket, endpoint_url=moto_endpoint)
    writer = LakeWriter(lake)
    while pump(writer, source, PullLimits(max_records=400)).records:
        pass
    sent = 3 + len(parseable) + 2 + len(balanced) + 1 + 4 + 1 + len(unbalanced)  # d-g: stand-ins
    _check_drained(lake, sent, good[:6] + good[7:8])  # good[6] is in the truncated object
    poison = table(lake, "unresolved_events").filter(pl.col("detail").str.contains("gzip"))
    assert poison.height == 3  # garbage, truncated, bomb
    assert any("more than 8388608 bytes" in d for d in poison.get_column("detail"))


def _balanced(body: bytes) -> bool:
    from resolvers.guard import split_records

    return split_records(b'{"Records": [' + body + b"]}") == [body.strip()]


def _parses(body: bytes) -> bool:
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return True
