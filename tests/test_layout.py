"""The asset_versions view: the polars resolution and the SQL of every engine agree.

Random compacted rows and random tails of put / patch / delete operations (several per row,
in any order of _seq) are resolved both ways and compared row for row.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from resolvers.lake import layout
from resolvers.lake.tables import ASSET_VERSIONS, ASSET_VERSIONS_TAIL

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
KEYS = [("k1", 0), ("k1", 1), ("k2", 0), ("k3", 2)]


def _row(key: tuple[str, int], marker: int) -> dict:
    asset, minute = key
    row = {name: None for name in ASSET_VERSIONS.schema.names}
    row |= {
        "asset_key": asset,
        "valid_from": T0 + dt.timedelta(minutes=minute),
        "cloud": "gcp",
        "resource_type": "storage.googleapis.com/Bucket",
        "tags": "{}",
        "config": f'{{"m":{marker}}}',
        "config_hash": f"h{marker}",
        "version": marker,
        "is_current": marker % 2 == 0,
        "is_deleted": False,
        "change_event_ids": [f"e{marker}"],
        "change_source": "event",
    }
    return row


ops = st.lists(
    st.tuples(
        st.sampled_from(KEYS), st.sampled_from(["put", "patch", "delete"]), st.integers(1, 50)
    ),
    max_size=12,
)


def _frames(base_keys: list[tuple[str, int]], tail_ops: list) -> tuple[pl.DataFrame, pl.DataFrame]:
    base = _frame([_row(key, 100 + i) for i, key in enumerate(base_keys)], ASSET_VERSIONS.schema)
    rows = []
    for i, (key, op, seq) in enumerate(tail_ops):
        row = _row(key, i)
        if op == "patch":
            row = {
                n: (v if n in (*layout.KEY, *layout.CHAIN_COLUMNS) else None)
                for n, v in row.items()
            }
        if op == "delete":
            row = {n: (v if n in layout.KEY else None) for n, v in row.items()}
        rows.append(row | {"_op": op, "_seq": seq * 100 + i, "_rebuild": False})
    return base, _frame(rows, ASSET_VERSIONS_TAIL.schema)


def _frame(rows: list[dict], schema: pa.Schema) -> pl.DataFrame:
    return pl.DataFrame(pl.from_arrow(pa.Table.from_pylist(rows, schema=schema)))


def _normalised(frame: pl.DataFrame) -> list[dict]:
    return sorted(
        frame.select(layout.COLUMNS).to_dicts(), key=lambda r: (r["asset_key"], r["valid_from"])
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(KEYS), unique=True), ops)
def test_sql_view_equals_the_polars_resolution(base_keys: list, tail_ops: list) -> None:
    base, tail = _frames(base_keys, tail_ops)
    expected = layout.resolve(base.lazy(), tail.lazy()).collect()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("base_rows", base.to_arrow())
    con.register("tail_rows", tail.to_arrow())
    got = con.execute(layout.asset_versions_view_sql("base_rows", "tail_rows")).pl()
    assert _normalised(got) == _normalised(expected)


def test_a_patch_keeps_the_content_of_the_compacted_row() -> None:
    base, tail = _frames([("k1", 0)], [(("k1", 0), "patch", 1)])
    (row,) = layout.resolve(base.lazy(), tail.lazy()).collect().to_dicts()
    assert row["config"] == '{"m":100}' and row["version"] == 0 and row["is_current"] is True
