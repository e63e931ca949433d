"""How the lake keeps its Delta tables: the properties it creates them with, the loaded tables
it keeps, and processes creating one lake at once (resolvers/lake/storage.py)."""

from __future__ import annotations

import datetime as dt
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from resolvers.lake import storage
from resolvers.lake.storage import MARKER, Lake
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


def create_at_once(uri: str, start: Any) -> str:
    """Create the lake at ``uri`` once every process is ready (a spawned process's work): the
    salt it ends up with."""
    start.wait(timeout=120)
    return Lake(uri).create().marker["redaction_salt"]


def create_in_processes(uris: list[str], processes: int = 4) -> list[list[str]]:
    """Each lake of ``uris`` created by ``processes`` processes at the same moment: the salts
    each process ended up with, per lake."""
    context = multiprocessing.get_context("spawn")  # deltalake's threads do not survive a fork
    salts: list[list[str]] = []
    with context.Manager() as manager, ProcessPoolExecutor(processes, context) as pool:
        for uri in uris:
            start = manager.Barrier(processes)
            salts.append(list(pool.map(create_at_once, [uri] * processes, [start] * processes)))
    return salts


def test_processes_creating_one_lake_at_once_agree_on_it(tmp_path: Path) -> None:
    """A fresh deployment's sensors may all create the lake at its first tick: every creator
    succeeds, one marker (one redaction salt) stands, every table is there once, and no draft of
    a marker is left."""
    uris = [str(tmp_path / f"lake{round_}") for round_ in range(3)]
    for uri, salts in zip(uris, create_in_processes(uris), strict=True):
        assert len(set(salts)) == 1, salts
        assert Lake(uri).marker["redaction_salt"] == salts[0]
        assert sorted(path.name for path in Path(uri).iterdir()) == sorted(
            [MARKER, *(spec.name for spec in TABLES)]
        )
        for spec in TABLES:
            assert DeltaTable(Lake(uri).table_uri(spec.name)).version() == 0, spec.name
