"""Measure DuckDB over the lake three ways: delta_scan, read_parquet(file_uris), Arrow datasets.

    .venv/bin/python docs/query_engine_bench.py [--assets 250000] [--versions 4] [--runs 3]

Builds a lake in a temporary folder: ``assets x versions`` asset_versions rows (about 1 KB of
config each, written by delta-rs from polars, so Utf8View columns) and one asset_changes row per
version, then commits four real batches of 1,000 updates through LakeWriter with a fold after the
second (a MERGE: the current partition's files are rewritten as Utf8View), so the tail holds the
last two batches. Each query runs on ``asset_versions`` as the view that applies the tail
("view") and on the compacted table alone ("compacted", as right after a fold). Prints a
Markdown table: per query and engine, the median wall time (and CPU time of all threads) of
``--runs`` runs in milliseconds, the engines taking turns. Results: docs/query-engine.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
from deltalake import write_deltalake

from resolvers import query
from resolvers.lake.fold import fold
from resolvers.lake.layout import asset_versions_view_sql
from resolvers.lake.storage import Lake
from resolvers.lake.tables import ASSET_CHANGES, ASSET_VERSIONS, TABLES, TableSpec
from resolvers.lake.writer import LakeWriter
from resolvers.model import Observation, ResolvedBatch
from resolvers.observe import observation

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def version_rows(assets: int, versions: int, seed: int = 7) -> pl.DataFrame:
    """``assets x versions`` contiguous SCD2 rows, shuffled (files are not sorted by key)."""
    frame = pl.DataFrame({"i": range(assets)}).join(
        pl.DataFrame({"version": range(1, versions + 1)}), how="cross"
    )
    key = pl.format(
        "//storage.googleapis.com/projects/p{}/buckets/bucket-{}", pl.col("i") % 50, "i"
    )
    start = pl.lit(T0) + pl.duration(days=pl.col("version") * 30) + pl.duration(seconds=pl.col("i"))
    padding = "x" * 900
    config = pl.concat_str(
        pl.lit('{"resource":{"data":{"iamConfiguration":{"uniformBucketLevelAccess":{"enabled":'),
        (pl.col("version") % 2 == 0).cast(pl.String).str.to_lowercase(),
        pl.lit('}},"name":"bucket-'),
        pl.col("i").cast(pl.String),
        pl.lit(f'","padding":"{padding}","storageClass":"STANDARD"}}}}}}'),
    )
    return (
        frame.with_columns(asset_key=key, valid_from=start)
        .with_columns(
            cloud=pl.lit("gcp"),
            account_id=pl.format("p{}", pl.col("i") % 50),
            region=pl.lit("us"),
            resource_type=pl.lit("storage.googleapis.com/Bucket"),
            name=pl.format("bucket-{}", "i"),
            tags=pl.concat_str(
                pl.lit('{"env":"prod","team":"t'), (pl.col("i") % 20).cast(pl.String), pl.lit('"}')
            ),
            config=config,
            config_hash=pl.format("h{}-{}", "i", "version"),
            valid_to=pl.when(pl.col("version") < versions)
            .then(pl.col("valid_from") + pl.duration(days=30))
            .otherwise(None),
            is_current=pl.col("version") == versions,
            is_deleted=pl.lit(False),
            changed_by=pl.format("user{}@example.com", pl.col("i") % 30),
            change_event_ids=pl.concat_list(pl.format("ev-{}-{}", "i", "version")),
            change_source=pl.lit("event"),
            observed_at=pl.col("valid_from"),
            recorded_at=pl.col("valid_from"),
            last_observed_at=pl.col("valid_from"),
        )
        .sample(fraction=1.0, shuffle=True, seed=seed)
    )


def change_rows(versions: pl.DataFrame) -> pl.DataFrame:
    """One asset_changes row per version."""
    return versions.select(
        event_id=pl.col("change_event_ids").list.first(),
        asset_key="asset_key",
        cloud="cloud",
        account_id="account_id",
        region="region",
        resource_type="resource_type",
        action=pl.when(pl.col("version") == 1).then(pl.lit("create")).otherwise(pl.lit("update")),
        event_source=pl.lit("storage.googleapis.com"),
        event_name=pl.lit("storage.buckets.update"),
        event_time="valid_from",
        principal="changed_by",
        principal_type=pl.lit("user"),
        source_ip=pl.lit("10.0.0.1"),
        user_agent=pl.lit("gcloud"),
        invoked_by=pl.lit(None, pl.String),
        request=pl.lit('{"bucket":"b"}'),
        response=pl.lit("{}"),
        batch_id=pl.lit("bench"),
        recorded_at="valid_from",
    )


def updates(batch: int, versions: int) -> list[Observation]:
    """1,000 observations that change 1,000 existing assets."""
    when = T0 + DAY * (30 * versions + 60 + batch)
    return [
        observation(
            asset_key=f"//storage.googleapis.com/projects/p{i % 50}/buckets/bucket-{i}",
            cloud="gcp",
            resource_type="storage.googleapis.com/Bucket",
            config={"resource": {"data": {"name": f"bucket-{i}", "batch": batch}}},
            event_time=when,
            event_ids=[f"bench-{batch}-{i}"],
            salt=b"bench",
            account_id=f"p{i % 50}",
            name=f"bucket-{i}",
        )
        for i in range(batch * 1000, batch * 1000 + 1000)
    ]


def conform(frame: pl.DataFrame, spec: TableSpec) -> pa.Table:
    """The rows as an Arrow table of the table's schema (columns the frame lacks are null)."""
    arrow = frame.to_arrow()
    columns = [
        arrow.column(f.name) if f.name in arrow.column_names else pa.nulls(len(arrow), f.type)
        for f in spec.schema
    ]
    return pa.Table.from_arrays(columns, names=spec.schema.names)


def build_lake(root: str, assets: int, versions: int) -> Lake:
    """The benchmark lake: bulk history, then four batches of updates through the writer."""
    lake = Lake(f"{root}/lake").create()
    rows = version_rows(assets, versions)
    for chunk in rows.iter_slices(rows.height // 10 + 1):
        for spec, frame in ((ASSET_VERSIONS, chunk), (ASSET_CHANGES, change_rows(chunk))):
            write_deltalake(lake.table(spec.name), conform(frame, spec), mode="append")
    writer = LakeWriter(lake)
    for batch in range(4):
        if batch == 2:
            fold(lake)  # a MERGE: the current partition's files become Utf8View
        writer.commit(ResolvedBatch(observations=updates(batch, versions)), f"bench-{batch}")
    return lake


def connect_arrow_datasets(lake: Lake) -> duckdb.DuckDBPyConnection:
    """The rejected alternative: DeltaTable.to_pyarrow_dataset() of each table, registered."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    for spec in TABLES:
        name = query.COMPACTED if spec.name == ASSET_VERSIONS.name else spec.name
        con.register(name, lake.table(spec.name).to_pyarrow_dataset())
    view = asset_versions_view_sql(query.COMPACTED, query.TAIL)
    con.execute(f"CREATE VIEW asset_versions AS {view}")
    for _description, ddl in query.VIEWS.values():
        con.execute(ddl)
    return con


def sample(action: Callable[[], Any]) -> tuple[float, float]:
    """Wall and CPU (all threads of this process) milliseconds of one run of ``action``."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def medians(samples: list[tuple[float, float]]) -> str:
    """``wall (cpu)`` medians in milliseconds."""
    wall, cpu = (statistics.median(s[i] for s in samples) for i in (0, 1))
    return f"{wall:.0f} ({cpu:.0f})"


def queries(assets: int, versions: int) -> dict[str, Callable[[duckdb.DuckDBPyConnection], Any]]:
    """The measured queries, by name."""
    as_of = T0 + DAY * (30 * (versions // 2) + 15)
    key = f"//storage.googleapis.com/projects/p{assets // 3 % 50}/buckets/bucket-{assets // 3}"
    return {
        "count inventory now": lambda c: c.sql("SELECT count(*) FROM inventory").fetchall(),
        "count inventory as of T": lambda c: c.sql(
            "SELECT count(*) FROM inventory_as_of(?::TIMESTAMPTZ)", params=[as_of]
        ).fetchall(),
        "history of one asset (+diff)": lambda c: query.history(c, key),
        "inventory now, search config text": lambda c: query.inventory(c, search="bucket-4242"),
        "inventory now to Arrow (with config)": lambda c: query.inventory(c),
        "inventory as of T to Arrow": lambda c: query.inventory(c, as_of=as_of),
        "group by account, as of T": lambda c: c.sql(
            "SELECT account_id, count(*) FROM inventory_as_of(?::TIMESTAMPTZ) GROUP BY 1",
            params=[as_of],
        ).fetchall(),
    }


def main() -> None:
    """Build the lake, then time each engine on each query, alternating engines run by run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=250_000)
    parser.add_argument("--versions", type=int, default=4)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lake", help="build the lake in this folder, or reuse the one there")
    parser.add_argument("--engines", default="delta_scan,parquet,arrow dataset")
    parser.add_argument("--modes", default="view,compacted")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        lake = open_lake(args.lake or scratch, args.assets, args.versions)
        engines = args.engines.split(",")
        print("| query | " + " | ".join(engines) + " |")
        print("|---" * (len(engines) + 1) + "|")
        connects = {
            e: [sample(lambda e=e: ENGINES[e](lake)) for _ in range(args.runs)] for e in engines
        }
        print("| connect | " + " | ".join(medians(connects[e]) for e in engines) + " |")
        for mode in args.modes.split(","):
            connections = {engine: connect_mode(lake, engine, mode) for engine in engines}
            for name, run in queries(args.assets, args.versions).items():
                cells = interleaved(run, connections, args.runs)
                print(
                    f"| {name} ({mode}) | " + " | ".join(cells[e] for e in engines) + " |",
                    flush=True,
                )


def connect_mode(lake: Lake, engine: str, mode: str) -> duckdb.DuckDBPyConnection:
    """A connection where asset_versions is the tail view ("view") or the compacted table."""
    con = ENGINES[engine](lake)
    if mode == "compacted":  # the compacted table alone, as right after a fold
        con.execute(f"CREATE OR REPLACE VIEW asset_versions AS FROM {query.COMPACTED}")
    return con


def interleaved(
    run: Callable[[duckdb.DuckDBPyConnection], Any],
    connections: dict[str, duckdb.DuckDBPyConnection],
    runs: int,
) -> dict[str, str]:
    """Medians per engine, the engines taking turns run by run (a shared, noisy machine)."""
    samples: dict[str, list[tuple[float, float]]] = {engine: [] for engine in connections}
    failed: dict[str, str] = {}
    for _ in range(runs):
        for engine, con in connections.items():
            if engine in failed:
                continue
            try:
                samples[engine].append(sample(lambda c=con: run(c)))
            except (duckdb.Error, query.QueryError) as exc:  # failures are results too
                failed[engine] = "fails: " + str(exc).splitlines()[0].split(": ")[-1][:60]
    return {e: failed.get(e) or medians(samples[e]) for e in connections}


def open_lake(root: str, assets: int, versions: int) -> Lake:
    """The lake under ``root``: reused if it is there, else built."""
    lake = Lake(f"{root}/lake")
    if lake.exists():
        lake.create()  # adds tables that a newer assetlake has
    else:
        started = time.perf_counter()
        lake = build_lake(root, assets, versions)
        print(f"built the lake in {time.perf_counter() - started:.1f} s")
    rows = lake.scan(ASSET_VERSIONS.name).select(pl.len()).collect().item()
    tail = lake.scan(query.TAIL).select(pl.len()).collect().item()
    print(f"lake: {rows} asset_versions rows (compacted), {tail} tail rows")
    return lake


ENGINES: dict[str, Callable[[Lake], duckdb.DuckDBPyConnection]] = {
    "delta_scan": lambda lake: query.connect(lake, "delta_scan"),
    "parquet": lambda lake: query.connect(lake, "parquet"),
    "arrow dataset": connect_arrow_datasets,
}


if __name__ == "__main__":
    main()
