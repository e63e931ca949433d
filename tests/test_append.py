"""assetlake's own Delta appends: what every reader reads of them, their statistics (true
bounds, never a skipped match), application transactions, checkpoints, and the commits it leaves
to deltalake (another writer took the version; a table asking for more than an append)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable, write_deltalake
from hypothesis import given, settings
from hypothesis import strategies as st

from resolvers import query
from resolvers.errors import LakeError
from resolvers.lake.append import Appender, CommitNote, _parts, file_stats
from resolvers.lake.storage import Lake
from resolvers.lake.tables import ASSET_CHANGES, RAW_EVENTS, TS

UTC = dt.UTC
DAY = dt.datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _raw_rows(start: int, count: int, days: int = 2) -> pa.Table:
    """raw_events rows over ``days`` event days, with sub-millisecond times."""
    rows = []
    for n in range(start, start + count):
        at = DAY + dt.timedelta(days=n % days, microseconds=n * 1_001)
        rows.append(
            {
                "event_id": f"e-{n:05d}",
                "source": "gcp_asset_feed",
                "cloud": "gcp",
                "account_id": None if n % 3 == 0 else f"acct-{n % 7}",
                "region": "global",
                "event_time": at,
                "received_at": at,
                "classification": "change",
                "payload": '["' + "x" * (n * 3 % 200) + '"]',  # the longest is the greatest
                "batch_id": "b",
                "record_hash": f"h{n}",
                "event_date": at.date(),
                "landed_at": at,
            }
        )
    return pa.Table.from_pylist(rows, schema=RAW_EVENTS.schema)


def _adds(table: DeltaTable) -> list[dict[str, object]]:
    return pa.table(table.get_add_actions(flatten=True)).to_pylist()


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake")).create()


def test_appended_rows_read_back_alike_through_deltalake_polars_and_duckdb(lake: Lake) -> None:
    appender = Appender(lake, RAW_EVENTS)
    first = appender.append(_raw_rows(0, 40), CommitNote({"assetlake.batch_id": "b1"}))
    second = appender.append(_raw_rows(40, 25), CommitNote({"assetlake.batch_id": "b2"}))
    assert (first, second) == (1, 2)
    assert lake.head(RAW_EVENTS.name) == 2
    expected = pl.from_arrow(pa.concat_tables([_raw_rows(0, 40), _raw_rows(40, 25)]))
    assert isinstance(expected, pl.DataFrame)
    fresh = DeltaTable(lake.table_uri(RAW_EVENTS.name))
    assert fresh.version() == 2
    for frame in (
        pl.from_arrow(fresh.to_pyarrow_table()),
        pl.read_delta(lake.table_uri(RAW_EVENTS.name)),
        pl.from_arrow(lake.table(RAW_EVENTS.name).to_pyarrow_table()),
    ):
        assert isinstance(frame, pl.DataFrame)
        assert frame.select(expected.columns).sort("event_id").equals(expected)
    # two event days a commit: one file each, in its partition folder
    adds = _adds(fresh)
    assert len(adds) == 4
    assert {add["path"].split("/")[0] for add in adds} == {
        "event_date=2026-03-01",
        "event_date=2026-03-02",
    }
    history = {h["version"]: h for h in fresh.history()}
    assert history[1]["assetlake.batch_id"] == "b1" and history[1]["operation"] == "WRITE"
    for engine in query.ENGINES:
        con = query.connect(lake, engine)
        got = con.execute(
            "SELECT count(*), count(DISTINCT event_id), min(event_time), max(event_time) "
            "FROM raw_events WHERE event_date = DATE '2026-03-02'"
        ).fetchone()
        day = expected.filter(pl.col("event_date") == dt.date(2026, 3, 2))
        assert got == (
            day.height,
            day.height,
            day["event_time"].min(),
            day["event_time"].max(),
        )


def test_statistics_bound_every_row_of_their_file(lake: Lake) -> None:
    Appender(lake, RAW_EVENTS).append(_raw_rows(0, 60, days=3), CommitNote())
    table = DeltaTable(lake.table_uri(RAW_EVENTS.name))
    data = pl.read_delta(lake.table_uri(RAW_EVENTS.name))
    for add in _adds(table):
        day = dt.date.fromisoformat(add["path"].split("=")[1].split("/")[0])
        rows = data.filter(pl.col("event_date") == day)
        assert add["num_records"] == rows.height
        assert add["null_count.account_id"] == rows["account_id"].null_count()
        assert add["min.event_time"] <= rows["event_time"].min()
        assert add["max.event_time"] >= rows["event_time"].max()
        assert add["min.payload"] <= rows["payload"].min()
        assert add["max.payload"] >= rows["payload"].max()
    # the rows at the bounds are found by filters on them through deltalake (polars) and
    # DuckDB's delta extension, which skip files on these statistics (a max truncated to the
    # millisecond, or a long string's prefix taken for its max, would lose them)
    uri, con = lake.table_uri(RAW_EVENTS.name), query.connect(lake, "delta_scan")
    for column in ("event_time", "payload"):
        for value in (data[column].min(), data[column].max()):
            expected = data.filter(pl.col(column) == value).height
            assert pl.scan_delta(uri).filter(pl.col(column) == value).collect().height == expected
            sql = f"SELECT count(*) FROM raw_events WHERE {column} = ?"
            assert con.execute(sql, [value]).fetchone() == (expected,)


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=90)
INSTANTS = st.datetimes(
    min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2200, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(st.one_of(st.none(), TEXT, TEXT.map(lambda t: t * 3)), min_size=1),
    instants=st.lists(st.one_of(st.none(), INSTANTS), min_size=1),
    numbers=st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), min_size=1),
)
def test_file_statistics_are_true_bounds(
    texts: list[str | None], instants: list[dt.datetime | None], numbers: list[int | None]
) -> None:
    size = min(len(texts), len(instants), len(numbers))
    rows = pa.table(
        {
            "text": pa.array(texts[:size], pa.string()),
            "instant": pa.array(instants[:size], TS),
            "number": pa.array(numbers[:size], pa.int64()),
        }
    )
    stats = file_stats(rows, ["text", "instant", "number"])
    assert stats["numRecords"] == size
    for name in ("text", "instant", "number"):
        column = rows.column(name)
        assert stats["nullCount"][name] == column.null_count
        values = [v for v in column.to_pylist() if v is not None]
        low, high = stats["minValues"].get(name), stats["maxValues"].get(name)
        if not values:
            assert low is None and high is None
            continue
        if name == "instant":
            low = dt.datetime.fromisoformat(low)
            high = dt.datetime.fromisoformat(high)
            assert high - max(values) < dt.timedelta(milliseconds=1)
        if name == "text":  # compared as UTF-8 bytes, as readers compare strings
            assert len(low) <= 64
            assert high is None or len(high) <= 64
            assert low.encode() <= min(v.encode() for v in values)
            assert high is None or high.encode() >= max(v.encode() for v in values)
            continue
        assert low <= min(values)
        assert high >= max(values)


def test_an_application_transaction_and_an_empty_commit(lake: Lake) -> None:
    appender = Appender(lake, RAW_EVENTS)
    version = appender.append(RAW_EVENTS.schema.empty_table(), CommitNote({}, ("stream-a", 7)))
    assert version == 1
    table = DeltaTable(lake.table_uri(RAW_EVENTS.name))
    assert table.transaction_version("stream-a") == 7
    assert _adds(table) == []
    assert lake.table(RAW_EVENTS.name, fresh=False).transaction_version("stream-a") == 7


def test_a_checkpoint_every_interval(lake: Lake) -> None:
    appender = Appender(lake, ASSET_CHANGES)
    interval = int(
        lake.table(ASSET_CHANGES.name).metadata().configuration["delta.checkpointInterval"]
    )
    log = Path(lake.table_uri(ASSET_CHANGES.name), "_delta_log")
    for n in range(interval):
        assert not list(log.glob("*.checkpoint.parquet"))
        appender.append(_changes(n), CommitNote())
    assert (log / f"{interval:020d}.checkpoint.parquet").exists()
    assert (log / "_last_checkpoint").exists()
    # a reader that starts from the checkpoint sees every row
    assert pl.read_delta(lake.table_uri(ASSET_CHANGES.name)).height == interval


def _changes(n: int) -> pa.Table:
    row = {"event_id": f"e{n}", "asset_key": f"k{n}", "cloud": "aws", "event_time": DAY}
    row["event_date"] = DAY.date()
    return pa.Table.from_pylist([row], schema=ASSET_CHANGES.schema)


def test_a_version_taken_by_another_writer_is_committed_after_it(lake: Lake) -> None:
    appender = Appender(lake, RAW_EVENTS)
    appender.append(_raw_rows(0, 10), CommitNote())
    other = DeltaTable(lake.table_uri(RAW_EVENTS.name))
    write_deltalake(other, _raw_rows(100, 5), mode="append")  # version 2, unknown to the appender
    assert lake.head(RAW_EVENTS.name) == 1
    version = appender.append(_raw_rows(10, 10), CommitNote({}, ("stream-a", 1)))
    assert version == 3 and lake.head(RAW_EVENTS.name) == 3
    table = DeltaTable(lake.table_uri(RAW_EVENTS.name))
    assert table.transaction_version("stream-a") == 1
    data = pl.read_delta(lake.table_uri(RAW_EVENTS.name))
    assert data.height == 25 and data["event_id"].n_unique() == 25
    # every data file written is in the table: nothing written twice or left behind
    files = {str(p.relative_to(table.table_uri.removeprefix("file://").rstrip("/")))
             for p in Path(lake.table_uri(RAW_EVENTS.name)).rglob("*.parquet")
             if "_delta_log" not in p.parts}  # fmt: skip
    assert files == {add["path"] for add in _adds(table)}


def test_a_check_constraint_added_by_another_process_is_left_to_deltalake(lake: Lake) -> None:
    appender = Appender(lake, ASSET_CHANGES)
    appender.append(_changes(0), CommitNote())  # its own commit
    other = DeltaTable(lake.table_uri(ASSET_CHANGES.name))
    other.alter.add_constraint({"known_cloud": "cloud IN ('aws', 'gcp')"})
    lake.refresh(ASSET_CHANGES.name)  # as a writer does at each batch
    appender.append(_changes(1), CommitNote())
    bad = _changes(2).set_column(2, "cloud", pa.array(["azure"]))
    with pytest.raises(Exception, match="failed validation"):
        appender.append(bad, CommitNote())
    assert pl.read_delta(lake.table_uri(ASSET_CHANGES.name))["cloud"].to_list() == ["aws"] * 2


def test_a_null_in_a_non_null_column_is_refused(lake: Lake) -> None:
    schema = pa.schema([pa.field("event_id", pa.string(), nullable=False)])
    spec = RAW_EVENTS.__class__(name=RAW_EVENTS.name, schema=schema, key=("event_id",))
    rows = _raw_rows(0, 2)
    rows = rows.set_column(
        0, "event_id", pc.if_else(pa.array([True, False]), rows["event_id"], None)
    )
    with pytest.raises(LakeError, match="non-null column event_id"):
        Appender(lake, spec).append(rows, CommitNote())


def test_partition_values_that_need_escaping_are_left_to_deltalake() -> None:
    plain = pa.table({"day": pa.array([dt.date(2026, 3, 1), None]), "flag": [True, False]})
    parts = _parts(plain, ["day", "flag"])
    assert parts is not None
    assert [values for values, _ in parts] == [
        {"day": "2026-03-01", "flag": "true"},
        {"day": None, "flag": "false"},
    ]
    assert [part.num_rows for _, part in parts] == [1, 1]
    assert _parts(pa.table({"name": ["a", "a b"]}), ["name"]) is None
    assert _parts(pa.table({"name": ["a/b"]}), ["name"]) is None
    assert _parts(pa.table({"at": pa.array([DAY], TS)}), ["at"]) is None


def test_commits_of_others_read_along_with_its_own_are_noticed(lake: Lake) -> None:
    appender = Appender(lake, RAW_EVENTS)
    appender.append(_raw_rows(0, 5), CommitNote())  # version 1, not read into the table object
    write_deltalake(DeltaTable(lake.table_uri(RAW_EVENTS.name)), _raw_rows(50, 5), mode="append")
    assert lake.others_seen(RAW_EVENTS.name) == 0
    table = lake.table(RAW_EVENTS.name, fresh=False)  # a read: its own commit, and the other
    assert table.version() == 2 == lake.head(RAW_EVENTS.name)
    assert lake.others_seen(RAW_EVENTS.name) == 1
    assert appender.append(_raw_rows(5, 5), CommitNote()) == 3  # no version taken twice
    assert pl.read_delta(lake.table_uri(RAW_EVENTS.name)).height == 15
