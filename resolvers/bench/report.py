"""What the bench prints: the machine it ran on, the goals, and a readable table of figures."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

from resolvers.native.load import status

# The figures with goals (issues 2 and 3): (figure, comparison, goal). Reported, never asserted.
GOALS: dict[str, list[Any]] = {
    "ingest_events_per_s": [">=", 20_000],
    "ingest_vs_append": [">=", 0.2],
    "history_growth_ratio": ["<=", 1.5],
    "asof_query_s": ["<", 2.0],
    "asset_history_query_s": ["<", 0.2],
    "rules_vs_ingest": [">=", 1],
    "resolve_vs_parse": [">=", 0.3],
}
FIGURES = (
    ("append_rows_per_s", "plain Delta append, 1,000-row commits (the floor)"),
    ("ingest_events_per_s", "feed messages parsed, resolved, committed (10x lake)"),
    ("ingest_vs_append", "ingest / append"),
    ("history_growth_ratio", "median commit time, 10x history / 1x history"),
    ("asof_query_s", "whole inventory as of a past instant (count + group-by)"),
    ("asset_history_query_s", "one asset's full history"),
    ("rules_versions_per_s", "every state rule over versions in memory (10x lake)"),
    ("rules_vs_ingest", "rules / ingest (goal >= 1: rules never the bottleneck)"),
    ("peak_rss_mb", "peak resident memory of the process and its resolver workers"),
)
PACKAGES = ("deltalake", "polars", "pyarrow", "duckdb")


def load_average() -> float | None:
    """The 1-minute load average (the machine is shared: figures move with it)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _memory_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def machine_info() -> dict[str, Any]:
    """Cores, memory, Python and the versions of the libraries that do the work."""
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cores": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **versions,
        "helpers": status(),  # native: resolvers/native built and loaded; python: not
        "load_average_start": load_average(),
    }


def _verdict(name: str, value: float) -> str:
    goal = GOALS.get(name)
    if goal is None:
        return ""
    op, target = goal
    met = {">=": value >= target, "<=": value <= target, "<": value < target}[op]
    return f"{op} {target:,}  {'met' if met else 'NOT MET'}"


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3f}" if value >= 0.01 else f"{value:.4f}"


# Figures measured beside the lake's (when they were): name -> (goal, what)
OTHER_FIGURES = {
    "resolve_records_per_s": ("", "CloudTrail records resolved, corpus, offline"),
    "parse_records_per_s": ("", "the same records parsed by orjson"),
    "resolve_vs_parse": ("", "resolve / parse"),
    "scan_assets_per_s": ("", "moto, cost model"),
    "scan_api_calls_per_asset": ("", "moto, cost model"),
    "event_api_calls_per_change": ("", "moto, cost model"),
    "e2e_latency_p50_s": ("goal <= 5", "Dagster end to end"),
    "e2e_latency_p99_s": ("goal <= 15", "Dagster end to end"),
    "e2e_events_per_s": ("goal >= 10,000", "Dagster end to end"),
}


def render_table(result: dict[str, Any]) -> str:
    """The result as a readable table, with the sizes, the machine and the per-batch detail."""
    params, machine, detail = result["params"], result["machine"], result["detail"]
    lines = [
        f"assetlake bench ({params['name']}): {params['live']:,} live assets, "
        f"{params['history']:,} history rows (1x lake: {params['base_history']:,}); "
        f"batches of {params['batch_size']:,}",
        f"machine: {machine['cores']} cores, {machine['memory_gb']} GB, Python "
        f"{machine['python']}, deltalake {machine['deltalake']}, polars {machine['polars']}, "
        f"duckdb {machine['duckdb']}, {machine.get('helpers', 'python')} helpers; "
        f"load average {machine['load_average_start']} -> {machine['load_average_end']}",
        "",
        f"{'figure':<24}{'value':>14}  {'goal':<20}what",
    ]
    for name, what in FIGURES:
        value = result[name]
        lines.append(f"{name:<24}{_number(value):>14}  {_verdict(name, value):<20}{what}")
    for name, (goal, what) in OTHER_FIGURES.items():
        if result.get(name) is not None:
            goal = _verdict(name, result[name]) or goal
            lines.append(f"{name:<24}{_number(result[name]):>14}  {goal:<20}{what}")
    lines += ["", "per batch (seconds):", f"{'lake':<6}" + "".join(f"{k:>24}" for k in _KEYS)]
    for lake in ("lake_1x", "lake_10x"):
        lines.append(f"{lake[5:]:<6}" + "".join(f"{detail[lake][k]:>24.4f}" for k in _KEYS))
    fold = detail["fold_s"]
    lines += [
        "",
        f"{detail['batches_measured_per_lake']} measured batches per lake; lakes built in "
        + ", ".join(f"{k} {v} s" for k, v in detail["build_s"].items())
        + f" (not timed); queries through {detail['query_layer']}; "
        + (f"fold afterwards {fold} s" if fold is not None else "no fold"),
    ]
    return "\n".join(lines)


_KEYS = ("batch_s_median", "commit_s_median", "parse_resolve_s_median", "first_batch_s")
