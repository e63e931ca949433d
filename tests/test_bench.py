"""The bench: its JSON has every figure, and its synthetic history is what ingest would write.

Structure only: no timing is ever asserted (the machines are shared and noisy).
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import polars as pl
import pytest
from click.testing import CliRunner

from pipelines.cli import main
from resolvers.bench.feed import render
from resolvers.bench.history import build_history
from resolvers.canonical import config_hash
from resolvers.ingest import Record, resolve_record
from resolvers.lake.storage import Lake

FIGURES = (
    "append_rows_per_s",
    "ingest_events_per_s",
    "ingest_vs_append",
    "history_growth_ratio",
    "asof_query_s",
    "asset_history_query_s",
    "peak_rss_mb",
)
MACHINE = ("cores", "memory_gb", "python", "deltalake", "polars", "duckdb")
COMPARED = ("asset_key", "cloud", "account_id", "region", "resource_type", "name", "tags")


@pytest.fixture(scope="module")
def history_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """A lake of 300 live assets and 3,000 versions, built the way the bench builds them."""
    lake = Lake(str(tmp_path_factory.mktemp("bench") / "lake"))
    build_history(lake, live=300, history=3_000, seed=5, rows_per_commit=1_000)
    return lake


@pytest.fixture(scope="module")
def versions(history_lake: Lake) -> pl.DataFrame:
    """Every row of the built asset_versions, in chain order."""
    return history_lake.scan("asset_versions").collect().sort("asset_key", "valid_from")


@pytest.mark.slow
def test_bench_json_has_every_figure(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["bench", "--tiny", "--json", "--workdir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    for name in FIGURES:
        value = figures[name]
        assert isinstance(value, int | float) and value > 0, (name, value)
    assert all(figures["machine"][key] for key in MACHINE)
    assert figures["params"]["live"] == 2_000 and figures["params"]["history"] == 10_000
    assert list(tmp_path.iterdir()) == []  # the temporary lakes are gone
    resolved = figures["detail"]["resolve"]  # the resolver, on the corpus (issue 3's figure)
    assert resolved["records"] > 1000 and figures["resolve_records_per_s"] > 0
    ratio = figures["resolve_records_per_s"] / figures["parse_records_per_s"]
    assert figures["resolve_vs_parse"] == pytest.approx(ratio, rel=1e-3)


def test_history_chains_are_exact_scd2(versions: pl.DataFrame) -> None:
    assert versions.height == 3_000 and versions["asset_key"].n_unique() == 300
    chains = versions.with_columns(
        next_from=pl.col("valid_from").shift(-1).over("asset_key"),
        previous_state=pl.struct("config_hash", "is_deleted").shift(1).over("asset_key"),
        number=pl.int_range(1, pl.len() + 1).over("asset_key"),
    )
    assert (chains["version"] == chains["number"]).all()
    closed = chains.filter(pl.col("next_from").is_not_null())
    assert (closed["valid_to"] == closed["next_from"]).all() and not closed["is_current"].any()
    last = chains.filter(pl.col("next_from").is_null())
    assert last.height == 300 and last["is_current"].all() and last["valid_to"].is_null().all()
    assert not last["is_deleted"].any()  # every asset is live
    state = pl.struct("config_hash", "is_deleted")
    assert chains.filter(state == pl.col("previous_state")).is_empty()
    assert versions["is_deleted"].any()  # deletions and re-creations happen mid-chain


def test_config_hash_is_canonical(versions: pl.DataFrame) -> None:
    for row in versions.sample(50, seed=1).iter_rows(named=True):
        assert config_hash(orjson.loads(row["config"])) == row["config_hash"]
        assert 800 < len(row["config"]) < 2_500 or row["is_deleted"]


def _resolved(index: int, op: str, rev: int) -> dict:
    frame = pl.DataFrame(
        {"index": [index], "op": [op], "rev": [rev], "_us": [1_750_000_000_000_000]}
    )
    text = render(frame)[0]
    observations = resolve_record(Record(text, orjson.loads(text), "test"), b"s", "x").observations
    assert len(observations) == 1
    obs = observations[0]
    return {**{name: getattr(obs, name) for name in COMPARED}, "config": obs.config,
            "config_hash": obs.config_hash}  # fmt: skip


def test_history_rows_are_what_ingest_would_write(versions: pl.DataFrame) -> None:
    deleted = versions.filter(pl.col("is_deleted")).head(3)
    current = versions.filter(pl.col("is_current")).sample(12, seed=2)
    for row in pl.concat([current, deleted]).iter_rows(named=True):
        serial = int(row["asset_key"].rsplit("-", 1)[1])
        op = "delete" if row["is_deleted"] else "update"
        expected = _resolved(serial, op, row["version"])
        assert {name: row[name] for name in expected} == expected


def test_logs_hold_one_row_per_version(history_lake: Lake, versions: pl.DataFrame) -> None:
    for name in ("asset_observations", "raw_events", "asset_changes"):
        assert history_lake.scan(name).select(pl.len()).collect().item() == versions.height
    ids = versions.select(pl.col("change_event_ids").list.first()).to_series()
    assert ids.n_unique() == versions.height and ids.str.starts_with("cai-").all()


def test_the_e2e_bench_watches_the_lake_by_its_file_statistics(tmp_path: Path) -> None:
    import time

    from resolvers.bench.e2e import _message, _stored_rows, _wait_for
    from resolvers.gcp.asset_feed import SOURCE as ASSET_FEED
    from resolvers.ingest import ingest_records
    from resolvers.lake.writer import LakeWriter

    lake = Lake(str(tmp_path / "lake"))
    assert _stored_rows(lake) == 0  # no lake yet: nothing committed, not a failure
    writer = LakeWriter(lake.create())
    assert _stored_rows(lake) == 0
    records = [Record.of_text(_message(i, "burst").decode(), f"t{i}") for i in range(30)]
    ingest_records(writer, records, ASSET_FEED, batch_size=10)
    assert _stored_rows(lake) == 30  # every bench message is a new asset: one tail row each
    assert _wait_for(lake, "burst", 30, 30, time.monotonic() + 10).height == 30
    writer.fold()
    assert _stored_rows(lake) == 30
    started = time.monotonic()  # a count not reached yet waits, then gives what there is
    assert _wait_for(lake, "burst", 31, 31, started + 1.5).height == 30
    assert time.monotonic() - started >= 1.5
