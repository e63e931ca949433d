"""The lake's rows as Arrow tables and back: what a batch commits, what a rebuild reads.

Each builder takes the resolver's row objects (resolvers/model.py, the SCD2 engine's versions)
and gives the table of resolvers/lake/tables.py's schema, with the columns a commit derives
itself (batch id, lineage, the day partition) filled in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from operator import attrgetter

import polars as pl
import pyarrow as pa

from resolvers.lake import layout
from resolvers.lake.scd2 import Version
from resolvers.lake.tables import (
    ASSET_CHANGES,
    ASSET_OBSERVATIONS,
    ASSET_VERSIONS,
    ASSET_VERSIONS_TAIL,
    LINEAGE,
    RAW_EVENTS,
    STR,
    TS,
    UNRESOLVED_EVENTS,
    TableSpec,
)
from resolvers.model import AssetChange, Lineage, Observation, RawRecord, Unresolved
from resolvers.timeutil import to_micros

# not taken from the row objects
DERIVED = ("batch_id", "recorded_at", "event_date", "run_id", *(name for name, _ in LINEAGE))


def same_value(value: object, type_: pa.DataType, rows: int) -> pa.Array:
    """One value in every row (a column built from a Python list of it costs ~100x more)."""
    return pa.repeat(pa.scalar(value, type_), rows)


def _table(spec: TableSpec, columns: dict[str, list | pa.Array]) -> pa.Table:
    if "event_date" in spec.schema.names:  # the day partition of tables keyed by event
        columns["event_date"] = [t.date() if t is not None else None for t in columns["event_time"]]
    return pa.Table.from_pydict(columns, schema=spec.schema)


def raw_events_table(
    rows: Sequence[RawRecord],
    batch_id: str,
    now: dt.datetime,
    run_id: str | None = None,
    lineage: Lineage | None = None,
) -> pa.Table:
    """Arrow rows of raw_events landed by a commit at ``now`` (``run_id``: the Dagster run
    landing them, if any; ``lineage``: when they were received, by what they are landed)."""
    lineage = lineage or Lineage()
    return _table(
        RAW_EVENTS,
        {
            "event_id": [r.event_id for r in rows],
            "source": [r.source for r in rows],
            "cloud": [r.cloud for r in rows],
            "account_id": [r.account_id for r in rows],
            "region": [r.region for r in rows],
            "event_time": [r.event_time for r in rows],
            "received_at": same_value(lineage.received_at or now, TS, len(rows)),
            "classification": [r.classification for r in rows],
            "payload": [r.payload for r in rows],
            "batch_id": same_value(batch_id, STR, len(rows)),
            "record_hash": [r.record_hash for r in rows],
            "run_id": same_value(run_id, STR, len(rows)),
            "landed_at": same_value(now, TS, len(rows)),
            "landed_by": same_value(lineage.landed_by, STR, len(rows)),
        },
    )


def _derived(
    spec: TableSpec,
    rows: Sequence[AssetChange] | Sequence[Unresolved],
    batch_id: str,
    now: dt.datetime,
    run_id: str | None,
    lineage: Lineage | None,
) -> pa.Table:
    """Arrow rows of a table derived from records, with their lineage."""
    lineage = lineage or Lineage()
    names = [f for f in spec.schema.names if f not in DERIVED]
    columns: dict[str, list | pa.Array] = {n: [getattr(r, n) for r in rows] for n in names}
    times = [lineage.times(r.event_id, now) for r in rows]
    columns["batch_id"] = same_value(batch_id, STR, len(rows))
    columns["recorded_at"] = same_value(now, TS, len(rows))
    columns["run_id"] = same_value(run_id, STR, len(rows))
    columns["received_at"] = [received for received, _ in times]
    columns["landed_at"] = [landed for _, landed in times]
    columns["resolved_at"] = same_value(lineage.resolved_at or now, TS, len(rows))
    return _table(spec, columns)


def asset_changes_table(
    rows: Sequence[AssetChange],
    batch_id: str,
    now: dt.datetime,
    run_id: str | None = None,
    lineage: Lineage | None = None,
) -> pa.Table:
    """Arrow rows of asset_changes committed at ``now`` (``run_id``: the Dagster run resolving
    them, if any)."""
    return _derived(ASSET_CHANGES, rows, batch_id, now, run_id, lineage)


def unresolved_table(
    rows: Sequence[Unresolved],
    batch_id: str,
    now: dt.datetime,
    run_id: str | None = None,
    lineage: Lineage | None = None,
) -> pa.Table:
    """Arrow rows of unresolved_events committed at ``now``."""
    return _derived(UNRESOLVED_EVENTS, rows, batch_id, now, run_id, lineage)


def versions_table(rows: Sequence[Version], now: dt.datetime) -> pa.Table:
    """Arrow rows of asset_versions."""
    names = [f for f in ASSET_VERSIONS.schema.names if f != "recorded_at"]
    columns: dict[str, list | pa.Array] = {n: [getattr(r, n) for r in rows] for n in names}
    columns["change_event_ids"] = [list(ids) for ids in columns["change_event_ids"]]
    columns["recorded_at"] = same_value(now, TS, len(rows))
    return _table(ASSET_VERSIONS, columns)


def versions_from_table(table: pl.DataFrame) -> list[Version]:
    """Version rows read back from asset_versions."""
    fields = [f for f in ASSET_VERSIONS.schema.names if f != "recorded_at"]
    columns = {name: table.get_column(name).to_list() for name in fields}
    columns["change_event_ids"] = [tuple(ids or ()) for ids in columns["change_event_ids"]]
    return [
        Version(**dict(zip(fields, values, strict=True)))
        for values in zip(*columns.values(), strict=True)
    ]


def observations_table(rows: Iterable[Observation], now: dt.datetime) -> pa.Table:
    """Arrow rows of asset_observations."""
    rows = list(rows)
    names = [f for f in ASSET_OBSERVATIONS.schema.names if f not in DERIVED]
    columns: dict[str, list | pa.Array] = {n: [getattr(r, n) for r in rows] for n in names}
    columns["event_ids"] = [list(ids) for ids in columns["event_ids"]]
    columns["recorded_at"] = same_value(now, TS, len(rows))
    return _table(ASSET_OBSERVATIONS, columns)


def observations_from_table(table: pl.DataFrame) -> list[Observation]:
    """Observations read back from asset_observations."""
    fields = [f for f in ASSET_OBSERVATIONS.schema.names if f not in DERIVED]
    columns = {name: table.get_column(name).to_list() for name in fields}
    columns["event_ids"] = [tuple(ids or ()) for ids in columns["event_ids"]]
    return [
        Observation(**dict(zip(fields, values, strict=True)))
        for values in zip(*columns.values(), strict=True)
    ]


def tail_rows(
    puts: Sequence[Version],
    patches: Sequence[Version],
    deletes: Sequence[tuple[str, dt.datetime]],
    rebuilt_keys: set[str],
    now: dt.datetime,
) -> pa.Table:
    """The tail's row operations of a batch (resolvers/lake/layout.py): a put is a whole
    version row, a patch only its key and chain fields, a delete only its key; each with its
    operation, the batch's sequence number and whether its asset's chain was rebuilt."""
    seq = to_micros(now)
    schema = ASSET_VERSIONS_TAIL.schema
    parts = []
    if puts:
        parts.append(_with_ops(versions_table(puts, now), "put", seq, rebuilt_keys))
    if patches:  # a patch writes the chain fields of a row: only those are built
        names = [*layout.KEY, *layout.CHAIN_COLUMNS]
        columns = zip(*map(attrgetter(*names), patches), strict=True)
        patched = pa.table(
            [
                pa.array(values, schema.field(name).type)
                for name, values in zip(names, columns, strict=True)
            ],
            names=names,
        )
        parts.append(_with_ops(_only(patched, names), "patch", seq, rebuilt_keys))
    if deletes:
        keys = pa.table(
            {
                "asset_key": pa.array([k for k, _ in deletes], pa.string()),
                "valid_from": pa.array([v for _, v in deletes], schema.field("valid_from").type),
            }
        )
        parts.append(_with_ops(_only(keys, list(keys.column_names)), "delete", seq, rebuilt_keys))
    return pa.concat_tables([part.select(schema.names).cast(schema) for part in parts])


def _only(table: pa.Table, keep: list[str]) -> pa.Table:
    """``table`` with every asset_versions column, nulls outside ``keep``."""
    columns = {}
    for name in layout.COLUMNS:
        type_ = ASSET_VERSIONS.schema.field(name).type
        columns[name] = table.column(name) if name in keep else pa.nulls(table.num_rows, type_)
    return pa.table(columns)


def _with_ops(table: pa.Table, op: str, seq: int, rebuilt: set[str]) -> pa.Table:
    keys = table.column("asset_key").to_pylist()
    return (
        table.append_column("_op", same_value(op, pa.string(), table.num_rows))
        .append_column("_seq", same_value(seq, pa.int64(), table.num_rows))
        .append_column("_rebuild", pa.array([k in rebuilt for k in keys], pa.bool_()))
    )
