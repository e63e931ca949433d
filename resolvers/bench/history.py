"""The synthetic history written straight into a lake: the one layout-specific part of the bench.

Building a lake of ten million versions through the engine would take hours, so the exact rows
(:mod:`resolvers.bench.rows`) are written directly, the way the lake holds them *right after a
fold*: asset_versions is the compacted Delta table (partitioned as its TableSpec says, by
is_current), sorted by asset key, in commits of about a million rows; the tail of row
operations, if the layout has one, is left empty. The logs the writer keeps are filled as the
engine would have: one asset_observations row per version (the observation that opened it), one
raw_events and one asset_changes row per version's event. Raw payloads are a short stub: no
batch reads them, and they would double the build for nothing.

When the layout changes, this module (and only this one) changes with it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
from deltalake import write_deltalake

from resolvers.bench.rows import (
    AS_OF,
    FEED_START,
    chunk_bounds,
    lake_rows,
    table_for,
    version_counts,
    version_rows,
)
from resolvers.lake.storage import Lake
from resolvers.lake.tables import ASSET_CHANGES, ASSET_OBSERVATIONS, ASSET_VERSIONS, RAW_EVENTS
from resolvers.timeutil import utcnow

WRITTEN = (ASSET_VERSIONS, ASSET_OBSERVATIONS, RAW_EVENTS, ASSET_CHANGES)


@dataclass(frozen=True, slots=True)
class HistoryInfo:
    """What was built: sizes, the instants the bench uses, and how long it took."""

    live: int
    history: int
    commits: int
    seconds: float
    as_of: dt.datetime = AS_OF  # an instant inside the history
    feed_start: dt.datetime = FEED_START  # later than every version


def build_history(
    lake: Lake,
    live: int,
    history: int,
    seed: int,
    rows_per_commit: int = 1_000_000,
    progress: Callable[[str], None] | None = None,
) -> HistoryInfo:
    """Create ``lake`` holding ``live`` assets with ``history`` versions in all."""
    started = time.perf_counter()
    lake.create()
    counts = version_counts(live, history, seed)
    rng = np.random.default_rng(seed + 1)
    now = utcnow()
    bounds = chunk_bounds(counts, rows_per_commit)
    for number, (start, end) in enumerate(bounds, start=1):
        frame = version_rows(start, counts[start:end], rng).sort("asset_key", "valid_from")
        write_rows(lake, frame, now)
        if progress:
            progress(f"history {number}/{len(bounds)}: {frame.height:,} versions written")
        del frame
    compact(lake, progress)
    return HistoryInfo(live, history, len(bounds), time.perf_counter() - started)


def compact(lake: Lake, progress: Callable[[str], None] | None = None) -> None:
    """What the scheduled maintenance leaves: each partition's files compacted, a checkpoint.

    The history is written in a few large commits that each span every day partition, which
    a lake fed day by day and compacted hourly never holds; a Delta append costs more the more
    files a table has (measured: 4 ms at 20 files, 37 ms at 20,000), so the bench measures the
    lake as maintenance keeps it."""
    for spec in WRITTEN:
        table = lake.table(spec.name)
        table.optimize.compact()
        table.create_checkpoint()
        if progress:
            progress(f"compacted {spec.name}: {len(table.file_uris()):,} files")


def build_history_at(
    uri: str,
    live: int,
    history: int,
    seed: int,
    rows_per_commit: int = 1_000_000,
    progress: Callable[[str], None] | None = None,
) -> HistoryInfo:
    """:func:`build_history` for the lake at ``uri`` (callable in another process)."""
    return build_history(Lake(uri), live, history, seed, rows_per_commit, progress)


def write_rows(lake: Lake, frame: pl.DataFrame, now: dt.datetime) -> None:
    """Append generated version rows to every table they belong in (one commit each)."""
    rows = lake_rows(frame, now)
    for spec in WRITTEN:
        write_deltalake(
            lake.table_uri(spec.name),
            table_for(spec, rows),
            mode="append",
            partition_by=list(spec.partition_by) or None,
            storage_options=lake.storage_options,
        )
