"""The read path as users take it: DuckDB over the lake's tables, by name.

The connection comes from the query layer (:func:`resolvers.query.connect`, the same one
``assetlake sql`` uses), so whatever view stands for asset_versions there (a compacted table
plus its tail) is what is measured. Where there is no query layer (an older checkout), a plain
DuckDB connection reads the Parquet files of the Delta tables' current versions instead.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections.abc import Sequence

import duckdb
from deltalake import DeltaTable

from resolvers.lake.storage import Lake
from resolvers.lake.tables import ASSET_VERSIONS

AS_OF = (
    "SELECT * FROM asset_versions "
    "WHERE valid_from <= $ts AND (valid_to IS NULL OR valid_to > $ts) AND NOT is_deleted"
)
AS_OF_QUERIES = (
    f"SELECT count(*) FROM ({AS_OF})",
    f"SELECT resource_type, region, count(*) AS assets FROM ({AS_OF}) "
    "GROUP BY resource_type, region ORDER BY assets DESC",
)
HISTORY_QUERY = "SELECT * FROM asset_versions WHERE asset_key = $key ORDER BY valid_from"


def connect(lake: Lake) -> tuple[duckdb.DuckDBPyConnection, str]:
    """A DuckDB connection with the lake's tables by name, and which layer made it."""
    try:
        from resolvers.query import connect as query_connect
    except ImportError:
        return _parquet_connection(lake), "parquet files (no resolvers.query)"
    return query_connect(lake), "resolvers.query.connect"


def _parquet_connection(lake: Lake) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    table = DeltaTable(lake.table_uri(ASSET_VERSIONS.name), storage_options=lake.storage_options)
    files = ", ".join(f"'{uri}'" for uri in table.file_uris())
    con.execute(
        f"CREATE VIEW asset_versions AS SELECT * FROM read_parquet([{files}], "
        "hive_partitioning = true, union_by_name = true)"
    )
    return con


def _timed(con: duckdb.DuckDBPyConnection, sql: str, params: dict) -> tuple[float, int]:
    started = time.perf_counter()
    rows = con.execute(sql, params).fetch_arrow_table().num_rows
    return time.perf_counter() - started, rows


def as_of_seconds(
    con: duckdb.DuckDBPyConnection, instant: dt.datetime, repeats: int
) -> tuple[float, int]:
    """Median seconds of the as-of count plus group-by (after one warm-up), and the count."""
    params = {"ts": instant}
    count = con.execute(AS_OF_QUERIES[0], params).fetchone()
    times = []
    for _ in range(max(1, repeats)):
        times.append(sum(_timed(con, sql, params)[0] for sql in AS_OF_QUERIES))
    return statistics.median(times), int(count[0]) if count else 0


def history_seconds(con: duckdb.DuckDBPyConnection, keys: Sequence[str]) -> tuple[float, int]:
    """Median seconds to read one asset's whole history, and rows seen.

    The last key warms the connection up; the others are measured.
    """
    _timed(con, HISTORY_QUERY, {"key": keys[-1]})
    results = [_timed(con, HISTORY_QUERY, {"key": key}) for key in keys[:-1] or keys]
    return statistics.median(t for t, _ in results), sum(rows for _, rows in results)
