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

import orjson

from resolvers.aws.cloudtrail import SOURCE as CLOUDTRAIL
from resolvers.aws.describe import Describer
from resolvers.aws.resolve_online import describe_batch
from resolvers.errors import InputError
from resolvers.guard import BOM, GZIP_MAGIC, dumps, gunzip, split_records
from resolvers.lake.storage import Lake
from resolvers.lake.writer import CommitResult, LakeWriter, StreamTxn
from resolvers.model import Lineage, ResolvedBatch
from resolvers.resolution import (
    Record,
    ResolveJob,
    fallback_id,
    parse_json,
    record_hash,
    resolve_all,
    resolve_job,
    resolve_record,
    source_of,
)
from resolvers.resolve_pool import ordered_map, worker_count
from resolvers.timeutil import utcnow

# What resolves one record lives in resolvers.resolution; callers have long found it here.
__all__ = [
    "DEFAULT_BATCH_SIZE",
    "IngestReport",
    "Record",
    "batch_id_of",
    "chunks",
    "dominant_source",
    "fallback_id",
    "ingest_files",
    "ingest_records",
    "read_file",
    "record_hash",
    "resolve_record",
    "resolve_records",
    "source_of",
]

DEFAULT_BATCH_SIZE = 1000
MAX_FILE_BYTES = 2 * 1024**3  # decompressed size of one event file (a gzip bomb is refused)


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
                yield Record(dumps(item), item, f"{name}:Records[{index}]")
            return
        if isinstance(document, list):
            for index, item in enumerate(document):
                yield Record(dumps(item), item, f"{name}[{index}]")
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
    return Record(data.decode("utf-8", "replace"), parse_json(data), origin)


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
    batch = resolve_all(records, salt, default_source, raw_only=raw_only)
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
    jobs = [ResolveJob(chunk, salt, default_source) for chunk in chunks(records, batch_size)]
    # Batches after the first are resolved in worker processes while this thread commits the
    # one before (resolvers/resolve_pool.py); commits stay in order, in this thread. A single
    # batch has no commit to overlap with: its records are resolved in parts, side by side.
    resolved = ordered_map(resolve_job, jobs) if len(jobs) > 1 else map(_resolve_in_parts, jobs)
    for job, batch in zip(jobs, resolved, strict=True):
        describe_batch(batch, describer, salt)  # the describer's clients live here
        batch.lineage = replace(lineage or Lineage(), resolved_at=utcnow())
        if landed:
            batch.raw = []
        results.append(writer.commit(batch, batch_id_of(job.records), txn))
    return results


# The fewest records a part of a single batch resolved side by side holds (a worker's round
# trip costs about as much as resolving a few dozen records)
MIN_PART = 500


def _resolve_in_parts(job: ResolveJob) -> ResolvedBatch:
    """A batch resolved in parts, the first here while the resolver workers resolve the others,
    joined in the records' order (a drain of one landed micro-batch of 5,000 records: 0.27 s
    against 0.29 all here; the README's "Streams in Dagster")."""
    parts = max(1, min(worker_count() + 1, len(job.records) // MIN_PART))
    size = -(-len(job.records) // parts)
    batch = ResolvedBatch()
    for part in ordered_map(
        resolve_job, [replace(job, records=c) for c in chunks(job.records, size)]
    ):
        batch.extend(part)
    return batch


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
