"""The query layer: DuckDB over real Delta tables, as-of inventory, history diffs, findings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from resolvers import query
from resolvers.diff import Change, diff, render_value
from resolvers.errors import InputError, LakeError
from resolvers.lake.fold import fold
from resolvers.lake.storage import Lake
from resolvers.lake.tables import FINDINGS, TABLES
from resolvers.lake.writer import LakeWriter
from resolvers.model import Observation, ResolvedBatch
from resolvers.observe import observation

T1 = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)
T2 = dt.datetime(2026, 1, 2, 9, 0, tzinfo=dt.UTC)
T3 = dt.datetime(2026, 1, 3, 9, 0, tzinfo=dt.UTC)
MICRO = dt.timedelta(microseconds=1)
BUCKET = "storage.googleapis.com/Bucket"
FIREWALL = "compute.googleapis.com/Firewall"
B1 = "//storage.googleapis.com/b1"
B2 = "//storage.googleapis.com/b2"
B3 = "//storage.googleapis.com/b3"
FW = "//compute.googleapis.com/projects/p2/global/firewalls/fw1"


def _obs(key: str, config: dict, when: dt.datetime, event: str, **fields: object) -> Observation:
    kind = FIREWALL if "firewalls" in key else BUCKET
    account = "p2" if "firewalls" in key else "p1"
    return observation(  # type: ignore[arg-type]
        asset_key=key, cloud="gcp", resource_type=kind, config=config, event_time=when,
        event_ids=[event], salt=b"test-salt", account_id=account, region="us",
        name=key.rsplit("/", 1)[-1], **fields,
    )  # fmt: skip


def _bucket(enabled: bool, password: str) -> dict:
    data = {"iamConfiguration": {"uniformBucketLevelAccess": {"enabled": enabled}}}
    return {"resource": {"data": {**data, "password": password, "storageClass": "STANDARD"}}}


BATCHES = [
    [
        _obs(B1, _bucket(False, "one"), T1, "e1", tags={"env": "prod", "team": "data"}),
        _obs(B2, {"resource": {"data": {"website": {"main": "index.html"}}}}, T1, "e2",
             tags={"env": "dev"}),
        _obs(FW, {"sourceRanges": ["0.0.0.0/0"], "allowed": [{"ports": ["22"]}]}, T1, "e3"),
        _obs(B3, {"x": 1}, T1, "e4"),
    ],
    [
        _obs(B1, _bucket(True, "two"), T2, "e5", tags={"env": "prod", "team": "data"}),
        _obs(FW, {"sourceRanges": ["10.0.0.0/8"], "allowed": [{"ports": ["22"]}]}, T2, "e6"),
        _obs(B3, {}, T2, "e7", is_deleted=True),
    ],
    [
        _obs(B2, {}, T3, "e8", is_deleted=True),
        _obs(B3, {"x": 2}, T3, "e9"),
    ],
]  # fmt: skip


def build_lake(root: Path, folded: bool = False) -> Lake:
    """Three batches through the real writer; ``folded`` also folds the tail into the table."""
    lake = Lake(str(root / "lake")).create()
    writer = LakeWriter(lake)
    for number, batch in enumerate(BATCHES):
        writer.commit(ResolvedBatch(observations=list(batch)), f"batch-{number}")
    if folded:
        fold(lake)
    return lake


def write_findings(lake: Lake) -> None:
    """Two findings: one resolved at T2, one still open."""
    rows = {
        "finding_id": ["f1", "f2"],
        "rule_id": ["gcs-ubla", "fw-open-ssh"],
        "severity": ["medium", "high"],
        "asset_key": [B1, FW],
        "resource_type": [BUCKET, FIREWALL],
        "account_id": ["p1", "p2"],
        "status": ["resolved", "open"],
        "opened_at": [T1, T1 + MICRO],
        "resolved_at": [T2, None],
        "opened_by_event_id": ["e1", "e3"],
        "resolved_by_event_id": ["e5", None],
        "evidence": ['{"enabled":false}', '{"sourceRanges":["0.0.0.0/0"]}'],
        "frameworks": [["cis-gcp:5.2"], ["cis-gcp:3.6"]],
    }
    table = pa.Table.from_pydict(rows, schema=FINDINGS.schema)
    write_deltalake(lake.table(FINDINGS.name), table, mode="append")


@pytest.fixture(scope="module", params=[False, True], ids=["tail", "folded"])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The test lake, with versions still in the tail or folded into the compacted table."""
    lake = build_lake(tmp_path_factory.mktemp("query"), folded=request.param)
    write_findings(lake)
    return lake


@pytest.fixture(params=query.ENGINES)
def con(request: pytest.FixtureRequest, built: Lake) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection over the test lake, through each engine."""
    connection = query.connect(built, request.param)
    yield connection
    connection.close()


def _keys(table: pa.Table) -> list[str]:
    return table.column("asset_key").to_pylist()


# -- the connection ---------------------------------------------------------------------------
def test_every_table_and_view_is_queryable(con: duckdb.DuckDBPyConnection) -> None:
    for name in [spec.name for spec in TABLES] + ["inventory", "open_findings"]:
        con.sql(f"SELECT count(*) FROM {name}").fetchall()
    assert con.sql("SELECT count(*) FROM asset_versions").fetchone() == (9,)
    # observations only, no asset_changes rows: the view is there and empty
    assert con.sql("SELECT count(*) FROM changes_by_principal").fetchone() == (0,)
    at_t1 = con.sql("SELECT asset_key FROM inventory_as_of(?::TIMESTAMPTZ)", params=[T1])
    assert sorted(row[0] for row in at_t1.fetchall()) == sorted([B1, B2, B3, FW])


def test_timestamps_come_out_as_utc(con: duckdb.DuckDBPyConnection) -> None:
    table = con.sql("SELECT valid_from FROM asset_versions ORDER BY valid_from").to_arrow_table()
    assert table.schema.field("valid_from").type == pa.timestamp("us", tz="UTC")
    first = table.column("valid_from")[0].as_py()
    assert first == T1 and first.utcoffset() == dt.timedelta(0)
    row = con.sql("SELECT min(valid_from) FROM asset_versions").fetchone()
    assert row is not None and row[0] == T1 and row[0].utcoffset() == dt.timedelta(0)


def test_a_delta_scan_connection_sees_later_commits(tmp_path: Path) -> None:
    lake = build_lake(tmp_path)
    con = query.connect(lake, "delta_scan")
    later = _obs("//storage.googleapis.com/b9", {"y": 1}, T3, "e10")
    LakeWriter(lake).commit(ResolvedBatch(observations=[later]), "later")
    assert "//storage.googleapis.com/b9" in _keys(query.inventory(con))


def test_a_missing_lake_is_a_lake_error(tmp_path: Path) -> None:
    with pytest.raises(LakeError, match="no assetlake lake"):
        query.connect(Lake(str(tmp_path / "nothing")))


def test_unknown_engine_is_refused(built: Lake) -> None:
    with pytest.raises(query.QueryError, match="unknown query engine"):
        query.connect(built, "spark")


# -- inventory --------------------------------------------------------------------------------
def test_inventory_now_leaves_deleted_assets_out(con: duckdb.DuckDBPyConnection) -> None:
    now = query.inventory(con)
    assert _keys(now) == sorted([B1, B3, FW])
    versions = dict(zip(_keys(now), now.column("version").to_pylist(), strict=True))
    assert versions == {B1: 2, B3: 3, FW: 2}


def test_inventory_as_of_before_and_after_a_change(con: duckdb.DuckDBPyConnection) -> None:
    assert query.inventory(con, as_of=T1 - MICRO).num_rows == 0
    before = query.inventory(con, as_of="2026-01-02T08:59:59Z", search="b1")
    assert before.column("version").to_pylist() == [1]
    assert "false" in before.column("config")[0].as_py()
    after = query.inventory(con, as_of=T2, search="b1")  # valid_from <= T: the new version
    assert after.column("version").to_pylist() == [2]


def test_deleted_assets_drop_out_at_their_deletion(con: duckdb.DuckDBPyConnection) -> None:
    assert B2 in _keys(query.inventory(con, as_of=T3 - MICRO))
    assert B2 not in _keys(query.inventory(con, as_of=T3))
    assert B3 not in _keys(query.inventory(con, as_of="2026-01-02T12:00:00+02:00"))
    assert B3 in _keys(query.inventory(con, as_of=T3))  # re-created


def test_inventory_filters(con: duckdb.DuckDBPyConnection) -> None:
    at = T1 + MICRO
    assert _keys(query.inventory(con, as_of=at, type=FIREWALL.upper())) == [FW]
    assert _keys(query.inventory(con, as_of=at, account="p1")) == [B1, B2, B3]
    assert _keys(query.inventory(con, as_of=at, tags={"env": "prod"})) == [B1]
    assert _keys(query.inventory(con, as_of=at, tags={"env": "prod", "team": "ops"})) == []
    assert _keys(query.inventory(con, as_of=at, tags={"team": None})) == [B1]
    assert _keys(query.inventory(con, as_of=at, search="INDEX.HTML")) == [B2]  # config text
    assert _keys(query.inventory(con, as_of=at, search="Dev")) == [B2]  # a tag value
    assert _keys(query.inventory(con, as_of=at, search="firewall")) == [FW]  # the type
    assert _keys(query.inventory(con, as_of=at, search="0.0.0.0/0", account="p1")) == []


def test_a_bad_timestamp_is_an_input_error(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(InputError, match="not a timestamp: 'last tuesday'"):
        query.inventory(con, as_of="last tuesday")


# -- history ----------------------------------------------------------------------------------
def test_history_lists_every_version_with_a_config_diff(con: duckdb.DuckDBPyConnection) -> None:
    versions = query.history(con, B1).to_pylist()
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["valid_to"] == versions[1]["valid_from"] == T2
    assert versions[1]["change_event_ids"] == ["e5"]
    assert versions[0]["changes"] == ["created"]
    assert versions[1]["changes"] == [
        "resource.data.iamConfiguration.uniformBucketLevelAccess.enabled: false -> true",
        "resource.data.password: <redacted> -> <redacted>",
    ]


def test_history_of_lists_deletions_and_recreations(con: duckdb.DuckDBPyConnection) -> None:
    firewall = query.history(con, FW).column("changes").to_pylist()
    assert firewall[1] == ['sourceRanges[0]: "0.0.0.0/0" -> "10.0.0.0/8"']
    recreated = query.history(con, B3).to_pylist()
    assert [v["is_deleted"] for v in recreated] == [False, True, False]
    assert [v["changes"] for v in recreated] == [
        ["created"],
        ["deleted"],
        ["re-created", "x: 1 -> 2"],
    ]


def test_history_of_an_unknown_asset_suggests_keys(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(query.QueryError, match=r"no asset 'b1' .*did you mean '//storage"):
        query.history(con, "b1")


# -- findings ---------------------------------------------------------------------------------
def test_findings_now_and_as_of(con: duckdb.DuckDBPyConnection) -> None:
    every = query.findings(con)
    assert every.column("finding_id").to_pylist() == ["f2", "f1"]  # high before medium
    assert query.findings(con, open_only=True).column("finding_id").to_pylist() == ["f2"]
    at_t1 = query.findings(con, as_of=T1 + MICRO).to_pylist()
    assert [(f["finding_id"], f["status"], f["resolved_at"]) for f in at_t1] == [
        ("f2", "open", None),
        ("f1", "open", None),
    ]
    assert query.findings(con, as_of=T1).column("finding_id").to_pylist() == ["f1"]
    assert query.findings(con, as_of=T2, open_only=True).column("finding_id").to_pylist() == ["f2"]
    assert query.findings(con, rule="gcs-ubla").column("status").to_pylist() == ["resolved"]


# -- sql --------------------------------------------------------------------------------------
def test_run_sql_errors_are_one_line(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(query.QueryError) as caught:
        query.run_sql(con, "SELECT nope FROM inventory")
    assert "\n" not in str(caught.value) and "nope" in str(caught.value)
    assert query.run_sql(con, "CREATE TEMP TABLE t AS SELECT 1") is None
    assert query.run_sql(con, "SELECT count(*) AS n FROM t").to_pylist() == [{"n": 1}]  # type: ignore[union-attr]


# -- the diff ---------------------------------------------------------------------------------
def test_diff_paths_values_and_list_alignment() -> None:
    old = {"a": {"b": 1, "odd key": True}, "rules": [{"p": 22}, {"p": 80}], "n": 1}
    new = {
        "a": {"b": 2, "odd key": True, "c": [1]},
        "rules": [{"p": 443}, {"p": 22}, {"p": 80}],
        "n": True,
    }
    assert [str(change) for change in diff(old, new)] == [
        "a.b: 1 -> 2",
        "a.c: (absent) -> [1]",
        "n: 1 -> true",
        'rules[0]: (absent) -> {"p":443}',
    ]
    assert str(Change('a["x.y"]', "removed", old="v")) == 'a["x.y"]: "v" -> (absent)'
    assert [str(c) for c in diff({"x.y": 1}, {})] == ['["x.y"]: 1 -> (absent)']
    assert render_value("<redacted>:hmac-sha256:abc") == "<redacted>"
    assert render_value("x" * 500).endswith("…")


@pytest.mark.parametrize("engine", query.ENGINES)
def test_columns_missing_from_the_files_read_as_null(tmp_path: Path, engine: str) -> None:
    lake = Lake(str(tmp_path / "lake")).create()
    write_findings(lake)
    older = lake.table(FINDINGS.name).to_pyarrow_table().drop_columns(["frameworks", "evidence"])
    write_deltalake(
        lake.table_uri(FINDINGS.name), older, mode="overwrite", schema_mode="overwrite"
    )  # a findings table written before those columns existed
    found = query.findings(query.connect(Lake(lake.uri), engine))
    assert found.column("finding_id").to_pylist() == ["f2", "f1"]
    assert found.column("frameworks").to_pylist() == [None, None]
    assert found.schema.field("frameworks").type == pa.list_(pa.string())


def test_a_snapshot_reads_the_compacted_table_alone_when_the_tail_is_empty(
    tmp_path: Path,
) -> None:
    def view_sql(lake: Lake) -> str:
        con = query.connect(lake, "parquet")
        found = con.sql("SELECT sql FROM duckdb_views() WHERE view_name = 'asset_versions'")
        return found.fetchall()[0][0]

    assert query.TAIL in view_sql(build_lake(tmp_path / "tail"))
    assert query.TAIL not in view_sql(build_lake(tmp_path / "folded", folded=True))
