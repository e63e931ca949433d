"""``assetlake bench``: every figure measured in one run, in a temporary folder of its own.

The run: plain appends (the floor); two lakes built directly with the same live assets, one
with as many history rows as assets (1x) and one with ten times that (10x); the same feed
batches ingested into both, in turn, through the real path; then the read path (DuckDB, the way
users query) and, where the writer has one, a fold, on the 10x lake. Building is never timed.
"""

from __future__ import annotations

import multiprocessing
import tempfile
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from resolvers.bench import queries
from resolvers.bench.history import HistoryInfo, build_history_at
from resolvers.bench.measure import (
    BatchPlan,
    Lane,
    LaneSpec,
    LaneTimes,
    Progress,
    RemoteLane,
    append_floor,
    batch_summary,
    median,
    own_append_floor,
    peak_rss_mb,
    run_lanes,
    stderr_progress,
)
from resolvers.bench.report import GOALS, load_average, machine_info
from resolvers.bench.rows import lake_rows, table_for, version_counts, version_rows
from resolvers.bench.synthetic import asset_keys
from resolvers.lake.storage import Lake
from resolvers.lake.tables import ASSET_VERSIONS
from resolvers.timeutil import utcnow

SEED = 20_240_101


@dataclass(frozen=True, slots=True)
class BenchSizes:
    """How big a bench run is."""

    name: str
    live: int  # live assets in both lakes
    history: int  # history rows of the big lake (10x)
    base_history: int  # history rows of the small lake (1x)
    batches: BatchPlan
    batch_size: int = 1000
    append_commits: int = 50
    append_rows_per_commit: int = 1000
    rows_per_commit: int = 500_000  # history building (about 2 GB of memory a commit)
    history_keys: int = 11  # assets whose history is read (one of them warms up)
    as_of_repeats: int = 3
    rules_versions: int = 1_000_000  # versions the compliance rules judge (rules_versions_per_s)


FULL = BenchSizes("full", 1_000_000, 10_000_000, 1_000_000, BatchPlan(2, 10, 50, 150.0))
QUICK = BenchSizes(
    "quick", 100_000, 1_000_000, 100_000, BatchPlan(2, 8, 40, 12.0), rules_versions=100_000
)
TINY = BenchSizes(
    "tiny",
    2_000,
    10_000,
    2_000,
    BatchPlan(1, 3, 3, 0.0),
    append_commits=5,
    history_keys=3,
    rules_versions=2_000,
)


@dataclass(slots=True)
class Figures:
    """Everything measured, before it is turned into the result."""

    append_rows_per_s: float = 0.0
    append_commit_s: float = 0.0
    own_append_rows_per_s: float = 0.0
    builds: dict[str, HistoryInfo] = field(default_factory=dict)
    lanes: dict[str, LaneTimes] = field(default_factory=dict)
    rounds: int = 0
    as_of_s: float = 0.0
    as_of_count: int = 0
    history_s: float = 0.0
    history_rows: int = 0
    query_layer: str = ""
    fold_s: float | None = None
    rules_versions_per_s: float = 0.0
    rss_mb: dict[str, float] = field(default_factory=dict)  # peak so far, after each phase


def _quiet(_message: str) -> None:
    """No progress lines."""


def run_bench(
    sizes: BenchSizes = QUICK,
    workdir: Path | None = None,
    seed: int = SEED,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the bench in a new temporary folder under ``workdir``; returns the result object."""
    say = progress or _quiet
    machine = machine_info()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="assetlake-bench-", dir=workdir) as folder:
        figures = _measure(Path(folder), sizes, seed, say)
    machine["load_average_end"] = load_average()
    params = {**asdict(sizes), "seed": seed, "seconds": round(time.perf_counter() - started, 1)}
    return result_dict(figures, machine, params, peak_rss_mb())


def _measure(folder: Path, sizes: BenchSizes, seed: int, say: Progress) -> Figures:
    """The phases. A child process builds the lakes, then feeds the 1x lake: this process
    holds one writer only (the 10x lake's), so its peak memory is what one writer costs."""
    figures = Figures()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as child:
        figures.builds = _build_lakes(child, folder, sizes, seed, say)
        _append_phase(folder, sizes, seed, figures, say)
        figures.rss_mb["append"] = peak_rss_mb()
        specs = {
            name: LaneSpec(name, _lake_uri(folder, name), sizes.live, seed, info.feed_start)
            for name, info in figures.builds.items()
        }
        base = RemoteLane(specs["1x"], child, LaneTimes("1x"))
        big = specs["10x"].open()
        figures.lanes = {"1x": base.times, "10x": big.times}
        figures.rounds = run_lanes([base, big], sizes.batch_size, sizes.batches, say)
    figures.rss_mb["ingest"] = peak_rss_mb()
    _query_phase(big.writer.lake, sizes, seed, figures, say)
    _rules_phase(big.writer.lake, sizes, figures, say)
    figures.rss_mb["queries"] = peak_rss_mb()
    _fold_phase(big, figures, say)
    figures.rss_mb["fold"] = peak_rss_mb()
    return figures


def _lake_uri(folder: Path, name: str) -> str:
    return str(folder / f"lake-{name}")


def _build_lakes(
    child: Executor, folder: Path, sizes: BenchSizes, seed: int, say: Progress
) -> dict[str, HistoryInfo]:
    """Build both lakes in the child process (building is not measured)."""
    child_progress = stderr_progress if say is stderr_progress else None
    builds = {}
    for name, history in (("1x", sizes.base_history), ("10x", sizes.history)):
        say(f"building the {name} lake: {sizes.live:,} live assets, {history:,} versions")
        uri = _lake_uri(folder, name)
        args = (uri, sizes.live, history, seed, sizes.rows_per_commit, child_progress)
        builds[name] = child.submit(build_history_at, *args).result()
        say(f"built the {name} lake in {builds[name].seconds:.1f} s (not timed)")
    return builds


def _append_phase(
    folder: Path, sizes: BenchSizes, seed: int, figures: Figures, say: Progress
) -> None:
    commits = sizes.append_commits + max(1, sizes.append_commits // 10)
    rows_needed = commits * sizes.append_rows_per_commit
    assets = max(1, rows_needed // 10 + 1)
    counts = version_counts(assets, assets * 10, seed)
    frame = version_rows(0, counts, np.random.default_rng(seed))
    rows = table_for(ASSET_VERSIONS, lake_rows(frame, utcnow()))
    say(f"appending {sizes.append_commits} commits of {sizes.append_rows_per_commit:,} rows")
    result = append_floor(
        str(folder / "append-floor"), rows, sizes.append_rows_per_commit, sizes.append_commits
    )
    figures.append_rows_per_s = result.rows_per_s
    figures.append_commit_s = median(result.seconds)
    own = own_append_floor(
        str(folder / "append-own"), rows, sizes.append_rows_per_commit, sizes.append_commits
    )
    figures.own_append_rows_per_s = own.rows_per_s


def _query_phase(lake: Lake, sizes: BenchSizes, seed: int, figures: Figures, say: Progress) -> None:
    con, figures.query_layer = queries.connect(lake)
    say(f"querying the 10x lake through {figures.query_layer}")
    instant = figures.builds["10x"].as_of
    figures.as_of_s, figures.as_of_count = queries.as_of_seconds(con, instant, sizes.as_of_repeats)
    rng = np.random.default_rng(seed + 2)
    picks = rng.choice(sizes.live, min(sizes.live, sizes.history_keys), replace=False)
    keys = asset_keys([int(index) for index in picks])
    figures.history_s, figures.history_rows = queries.history_seconds(con, keys)
    con.close()


def _rules_phase(lake: Lake, sizes: BenchSizes, figures: Figures, say: Progress) -> None:
    """Every state rule over ``rules_versions`` versions of the 10x lake, in memory (read from
    the compacted table alone: the rules judge versions, any of them will do, and the whole
    history with its tail applied would be read, configurations and all, before ``head``)."""
    from resolvers.compliance.evaluate import state_findings_of_frame

    frame = lake.scan(ASSET_VERSIONS.name).head(sizes.rules_versions).collect()
    frame = frame.sort("asset_key", "valid_from")
    started = time.perf_counter()
    state_findings_of_frame(frame)
    seconds = time.perf_counter() - started
    figures.rules_versions_per_s = frame.height / seconds if seconds else 0.0
    say(f"rules judged {frame.height:,} versions in {seconds:.2f} s")


def _fold_phase(lane: Lane, figures: Figures, say: Progress) -> None:
    fold = getattr(lane.writer, "fold", None)
    if not callable(fold):
        return
    started = time.perf_counter()
    fold()
    figures.fold_s = time.perf_counter() - started
    say(f"folded the 10x lake's tail in {figures.fold_s:.2f} s")


def default_progress() -> Progress:
    """Progress lines on stderr."""
    return stderr_progress


def result_dict(
    figures: Figures, machine: dict[str, Any], params: dict[str, Any], peak_rss_mb: float
) -> dict[str, Any]:
    """The one JSON object of ``assetlake bench --json``."""
    base, big = figures.lanes["1x"], figures.lanes["10x"]
    batch_s, size = median(big.batch_seconds), params["batch_size"]
    ingest = size / batch_s if batch_s else 0.0
    base_commit, big_commit = median(base.commit_seconds), median(big.commit_seconds)
    return {
        "append_rows_per_s": round(figures.append_rows_per_s, 1),
        "ingest_events_per_s": round(ingest, 1),
        "ingest_vs_append": round(ingest / figures.append_rows_per_s, 4),
        "history_growth_ratio": round(big_commit / base_commit, 3) if base_commit else 0.0,
        "asof_query_s": round(figures.as_of_s, 4),
        "asset_history_query_s": round(figures.history_s, 4),
        "rules_versions_per_s": round(figures.rules_versions_per_s, 1),
        "rules_vs_ingest": round(figures.rules_versions_per_s / ingest, 3) if ingest else 0.0,
        "peak_rss_mb": round(peak_rss_mb, 1),
        "machine": machine,
        "params": params,
        "detail": _detail(figures),
    }


def _detail(figures: Figures) -> dict[str, Any]:
    rounded = lambda values: {k: round(v, 4) for k, v in values.items()}  # noqa: E731
    return {
        "goals": GOALS,
        "batches_measured_per_lake": figures.rounds,
        "append_commit_s_median": round(figures.append_commit_s, 4),
        # the same rows through assetlake's own appends (resolvers/lake/append.py), which
        # the writer uses: the ratio to deltalake's is what they save a commit
        "own_append_rows_per_s": round(figures.own_append_rows_per_s, 1),
        "lake_1x": rounded(batch_summary(figures.lanes["1x"])),
        "lake_10x": rounded(batch_summary(figures.lanes["10x"])),
        "build_s": {name: round(info.seconds, 1) for name, info in figures.builds.items()},
        "as_of": figures.builds["10x"].as_of.isoformat(),
        "as_of_assets": figures.as_of_count,
        "history_rows_read": figures.history_rows,
        "query_layer": figures.query_layer,
        "fold_s": None if figures.fold_s is None else round(figures.fold_s, 3),
        "peak_rss_mb_after": {phase: round(mb, 1) for phase, mb in figures.rss_mb.items()},
    }
