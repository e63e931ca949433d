"""Event files into the lake: detect the format, resolve every record, commit in batches.

The same functions serve ``assetlake ingest`` and the Dagster runs (which hand over records
pulled from queues instead of files). Formats are detected per file and then per record:
CloudTrail log files (``{"Records": [...]}``), JSON lines of CloudTrail records, EventBridge
events, Cloud Asset Inventory feed messages (camelCase or snake_case), audit LogEntries.
A record that is not JSON or not of a known shape is still landed (raw_events) and gets a row in
unresolved_events with the reason; a file with no JSON record at all is an error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from resolvers.aws.cloudtrail import SOURCE as CLOUDTRAIL
from resolvers.aws.cloudtrail import is_cloudtrail_record, is_eventbridge_event
from resolvers.aws.describe import Describer
from resolvers.aws.resolve import resolve_cloudtrail_record
from resolvers.aws.resolve_online import describe_batch
from resolvers.canonical import canonical_json, redact_record
from resolvers.errors import InputError
from resolvers.gcp.asset_feed import SOURCE as ASSET_FEED
from resolvers.gcp.asset_feed import is_feed_record, resolve_feed_record
from resolvers.gcp.audit_log import SOURCE as AUDIT_LOG
from resolvers.gcp.audit_log import is_audit_entry, resolve_audit_entry
from resolvers.guard import (
    BOM,
    GZIP_MAGIC,
    dumps,
    gunzip,
    parse,
    quarantine_times,
    split_records,
    too_deep,
    unreadable,
)
from resolvers.lake.storage import Lake
from resolvers.lake.writer import CommitResult, LakeWriter, StreamTxn
from resolvers.model import Lineage, RawRecord, ResolvedBatch, Unresolved
from resolvers.resolve_pool import ordered_map
from resolvers.timeutil import utcnow

DEFAULT_BATCH_SIZE = 1000
MAX_FILE_BYTES = 2 * 1024**3  # decompressed size of one event file (a gzip bomb is refused)


@dataclass(frozen=True, slots=True)
class Record:
    """One received record: its text as received, and the parsed JSON (None if it is not)."""

    payload: str
    value: Any
    origin: str  # file:line, queue message id, ... (for error details)


@dataclass(slots=True)
class IngestReport:
    """What an ingest run did, summed over its batches."""

    files: int = 0
    records: int = 0
    batches: list[CommitResult] = field(default_factory=list)

    def total(self, name: str) -> int:
        """Sum of one CommitResult counter over the batches."""
        return sum(getattr(result, name) for result in self.batches)


# -- reading files ----------------------------------------------------------------------------
def read_file(path: Path) -> list[Record]:
    """The records of one event file; InputError if it is unreadable or holds no JSON."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if data[:2] == GZIP_MAGIC:
        try:
            data = gunzip(data, MAX_FILE_BYTES)
        except ValueError as exc:
            raise InputError(f"{path}: not a valid gzip file ({exc})") from exc
    records = list(_records_of(data, str(path)))
    if not records:
        raise InputError(f"{path}: empty file, no records")
    if all(record.value is None for record in records):
        raise InputError(f"{path}: not JSON (neither a JSON document nor JSON lines)")
    return records


def _records_of(data: bytes, name: str) -> Iterator[Record]:
    data = data.removeprefix(BOM.encode())  # a byte order mark is not part of the records
    stripped = data.strip()
    if stripped[:1] in (b"{", b"["):
        try:
            document = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            document = None
        if isinstance(document, Mapping) and isinstance(document.get("Records"), list):
            for index, item in enumerate(document["Records"]):
                yield Record(_dumps(item), item, f"{name}:Records[{index}]")
            return
        if isinstance(document, list):
            for index, item in enumerate(document):
                yield Record(_dumps(item), item, f"{name}[{index}]")
            return
        if document is not None:
            yield Record(stripped.decode("utf-8", "replace"), document, name)
            return
        if (items := split_records(stripped)) is not None:
            # one record of a log file is not JSON: the others are still records of their own
            for index, item in enumerate(items):
                yield _line_record(item, f"{name}:Records[{index}]")
            return
    yield from _json_lines(data, name)


def _json_lines(data: bytes, name: str) -> Iterator[Record]:
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        yield _line_record(line, f"{name}:{number}")


def _line_record(data: bytes, origin: str) -> Record:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        value = None
    return Record(data.decode("utf-8", "replace"), value, origin)


def _dumps(value: Any) -> str:
    return dumps(value)  # any depth: a record too deep to resolve is still landed whole


# -- resolving --------------------------------------------------------------------------------
def source_of(value: Any) -> str | None:
    """Which stream a parsed record belongs to, or None if its shape is unknown."""
    if not isinstance(value, Mapping):
        return None
    if is_eventbridge_event(value) or is_cloudtrail_record(value):
        return CLOUDTRAIL
    if is_audit_entry(value):
        return AUDIT_LOG
    if is_feed_record(value):
        return ASSET_FEED
    return None


def fallback_id(payload: str) -> str:
    """A deterministic id for a record that carries none of its own."""
    return "rec-" + hashlib.sha256(payload.encode("utf-8", "replace")).hexdigest()[:32]


def record_hash(record: Record) -> str:
    """The hash of a record's content (a CloudTrail record hashes the same bare or wrapped)."""
    value = record.value
    if isinstance(value, Mapping) and is_eventbridge_event(value):
        value = value["detail"]
    text = record.payload if value is None else canonical_json(value)
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]


def resolve_record(
    record: Record, salt: bytes, default_source: str, *, raw_only: bool = False
) -> ResolvedBatch:
    """One record into raw_events plus its changes and observations, or an unresolved row.

    A record that holds a secret (an STS session token in an answer, a password, user data) is
    landed, hashed and resolved redacted: no table keeps it (docs/secrets.md). Nearly all hold
    none and are landed as received, byte for byte. Whatever a record holds, the result has its
    raw row (resolvers/guard.py: a record too deep to walk is landed as text, an implausible
    event time gets no versions, and a resolver that fails on a record explains it instead of
    failing the batch). ``raw_only``: what landing needs, the raw row (and the reason of a
    record that is not readable) without resolving changes: the same raw row, cheaper.
    """
    record = _guarded(record)
    payload, value = redact_record(record.payload, record.value, salt)
    if payload is not record.payload:
        record = replace(record, payload=payload, value=value)
    digest = record_hash(record)
    try:
        batch = _resolve_record(record, salt, default_source, digest, raw_only)
    except Exception as exc:  # a resolver bug must not fail the batch nor lose the record
        batch = _failed(record, default_source, exc)
    batch = quarantine_times(batch)
    batch.raw = [
        r if r.record_hash == digest else replace(r, record_hash=digest) for r in batch.raw
    ]
    if batch.unresolved:  # rare: an unresolved row is the record's, not only its event id's
        batch.unresolved = [replace(u, record_hash=digest) for u in batch.unresolved]
    return batch


def _resolve_record(
    record: Record, salt: bytes, default_source: str, digest: str, raw_only: bool = False
) -> ResolvedBatch:
    source = source_of(record.value)
    value = record.value
    if source == ASSET_FEED and isinstance(value, Mapping):
        return resolve_feed_record(value, record.payload, salt, digest, raw_only=raw_only)
    if source == CLOUDTRAIL and isinstance(value, Mapping):
        return resolve_cloudtrail_record(
            value, record.payload, None, salt, record_hash=digest, raw_only=raw_only
        )
    if source == AUDIT_LOG and isinstance(value, Mapping):
        return resolve_audit_entry(value, record.payload, fallback_id(record.payload), salt)
    return _unreadable(record, default_source)


def _guarded(record: Record) -> Record:
    """The record as the resolvers may see it: a BOM before its JSON dropped, and a value
    nested too deep to walk taken as text (resolvers/guard.py)."""
    if record.value is None:
        text = record.payload
        if text.startswith(BOM):
            value, _ = parse(text)
            if value is not None and not isinstance(value, str):
                return Record(text.removeprefix(BOM), value, record.origin)
        return record
    if too_deep(record.payload, record.value):
        return Record(record.payload, None, record.origin)
    return record


def _unreadable(record: Record, source: str) -> ResolvedBatch:
    event_id = fallback_id(record.payload)
    reason, why = unreadable(record.payload)
    if record.value is None:
        payload, detail = _dumps(record.payload), f"{record.origin}: {why}"
    else:
        payload, reason = record.payload, "unrecognised_record"
        detail = (
            f"{record.origin}: not a CloudTrail, EventBridge, asset feed or audit record ({why})"
        )
    cloud = "gcp" if source in (ASSET_FEED, AUDIT_LOG) else "aws"
    raw = RawRecord(event_id, source, cloud, None, None, None, "unknown", payload)
    return ResolvedBatch(raw=[raw], unresolved=[Unresolved(event_id, source, reason, detail)])


def _failed(record: Record, source: str, exc: Exception) -> ResolvedBatch:
    """The raw row and a ``resolver_error`` row of a record a resolver failed on."""
    batch = _unreadable(replace(record, value=None), source)
    if record.value is not None:  # landed as received: it is JSON, the resolver is wrong
        raw = replace(batch.raw[0], payload=record.payload)
        batch.raw = [raw]
    detail = f"{record.origin}: {type(exc).__name__}: {exc}"[:500]
    batch.unresolved = [replace(batch.unresolved[0], reason="resolver_error", detail=detail)]
    return batch


def dominant_source(records: Sequence[Record]) -> str:
    """The source most records of a file belong to (for the records of unknown shape)."""
    counts: dict[str, int] = {}
    for record in records:
        source = source_of(record.value)
        if source:
            counts[source] = counts.get(source, 0) + 1
    return max(counts, key=lambda s: counts[s]) if counts else CLOUDTRAIL


def resolve_records(
    records: Iterable[Record],
    salt: bytes,
    default_source: str,
    describer: Describer | None = None,
    *,
    raw_only: bool = False,
) -> ResolvedBatch:
    """Resolve many records into one batch; with an online ``describer``, AWS state comes from
    one describe per asset (None or an OfflineDescriber: from the events alone). ``raw_only``:
    see :func:`resolve_record`."""
    batch = ResolvedBatch()
    for record in records:
        batch.extend(resolve_record(record, salt, default_source, raw_only=raw_only))
    if not raw_only:
        describe_batch(batch, describer, salt)
    return batch


def batch_id_of(records: Sequence[Record]) -> str:
    """A deterministic batch id: the same records in the same order give the same id."""
    digest = hashlib.sha256()
    for record in records:
        digest.update(record.payload.encode("utf-8", "replace"))
        digest.update(b"\n")
    return digest.hexdigest()[:24]


def chunks(records: Sequence[Record], size: int) -> Iterator[Sequence[Record]]:
    """Consecutive slices of at most ``size`` records."""
    for start in range(0, len(records), size):
        yield records[start : start + size]


def ingest_records(
    writer: LakeWriter,
    records: Sequence[Record],
    default_source: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    txn: StreamTxn | None = None,
    landed: bool = False,
    describer: Describer | None = None,
    lineage: Lineage | None = None,
) -> list[CommitResult]:
    """Resolve and commit records in batches of ``batch_size``.

    ``landed``: the records were read back from raw_events (a drain), so their raw rows are
    not written again. ``describer``: see :func:`resolve_records` (default: offline).
    ``lineage``: when the records were received and by what they are (or were) landed; each
    batch adds the instant it was resolved.
    """
    results: list[CommitResult] = []
    salt = writer.lake.salt
    jobs = [_Chunk(chunk, salt, default_source) for chunk in chunks(records, batch_size)]
    # Batches after the first are resolved in worker processes while this thread commits the
    # one before (resolvers/resolve_pool.py); commits stay in order, in this thread.
    for job, batch in zip(jobs, ordered_map(_resolve_chunk, jobs), strict=True):
        describe_batch(batch, describer, salt)  # the describer's clients live here
        batch.lineage = replace(lineage or Lineage(), resolved_at=utcnow())
        if landed:
            batch.raw = []
        results.append(writer.commit(batch, batch_id_of(job.records), txn))
    return results


@dataclass(frozen=True, slots=True)
class _Chunk:
    """Records to resolve together. Sent to a resolver process as texts (each record's text,
    origin and whether it was JSON) and parsed again there: cheaper than pickling the parsed
    values, and the same records (a text that was not JSON stays not JSON)."""

    records: Sequence[Record]
    salt: bytes
    source: str

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        texts = [(r.payload, r.origin, r.value is not None) for r in self.records]
        return _chunk_of_texts, (texts, self.salt, self.source)


def _chunk_of_texts(texts: list[tuple[str, str, bool]], salt: bytes, source: str) -> _Chunk:
    records = [
        Record(text, _loads(text) if parsed else None, origin) for text, origin, parsed in texts
    ]
    return _Chunk(records, salt, source)


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def _resolve_chunk(chunk: _Chunk) -> ResolvedBatch:
    """One chunk resolved from its events alone (describing is done by the caller)."""
    return resolve_records(chunk.records, chunk.salt, chunk.source)


def ingest_files(
    lake: Lake,
    paths: Sequence[Path],
    batch_size: int = DEFAULT_BATCH_SIZE,
    fold_after: bool = True,
    describer: Describer | None = None,
    run_id: str | None = None,
    landed_by: str = "assetlake ingest",
) -> IngestReport:
    """``assetlake ingest``: every file is read and checked before anything is written.

    With ``fold_after`` the tail is folded at the end, so that the Delta table asset_versions
    is exact on its own when the command returns. ``describer``: None (the default for now)
    or an OfflineDescriber keeps to the events (``--offline``). ``run_id`` and ``landed_by``:
    the Dagster run and the command or job doing it, for the rows' lineage.
    """
    loaded = [(read_file(path), utcnow()) for path in paths]  # received: when a file is read
    lake.create()
    writer = LakeWriter(lake, run_id=run_id)
    report = IngestReport(files=len(loaded))
    for records, received_at in loaded:
        report.records += len(records)
        lineage = Lineage(received_at=received_at, landed_by=landed_by)
        report.batches.extend(
            ingest_records(
                writer,
                records,
                dominant_source(records),
                batch_size,
                describer=describer,
                lineage=lineage,
            )
        )
    if fold_after:
        writer.fold()
    return report
