"""The query commands end to end: `assetlake ingest` of feed messages, then sql, history,
inventory and findings in each output format, and their errors (one line, exit status 2)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import orjson
import pyarrow as pa
import pytest
from click.testing import CliRunner, Result
from deltalake import write_deltalake

from pipelines.cli import main
from resolvers.lake.storage import Lake
from resolvers.lake.tables import FINDINGS

B1 = "//storage.googleapis.com/b1"
B2 = "//storage.googleapis.com/b2"
BUCKET = "storage.googleapis.com/Bucket"


def _message(name: str, start: str, data: dict | None, prior: str = "PRESENT") -> dict:
    asset: dict = {"name": name, "assetType": BUCKET}
    if data is not None:
        asset["resource"] = {"data": {"name": name.rsplit("/", 1)[-1], **data}}
    message = {"asset": asset, "window": {"startTime": start}, "priorAssetState": prior}
    return {**message, "deleted": True} if data is None else message


def _ubla(enabled: bool) -> dict:
    return {"iamConfiguration": {"uniformBucketLevelAccess": {"enabled": enabled}}}


NEW = "DOES_NOT_EXIST"
MESSAGES = [
    _message(B1, "2026-01-01T00:00:00Z", {"labels": {"env": "prod"}, **_ubla(False)}, NEW),
    _message(B2, "2026-01-01T00:00:00Z", {"labels": {"env": "dev"}, "note": "x" * 300}, NEW),
    _message(B1, "2026-01-02T00:00:00Z", {"labels": {"env": "prod"}, **_ubla(True)}),
    _message(B2, "2026-01-03T00:00:00Z", None),
]


def run(*args: str) -> Result:
    """``assetlake ARGS`` in-process, stdout and stderr apart."""
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def lake_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A lake built by `assetlake ingest` of four feed messages, plus two findings."""
    root = tmp_path_factory.mktemp("cli-query")
    feed = root / "feed.jsonl"
    feed.write_text("\n".join(orjson.dumps(m).decode() for m in MESSAGES) + "\n")
    uri = str(root / "lake")
    result = run("ingest", "--lake", uri, str(feed))
    assert result.exit_code == 0, result.output
    _write_findings(Lake(uri))
    return uri


def _write_findings(lake: Lake) -> None:
    jan = [dt.datetime(2026, 1, day, tzinfo=dt.UTC) for day in (1, 2)]
    rows = {
        "finding_id": ["f1", "f2"],
        "rule_id": ["test-ubla", "test-public"],
        "severity": ["medium", "critical"],
        "asset_key": [B1, B2],
        "resource_type": [BUCKET, BUCKET],
        "account_id": [None, None],
        "status": ["resolved", "open"],
        "opened_at": [jan[0], jan[0]],
        "resolved_at": [jan[1], None],
        "opened_by_event_id": [None, None],
        "resolved_by_event_id": [None, None],
        "evidence": ['{"enabled":false}', '{"members":["allUsers"]}'],
        "frameworks": [["cis-gcp:5.2"], []],
    }
    table = pa.Table.from_pydict(rows, schema=FINDINGS.schema)
    write_deltalake(lake.table(FINDINGS.name), table, mode="append")


def as_json(*args: str) -> list[dict]:
    """The JSON array that ``assetlake ARGS --format json`` prints."""
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout)


def as_csv(*args: str) -> list[dict[str, str]]:
    """The rows that ``assetlake ARGS --format csv`` prints."""
    result = run(*args, "--format", "csv")
    assert result.exit_code == 0, result.output + result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout)))


def keys(rows: list[dict]) -> list[str]:
    """The asset_key of each row."""
    return [row["asset_key"] for row in rows]


def _stdout_lines(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output + result.stderr
    return result.stdout.splitlines()


# -- inventory --------------------------------------------------------------------------------
def test_inventory_table_now_and_as_of(lake_uri: str) -> None:
    now = _stdout_lines(run("inventory", "--lake", lake_uri))
    assert now[0].split()[:3] == ["asset_key", "resource_type", "account_id"]
    assert set(now[1]) <= {"-", " "}
    assert [line.split()[0] for line in now[2:-1]] == [B1]
    assert now[-1] == "1 asset"
    before = _stdout_lines(run("inventory", "--lake", lake_uri, "--as-of", "2026-01-01T12:00:00Z"))
    assert [line.split()[0] for line in before[2:-1]] == [B1, B2]
    assert before[-1] == "2 assets"


def test_inventory_filters(lake_uri: str) -> None:
    at = ("inventory", "--lake", lake_uri, "--as-of", "2026-01-02")
    assert keys(as_json(*at, "--tag", "env=dev")) == [B2]
    assert keys(as_json(*at, "--tag", "env=dev", "--tag", "team=x")) == []
    assert keys(as_json(*at, "--tag", "env")) == [B1, B2]
    assert keys(as_json(*at, "--type", BUCKET)) == [B1, B2]
    assert keys(as_json(*at, "--type", "AWS::S3::Bucket")) == []
    found = as_json(*at, "--search", "UNIFORMBUCKET")
    assert keys(found) == [B1]
    assert found[0]["tags"] == {"env": "prod"}  # JSON columns nest in the json format
    assert found[0]["config"]["resource"]["data"]["iamConfiguration"]


def test_inventory_csv_and_json_parse_back(lake_uri: str) -> None:
    args = ("inventory", "--lake", lake_uri, "--as-of", "2026-01-01T12:00:00Z")
    rows = as_csv(*args)
    assert keys(rows) == [B1, B2]
    assert [r["valid_from"] for r in rows] == ["2026-01-01T00:00:00Z"] * 2
    assert [r["valid_to"] for r in rows] == ["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]
    assert json.loads(rows[0]["tags"]) == {"env": "prod"}
    documents = as_json(*args)
    assert [d["version"] for d in documents] == [1, 1]
    assert documents[1]["valid_from"] == "2026-01-01T00:00:00Z"


def test_long_cells_are_cut_with_an_ellipsis(lake_uri: str) -> None:
    lines = _stdout_lines(run("sql", "--lake", lake_uri, "SELECT repeat('x', 300) AS long, 7 AS n"))
    assert lines[2].startswith("x" * 59 + "…") and lines[2].endswith("7")
    assert lines[-1] == "1 row"


# -- history ----------------------------------------------------------------------------------
def test_history_shows_each_version_and_what_changed(lake_uri: str) -> None:
    lines = _stdout_lines(run("history", "--lake", lake_uri, B1))
    assert lines[0].split() == [
        "version", "valid_from", "valid_to", "changed_by", "change_source", "event_names",
    ]  # fmt: skip
    assert lines[2].split()[:3] == ["1", "2026-01-01", "00:00:00Z"]
    assert lines[3].strip() == "created"
    assert lines[5].strip() == (
        "resource.data.iamConfiguration.uniformBucketLevelAccess.enabled: false -> true"
    )
    assert lines[-1] == "2 versions"


def test_history_json_and_csv(lake_uri: str) -> None:
    versions = as_json("history", "--lake", lake_uri, B2)
    assert [(v["version"], v["is_deleted"], v["changes"]) for v in versions] == [
        (1, False, ["created"]),
        (2, True, ["deleted"]),
    ]
    assert versions[1]["valid_from"] == "2026-01-03T00:00:00Z" and versions[1]["valid_to"] is None
    rows = as_csv("history", "--lake", lake_uri, B1)
    assert [r["version"] for r in rows] == ["1", "2"]
    assert "false -> true" in json.loads(rows[1]["changes"])[0]


# -- findings ---------------------------------------------------------------------------------
def test_findings_open_as_of_and_rule(lake_uri: str) -> None:
    # `assetlake ingest` also evaluates the real rules: look only at the two findings written here
    def ours(rows: list[dict]) -> list[str]:
        return [row["finding_id"] for row in rows if row["finding_id"] in ("f1", "f2")]

    every = as_json("findings", "--lake", lake_uri)
    assert ours(every) == ["f2", "f1"]  # critical first
    assert next(f for f in every if f["finding_id"] == "f1")["evidence"] == {"enabled": False}
    assert ours(as_json("findings", "--lake", lake_uri, "--open")) == ["f2"]
    at_noon = ("findings", "--lake", lake_uri, "--open", "--as-of", "2026-01-01T12:00Z")
    assert ours(as_json(*at_noon)) == ["f2", "f1"]
    open_now = _stdout_lines(run("findings", "--lake", lake_uri, "--open", "--rule", "test-public"))
    assert open_now[-1] == "1 finding" and open_now[2].split()[:3] == [
        "critical",
        "test-public",
        "open",
    ]
    by_rule = as_csv("findings", "--lake", lake_uri, "--rule", "test-ubla")
    assert [(r["finding_id"], r["status"], r["resolved_at"]) for r in by_rule] == [
        ("f1", "resolved", "2026-01-02T00:00:00Z")
    ]


# -- sql and errors ---------------------------------------------------------------------------
def test_sql_over_tables_and_views(lake_uri: str) -> None:
    query = "SELECT asset_key, count(*) AS versions FROM asset_versions GROUP BY 1 ORDER BY 1"
    rows = as_json("sql", "--lake", lake_uri, query)
    assert rows == [{"asset_key": B1, "versions": 2}, {"asset_key": B2, "versions": 2}]
    counted = run(
        "sql", "--lake", lake_uri, "SELECT count(*) AS n FROM inventory", "--format", "csv"
    )
    assert counted.stdout == "n\n1\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sql", "SELEC 1"), "syntax error"),
        (("sql", "SELECT * FROM no_such_table"), "no_such_table"),
        (("inventory", "--as-of", "last tuesday"), "not a timestamp"),
        (("findings", "--as-of", "2026-13-45"), "not a timestamp"),
        (("inventory", "--tag", "=v"), "expected KEY=VALUE"),
        (("inventory", "--tag", "env=a", "--tag", "env=b"), "given twice"),
        (("history", "//storage.googleapis.com/b9"), "no asset '//storage.googleapis.com/b9'"),
    ],
)
def test_errors_are_one_line_and_exit_2(lake_uri: str, args: tuple[str, ...], message: str) -> None:
    result = run(args[0], "--lake", lake_uri, *args[1:])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr


def test_a_missing_lake_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for command in (["sql", "SELECT 1"], ["history", B1], ["inventory"], ["findings"]):
        result = run(command[0], "--lake", str(tmp_path / "none"), *command[1:])
        assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
        assert "no assetlake lake" in result.stderr


def test_sql_values_of_every_kind_in_csv_and_json(lake_uri: str) -> None:
    query = (
        "SELECT TIMESTAMPTZ '2026-01-01 10:00:00.25+02' AS at, TIMESTAMP '2026-01-01' AS naive, "
        "[1, 2] AS ids, {'a': 'x'} AS doc, true AS flag, 1.5::DECIMAL(4, 2) AS amount, "
        "NULL AS nothing, 'a,\"b\"' AS text, INTERVAL 90 SECOND AS span"
    )
    [row] = as_csv("sql", "--lake", lake_uri, query)
    assert row == {
        "at": "2026-01-01T08:00:00.250000Z",
        "naive": "2026-01-01T00:00:00Z",
        "ids": "[1,2]",
        "doc": '{"a":"x"}',
        "flag": "true",
        "amount": "1.50",
        "nothing": "",
        "text": 'a,"b"',
        "span": row["span"],  # an interval: its text, whatever DuckDB calls it
    }
    [document] = as_json("sql", "--lake", lake_uri, query)
    assert document["at"] == "2026-01-01T08:00:00.250000Z" and document["naive"].endswith("Z")
    assert document["ids"] == [1, 2] and document["doc"] == {"a": "x"} and document["flag"] is True
    assert document["amount"] == 1.5 and document["nothing"] is None
