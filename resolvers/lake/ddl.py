"""DDL that exposes a lake to other engines: DuckDB, Trino (Delta Lake connector), Spark SQL.

Every table is a plain Delta table and is registered as it is; ``asset_versions`` is the view
that applies the tail of row operations to the compacted table (resolvers/lake/layout.py), so
that every engine sees the same exact SCD2 rows between two folds. After a fold the compacted
table alone is exact, and engines that cannot create views may read it directly.
"""

from __future__ import annotations

from resolvers.lake.layout import asset_versions_view_sql
from resolvers.lake.tables import ASSET_VERSIONS, ASSET_VERSIONS_TAIL, TABLES

ENGINES = ("duckdb", "trino", "spark")
COMPACTED = "asset_versions_compacted"


def _physical_names() -> list[tuple[str, str]]:
    """(name to register, table folder) for every Delta table of the lake."""
    names = []
    for spec in TABLES:
        alias = COMPACTED if spec.name == ASSET_VERSIONS.name else spec.name
        names.append((alias, spec.name))
    return names


def ddl(engine: str, lake_uri: str, schema: str = "assetlake") -> str:
    """The statements that register the lake's tables and views in ``engine``."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    root = lake_uri.rstrip("/")
    statements = [
        _register(engine, schema, alias, f"{root}/{folder}") for alias, folder in _physical_names()
    ]
    prefix = "" if engine == "duckdb" else f"{schema}."
    view = asset_versions_view_sql(f"{prefix}{COMPACTED}", f"{prefix}{ASSET_VERSIONS_TAIL.name}")
    statements.append(f"CREATE OR REPLACE VIEW {prefix}asset_versions AS{view.rstrip()}")
    statements.append(
        f"CREATE OR REPLACE VIEW {prefix}inventory AS SELECT * FROM {prefix}asset_versions "
        "WHERE is_current AND NOT is_deleted"
    )
    if engine == "spark":
        statements.insert(0, f"CREATE SCHEMA IF NOT EXISTS {schema}")
    return ";\n\n".join(statements) + ";\n"


def _register(engine: str, schema: str, alias: str, location: str) -> str:
    if engine == "duckdb":
        return f"CREATE OR REPLACE VIEW {alias} AS SELECT * FROM delta_scan('{location}')"
    if engine == "trino":
        return (
            f"CALL system.register_table(schema_name => '{schema}', table_name => '{alias}', "
            f"table_location => '{location}')"
        )
    return f"CREATE TABLE IF NOT EXISTS {schema}.{alias} USING delta LOCATION '{location}'"
