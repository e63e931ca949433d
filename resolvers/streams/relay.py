"""``assetlake relay``: move records from SQS or Pub/Sub into a JetStream stream.

JetStream is the internal bus: a relay pulls a micro-batch from its source (the same clients as
the sensors, so S3 notifications are expanded into their log records here too), publishes one
message per record with ``Nats-Msg-Id`` set to the record's id, waits until JetStream has
acknowledged every publish, and only then deletes / acks the source's messages. A relay that
dies in between republishes the batch after redelivery; the stream's duplicate window drops
the repeats (and landing in the lake is idempotent anyway).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from resolvers.errors import InputError
from resolvers.gcp.asset_feed import SOURCE as ASSET_FEED
from resolvers.streams.base import PullLimits, StreamSource
from resolvers.streams.nats_publish import JetStreamPublisher
from resolvers.streams.pubsub import PubSubSource
from resolvers.streams.sqs import SqsSource


@dataclass(slots=True)
class RelayResult:
    """What a relay moved."""

    batches: int = 0
    messages: int = 0
    records: int = 0
    stored: int = 0
    duplicates: int = 0
    acked: int = 0
    seconds: float = 0.0


def relay_batch(
    source: StreamSource, publisher: JetStreamPublisher, limits: PullLimits
) -> RelayResult:
    """Pull one micro-batch, publish it, wait for JetStream's acks, then ack the source."""
    started = time.monotonic()
    batch = source.pull(limits)
    if batch.empty:
        return RelayResult(seconds=time.monotonic() - started)
    published = publisher.publish(batch.records) if batch.records else None
    acked = source.ack(batch)
    return RelayResult(
        batches=1,
        messages=batch.messages,
        records=len(batch.records),
        stored=published.stored if published else 0,
        duplicates=published.duplicates if published else 0,
        acked=acked,
        seconds=time.monotonic() - started,
    )


def relay(
    source: StreamSource,
    publisher: JetStreamPublisher,
    limits: PullLimits | None = None,
    max_records: int | None = None,
) -> RelayResult:
    """Relay batches until the source is empty, or until ``max_records`` records are moved (a
    message is moved whole, so the last batch may go a little beyond)."""
    limits = limits or PullLimits()
    total = RelayResult()
    while max_records is None or total.records < max_records:
        wanted = limits.max_records
        if max_records is not None:
            wanted = min(wanted, max_records - total.records)
        step = relay_batch(source, publisher, _with_max(limits, wanted))
        if step.batches == 0:
            break
        for name in ("batches", "messages", "records", "stored", "duplicates", "acked"):
            setattr(total, name, getattr(total, name) + getattr(step, name))
        total.seconds += step.seconds
    return total


def _with_max(limits: PullLimits, max_records: int) -> PullLimits:
    return PullLimits(max_records, limits.max_bytes, limits.max_seconds, limits.max_record_bytes)


# -- URIs of the command line -----------------------------------------------------------------
def source_from_uri(uri: str) -> SqsSource | PubSubSource:
    """``sqs://QUEUE_URL`` (``sqs://https://...`` or ``sqs://HOST/ACCOUNT/QUEUE``) or
    ``pubsub://projects/P/subscriptions/S[?source=gcp_audit_log]``."""
    scheme, _, rest = uri.partition("://")
    if scheme == "sqs" and rest:
        queue_url = rest if rest.startswith(("http://", "https://")) else f"https://{rest}"
        return SqsSource(queue_url)
    if scheme == "pubsub" and rest:
        path, _, query = rest.partition("?")
        source = parse_qs(query).get("source", [ASSET_FEED])[0]
        return PubSubSource(path, source)
    raise InputError(
        f"--from {uri!r}: expected sqs://QUEUE_URL or pubsub://projects/P/subscriptions/S"
    )


def publisher_from_uri(uri: str) -> JetStreamPublisher:
    """``nats://HOST:PORT/STREAM/SUBJECT``."""
    parts = urlsplit(uri)
    names = [name for name in parts.path.split("/") if name]
    if parts.scheme not in ("nats", "tls") or not parts.netloc or len(names) != 2:
        raise InputError(f"--to {uri!r}: expected nats://HOST:PORT/STREAM/SUBJECT")
    return JetStreamPublisher(f"{parts.scheme}://{parts.netloc}", names[0], names[1])


def relay_uris(source_uri: str, target_uri: str, max_records: int | None = None) -> RelayResult:
    """The ``assetlake relay`` command: parse both ends, relay, close both."""
    source = source_from_uri(source_uri)
    publisher = publisher_from_uri(target_uri)
    try:
        return relay(source, publisher, max_records=max_records)
    finally:
        publisher.close()
        source.close()
