"""Streams in two steps: *land* a micro-batch durably, then *drain* what was landed.

A sensor pulls a bounded micro-batch from its queue and lands it in raw_events (idempotent on
the record, so a redelivery lands nothing new); only then does it delete or ack the messages.
A run then drains everything landed since its consumer's watermark: it reads exactly those rows
through raw_events' change data feed, resolves them with the same code as ``assetlake ingest``
and commits the derived tables. The watermark is a Delta application transaction on
``drain_progress``; a drain that dies is simply done again (every commit is idempotent).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace

import orjson
import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from resolvers.aws.describe import Describer
from resolvers.ingest import Record, batch_id_of, fallback_id, ingest_records, resolve_records
from resolvers.lake.layout import sql_text
from resolvers.lake.tables import DRAIN_PROGRESS, RAW_EVENTS
from resolvers.lake.writer import CommitResult, LakeWriter, StreamTxn
from resolvers.model import Lineage, ResolvedBatch, Times
from resolvers.timeutil import utcnow


@dataclass(frozen=True, slots=True)
class LandResult:
    """What landing a micro-batch did."""

    batch_id: str
    records: int
    landed: int  # new rows in raw_events (a redelivered record lands nothing)
    raw_events_version: int


@dataclass(slots=True)
class DrainResult:
    """What a drain resolved and committed."""

    consumer: str
    from_version: int
    to_version: int
    records: int = 0
    batches: list[CommitResult] = field(default_factory=list)
    event_lag_s: dict[str, float] = field(default_factory=dict)  # event time -> committed
    landing_lag_s: dict[str, float] = field(default_factory=dict)  # landed -> committed
    noted_to: int | None = None  # the last version this drain noted in drain_progress, if any

    def total(self, name: str) -> int:
        """Sum of one CommitResult counter over the batches."""
        return sum(getattr(result, name) for result in self.batches)


def land(
    writer: LakeWriter,
    records: Sequence[Record],
    default_source: str,
    txn: StreamTxn | None = None,
    lineage: Lineage | None = None,
) -> LandResult:
    """Land records in raw_events (and unreadable ones in unresolved_events) and nothing else
    (``lineage``: when they were received, by what they are landed)."""
    resolved = resolve_records(records, writer.lake.salt, default_source, raw_only=True)
    unreadable = {u.event_id for u in resolved.unresolved if u.reason == "malformed"}
    batch = ResolvedBatch(
        raw=resolved.raw,
        unresolved=[u for u in resolved.unresolved if u.event_id in unreadable],
        lineage=replace(lineage or Lineage(), resolved_at=utcnow()),
    )
    batch_id = batch_id_of(records)
    result = writer.commit(batch, batch_id, txn)
    version = writer.lake.head(RAW_EVENTS.name)
    return LandResult(batch_id, len(records), result.raw_events, version)


# Records a drain commits at a time: as many as a sensor lands in one micro-batch (at most
# 5,000), so a landed batch is drained in one commit. Measured on 20,000 landed feed messages:
# 1,000 a commit drained 15,300 records/s (61 us of CPU a record in the committing process,
# 33 in the resolver), 5,000 drained 24,100/s (40 and 29 us): a commit's fixed costs (the
# tables' commits, their files, the writer's index checks) are paid five times less often.
DRAIN_BATCH_SIZE = 5000
# raw_events versions a drain resolves at a time: a landing commit holds at most a few
# thousand records (a sensor's micro-batch), so a slice holds at most a few hundred thousand
SLICE_VERSIONS = 50
LANDED_COLUMNS = ["event_id", "source", "payload", "event_time", "received_at", "landed_at"]


def watermark(writer: LakeWriter, consumer: str) -> int:
    """The last raw_events version ``consumer`` has drained (-1 before its first drain)."""
    done = writer.lake.table(DRAIN_PROGRESS.name).transaction_version(_app_id(consumer))
    return -1 if done is None else done


def _app_id(consumer: str) -> str:
    return f"assetlake.drain.{consumer}"


def landed_since(
    writer: LakeWriter, start: int, end: int, sources: Collection[str] | None
) -> pl.DataFrame:
    """The rows landed in raw_events versions ``start``..``end``, in landing order."""
    if start == 0:  # a consumer's first drain reads the table (a vacuum may have removed
        frame = _landed_up_to(writer, end)  # the files of early versions), later ones the feed
    else:
        table = writer.lake.table(RAW_EVENTS.name)
        reader = table.load_cdf(
            starting_version=start,
            ending_version=end,
            columns=[*LANDED_COLUMNS, "_change_type", "_commit_version"],
            predicate=_source_predicate(sources),  # other consumers' rows are not read
        )
        frame = pl.DataFrame(pl.from_arrow(pa.table(reader.read_all())))
        frame = frame.filter(pl.col("_change_type") == "insert")
        frame = frame.sort("_commit_version", maintain_order=True).select(LANDED_COLUMNS)
    if sources is not None:
        frame = frame.filter(pl.col("source").is_in(list(sources)))
    # rows landed before raw_events had landed_at were landed when they were received
    return frame.with_columns(pl.coalesce("landed_at", "received_at").alias("landed_at"))


def _source_predicate(sources: Collection[str] | None) -> str | None:
    """A SQL predicate on raw_events.source (None: every source)."""
    if sources is None:
        return None
    quoted = ", ".join(sql_text(source) for source in sorted(sources))
    return f"source IN ({quoted})" if quoted else "FALSE"


def _landed_up_to(writer: LakeWriter, end: int) -> pl.DataFrame:
    """Every row of raw_events as of version ``end``, in landing order."""
    table = DeltaTable(
        writer.lake.table_uri(RAW_EVENTS.name),
        version=end,
        storage_options=writer.lake.storage_options,
    )
    frame = pl.scan_delta(table, credential_provider=None).select(LANDED_COLUMNS)
    landed_at = pl.coalesce("landed_at", "received_at")
    return frame.sort(landed_at, maintain_order=True).collect()


def _record(payload: str, event_id: str) -> Record:
    if payload[:1] not in ('"', "") and not payload[:1].isspace():
        # not a JSON string: parsed where it is resolved (see Record.of_text)
        return Record.of_text(payload, f"raw_events:{event_id}")
    value = orjson.loads(payload)
    if isinstance(value, str) and fallback_id(value) == event_id:
        # a record that was not JSON is landed as a JSON string of its text, under the id of
        # that text (a record that *is* a JSON string has the id of its JSON payload)
        return Record(value, None, f"raw_events:{event_id}")
    return Record(payload, value, f"raw_events:{event_id}")


def drain(
    writer: LakeWriter,
    consumer: str,
    default_source: str,
    sources: Collection[str] | None = None,
    batch_size: int = DRAIN_BATCH_SIZE,
    describer: Describer | None = None,
    *,
    after: int | None = None,
    note_idle: bool = True,
) -> DrainResult:
    """Resolve and commit everything landed since ``consumer``'s watermark (``describer``:
    where an event does not carry the asset's state; default offline).

    A backlog is drained in slices of at most ``SLICE_VERSIONS`` raw_events versions, each
    read, resolved, committed and then marked done on its own, so memory follows the slice and
    a drain that dies keeps the slices it finished. (A consumer's first drain reads the table
    whole: the files of early versions may have been vacuumed.) The lags are those of the last
    slice that held records.

    ``after``: the last version the caller knows is drained, where it knows better than the
    watermark; ``note_idle=False``: a slice that held none of the consumer's records is not
    noted in drain_progress (``noted_to`` says how far this drain noted), for a following run
    that notes such versions now and then (:func:`note_drained`) rather than a commit for each
    of them (a stream whose records are all another consumer's).
    """
    start = (watermark(writer, consumer) if after is None else after) + 1
    end = writer.lake.table(RAW_EVENTS.name).version()
    result = DrainResult(consumer, start, end)
    while start <= end:
        stop = end if start == 0 else min(end, start + SLICE_VERSIONS - 1)
        landed = landed_since(writer, start, stop, sources)
        records = [_record(p, e) for e, p in landed.select("event_id", "payload").iter_rows()]
        result.records += len(records)
        result.batches += ingest_records(
            writer,
            records,
            default_source,
            batch_size,
            landed=True,
            describer=describer,
            lineage=Lineage(landed=_landed_times(landed)),
        )
        if records or note_idle:
            note_drained(writer, consumer, start, stop, len(records))
            result.noted_to = stop
        if records:  # a slice of other consumers' versions has no lag to tell
            result.event_lag_s, result.landing_lag_s = _lags(landed, utcnow())
        start = stop + 1
    return result


# How often a following drain run notes the versions that held none of its consumer's records
# (a stream relayed onto NATS feeds three consumers: without this, each landing cost the two
# idle ones a drain_progress commit each); a run that dies before noting them reads them again
IDLE_NOTE_SECONDS = 30.0


class IdleVersions:
    """The raw_events versions a drain run has drained but not noted in drain_progress (they
    held none of its consumer's records), noted now and then, and at the end of the run."""

    def __init__(self, writer: LakeWriter, consumer: str) -> None:
        self.writer, self.consumer = writer, consumer
        self.position: int | None = None  # the last version drained, as this run knows it
        self.first: int | None = None  # the first version drained and not noted
        self.noted_at = time.monotonic()

    def drained(self, result: DrainResult) -> None:
        """Take what one drain looked at."""
        if result.from_version > result.to_version:
            return  # nothing new
        self.position = result.to_version
        if result.noted_to is not None:  # a noted version notes every version before it
            self.first = None if result.noted_to == result.to_version else result.noted_to + 1
        elif self.first is None:
            self.first = result.from_version

    def note(self, every: float = 0.0) -> None:
        """Note the versions not noted yet, if ``every`` seconds have passed since the last."""
        if self.first is None or self.position is None:
            return
        if time.monotonic() - self.noted_at < every:
            return
        note_drained(self.writer, self.consumer, self.first, self.position)
        self.first, self.noted_at = None, time.monotonic()


def combined(results: Sequence[DrainResult]) -> DrainResult:
    """One DrainResult for consecutive drains (the lags of the last one that drained)."""
    last = next((r for r in reversed(results) if r.records), results[-1])
    total = DrainResult(results[0].consumer, results[0].from_version, results[-1].to_version)
    total.records = sum(r.records for r in results)
    total.batches = [b for r in results for b in r.batches]
    total.event_lag_s, total.landing_lag_s = last.event_lag_s, last.landing_lag_s
    return total


# A following run reports what it drained at most this often (the rest goes with its total):
# each materialisation it reports is a write to the instance's event log (about 20 ms with
# SQLite), and a trickle, drained record by record, had three written for every record
REPORT_EVERY_S = 1.0


class Unreported:
    """The drains a following run has not reported yet, reported together once due."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.results: list[DrainResult] = []
        self.seconds = 0.0
        self.clock = clock
        self.reported: float | None = None  # the clock's time of the last report

    def add(self, result: DrainResult, seconds: float) -> None:
        """One drain that resolved records, and how long it took."""
        self.results.append(result)
        self.seconds += seconds

    def due(self) -> bool:
        """Whether there is something to report, ``REPORT_EVERY_S`` after the last report
        (the first drain is reported at once)."""
        last = self.reported
        return bool(self.results) and (last is None or self.clock() - last >= REPORT_EVERY_S)

    def take(self) -> tuple[DrainResult, float]:
        """The drains to report as one, with their seconds; none are left unreported."""
        taken = combined(self.results), self.seconds
        self.results, self.seconds, self.reported = [], 0.0, self.clock()
        return taken


def _landed_times(landed: pl.DataFrame) -> dict[str, Times]:
    """event_id -> (received_at, landed_at) of its first landing."""
    times: dict[str, Times] = {}
    for event_id, received, landed_at in landed.select(
        "event_id", "received_at", "landed_at"
    ).iter_rows():
        times.setdefault(event_id, (received, landed_at))
    return times


def _lags(
    landed: pl.DataFrame, committed: dt.datetime
) -> tuple[dict[str, float], dict[str, float]]:
    """p50 / p99 / max seconds from event time and from landing to the commit."""
    lags = []
    for column in ("event_time", "landed_at"):
        seconds = (
            landed.select((pl.lit(committed) - pl.col(column)).dt.total_microseconds() / 1e6)
            .to_series()
            .drop_nulls()
        )
        lags.append(
            {
                "p50": float(seconds.quantile(0.5) or 0.0),
                "p99": float(seconds.quantile(0.99) or 0.0),
                "max": float(seconds.max() or 0.0),  # type: ignore[arg-type]
            }
            if len(seconds)
            else {}
        )
    return lags[0], lags[1]


def note_drained(writer: LakeWriter, consumer: str, start: int, end: int, records: int = 0) -> None:
    """Note raw_events versions ``start``..``end`` as drained by ``consumer`` (its watermark
    becomes ``end``), with the records it resolved of them."""
    row = pl.DataFrame(
        {
            "consumer": [consumer],
            "from_version": [start],
            "to_version": [end],
            "records": [records],
            "batch_id": [f"{consumer}:{start}-{end}"],
            "drained_at": [utcnow()],
        },
        schema_overrides={"drained_at": pl.Datetime("us", "UTC")},
    )
    write_deltalake(
        writer.lake.table(DRAIN_PROGRESS.name),
        row.to_arrow().cast(DRAIN_PROGRESS.schema),
        mode="append",
        commit_properties=CommitProperties(app_transactions=[Transaction(_app_id(consumer), end)]),
        storage_options=writer.lake.storage_options,
    )
