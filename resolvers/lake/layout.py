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


# The same semantics in SQL (DuckDB). {base} and {tail} are replaced by table expressions.
ASSET_VERSIONS_VIEW_SQL = """
WITH ops AS (
    SELECT *, row_number() OVER (PARTITION BY asset_key, valid_from ORDER BY _seq DESC) AS _rank
    FROM {tail}
),
latest AS (SELECT * FROM ops WHERE _rank = 1),
latest_put AS (
    SELECT *, row_number() OVER (PARTITION BY asset_key, valid_from ORDER BY _seq DESC) AS _prank
    FROM ops WHERE _op = 'put'
),
last_delete AS (
    SELECT asset_key, valid_from, max(_seq) AS _deleted_seq FROM ops WHERE _op = 'delete'
    GROUP BY asset_key, valid_from
),
effective AS (
    SELECT l.asset_key, l.valid_from, l._op AS _latest_op,
           l.version, l.valid_to, l.is_current, l.last_observed_at,
           p._seq AS _put_seq, d._deleted_seq,
           {put_content}
    FROM latest l
    LEFT JOIN (SELECT * FROM latest_put WHERE _prank = 1) p USING (asset_key, valid_from)
    LEFT JOIN last_delete d USING (asset_key, valid_from)
    WHERE l._op <> 'delete'
)
SELECT {base_columns} FROM {base} b
WHERE NOT EXISTS (
    SELECT 1 FROM latest l WHERE l.asset_key = b.asset_key AND l.valid_from = b.valid_from
)
UNION ALL
SELECT {effective_put_columns} FROM effective e
WHERE e._put_seq IS NOT NULL AND (e._deleted_seq IS NULL OR e._put_seq > e._deleted_seq)
UNION ALL
SELECT {effective_patch_columns} FROM effective e
JOIN {base} b USING (asset_key, valid_from)
WHERE NOT (e._put_seq IS NOT NULL AND (e._deleted_seq IS NULL OR e._put_seq > e._deleted_seq))
"""


def asset_versions_view_sql(base: str, tail: str) -> str:
    """The SELECT that gives asset_versions from table expressions ``base`` and ``tail``."""
    put_content = ", ".join(f"p.{c} AS {c}" for c in CONTENT_COLUMNS)
    base_columns = ", ".join(f"b.{c}" for c in COLUMNS)
    put_columns = ", ".join(f"e.{c}" for c in COLUMNS)
    patch_columns = ", ".join(
        f"e.{c}" if c in CHAIN_COLUMNS or c in KEY else f"b.{c}" for c in COLUMNS
    )
    return ASSET_VERSIONS_VIEW_SQL.format(
        base=base,
        tail=tail,
        put_content=put_content,
        base_columns=base_columns,
        effective_put_columns=put_columns,
        effective_patch_columns=patch_columns,
    )


def read_table(lake: Lake, name: str) -> pl.LazyFrame:
    """A table as readers see it: asset_versions with its tail applied, others as they are."""
    if name != ASSET_VERSIONS.name:
        return lake.scan(name)
    tail = lake.scan(ASSET_VERSIONS_TAIL.name)  # the tail first (see writer._refresh)
    return resolve(lake.scan(ASSET_VERSIONS.name), tail)
