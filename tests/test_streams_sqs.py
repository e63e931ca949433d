"""SQS source against a real moto server: EventBridge events, S3 notifications, poison, crashes."""

from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from stream_fixtures import (
    assert_landed_once,
    content_ids,
    corpus_lines,
    eventbridge,
    free_port,
    table,
)

from resolvers.drain import drain, land
from resolvers.lake.storage import Lake
from resolvers.lake.writer import LakeWriter
from resolvers.streams.aws import aws_client
from resolvers.streams.base import PullLimits, StreamUnavailable, pump
from resolvers.streams.sqs import SqsSource

pytest_plugins = ["stream_fixtures"]
pytestmark = [pytest.mark.service, pytest.mark.usefixtures("aws_env")]
STRATUS = "stratus_red_team_detonation_logs.cloudtrail.jsonl"
INVICTUS = "invictus_aws_dataset.cloudtrail.jsonl"
EVENTBRIDGE = "cloud_custodian_tests.eventbridge.jsonl"
LOG_KEY = "AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/2026/03/01/"


def _queue(endpoint: str, name: str) -> str:
    sqs = aws_client("sqs", endpoint)
    return sqs.create_queue(QueueName=f"{name}-{time.monotonic_ns()}")["QueueUrl"]


def _send(endpoint: str, queue_url: str, bodies: list[str]) -> None:
    sqs = aws_client("sqs", endpoint)
    for start in range(0, len(bodies), 10):
        entries = [
            {"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start : start + 10])
        ]
        assert not sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed")


def _in_flight(endpoint: str, queue_url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    sqs = aws_client("sqs", endpoint)
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def _source(endpoint: str, queue_url: str, visibility: int = 30) -> SqsSource:
    return SqsSource(
        queue_url, endpoint_url=endpoint, visibility_timeout=visibility, wait_seconds=0
    )


def test_eventbridge_events_land_once_and_poison_is_landed_unresolved_and_acked(
    moto_endpoint: str, corpus: Path, lake: Lake
) -> None:
    events = corpus_lines(corpus, EVENTBRIDGE) + [
        eventbridge(r) for r in corpus_lines(corpus, STRATUS, 25)
    ]
    poison = [
        "{not json",
        orjson.dumps({"hello": "world"}).decode(),
        '{"pad": "' + "x" * 9000 + '"}',
    ]
    queue_url = _queue(moto_endpoint, "eventbridge")
    _send(moto_endpoint, queue_url, [orjson.dumps(e).decode() for e in events] + poison)

    writer = LakeWriter(lake)
    limits = PullLimits(max_records=20, max_record_bytes=8192)
    results = [pump(writer, _source(moto_endpoint, queue_url), limits) for _ in range(4)]
    assert [r.records for r in results] == [20, 19, 0, 0]  # 36 events + 3 poison, 20 a tick
    assert sum(r.acked for r in results) == 39 and _in_flight(moto_endpoint, queue_url) == 0

    drain(writer, "sqs", "aws_cloudtrail")
    raw = table(lake, "raw_events")
    assert raw.height == len(set(content_ids(events, lake.salt))) + 3
    assert set(content_ids(events, lake.salt)) <= set(raw.get_column("record_hash"))
    unresolved = table(lake, "unresolved_events")
    poison_rows = unresolved.filter(unresolved["reason"] != "no_resolver").sort("reason")
    assert poison_rows.get_column("reason").to_list() == [
        "malformed", "malformed", "unrecognised_record"
    ]  # fmt: skip
    assert any("oversized: 9011 bytes > 8192" in d for d in poison_rows.get_column("detail"))


def test_a_crash_between_land_and_ack_lands_nothing_twice_after_redelivery(
    moto_endpoint: str, corpus: Path, lake: Lake
) -> None:
    events = [eventbridge(r) for r in corpus_lines(corpus, STRATUS, 30)]
    queue_url = _queue(moto_endpoint, "crash")
    _send(moto_endpoint, queue_url, [orjson.dumps(e).decode() for e in events])
    writer = LakeWriter(lake)
    source = _source(moto_endpoint, queue_url, visibility=2)

    batch = source.pull(PullLimits())
    first = land(writer, batch.records, source.default_source)  # ... and the tick dies: no ack
    assert first.landed == first.records == 30
    time.sleep(2.1)  # the visibility timeout passes: every message is delivered again
    again = pump(writer, source, PullLimits())
    assert (again.records, again.landed, again.acked) == (30, 0, 30)
    assert _in_flight(moto_endpoint, queue_url) == 0
    assert_landed_once(lake, events)


def _log_file(records: list[dict[str, Any]]) -> bytes:
    return gzip.compress(orjson.dumps({"Records": records}))


def _notifying_bucket(endpoint: str, bucket: str, queue_url: str, via_sns: bool) -> None:
    """A bucket that notifies the queue of new objects, directly or through an SNS topic."""
    s3, sqs = aws_client("s3", endpoint), aws_client("sqs", endpoint)
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    queue_arn = queue_arn["Attributes"]["QueueArn"]
    s3.create_bucket(Bucket=bucket)
    events = ["s3:ObjectCreated:*"]
    if via_sns:
        sns = aws_client("sns", endpoint)
        topic = sns.create_topic(Name=f"{bucket}-topic")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        config = {"TopicConfigurations": [{"TopicArn": topic, "Events": events}]}
    else:
        config = {"QueueConfigurations": [{"QueueArn": queue_arn, "Events": events}]}
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)


@pytest.mark.parametrize("via_sns", [False, True], ids=["raw", "sns"])
def test_s3_notifications_fetch_the_new_log_objects(
    moto_endpoint: str, corpus: Path, lake: Lake, via_sns: bool
) -> None:
    records = corpus_lines(corpus, INVICTUS, 300)
    queue_url = _queue(moto_endpoint, "notify")
    bucket = f"trail-{'sns' if via_sns else 'raw'}-{time.monotonic_ns()}"
    _notifying_bucket(moto_endpoint, bucket, queue_url, via_sns)
    s3 = aws_client("s3", moto_endpoint)
    keys = [
        f"{LOG_KEY}111122223333_CloudTrail_us-east-1_20260301T10{m}5Z_a b.json.gz" for m in "01"
    ]
    s3.put_object(Bucket=bucket, Key=keys[0], Body=_log_file(records[:120]))
    s3.put_object(Bucket=bucket, Key=keys[1], Body=_log_file(records[120:]))
    digest = LOG_KEY.replace("/CloudTrail/", "/CloudTrail-Digest/") + "digest.json.gz"
    s3.put_object(Bucket=bucket, Key=digest, Body=b"{}")

    result = pump(LakeWriter(lake), _source(moto_endpoint, queue_url), PullLimits())
    # a test event, two log objects and a digest: four messages, all acked
    assert (result.messages, result.records, result.skipped, result.acked) == (4, 300, 2, 4)
    raw = assert_landed_once(lake, records)
    assert raw.height == 300 and _in_flight(moto_endpoint, queue_url) == 0


def test_objects_of_a_notification_keep_their_position_as_origin(
    moto_endpoint: str, corpus: Path
) -> None:
    queue_url = _queue(moto_endpoint, "origin")
    bucket = f"trail-origin-{time.monotonic_ns()}"
    _notifying_bucket(moto_endpoint, bucket, queue_url, via_sns=False)
    key = f"{LOG_KEY}111122223333_CloudTrail_us-east-1_20260301T1005Z_x.json.gz"
    aws_client("s3", moto_endpoint).put_object(
        Bucket=bucket, Key=key, Body=_log_file(corpus_lines(corpus, STRATUS, 3))
    )
    batch = _source(moto_endpoint, queue_url).pull(PullLimits())
    assert [r.origin for r in batch.records] == [f"s3://{bucket}/{key}#{i}" for i in range(3)]


def test_a_queue_that_is_down_or_missing_is_one_clear_line(moto_endpoint: str) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    SqsSource(f"{closed}/123456789012/nothing-here")  # constructing does no I/O
    with pytest.raises(StreamUnavailable) as down:
        _source(closed, f"{closed}/123456789012/events").pull(PullLimits())
    assert str(down.value).startswith(f"sqs://{closed}/123456789012/events: cannot reach")
    with pytest.raises(StreamUnavailable) as missing:
        _source(moto_endpoint, f"{moto_endpoint}/123456789012/absent").pull(PullLimits())
    assert "NonExistentQueue" in str(missing.value) and "\n" not in str(missing.value)


def test_the_endpoint_comes_from_the_environment(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, corpus: Path
) -> None:
    queue_url = _queue(moto_endpoint, "env")
    _send(
        moto_endpoint, queue_url, [orjson.dumps(corpus_lines(corpus, EVENTBRIDGE, 1)[0]).decode()]
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    batch = SqsSource(queue_url, wait_seconds=0).pull(PullLimits())
    assert len(batch.records) == 1
