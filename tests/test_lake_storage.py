"""How the lake keeps its Delta tables: the properties it creates them with, and the loaded
tables it keeps (resolvers/lake/storage.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from resolvers.lake import storage
from resolvers.lake.storage import Lake
from resolvers.lake.tables import DRAIN_PROGRESS, TABLES


def _progress_row(number: int) -> pa.Table:
    row = {
        "consumer": ["test"], "from_version": [number], "to_version": [number], "records": [1],
        "batch_id": [f"test:{number}"], "drained_at": [dt.datetime.now(dt.UTC)],
    }  # fmt: skip
    return pa.Table.from_pydict(row).cast(DRAIN_PROGRESS.schema)


def test_every_table_is_created_with_frequent_checkpoints(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake")).create()
    for spec in TABLES:
        configuration = DeltaTable(lake.table_uri(spec.name)).metadata().configuration
        assert configuration["delta.checkpointInterval"] == "20", spec.name
        for key, value in spec.configuration:  # a table's own properties are kept
            assert configuration[key] == value


def test_a_table_that_moved_far_past_its_load_is_loaded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "RELOAD_AFTER_VERSIONS", 3)
    lake = Lake(str(tmp_path / "lake")).create()
    name = DRAIN_PROGRESS.name
    loaded = lake.table(name)
    other_writer = DeltaTable(lake.table_uri(name))
    for number in range(2):
        write_deltalake(other_writer, _progress_row(number), mode="append")
    assert lake.table(name) is loaded  # followed incrementally while close to its load
    assert lake.table(name, fresh=False).version() == loaded.version() == 2
    write_deltalake(other_writer, _progress_row(2), mode="append")
    reloaded = lake.table(name)
    assert reloaded is not loaded and reloaded.version() == 3
    assert reloaded.to_pyarrow_table().num_rows == 3
    write_deltalake(other_writer, _progress_row(3), mode="append")
    assert lake.table(name) is reloaded  # counted again from the new load
