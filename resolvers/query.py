"""DuckDB over the lake: every table under its name, a few views, and the query helpers.

:func:`connect` gives an in-memory DuckDB connection where ``raw_events``, ``asset_changes``,
``asset_versions``, ``findings``, ``unresolved_events``, ``asset_observations`` (and the internal
tables) are the lake's Delta tables, each with exactly the columns of its spec, next to the views
of :data:`VIEWS`. By default DuckDB's ``read_parquet`` reads the data files that delta-rs lists
(local paths, or s3:// through s3fs: DuckDB has no httpfs offline); the ``delta_scan`` engine
(the delta extension of duckdb-ext-delta, loaded offline) is there for local sessions that follow
new commits. docs/query-engine.md has the measurements behind that choice, and why not pyarrow
datasets (their filters fail on the Utf8View files delta-rs writes). Times come out in UTC.

The helpers (:func:`inventory`, :func:`history`, :func:`findings`, :func:`run_sql`) take a lake
or a connection and return Arrow tables, which a notebook turns into anything
(``polars.from_arrow``, ``.to_pandas()``) and the command line prints with :mod:`resolvers.render`.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
from deltalake import DeltaTable

from resolvers.diff import VersionState, version_changes
from resolvers.errors import AssetlakeError, InputError, LakeError
from resolvers.gcp import attribution
from resolvers.lake.ddl import COMPACTED
from resolvers.lake.layout import asset_versions_view_sql, sql_text
from resolvers.lake.storage import Lake
from resolvers.lake.tables import ASSET_VERSIONS, ASSET_VERSIONS_TAIL, TABLES, TableSpec
from resolvers.timeutil import parse_time

ENGINES = ("parquet", "delta_scan")
DEFAULT_ENGINE = "parquet"  # measured: docs/query-engine.md
DUCKDB_TYPES = (
    (pa.types.is_boolean, "BOOLEAN"),
    (pa.types.is_int64, "BIGINT"),
    (pa.types.is_int32, "INTEGER"),
    (pa.types.is_float64, "DOUBLE"),
    (pa.types.is_string, "VARCHAR"),
    (pa.types.is_large_string, "VARCHAR"),
    (pa.types.is_string_view, "VARCHAR"),
    (pa.types.is_date32, "DATE"),
)
# asset_versions is a compacted Delta table plus a tail of row operations (layout.py): the
# compacted table is exposed as COMPACTED and asset_versions is the view that applies the tail.
TAIL = ASSET_VERSIONS_TAIL.name
Source = Lake | duckdb.DuckDBPyConnection

# name -> (description, DDL); created in this order on every connection.
VIEWS: dict[str, tuple[str, str]] = {
    "inventory": (
        "current, not deleted versions: the inventory now",
        "CREATE VIEW inventory AS SELECT * FROM asset_versions WHERE is_current AND NOT is_deleted",
    ),
    "inventory_as_of": (
        "table macro: the inventory at an instant, inventory_as_of(TIMESTAMPTZ '2026-01-31')",
        "CREATE MACRO inventory_as_of(ts) AS TABLE SELECT * FROM asset_versions "
        "WHERE valid_from <= ts AND (valid_to IS NULL OR valid_to > ts) AND NOT is_deleted",
    ),
    "open_findings": (
        "findings still open",
        "CREATE VIEW open_findings AS SELECT * FROM findings WHERE status = 'open'",
    ),
    "changes_by_principal": (
        "who changed how many assets, and when first and last",
        "CREATE VIEW changes_by_principal AS SELECT principal, principal_type, "
        "count(*) AS changes, count(DISTINCT asset_key) AS assets, "
        "min(event_time) AS first_change, max(event_time) AS last_change "
        "FROM asset_changes GROUP BY principal, principal_type",
    ),
    attribution.VIEW_NAME: attribution.VIEW,
}

INVENTORY_COLUMNS = (
    "asset_key", "cloud", "account_id", "region", "resource_type", "name", "tags", "version",
    "valid_from", "valid_to", "changed_by", "change_source", "change_event_ids", "config",
    "config_hash",
)  # fmt: skip
FINDING_COLUMNS = (
    "finding_id", "rule_id", "severity", "status", "asset_key", "resource_type", "account_id",
    "opened_at", "resolved_at", "opened_by_event_id", "resolved_by_event_id", "frameworks",
    "evidence",
)  # fmt: skip
SEVERITY_ORDER = ("critical", "high", "medium", "low", "informational", "info")


class QueryError(AssetlakeError):
    """A query failed: bad SQL, an unknown asset, a filter that cannot be applied."""


# -- the connection ---------------------------------------------------------------------------
def extension_directory() -> str:
    """DuckDB's extension folder inside the installed duckdb-ext-delta wheel."""
    spec = importlib.util.find_spec("duckdb_ext")
    for location in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(location) / "extensions"
        if any(folder.glob(f"v{duckdb.__version__}/*/delta.duckdb_extension")):
            return str(folder)
    raise LakeError(
        f"the DuckDB delta extension for duckdb {duckdb.__version__} is not installed "
        "(package duckdb-ext-delta)"
    )


def connect(lake: Lake, engine: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection over the lake's tables, with the views of VIEWS.

    ``engine``: ``parquet`` (the default) reads the data files that delta-rs lists for each
    table at the moment of connecting: a snapshot, the same for every query of the connection.
    On s3:// lakes, where DuckDB has no httpfs offline, it reads them through the lake's fsspec
    filesystem. ``delta_scan`` (local lakes) reads each table through the delta extension at its
    latest version at every query: for a long-lived session that follows new commits.
    """
    engine = engine or DEFAULT_ENGINE
    if engine not in ENGINES:
        raise QueryError(f"unknown query engine {engine!r} (one of {', '.join(ENGINES)})")
    if engine == "delta_scan" and lake.is_s3:
        raise QueryError("delta_scan cannot read s3:// lakes offline; use the parquet engine")
    _ = lake.marker  # LakeError where there is no lake
    con = _duckdb(lake, engine)
    expose = _delta_scan_view if engine == "delta_scan" else _parquet_view
    has_files = {
        spec.name: expose(
            con, lake, spec, COMPACTED if spec.name == ASSET_VERSIONS.name else spec.name
        )
        for spec in TABLES
    }
    # With an empty tail (right after a fold) a snapshot reads the compacted table alone.
    view = asset_versions_view_sql(COMPACTED, TAIL) if has_files[TAIL] else f"FROM {COMPACTED}"
    con.execute(f"CREATE VIEW asset_versions AS {view}")
    for _description, ddl in VIEWS.values():
        con.execute(ddl)
    return con


def _duckdb(lake: Lake, engine: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that never downloads anything, in UTC, able to read the lake."""
    config: dict[str, Any] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    if engine == "delta_scan":
        config["extension_directory"] = extension_directory()
    con = duckdb.connect(":memory:", config=config)
    con.execute("SET TimeZone = 'UTC'")
    if engine == "delta_scan":
        con.execute("LOAD delta")
    elif lake.is_s3:
        con.register_filesystem(lake.fs)  # s3fs: DuckDB has no httpfs offline
    return con


def _delta_scan_view(
    con: duckdb.DuckDBPyConnection, lake: Lake, spec: TableSpec, name: str
) -> bool:
    """Table ``spec`` as view ``name`` over delta_scan: the latest version at every query.

    Returns True: files may appear at any time.
    """
    uri = lake.table_uri(spec.name)
    try:
        con.execute(f"CREATE VIEW {name} AS {_conformed(spec, f'delta_scan({sql_text(uri)})')}")
    except duckdb.Error as exc:
        if _table_exists(lake, spec):
            raise LakeError(f"{uri}: cannot read the table ({_first_line(exc)})") from exc
        con.execute(f"CREATE VIEW {name} AS {_conformed(spec, None)}")
    return True


def _parquet_view(con: duckdb.DuckDBPyConnection, lake: Lake, spec: TableSpec, name: str) -> bool:
    """Table ``spec`` as view ``name`` over read_parquet of the files of its current version.

    Returns whether the table has any file.
    """
    files = lake.table(spec.name).file_uris() if _table_exists(lake, spec) else []
    if not files:  # read_parquet of no file is an error: an empty table of the right columns
        con.execute(f"CREATE VIEW {name} AS {_conformed(spec, None)}")
        return False
    table = lake.table(spec.name)
    partitioned = set(table.metadata().partition_columns)  # as written (older lakes: fewer)
    types = {c: spec.schema.field(c).type for c in spec.partition_by if c in partitioned}
    hive_types = ", ".join(
        f"{sql_text(column)}: {sql_text(duckdb_type(kind))}" for column, kind in types.items()
    )
    options = f", hive_partitioning = true, hive_types = {{{hive_types}}}" if hive_types else ""
    file_list = "[" + ", ".join(sql_text(uri) for uri in files) + "]"
    source = f"read_parquet({file_list}, union_by_name = true{options})"
    con.execute(f"CREATE VIEW {name} AS {_conformed(spec, source)}")
    return True


def _table_exists(lake: Lake, spec: TableSpec) -> bool:
    """Whether the lake has the table: a lake older than a table has no rows of it."""
    return DeltaTable.is_deltatable(lake.table_uri(spec.name), lake.storage_options)


def _conformed(spec: TableSpec, source: str | None) -> str:
    """A SELECT of exactly the columns of ``spec`` from ``source`` (a table function call).

    A column that the files do not have (a lake older than this code, or a column added to the
    table after its files were written) is NULL, as Delta readers do.
    """
    empty = ", ".join(
        f"CAST(NULL AS {duckdb_type(field.type)}) AS {field.name}" for field in spec.schema
    )
    typed = f"SELECT {empty} WHERE false"
    if source is None:
        return typed
    columns = ", ".join(spec.schema.names)
    return f"SELECT {columns} FROM (SELECT * FROM {source} UNION ALL BY NAME {typed})"


def duckdb_type(kind: pa.DataType) -> str:
    """The DuckDB type of an Arrow type of the lake's schemas."""
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return duckdb_type(kind.value_type) + "[]"
    if pa.types.is_timestamp(kind):
        return "TIMESTAMPTZ" if kind.tz else "TIMESTAMP"
    for check, name in DUCKDB_TYPES:
        if check(kind):
            return name
    raise LakeError(f"no DuckDB type for the Arrow type {kind}")


def _connection(source: Source) -> duckdb.DuckDBPyConnection:
    return source if isinstance(source, duckdb.DuckDBPyConnection) else connect(source)


def _first_line(exc: BaseException) -> str:
    return next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)


def _fetch(
    con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | dict[str, Any] | None = None
) -> pa.Table:
    try:  # execute + fetch: con.sql(query, params=...) converts a large result 5x slower
        return con.execute(query, params).fetch_arrow_table()
    except duckdb.Error as exc:
        raise QueryError(_first_line(exc)) from exc


# -- helpers ----------------------------------------------------------------------------------
def run_sql(source: Source, query: str) -> pa.Table | None:
    """The result of one SQL text (the last statement's), or None for a statement with none."""
    con = _connection(source)
    try:
        relation = con.sql(query)
        return None if relation is None else relation.to_arrow_table()
    except duckdb.Error as exc:
        raise QueryError(_first_line(exc)) from exc


def parse_instant(value: str | dt.datetime | None) -> dt.datetime | None:
    """A user's timestamp (ISO 8601; no zone means UTC) as an aware UTC datetime."""
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError:
        raise InputError(
            f"not a timestamp: {value!r} (ISO 8601 expected, e.g. 2026-01-31 or "
            "2026-01-31T12:00:00Z)"
        ) from None


def inventory(
    source: Source,
    as_of: str | dt.datetime | None = None,
    type: str | None = None,
    account: str | None = None,
    tags: dict[str, str | None] | None = None,
    search: str | None = None,
) -> pa.Table:
    """The assets that existed at ``as_of`` (default now), one row per asset, by asset_key.

    ``type`` and ``account`` match exactly (type case-insensitively); ``tags`` maps a tag key to
    its value (None: the key is present with any value); ``search`` matches asset key, name,
    tags, resource type or config text, case-insensitively.
    """
    instant = parse_instant(as_of)
    where, params = _validity(instant)
    if type:
        where.append("lower(resource_type) = lower(?)")
        params.append(type)
    if account:
        where.append("account_id = ?")
        params.append(account)
    for condition, values in _tag_filters(tags or {}):
        where.append(condition)
        params.extend(values)
    if search:
        columns = ("asset_key", "name", "tags", "resource_type", "config")
        where.append("(" + " OR ".join(f"contains(lower({c}), ?)" for c in columns) + ")")
        params.extend([search.lower()] * len(columns))
    query = (
        f"SELECT {', '.join(INVENTORY_COLUMNS)} FROM asset_versions "
        f"WHERE {' AND '.join(where)} ORDER BY asset_key"
    )
    return _fetch(_connection(source), query, params)


def _validity(instant: dt.datetime | None) -> tuple[list[str], list[Any]]:
    if instant is None:  # is_current is the partition column: only current files are read
        return ["is_current", "NOT is_deleted"], []
    where = ["valid_from <= ?", "(valid_to IS NULL OR valid_to > ?)", "NOT is_deleted"]
    return where, [instant, instant]


def _tag_filters(tags: dict[str, str | None]) -> list[tuple[str, list[Any]]]:
    """One condition and its parameters per tag: the value matches, or (None) the key exists."""
    filters: list[tuple[str, list[Any]]] = []
    for key, value in tags.items():
        path = "$." + orjson.dumps(key).decode()  # a quoted JSON path member: any key works
        if value is None:
            filters.append(("json_exists(tags, ?)", [path]))
        else:
            filters.append(("json_extract_string(tags, ?) = ?", [path, value]))
    return filters


HISTORY_QUERY = """
SELECT v.version, v.valid_from, v.valid_to, v.is_deleted, v.changed_by, v.change_source,
       v.change_event_ids,
       (SELECT list(DISTINCT c.event_name ORDER BY c.event_name) FROM asset_changes c
         WHERE c.asset_key = v.asset_key AND list_contains(v.change_event_ids, c.event_id))
         AS event_names,
       v.name, v.tags, v.config
FROM asset_versions v WHERE v.asset_key = ? ORDER BY v.valid_from
"""


def history(source: Source, asset_key: str) -> pa.Table:
    """Every version of one asset, oldest first, with ``changes``: what changed from the one before.

    ``changes`` holds readable lines (``created``, ``deleted``, ``re-created``, or config, tag and
    name differences as ``path: old -> new``). QueryError if the lake has no such asset.
    """
    con = _connection(source)
    versions = _fetch(con, HISTORY_QUERY, [asset_key])
    if versions.num_rows == 0:
        raise QueryError(f"no asset {asset_key!r} in the lake{_suggestions(con, asset_key)}")
    states = [
        VersionState(row["name"], row["tags"], row["config"], row["is_deleted"])
        for row in versions.select(["name", "tags", "config", "is_deleted"]).to_pylist()
    ]
    changes: list[list[str]] = []
    last_live: VersionState | None = None
    for index, state in enumerate(states):
        previous = states[index - 1] if index else None
        changes.append(version_changes(previous, state, last_live))
        last_live = last_live if state.is_deleted else state
    position = versions.schema.get_field_index("event_names") + 1
    return versions.add_column(position, "changes", pa.array(changes, pa.list_(pa.string())))


def _suggestions(con: duckdb.DuckDBPyConnection, text: str) -> str:
    query = (
        "SELECT DISTINCT asset_key FROM asset_versions "
        "WHERE contains(lower(asset_key), ?) OR lower(name) = ? ORDER BY asset_key LIMIT 3"
    )
    keys = _fetch(con, query, [text.lower(), text.lower()]).column("asset_key").to_pylist()
    return f" (did you mean {', '.join(repr(key) for key in keys)}?)" if keys else ""


def findings(
    source: Source,
    open_only: bool = False,
    as_of: str | dt.datetime | None = None,
    rule: str | None = None,
) -> pa.Table:
    """Compliance findings, most severe first; with ``as_of``, as they stood at that instant.

    At an instant, a finding opened later is left out, and one resolved later shows as open
    (``resolved_at`` NULL). ``open_only`` keeps the findings open now (or at ``as_of``).
    """
    instant = parse_instant(as_of)
    params: dict[str, Any] = {} if instant is None else {"at": instant}
    columns = _finding_columns(as_of=instant is not None)
    inner_where = ["true"] if instant is None else ["opened_at <= $at"]
    where = ["true"]
    if open_only:
        where.append("status = 'open'")
    if rule:
        where.append("rule_id = $rule")
        params["rule"] = rule
    ranks = ", ".join(f"'{name}'" for name in SEVERITY_ORDER)
    query = (
        f"SELECT * FROM (SELECT {', '.join(columns)} FROM findings "
        f"WHERE {' AND '.join(inner_where)}) WHERE {' AND '.join(where)} "
        f"ORDER BY coalesce(list_position([{ranks}], lower(severity)), 99), opened_at, finding_id"
    )
    return _fetch(_connection(source), query, params)


def _finding_columns(as_of: bool) -> list[str]:
    """The findings columns; at an instant ``$at``, status and resolved_at as they were then."""
    columns: list[str] = list(FINDING_COLUMNS)
    if as_of:
        still_open = "(resolved_at IS NULL OR resolved_at > $at)"
        columns[columns.index("status")] = (
            f"CASE WHEN {still_open} THEN 'open' ELSE 'resolved' END AS status"
        )
        columns[columns.index("resolved_at")] = (
            f"CASE WHEN {still_open} THEN NULL ELSE resolved_at END AS resolved_at"
        )
    return columns
