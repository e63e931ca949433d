"""Timing the write path: plain Delta appends (the floor; and assetlake's own), and ingest
through the real path.

Ingest goes through :func:`resolvers.ingest.ingest_records` with a :class:`LakeWriter`, as the
command line and the Dagster jobs do; the only addition is a subclass that times each call of
the writer's public ``commit``, so a batch's time splits into parsing and resolving (the rest)
and committing. Nothing here knows how the writer lays out the lake.
"""

from __future__ import annotations

import datetime as dt
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from resolvers.bench.feed import FeedGenerator
from resolvers.gcp.asset_feed import SOURCE as ASSET_FEED
from resolvers.ingest import Record, ingest_records
from resolvers.lake.append import Appender, CommitNote
from resolvers.lake.storage import Lake
from resolvers.lake.tables import ASSET_VERSIONS
from resolvers.lake.writer import CommitResult, LakeWriter, StreamTxn
from resolvers.model import ResolvedBatch
from resolvers.resolve_pool import workers_peak_rss_mb

Progress = Callable[[str], None]
PIPELINED = 4  # batches per ingest call: a batch is resolved while the one before commits


def stderr_progress(message: str) -> None:
    """Print a progress line on stderr (a plain function: it can be sent to another process)."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    """The peak resident memory of this process so far, plus that of its resolver worker
    processes (resolvers/resolve_pool.py), which do part of its ingest (MB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return own + workers_peak_rss_mb()


class TimedWriter(LakeWriter):
    """A LakeWriter that records how long each ``commit`` takes; it changes nothing else."""

    def __init__(self, lake: Lake) -> None:
        super().__init__(lake)
        self.commit_seconds: list[float] = []

    def commit(
        self, batch: ResolvedBatch, batch_id: str, txn: StreamTxn | None = None
    ) -> CommitResult:
        """Commit as LakeWriter does, timing it."""
        started = time.perf_counter()
        try:
            return super().commit(batch, batch_id, txn)
        finally:
            self.commit_seconds.append(time.perf_counter() - started)


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """How many batches to run: warm-up, then at least ``least``, at most ``most``, or until
    ``budget_s`` seconds of measured batches have passed."""

    warmup: int
    least: int
    most: int
    budget_s: float


@dataclass(slots=True)
class LaneTimes:
    """The times of one lane's batches: whole batch, writer commits, CPU of the process."""

    name: str
    batch_seconds: list[float] = field(default_factory=list)
    commit_seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)  # the lane's process, all threads
    first_batch_s: float | None = None

    def record(self, seconds: float, commit: float, cpu: float, measured: bool) -> None:
        """Note one batch (a warm-up batch only counts as the first one)."""
        if self.first_batch_s is None:
            self.first_batch_s = seconds
        if measured:
            self.batch_seconds.append(seconds)
            self.commit_seconds.append(commit)
            self.cpu_seconds.append(cpu)


@dataclass(frozen=True, slots=True)
class LaneSpec:
    """What it takes to feed one lake (plain data: it can be sent to another process)."""

    name: str
    uri: str
    live: int
    seed: int
    feed_start: dt.datetime

    def open(self) -> Lane:
        """A lane feeding this lake from this process."""
        feed = FeedGenerator(self.live, self.seed, self.feed_start)
        return Lane(TimedWriter(Lake(self.uri)), feed, LaneTimes(self.name))


@dataclass(slots=True)
class Lane:
    """One lake fed from this process: its writer, its feed, and the times of its batches."""

    writer: TimedWriter
    feed: FeedGenerator
    times: LaneTimes

    def run_batch(self, size: int, measured: bool) -> float:
        """Parse, resolve and commit the next ``size`` feed messages; returns the seconds."""
        seconds, commit, cpu = self.time_batch(size)
        self.times.record(seconds, commit, cpu, measured)
        return seconds

    def time_batch(self, size: int) -> tuple[float, float, float]:
        """``PIPELINED`` batches of ``size`` messages through one ``ingest_records`` call, as a
        drain of a backlog or a file ingest runs them (resolving one while the previous one
        commits): per batch, (seconds, seconds in commit, CPU seconds)."""
        texts = self.feed.batch(size * PIPELINED)
        commits_before = len(self.writer.commit_seconds)
        cpu_started, started = time.process_time(), time.perf_counter()
        # parsed where they are resolved, as a drain reads them (Record.of_text)
        records = [Record.of_text(text, f"bench:{n}") for n, text in enumerate(texts)]
        ingest_records(self.writer, records, ASSET_FEED, batch_size=size)
        seconds = time.perf_counter() - started
        commit = sum(self.writer.commit_seconds[commits_before:])
        cpu = time.process_time() - cpu_started
        return seconds / PIPELINED, commit / PIPELINED, cpu / PIPELINED


_CHILD_LANES: dict[str, Lane] = {}


def child_batch(spec: LaneSpec, size: int) -> tuple[float, float, float]:
    """Run one batch of ``spec``'s lane, kept in this (child) process; see Lane.time_batch."""
    lane = _CHILD_LANES.get(spec.uri)
    if lane is None:
        lane = _CHILD_LANES[spec.uri] = spec.open()
    return lane.time_batch(size)


@dataclass(slots=True)
class RemoteLane:
    """A lane whose writer lives in a child process, so its memory is not this process's."""

    spec: LaneSpec
    pool: Executor
    times: LaneTimes

    def run_batch(self, size: int, measured: bool) -> float:
        """As Lane.run_batch, in the child process."""
        seconds, commit, cpu = self.pool.submit(child_batch, self.spec, size).result()
        self.times.record(seconds, commit, cpu, measured)
        return seconds


def run_lanes(
    lanes: Sequence[Lane | RemoteLane], size: int, plan: BatchPlan, progress: Progress
) -> int:
    """Warm every lane up, then feed the lanes a batch each in turn (so that noise from the
    rest of the machine hits them alike) until the plan says stop; returns the rounds run."""
    for lane in lanes:
        for _ in range(plan.warmup):
            lane.run_batch(size, measured=False)
        progress(f"{lane.times.name}: warmed up (first batch {lane.times.first_batch_s:.2f} s)")
    started, rounds = time.perf_counter(), 0
    while rounds < plan.most and (
        rounds < plan.least or time.perf_counter() - started < plan.budget_s
    ):
        times = [lane.run_batch(size, measured=True) for lane in lanes]
        rounds += 1
        if rounds % 5 == 0 or rounds == 1:
            shown = ", ".join(
                f"{lane.times.name} {t:.3f} s" for lane, t in zip(lanes, times, strict=True)
            )
            progress(f"batch round {rounds}: {shown}")
    return rounds


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Plain appends of asset_versions-shaped rows: seconds per commit (after warm-up)."""

    rows_per_commit: int
    seconds: list[float]

    @property
    def rows_per_s(self) -> float:
        """Rows a second at the median commit time."""
        return self.rows_per_commit / statistics.median(self.seconds)


def append_floor(uri: str, rows: pa.Table, rows_per_commit: int, commits: int) -> AppendResult:
    """Append ``rows`` in commits of ``rows_per_commit`` to a new unpartitioned Delta table,
    with deltalake, the table held open between commits (as a long-lived writer holds it:
    opening it by URI for each commit reads its log again and halves the rate).

    The first few commits are a warm-up; ``rows`` must hold enough rows for every commit.
    """
    table = DeltaTable.create(uri, schema=rows.schema)

    def append(piece: pa.Table) -> None:
        write_deltalake(table, piece, mode="append")

    return _timed_appends(rows, rows_per_commit, commits, append)


def own_append_floor(
    folder: str, rows: pa.Table, rows_per_commit: int, commits: int
) -> AppendResult:
    """As :func:`append_floor`, through assetlake's own appends (resolvers/lake/append.py)
    into the asset_versions table of a new lake (every row current: one file a commit)."""
    lake = Lake(folder).create()
    appender = Appender(lake, ASSET_VERSIONS)
    current = rows.set_column(
        rows.schema.get_field_index("is_current"), "is_current", pa.repeat(True, rows.num_rows)
    ).cast(ASSET_VERSIONS.schema)

    def append(piece: pa.Table) -> None:
        appender.append(piece, CommitNote())

    return _timed_appends(current, rows_per_commit, commits, append)


def _timed_appends(
    rows: pa.Table, rows_per_commit: int, commits: int, append: Callable[[pa.Table], None]
) -> AppendResult:
    warmup = max(1, commits // 10)
    seconds = []
    for number in range(warmup + commits):
        piece = rows.slice(number * rows_per_commit, rows_per_commit)
        started = time.perf_counter()
        append(piece)
        if number >= warmup:
            seconds.append(time.perf_counter() - started)
    return AppendResult(rows_per_commit, seconds)


def batch_summary(lane: LaneTimes) -> dict[str, float]:
    """Medians and p90 of one lane's measured batches (seconds)."""
    batch, commit = lane.batch_seconds, lane.commit_seconds
    return {
        "batch_s_median": median(batch),
        "batch_s_p90": percentile(batch, 0.9),
        "commit_s_median": median(commit),
        "commit_s_p90": percentile(commit, 0.9),
        "parse_resolve_s_median": median([b - c for b, c in zip(batch, commit, strict=True)]),
        "batch_cpu_s_median": median(lane.cpu_seconds),
        "first_batch_s": lane.first_batch_s or 0.0,
    }


def median(values: Sequence[float]) -> float:
    """The median, or 0.0 for no values."""
    return statistics.median(values) if values else 0.0


def percentile(values: Sequence[float], share: float) -> float:
    """The value below which ``share`` of ``values`` fall (nearest rank), or 0.0."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]
