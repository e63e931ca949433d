"""Scheduled upkeep of the lake: compact, z-order, vacuum, checkpoint and trim every table's log.

Micro-batches leave many small files and a long log behind them, and reading a table slows down
with both, so this runs on a schedule (the Dagster maintenance job) and on demand
(``assetlake compact``). It is layout work only: every table holds the same rows before and
after.

The work is a list of steps, :data:`STEPS`, run in order. A :class:`TableStep` runs on every
table of :data:`resolvers.lake.tables.TABLES` (new tables are covered without a change here);
a :class:`LakeStep` runs once on the whole lake. **To add a step** (such as folding
``asset_versions_tail`` into ``asset_versions`` before the compaction), add it to ``STEPS``:
that is the one place.

Z-ordering in deltalake 1.6.6: the columns may not include a partition column (it raises), a
call without ``partition_filters`` orders each partition separately, and it is not incremental:
it rewrites every file it is given, even one it wrote itself. So each partition is z-ordered on
its own, and only when a file was added to it since its last z-order (found by the commit
metadata key :data:`Z_ORDER_MARK` in the table's recent history).

A drain reads raw_events' change data feed from its consumer's watermark on, which needs the
data files of those versions (compaction removes them from the table; vacuum would then delete
them) and their log entries. So a table's vacuum keeps every file removed since the oldest
version a consumer in drain_progress has yet to read, whatever retention was asked for.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
import polars as pl
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import CommitFailedError

from resolvers.errors import LakeError
from resolvers.lake.fold import fold
from resolvers.lake.storage import Lake
from resolvers.lake.tables import ASSET_VERSIONS, DRAIN_PROGRESS, RAW_EVENTS, TABLES

DEFAULT_VACUUM_HOURS = 168
# The columns to cluster each table's files by (the queries that look rows up by them).
Z_ORDER_COLUMNS: Mapping[str, tuple[str, ...]] = {ASSET_VERSIONS.name: ("asset_key",)}
Z_ORDER_MARK = "assetlake.z_order"  # commit metadata: the partition a z-order commit ordered
MAINTENANCE_MARK = "assetlake.maintenance"  # commit metadata: the step that made the commit
HISTORY_WINDOW = 500  # commits searched for the last z-order; older means "order it again"
COMMIT_ATTEMPTS = 5
HOUR_MS = 3_600_000
# No log entry is removed from a table whose change feed a reader is more than this behind on
# (delta-rs removes only entries older than delta.logRetentionDuration, 30 days by default).
LOG_GUARD_MS = 7 * 24 * HOUR_MS

T = TypeVar("T")
PartitionFilter = list[tuple[str, str, Any]]


@dataclass(frozen=True, slots=True)
class MaintenanceOptions:
    """How the maintenance runs."""

    vacuum_hours: int = DEFAULT_VACUUM_HOURS  # removed files younger than this are kept
    z_order: bool = True
    target_file_size: int | None = None  # bytes; None: the table's setting, else 100 MB


@dataclass(slots=True)
class TableReport:
    """What the maintenance did to one table."""

    table: str
    files_before: int = 0
    files_after: int = 0
    rows: int = 0
    bytes_after: int = 0
    files_removed: int = 0  # by compaction and z-ordering
    files_added: int = 0
    z_ordered: list[str] = field(default_factory=list)  # the partitions z-ordered
    files_vacuumed: int = 0
    vacuum_hours: int = 0  # the retention used (longer than asked while a reader is behind)
    version: int = 0
    seconds: float = 0.0


@dataclass(slots=True)
class MaintenanceReport:
    """What the maintenance did to the lake."""

    tables: list[TableReport]
    lake_steps: dict[str, dict[str, Any]]  # step name -> what the lake-wide step reported
    seconds: float

    def total(self, name: str) -> int:
        """Sum of one TableReport counter over the tables."""
        return sum(getattr(report, name) for report in self.tables)


@dataclass(slots=True)
class TableWork:
    """One table under maintenance: what every table step is given."""

    lake: Lake
    table: DeltaTable
    report: TableReport
    options: MaintenanceOptions
    reader_since_ms: int | None = None  # a change-feed reader needs files removed after this


@dataclass(frozen=True, slots=True)
class LakeStep:
    """A step run once on the whole lake; returns what it did (shown in reports)."""

    name: str
    run: Callable[[Lake, MaintenanceOptions], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class TableStep:
    """A step run on every table of the lake, in the order of TABLES."""

    name: str
    run: Callable[[TableWork], None]


Step = LakeStep | TableStep


# -- the table steps --------------------------------------------------------------------------
def compact(work: TableWork) -> None:
    """Bin-pack the small files of each partition into files of about the target size."""
    table, props = work.table, _props("compact")
    metrics = _retrying(
        table,
        lambda: table.optimize.compact(
            target_size=work.options.target_file_size, commit_properties=props
        ),
    )
    work.report.files_removed += int(metrics.get("numFilesRemoved", 0))
    work.report.files_added += int(metrics.get("numFilesAdded", 0))


def z_order(work: TableWork) -> None:
    """Cluster the files of each changed partition by the table's Z_ORDER_COLUMNS."""
    columns = Z_ORDER_COLUMNS.get(work.report.table)
    if not columns or not work.options.z_order:
        return
    table = work.table
    for label, filters in changed_partitions(table):
        props = _props("z_order", {Z_ORDER_MARK: label})
        metrics = _retrying(
            table,
            lambda filters=filters, props=props: table.optimize.z_order(
                columns,
                partition_filters=filters or None,
                target_size=work.options.target_file_size,
                commit_properties=props,
            ),
        )
        work.report.files_removed += int(metrics.get("numFilesRemoved", 0))
        work.report.files_added += int(metrics.get("numFilesAdded", 0))
        work.report.z_ordered.append(label)


def vacuum(work: TableWork) -> None:
    """Delete the files the table stopped using more than the retention ago.

    delta-rs lists a removed file again on every vacuum until its tombstone expires, deleted or
    not; only the files still there are counted, and without any, nothing is committed.
    """
    hours = work.options.vacuum_hours
    if work.reader_since_ms is not None:
        behind_ms = time.time() * 1000 - work.reader_since_ms
        hours = max(hours, math.ceil(behind_ms / HOUR_MS) + 1)
    work.report.vacuum_hours = hours
    stale = _vacuum(work.table, hours, dry_run=True)
    root = work.lake.table_uri(work.report.table)
    present = [path for path in stale if work.lake.fs.exists(f"{root}/{path}")]
    if present:
        _vacuum(work.table, hours, dry_run=False)
    work.report.files_vacuumed += len(present)


def _vacuum(table: DeltaTable, hours: int, dry_run: bool) -> list[str]:
    return table.vacuum(
        retention_hours=hours,
        enforce_retention_duration=False,  # the retention is explicit (default a week)
        dry_run=dry_run,
        commit_properties=_props("vacuum"),
    )


def checkpoint(work: TableWork) -> None:
    """Write a checkpoint at the table's latest version (readers skip the log before it)."""
    version = work.table.version()
    if version > 0 and last_checkpoint(work.lake, work.report.table) != version:
        work.table.create_checkpoint()


def last_checkpoint(lake: Lake, name: str) -> int | None:
    """The version of a table's latest checkpoint, if it has one."""
    try:
        with lake.fs.open(f"{lake.table_uri(name)}/_delta_log/_last_checkpoint", "rb") as handle:
            version = orjson.loads(handle.read()).get("version")
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    return version if isinstance(version, int) else None


def cleanup_metadata(work: TableWork) -> None:
    """Delete log entries older than the table's log retention and its last checkpoint."""
    since = work.reader_since_ms
    if since is not None and time.time() * 1000 - since > LOG_GUARD_MS:
        return
    work.table.cleanup_metadata()


# Vacuum runs before the checkpoint: a non-full vacuum finds removed files from the log's
# tombstones, which a checkpoint drops once they are older than the table's retention.
def fold_tail(lake: Lake, options: MaintenanceOptions) -> Mapping[str, Any]:
    """Apply asset_versions_tail to asset_versions, so compaction sees the folded table."""
    del options
    return dataclasses.asdict(fold(lake))


STEPS: tuple[Step, ...] = (
    LakeStep("fold", fold_tail),  # lake-wide steps that change the data layout come first
    TableStep("compact", compact),
    TableStep("z_order", z_order),
    TableStep("vacuum", vacuum),
    TableStep("checkpoint", checkpoint),
    TableStep("cleanup_metadata", cleanup_metadata),
)


# -- running them -----------------------------------------------------------------------------
def maintain(
    lake: Lake,
    options: MaintenanceOptions | None = None,
    steps: Sequence[Step] = STEPS,
) -> MaintenanceReport:
    """Run ``steps`` on the lake (which must exist); the rows of every table stay the same."""
    options = options or MaintenanceOptions()
    if options.vacuum_hours < 0:
        raise LakeError(f"vacuum retention must be 0 hours or more, not {options.vacuum_hours}")
    started = time.perf_counter()
    if not lake.exists():
        raise LakeError(f"{lake.uri}: no assetlake lake here (run `assetlake ingest` first)")
    lake.create()  # checks the lake and adds any table of TABLES it does not have yet
    readers = change_feed_readers(lake)
    works = [
        TableWork(lake, lake.table(s.name), _open_report(lake.table(s.name), s.name), options)
        for s in TABLES
    ]
    lake_steps: dict[str, dict[str, Any]] = {}
    for step in steps:
        if isinstance(step, LakeStep):
            lake_steps[step.name] = dict(step.run(lake, options))
            continue
        for work in works:
            work.table = lake.table(work.report.table)
            work.reader_since_ms = readers.get(work.report.table)
            step_started = time.perf_counter()
            step.run(work)
            work.report.seconds += time.perf_counter() - step_started
    for work in works:
        _close_report(lake.table(work.report.table), work.report)
    return MaintenanceReport([w.report for w in works], lake_steps, time.perf_counter() - started)


def change_feed_readers(lake: Lake) -> dict[str, int]:
    """Per table, the commit time (ms) of the oldest version a drain consumer has yet to read."""
    marks = lake.scan(DRAIN_PROGRESS.name).group_by("consumer").agg(pl.col("to_version").max())
    oldest = marks.select(pl.col("to_version").min()).collect().item()
    if oldest is None or oldest + 1 > lake.table(RAW_EVENTS.name).version():
        return {}
    return {RAW_EVENTS.name: commit_time(lake, RAW_EVENTS.name, oldest + 1)}


def commit_time(lake: Lake, name: str, version: int) -> int:
    """When a version of a table was committed (ms); 0 if its log entry is gone or has none."""
    path = f"{lake.table_uri(name)}/_delta_log/{version:020d}.json"
    try:
        with lake.fs.open(path, "rb") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return 0
    for line in lines:
        info = orjson.loads(line).get("commitInfo") if line.strip() else None
        if isinstance(info, dict) and isinstance(info.get("timestamp"), int):
            return info["timestamp"]
    return 0


def _open_report(table: DeltaTable, name: str) -> TableReport:
    return TableReport(table=name, files_before=active_files(table).height)


def _close_report(table: DeltaTable, report: TableReport) -> None:
    files = active_files(table)
    report.files_after = files.height
    report.rows = int(files.get_column("num_records").sum() or 0)
    report.bytes_after = int(files.get_column("size_bytes").sum() or 0)
    report.version = table.version()


def active_files(table: DeltaTable) -> pl.DataFrame:
    """The table's active files: path, size_bytes, modification_time, num_records, partition.*."""
    return pl.DataFrame(table.get_add_actions(flatten=True))


def changed_partitions(table: DeltaTable) -> list[tuple[str, PartitionFilter]]:
    """The partitions with a file newer than their last z-order: (label, partition filters).

    The label of an unpartitioned table is ``""``; a partition with a null value is skipped
    (delta-rs filters cannot name it).
    """
    files = active_files(table)
    if files.is_empty():
        return []
    columns = list(table.metadata().partition_columns)
    if columns:
        keys = [f"partition.{c}" for c in columns]
        newest = files.group_by(keys).agg(pl.col("modification_time").max()).sort(keys)
    else:
        newest = files.select(pl.col("modification_time").max())
    last = last_z_orders(table)
    changed: list[tuple[str, PartitionFilter]] = []
    for *values, modified in newest.iter_rows():
        if any(value is None for value in values):
            continue
        filters = [(c, "=", _partition_literal(v)) for c, v in zip(columns, values, strict=True)]
        label = "/".join(f"{c}={v}" for c, _, v in filters)
        if modified > last.get(label, -1):
            changed.append((label, filters))
    return changed


def last_z_orders(table: DeltaTable) -> dict[str, int]:
    """When each partition (by label) was last z-ordered, in ms, within the recent history."""
    last: dict[str, int] = {}
    for commit in table.history(HISTORY_WINDOW):  # newest first
        label = commit.get(Z_ORDER_MARK)
        if isinstance(label, str) and label not in last:
            last[label] = int(commit["timestamp"])
    return last


def _partition_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _props(step: str, extra: Mapping[str, str] | None = None) -> CommitProperties:
    return CommitProperties(custom_metadata={MAINTENANCE_MARK: step, **(extra or {})})


def _retrying(table: DeltaTable, operation: Callable[[], T]) -> T:
    """Run a rewrite, again on a commit conflict with a concurrent writer (from a fresh state)."""
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        try:
            return operation()
        except CommitFailedError:
            if attempt == COMMIT_ATTEMPTS:
                raise
            time.sleep(0.2 * attempt)
            table.update_incremental()
    raise AssertionError("unreachable")
