"""Two writers that landed the same records at once: one copy of each is kept.

Delta appends never conflict, so two writers committing the same records side by side (a
redelivery racing its first delivery) both succeed; the writer that finds its rows' keys in the
table more than once after its append removes the extra copies here.
"""

from __future__ import annotations

import logging

import polars as pl
from deltalake import CommitProperties, write_deltalake
from deltalake.exceptions import CommitFailedError

from resolvers.lake import layout
from resolvers.lake.storage import Lake
from resolvers.lake.tables import TableSpec

log = logging.getLogger(__name__)

MAX_DEDUPLICATE_ATTEMPTS = 8


def deduplicate(lake: Lake, spec: TableSpec, rows: pl.DataFrame) -> int:
    """Keep one row of each key of ``rows`` that the table holds more than once; returns how
    many rows were extra copies.

    The rows under those keys' values (and day partitions) are replaced by one copy of each key
    in a single commit (an overwrite with a predicate), so a concurrent writer doing the same
    conflicts and, on its retry, finds nothing left to do. The copy kept is the earliest
    stamped, the same for every writer.
    """
    where, predicate = _key_filter(spec, rows)
    stamp = "landed_at" if "landed_at" in spec.schema.names else "recorded_at"
    for attempt in range(MAX_DEDUPLICATE_ATTEMPTS):
        scan = lake.scan(spec.name).filter(where)
        keys = scan.select(spec.key).collect()  # the key columns first: nearly always unique
        extra = keys.height - keys.unique().height
        if not extra:
            return 0
        present = scan.collect()
        kept = present.sort(stamp, maintain_order=True).unique(
            subset=list(spec.key), keep="first", maintain_order=True
        )
        log.warning("%s: %d rows appended by two writers at once; keeping one", spec.name, extra)
        try:
            write_deltalake(
                lake.table(spec.name, fresh=False),
                kept.to_arrow().cast(spec.schema),
                mode="overwrite",
                predicate=predicate,
                commit_properties=CommitProperties(max_commit_retries=0),
                storage_options=lake.storage_options,
            )
            return extra
        except CommitFailedError:  # the other writer removed them first: look again
            log.info("%s: deduplication raced (attempt %d)", spec.name, attempt + 1)
    raise CommitFailedError(f"{spec.name}: could not deduplicate concurrent appends")


def _key_filter(spec: TableSpec, rows: pl.DataFrame) -> tuple[pl.Expr, str]:
    """The rows of the table that may share a key with ``rows``, as a polars filter and as
    the same SQL predicate: the values of the first key column (and the day partitions)."""
    first = spec.key[0]
    values = rows.get_column(first).unique().drop_nulls().sort().to_list()
    where = pl.col(first).is_in(pl.Series(values, dtype=pl.String).implode())
    predicate = f"{first} IN ({', '.join(layout.sql_text(v) for v in values) or 'NULL'})"
    if rows.get_column(first).null_count():
        where, predicate = where | pl.col(first).is_null(), f"({predicate} OR {first} IS NULL)"
    if spec.partition_by:
        (part,) = spec.partition_by
        days = rows.get_column(part).unique().to_list()
        known = sorted(day for day in days if day is not None)
        day_where = pl.col(part).is_in(pl.Series(known, dtype=pl.Date).implode())
        day_sql = (
            f"{part} IN ({', '.join(layout.sql_text(d.isoformat()) for d in known) or 'NULL'})"
        )
        if None in days:
            day_where, day_sql = (
                day_where | pl.col(part).is_null(),
                f"({day_sql} OR {part} IS NULL)",
            )
        where, predicate = where & day_where, f"{predicate} AND {day_sql}"
    return where, predicate
