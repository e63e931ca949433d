"""What long-running processes keep out of the garbage collector's full walks."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import orjson

from resolvers.ingest import Record, ingest_records
from resolvers.lake.indexes import Current
from resolvers.lake.storage import Lake
from resolvers.lake.writer import LakeWriter


def test_settle_freezes_the_heap_once_per_process() -> None:
    # in a process of its own: freezing this one would keep the suite's garbage for good
    code = (
        "import gc\n"
        "from resolvers.heap import settle\n"
        "before = gc.get_freeze_count()\n"
        "first = settle()\n"
        "frozen = gc.get_freeze_count()\n"
        "print(before, first, frozen > 1000, settle(), gc.get_freeze_count() == frozen)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["0", "True", "True", "False", "True"]


def _feed(index: int, second: int, label: str) -> Record:
    name = f"//storage.googleapis.com/bucket-{index}"
    message = {
        "asset": {
            "name": name,
            "assetType": "storage.googleapis.com/Bucket",
            "resource": {"data": {"name": f"bucket-{index}", "labels": {"env": label}}},
        },
        "window": {"startTime": f"2026-03-01T10:00:{second:02d}Z"},
    }
    text = orjson.dumps(message).decode()
    return Record(text, orjson.loads(text), f"test:{index}:{second}")


def test_the_writers_current_state_is_not_walked_by_full_collections(lake: Lake) -> None:
    writer = LakeWriter(lake)
    ingest_records(writer, [_feed(i, 1, "dev") for i in range(50)], "gcp_asset_feed")
    fresh = LakeWriter(lake)  # loads the state from the tables
    ingest_records(fresh, [_feed(i, 2, "prod") for i in range(0, 50, 2)], "gcp_asset_feed")
    gc.collect()
    state = fresh.state
    assert len(state) == 50
    untracked = [key for key, values in state._current.items() if not gc.is_tracked(values)]
    assert len(untracked) == 50  # loaded and committed entries alike
    changed, kept = (
        state.get("//storage.googleapis.com/bucket-0"),
        state.get("//storage.googleapis.com/bucket-1"),
    )
    assert isinstance(changed, Current) and isinstance(kept, Current)
    assert (changed.version, kept.version) == (2, 1)
    assert changed.valid_from.second == 2 and not changed.is_deleted
    assert state.get("//storage.googleapis.com/bucket-x") is None


def test_the_state_loaded_from_the_tables_is_the_chain_end(tmp_path: Path) -> None:
    """Each batch by a new writer, so each loads the state from the tables (the tuples read
    back in the fields' order): an asset changed, changed back and repeated has three versions,
    the last observed at the repeat."""
    lake = Lake(str(tmp_path / "lake")).create()
    for second, label in ((1, "a"), (2, "b"), (3, "a"), (4, "a")):
        ingest_records(LakeWriter(lake), [_feed(7, second, label)], "gcp_asset_feed")
    writer = LakeWriter(lake)
    writer.fold()
    writer.state.sync()
    current = writer.state.get("//storage.googleapis.com/bucket-7")
    assert current is not None and current.version == 3
    assert current.last_observed_at.second == 4
