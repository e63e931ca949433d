"""S3 log source against a real moto server: incremental listing of a trail's log objects."""

from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from stream_fixtures import (
    assert_landed_once,
    corpus_lines,
    table,
)

from resolvers.drain import drain, land
from resolvers.lake.storage import Lake
from resolvers.lake.writer import LakeWriter
from resolvers.streams.aws import aws_client
from resolvers.streams.base import PullLimits, StreamUnavailable, pump
from resolvers.streams.s3_logs import S3LogsCursor, S3LogSource

pytest_plugins = ["stream_fixtures"]
pytestmark = [pytest.mark.service, pytest.mark.usefixtures("aws_env")]
INVICTUS = "invictus_aws_dataset.cloudtrail.jsonl"
ORG = "AWSLogs/o-abc123def4"
# (account prefix, region, UTC delivery time): an org trail, two accounts, and a non-org trail
FILES = [
    (f"{ORG}/111122223333", "us-east-1", "20260228T2355"),
    (f"{ORG}/111122223333", "us-east-1", "20260301T0005"),
    (f"{ORG}/111122223333", "us-east-1", "20260301T0010"),
    (f"{ORG}/111122223333", "eu-west-1", "20260301T0005"),
    (f"{ORG}/444455556666", "us-east-1", "20260301T0015"),
    ("AWSLogs/777788889999", "us-west-2", "20260301T0020"),
]


def log_key(account_prefix: str, region: str, stamp: str, unique: str = "abcdEFGH1234") -> str:
    """The key CloudTrail gives a log file."""
    account = account_prefix.rsplit("/", 1)[-1]
    day = f"{stamp[:4]}/{stamp[4:6]}/{stamp[6:8]}"
    name = f"{account}_CloudTrail_{region}_{stamp}Z_{unique}.json.gz"
    return f"{account_prefix}/CloudTrail/{region}/{day}/{name}"


def _bucket(endpoint: str) -> str:
    bucket = f"org-trail-{time.monotonic_ns()}"
    aws_client("s3", endpoint).create_bucket(Bucket=bucket)
    return bucket


def _put(endpoint: str, bucket: str, key: str, records: list[dict[str, Any]]) -> None:
    body = gzip.compress(orjson.dumps({"Records": records}))
    aws_client("s3", endpoint).put_object(Bucket=bucket, Key=key, Body=body)


def _trail(endpoint: str, records: list[dict[str, Any]]) -> str:
    """A bucket with the FILES, 50 records each, and a digest file."""
    bucket = _bucket(endpoint)
    for index, (prefix, region, stamp) in enumerate(FILES):
        _put(
            endpoint, bucket, log_key(prefix, region, stamp), records[index * 50 : index * 50 + 50]
        )
    digest = log_key(f"{ORG}/111122223333", "us-east-1", "20260301T0005")
    _put(endpoint, bucket, digest.replace("/CloudTrail/", "/CloudTrail-Digest/"), [])
    return bucket


def _until_empty(lake: Lake, source: S3LogSource, limits: PullLimits) -> list[int]:
    writer = LakeWriter(lake)
    counts = []
    while (result := pump(writer, source, limits)).records:
        counts.append(result.records)
    return counts


def test_every_log_object_of_every_account_and_region_lands_once(
    moto_endpoint: str, corpus: Path, lake: Lake
) -> None:
    records = corpus_lines(corpus, INVICTUS, 400)
    bucket = _trail(moto_endpoint, records)
    source = S3LogSource(bucket, endpoint_url=moto_endpoint)
    assert len(source.region_prefixes()) == 4

    assert _until_empty(lake, source, PullLimits(max_records=120)) == [150, 150]
    assert_landed_once(lake, records[:300])
    state = source.cursor.prefixes[f"{ORG}/111122223333/CloudTrail/us-east-1/"]
    assert state.day == "2026/03/01" and state.last_key.endswith(
        "20260301T0010Z_abcdEFGH1234.json.gz"
    )

    # a new tick from the stored cursor finds nothing new; then a new file and a late one
    resumed = S3LogSource(bucket, endpoint_url=moto_endpoint, cursor=source.cursor.to_json())
    assert pump(LakeWriter(lake), resumed, PullLimits()).records == 0
    _put(
        moto_endpoint,
        bucket,
        log_key(f"{ORG}/111122223333", "us-east-1", "20260301T0030"),
        records[300:350],
    )
    _put(
        moto_endpoint,
        bucket,
        log_key(f"{ORG}/111122223333", "us-east-1", "20260301T0008", "late"),
        records[350:],
    )
    late = pump(LakeWriter(lake), resumed, PullLimits())
    assert (late.messages, late.records, late.landed) == (2, 100, 100)
    assert_landed_once(lake, records)


def test_a_tick_that_dies_before_the_ack_is_done_again_without_doubling(
    moto_endpoint: str, corpus: Path, lake: Lake
) -> None:
    records = corpus_lines(corpus, INVICTUS, 300)
    bucket = _trail(moto_endpoint, records)
    source = S3LogSource(bucket, endpoint_url=moto_endpoint)
    writer = LakeWriter(lake)
    batch = source.pull(PullLimits(max_records=100))
    land(writer, batch.records, source.default_source)  # ... and the tick dies: no ack
    assert not any(state.last_key for state in source.cursor.prefixes.values())
    again = pump(writer, source, PullLimits(max_records=100))
    assert (again.records, again.landed) == (len(batch.records), 0)
    assert sum(_until_empty(lake, source, PullLimits())) == 300 - again.records
    assert_landed_once(lake, records)


def test_unreadable_objects_are_landed_as_poison_and_passed(moto_endpoint: str, lake: Lake) -> None:
    bucket = _bucket(moto_endpoint)
    s3 = aws_client("s3", moto_endpoint)
    prefix = f"{ORG}/111122223333"
    s3.put_object(
        Bucket=bucket, Key=log_key(prefix, "us-east-1", "20260301T0005"), Body=b"\x1f\x8bno"
    )
    s3.put_object(Bucket=bucket, Key=log_key(prefix, "us-east-1", "20260301T0010"), Body=b"[1, 2")
    source = S3LogSource(bucket, endpoint_url=moto_endpoint)
    writer = LakeWriter(lake)
    assert pump(writer, source, PullLimits()).records == 2
    drain(writer, "s3", "aws_cloudtrail")
    unresolved = table(lake, "unresolved_events")
    assert unresolved.get_column("reason").to_list() == ["malformed", "malformed"]
    assert any("not a valid gzip file" in detail for detail in unresolved.get_column("detail"))


def test_a_new_prefix_can_start_at_a_day_and_a_bad_cursor_resets(
    moto_endpoint: str, corpus: Path
) -> None:
    bucket = _trail(moto_endpoint, corpus_lines(corpus, INVICTUS, 300))
    source = S3LogSource(bucket, endpoint_url=moto_endpoint, start_day="2026/03/01")
    assert len(source.pull(PullLimits()).records) == 250  # the file of 28 February is skipped
    assert S3LogsCursor.from_json("{broken") == S3LogsCursor()
    assert S3LogsCursor.from_json('{"version": 99, "prefixes": {}}') == S3LogsCursor()


def test_a_missing_bucket_is_one_clear_line(moto_endpoint: str) -> None:
    with pytest.raises(StreamUnavailable) as missing:
        S3LogSource("no-such-trail-bucket", endpoint_url=moto_endpoint).pull(PullLimits())
    assert str(missing.value).startswith("s3://no-such-trail-bucket/AWSLogs/: NoSuchBucket")
