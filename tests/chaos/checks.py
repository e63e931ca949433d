"""What the chaos suite asserts once everything is drained, and the figures it prints.

Per phase (source, fault): ``sent`` records (acknowledged by the broker; plus, for the second
writer, the records it ingested), ``landed`` (distinct ones found in raw_events), ``lost`` (not
in raw_events, or a change record in neither asset_changes nor unresolved_events with a reason)
and ``doubled`` (rows beyond the first in raw_events, and in asset_changes per
``(event_id, asset_key)``). For the whole lake: no duplicate key in any keyed table, the SCD2
chains hold (``chain_violations``), every Delta table reads fully with delta-rs and DuckDB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl
from deltalake import DeltaTable

from resolvers.lake.checks import chain_violations
from resolvers.lake.layout import read_table
from resolvers.lake.storage import Lake
from resolvers.lake.tables import TABLES, TABLES_BY_NAME
from resolvers.query import connect

KEYED = ("raw_events", "asset_changes", "unresolved_events", "asset_versions")


@dataclass
class Figures:
    """sent / landed / lost / doubled of one (source, fault)."""

    source: str
    fault: str
    sent: int = 0
    landed: int = 0
    lost: int = 0
    doubled: int = 0
    events: list[str] = field(default_factory=list)


@dataclass
class LakeFrames:
    """The rows the checks need, read once."""

    raw: pl.DataFrame
    changes: pl.DataFrame
    unresolved: pl.DataFrame

    @classmethod
    def read(cls, lake: Lake) -> LakeFrames:
        """Read them from the lake."""
        return cls(
            read_table(lake, "raw_events")
            .select("event_id", "record_hash", "classification")
            .collect(),
            read_table(lake, "asset_changes").select("event_id", "asset_key").collect(),
            read_table(lake, "unresolved_events").select("event_id", "reason").collect(),
        )


def phase_figures(
    frames: LakeFrames, source: str, fault: str, ids: Sequence[str], events: list[str]
) -> Figures:
    """The figures of the records ``ids`` (content ids) of one phase."""
    figures = Figures(source, fault, sent=len(ids), events=events)
    wanted = pl.DataFrame({"record_hash": list(ids)}, schema={"record_hash": pl.String})
    rows = frames.raw.join(wanted, on="record_hash", how="semi")
    counts = rows.group_by("record_hash").len()
    figures.landed = counts.height
    figures.lost = len(set(ids)) - counts.height
    figures.doubled = int(counts.get_column("len").sum()) - counts.height
    change_ids = rows.filter(pl.col("classification") == "change").get_column("event_id")
    changes = frames.changes.filter(pl.col("event_id").is_in(change_ids.implode()))
    explained = set(changes.get_column("event_id")) | set(
        frames.unresolved.filter(pl.col("reason").is_not_null()).get_column("event_id")
    )
    figures.lost += len(set(change_ids) - explained)
    figures.doubled += changes.height - changes.unique().height
    return figures


def lake_problems(lake: Lake) -> list[str]:
    """Everything wrong with the lake as a whole (empty: nothing)."""
    problems = []
    for name in KEYED:
        key = TABLES_BY_NAME[name].key
        frame = read_table(lake, name).select(*key).collect()
        extra = frame.height - frame.unique().height
        if extra:
            problems.append(f"{name}: {extra} rows with a key seen before {key}")
    problems += [f"SCD2: {violation}" for violation in chain_violations(lake)]
    problems += unreadable_tables(lake)
    return problems


def unreadable_tables(lake: Lake) -> list[str]:
    """Tables that delta-rs or DuckDB (``assetlake sql``'s connection) cannot read fully."""
    problems = []
    delta_rows = {}
    for spec in TABLES:
        try:
            table = DeltaTable(lake.table_uri(spec.name), storage_options=lake.storage_options)
            delta_rows[spec.name] = table.to_pyarrow_table().num_rows
        except Exception as exc:  # the check is that nothing here raises
            problems.append(f"{spec.name}: delta-rs cannot read it: {type(exc).__name__}: {exc}")
    delta_rows["asset_versions"] = read_table(lake, "asset_versions").collect().height
    try:
        connection = connect(lake)
        for name, rows in delta_rows.items():
            found = connection.sql(f"SELECT count(*) FROM {name}").fetchone()
            if found is None or found[0] != rows:
                problems.append(f"{name}: DuckDB reads {found} rows, delta-rs {rows}")
    except Exception as exc:
        problems.append(f"DuckDB cannot read the lake: {type(exc).__name__}: {exc}")
    return problems
