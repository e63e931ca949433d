"""What every stream source looks like, and the pump that every sensor tick runs.

A source client pulls a bounded micro-batch (:class:`PulledBatch`: records plus opaque ack
handles) and acks it later. :func:`pump` is pull -> land -> ack: the records are landed in
raw_events (idempotent on the record) *before* anything is deleted or acked, so a failure
anywhere before the ack leaves the messages on the queue for redelivery, and the redelivery
lands nothing twice. Clients do no I/O when constructed; a source that cannot be reached raises
:class:`StreamUnavailable`, one line naming the source and why.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from resolvers.drain import land
from resolvers.errors import AssetlakeError
from resolvers.ingest import Record
from resolvers.lake.writer import LakeWriter, StreamTxn
from resolvers.model import Lineage
from resolvers.resolution import parse_json
from resolvers.timeutil import utcnow

OVERSIZED_HEAD_BYTES = 2048
T = TypeVar("T")


class StreamUnavailable(AssetlakeError):
    """A stream source is down, missing or refused us: ``source: why`` on one line."""

    def __init__(self, source: str, why: str) -> None:
        self.source = source
        self.why = " ".join(str(why).split())  # one line, whatever the library said
        super().__init__(f"{source}: {self.why}")


# how long a pull waits for more after one that returned messages: a batch lands once its stream
# pauses, rather than at its deadline
FOLLOW_UP_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class PullLimits:
    """Bounds of one micro-batch. A single message that holds more (an S3 log object) is taken
    whole: messages are acked whole, so the bounds are checked between messages."""

    max_records: int = 1000
    max_bytes: int = 16 * 1024 * 1024
    max_seconds: float = 5.0
    max_record_bytes: int = 1024 * 1024  # a larger message or record is landed as poison


@dataclass(slots=True)
class PulledBatch:
    """One micro-batch: the records, and what acking them takes."""

    source: str
    records: list[Record] = field(default_factory=list)
    handles: list[Any] = field(default_factory=list)  # receipt handles, ack ids, messages, keys
    bytes: int = 0
    messages: int = 0
    skipped: int = 0  # messages that hold no record (S3 test events, digests): acked all the same
    started: float = field(default_factory=time.monotonic)
    received_at: dt.datetime = field(default_factory=utcnow)  # the records' received_at
    pull_s: float = 0.0
    cursor: Any = None  # the cursor once this batch is acked (sources that keep one)

    @property
    def empty(self) -> bool:
        """Nothing to land and nothing to ack."""
        return not self.records and not self.handles

    def add(self, records: list[Record], handle: Any) -> None:
        """One message's records and its ack handle."""
        self.records.extend(records)
        self.handles.append(handle)
        self.messages += 1
        self.bytes += sum(len(record.payload) for record in records)
        if not records:
            self.skipped += 1

    def full(self, limits: PullLimits, deadline: float) -> bool:
        """Whether another message would go beyond the limits."""
        return (
            len(self.records) >= limits.max_records
            or self.bytes >= limits.max_bytes
            or time.monotonic() >= deadline
        )


class StreamSource(Protocol):
    """The shape of every source client (sqs, s3_logs, pubsub, nats)."""

    name: str  # e.g. sqs://QUEUE_URL: used in errors and skip reasons
    default_source: str  # the raw_events source of records of unknown shape
    # whether an empty pull waited for messages (a long poll) rather than returning at once, so
    # that a sensor tick may keep pulling until its budget is spent (an S3 listing does not)
    long_polls: bool

    def pull(self, limits: PullLimits) -> PulledBatch:
        """A bounded micro-batch; nothing is deleted or acked."""
        ...

    def ack(self, batch: PulledBatch) -> int:
        """Delete / ack a batch whose records are landed; returns how many messages."""
        ...

    def close(self) -> None:
        """Release connections (the client can be used again: it reconnects lazily)."""
        ...


@dataclass(frozen=True, slots=True)
class PumpResult:
    """What one pull -> land -> ack did, and how long each step took."""

    source: str
    messages: int = 0
    records: int = 0
    landed: int = 0  # new rows in raw_events
    acked: int = 0
    skipped: int = 0
    batch_id: str | None = None
    raw_events_version: int | None = None
    pull_s: float = 0.0
    land_s: float = 0.0
    ack_s: float = 0.0
    cursor: str | None = None  # the source's cursor as JSON, for the sensor to store

    @property
    def empty(self) -> bool:
        """Nothing was pulled."""
        return self.messages == 0 and self.records == 0


def pump(
    writer: LakeWriter,
    source_client: StreamSource,
    limits: PullLimits | None = None,
    txn: StreamTxn | None = None,
    landed_by: str | None = None,
) -> PumpResult:
    """Pull a micro-batch, land it in raw_events, then ack it: the body of every sensor tick
    (``landed_by``: the tick, for the rows' lineage).

    An exception before the ack (landing failed, the lake is not writable) leaves every message
    for redelivery; the redelivered records land nothing twice.
    """
    batch = source_client.pull(limits or PullLimits())
    if batch.empty:
        return PumpResult(source_client.name, pull_s=batch.pull_s, cursor=_json(batch.cursor))
    started = time.perf_counter()
    lineage = Lineage(received_at=batch.received_at, landed_by=landed_by)
    landed = (
        land(writer, batch.records, source_client.default_source, txn, lineage)
        if batch.records
        else None
    )
    land_s = time.perf_counter() - started
    started = time.perf_counter()
    acked = source_client.ack(batch)
    return PumpResult(
        source=source_client.name,
        messages=batch.messages,
        records=len(batch.records),
        landed=landed.landed if landed else 0,
        acked=acked,
        skipped=batch.skipped,
        batch_id=landed.batch_id if landed else None,
        raw_events_version=landed.raw_events_version if landed else None,
        pull_s=batch.pull_s,
        land_s=land_s,
        ack_s=time.perf_counter() - started,
        cursor=_json(batch.cursor),
    )


def _json(cursor: Any) -> str | None:
    return None if cursor is None else cursor.to_json()


# -- records from message bodies --------------------------------------------------------------
def record_of(data: bytes, origin: str, limits: PullLimits) -> Record:
    """The record of one message body: parsed when it is JSON, kept as text when it is not,
    and a poison record (landed, then unresolved) when it is larger than the limit."""
    if len(data) > limits.max_record_bytes:
        return oversized(data, origin, limits.max_record_bytes)
    text = data.decode("utf-8", "replace")
    value = parse_json(data)
    # a bare JSON string is kept as text: raw_events stores unreadable records as JSON strings,
    # and a drain must read back the very record that was landed
    return Record(text, None if isinstance(value, str) else value, origin)


def oversized(data: bytes, origin: str, limit: int) -> Record:
    """A stand-in for a message too large to land: its size, digest and first bytes, as text
    that is not JSON (so it is landed and goes to unresolved_events)."""
    digest = hashlib.sha256(data).hexdigest()
    head = data[:OVERSIZED_HEAD_BYTES].decode("utf-8", "replace")
    payload = f"[oversized message: {len(data)} bytes > {limit}, sha256 {digest}] {head}"
    return Record(payload, None, f"{origin} (oversized: {len(data)} bytes > {limit})")


def poison(note: str, origin: str) -> Record:
    """A record that stands for something unreadable (a corrupt or vanished log object)."""
    return Record(f"[{origin}: {note}]", None, f"{origin} ({note})")


def slices(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items (ack requests have a size limit)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def deadline_of(limits: PullLimits, started: float, cap: float | None = None) -> float:
    """The monotonic time by which a pull stops taking messages."""
    seconds = limits.max_seconds if cap is None else min(limits.max_seconds, cap)
    return started + seconds
