"""The physical layout of asset_versions: a compacted table plus an append-only tail.

delta-rs rewrites every file a MERGE touches (copy-on-write, no deletion vectors), so closing the
current versions of 1,000 random assets in a table of a million would rewrite the table. Instead
a batch appends *row operations* to ``asset_versions_tail``:

- ``put``: a whole version row (a new version, or a row a rebuild changed);
- ``patch``: only the chain fields (``valid_to``, ``is_current``, ``version``,
  ``last_observed_at``) of a row that already exists, such as closing the current version;
- ``delete``: the row ``(asset_key, valid_from)`` is gone (a rebuild merged it away).

The latest operation on a row (by ``_seq``) wins; a patch keeps the content of the latest put,
else of the compacted row. ``fold`` (resolvers/lake/fold.py) applies the tail to
``asset_versions`` in one MERGE and empties it, so the Delta table ``asset_versions`` itself is
exact after every fold; in between, readers see the exact table through the view defined here
(``ASSET_VERSIONS_VIEW_SQL`` for DuckDB, with Trino and Spark versions in the README).
"""

from __future__ import annotations

import polars as pl

from resolvers.lake.storage import Lake
from resolvers.lake.tables import ASSET_VERSIONS, ASSET_VERSIONS_TAIL

KEY = ["asset_key", "valid_from"]
CHAIN_COLUMNS = ["version", "valid_to", "is_current", "last_observed_at"]
COLUMNS = ASSET_VERSIONS.schema.names
CONTENT_COLUMNS = [c for c in COLUMNS if c not in CHAIN_COLUMNS and c not in KEY]


def effective_ops(tail: pl.LazyFrame) -> pl.LazyFrame:
    """One effective operation per row key: ``put`` (whole row), ``patch`` or ``delete``.

    The result has every asset_versions column plus ``_op``, ``_seq`` (of the latest op) and
    ``_rebuild`` (whether any op on the row came from a rebuild).
    """
    latest = (
        tail.sort("_seq")
        .group_by(KEY)
        .agg(
            pl.col("_op").last(),
            pl.col("_seq").last(),
            pl.col("_rebuild").any(),
            *[pl.col(c).last() for c in CHAIN_COLUMNS],
        )
    )
    puts = tail.filter(pl.col("_op") == "put")
    deletes = (
        tail.filter(pl.col("_op") == "delete")
        .group_by(KEY)
        .agg(pl.col("_seq").max().alias("_deleted_seq"))
    )
    content = (
        puts.sort("_seq")
        .group_by(KEY)
        .agg(pl.col("_seq").last().alias("_put_seq"), *[pl.col(c).last() for c in CONTENT_COLUMNS])
    )
    joined = latest.join(content, on=KEY, how="left").join(deletes, on=KEY, how="left")
    has_put = pl.col("_put_seq").is_not_null() & (
        pl.col("_deleted_seq").is_null() | (pl.col("_put_seq") > pl.col("_deleted_seq"))
    )
    op = (
        pl.when(pl.col("_op") == "delete")
        .then(pl.lit("delete"))
        .when(has_put)
        .then(pl.lit("put"))
        .otherwise(pl.lit("patch"))
    )
    return joined.with_columns(op.alias("_op")).select([*COLUMNS, "_op", "_seq", "_rebuild"])


def resolve(base: pl.LazyFrame, tail: pl.LazyFrame) -> pl.LazyFrame:
    """asset_versions as readers see it: the compacted rows with the tail applied."""
    ops = effective_ops(tail)
    untouched = base.join(ops.select(KEY), on=KEY, how="anti")
    puts = ops.filter(pl.col("_op") == "put").select(COLUMNS)
    patches = (
        ops.filter(pl.col("_op") == "patch")
        .select([*KEY, *CHAIN_COLUMNS])
        .join(base.select([*KEY, *CONTENT_COLUMNS]), on=KEY, how="inner")
        .select(COLUMNS)
    )
    return pl.concat([untouched.select(COLUMNS), puts, patches], how="vertical_relaxed")


# The same semantics in SQL (DuckDB, Trino, Spark). {base} and {tail} are table expressions.
# The compacted table is read once, joined to the (small) effective operations, so an engine
# reads only the columns a query needs; rows that exist only in the tail are added after.
ASSET_VERSIONS_VIEW_SQL = """
WITH effective AS (
    SELECT asset_key, valid_from,
           max_by(_op, _seq) AS _latest_op,
           max(CASE WHEN _op = 'put' THEN _seq END) AS _put_seq,
           max(CASE WHEN _op = 'delete' THEN _seq END) AS _deleted_seq,
           {chain_aggregates},
           {content_aggregates}
    FROM {tail}
    GROUP BY asset_key, valid_from
)
SELECT {merged_columns}
FROM {base} b
FULL OUTER JOIN effective e ON e.asset_key = b.asset_key AND e.valid_from = b.valid_from
WHERE (e.asset_key IS NULL OR e._latest_op <> 'delete')
  AND (b.asset_key IS NOT NULL OR {put_wins})
"""


def asset_versions_view_sql(base: str, tail: str) -> str:
    """The SELECT that gives asset_versions from table expressions ``base`` and ``tail``.

    The tail's operations are reduced to one per row (a GROUP BY over the small tail), then the
    compacted table is fully outer-joined to them once: a row the tail does not touch is the
    compacted row; a put replaces it (or adds a row the compacted table lacks); a patch
    replaces its chain columns; a delete drops it. Engines read only the columns a query uses.
    ``max_by`` and ``CASE`` only: the same SQL runs on DuckDB, Trino and Spark.
    """
    put_wins = (
        "(e._put_seq IS NOT NULL AND (e._deleted_seq IS NULL OR e._put_seq > e._deleted_seq))"
    )

    def merged(column: str) -> str:
        if column in KEY:
            return f"coalesce(b.{column}, e.{column}) AS {column}"
        if column in CHAIN_COLUMNS:
            return f"CASE WHEN e.asset_key IS NULL THEN b.{column} ELSE e.{column} END AS {column}"
        return f"CASE WHEN {put_wins} THEN e.{column} ELSE b.{column} END AS {column}"

    return ASSET_VERSIONS_VIEW_SQL.format(
        base=base,
        tail=tail,
        chain_aggregates=", ".join(f"max_by({c}, _seq) AS {c}" for c in CHAIN_COLUMNS),
        content_aggregates=", ".join(
            f"max_by(CASE WHEN _op = 'put' THEN {c} END, "
            f"CASE WHEN _op = 'put' THEN _seq END) AS {c}"
            for c in CONTENT_COLUMNS
        ),
        merged_columns=", ".join(merged(c) for c in COLUMNS),
        put_wins=put_wins,
    )


def read_table(lake: Lake, name: str) -> pl.LazyFrame:
    """A table as readers see it: asset_versions with its tail applied, others as they are."""
    if name != ASSET_VERSIONS.name:
        return lake.scan(name)
    tail = lake.scan(ASSET_VERSIONS_TAIL.name)  # the tail first (see writer._refresh)
    return resolve(lake.scan(ASSET_VERSIONS.name), tail)


def sql_text(text: str) -> str:
    """``text`` as an SQL string literal (DuckDB, Trino, Spark, delta-rs predicates)."""
    return "'" + text.replace("'", "''") + "'"
