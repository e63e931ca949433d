"""Application transactions: a numbered batch is skipped once, and only once, it is all there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import polars as pl
import pyarrow as pa
import pytest
from stream_fixtures import feed_message

from resolvers.gcp.asset_feed import SOURCE as ASSET_FEED
from resolvers.ingest import Record, resolve_records
from resolvers.lake.append import Appender, CommitNote
from resolvers.lake.layout import read_table
from resolvers.lake.storage import Lake
from resolvers.lake.tables import ASSET_VERSIONS_TAIL, RAW_EVENTS
from resolvers.lake.writer import LakeWriter, StreamTxn
from resolvers.model import ResolvedBatch


def _batch(lake: Lake, start: int, count: int = 4) -> ResolvedBatch:
    values = [feed_message(i) for i in range(start, start + count)]
    records = [Record(orjson.dumps(v).decode(), v, f"test:{n}") for n, v in enumerate(values)]
    return resolve_records(records, lake.salt, ASSET_FEED)


def test_a_numbered_batch_is_committed_once(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake")).create()
    writer = LakeWriter(lake)
    first = writer.commit(_batch(lake, 0), "b1", StreamTxn("stream-a", 1))
    assert not first.skipped and first.versions_written == 4
    assert writer.commit(_batch(lake, 0), "b1", StreamTxn("stream-a", 1)).skipped
    assert writer.commit(_batch(lake, 4), "b0", StreamTxn("stream-a", 0)).skipped  # an older one
    assert not writer.commit(_batch(lake, 4), "b2", StreamTxn("stream-b", 1)).skipped  # its own
    assert lake.table(RAW_EVENTS.name).transaction_version("stream-a") == 1
    assert read_table(lake, "asset_versions").collect().height == 8
    # the writer's key index follows its own commits, the notes included: nothing to reload
    assert writer._indexes[RAW_EVENTS.name]._version == lake.table(RAW_EVENTS.name).version()


def test_a_batch_whose_commits_stopped_half_way_is_not_taken_for_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(str(tmp_path / "lake")).create()
    writer = LakeWriter(lake)
    append = Appender.append

    def tail_fails(self: Appender, rows: pa.Table, note: CommitNote) -> int:
        if self.spec is ASSET_VERSIONS_TAIL:
            raise OSError("the process died here")
        return append(self, rows, note)

    monkeypatch.setattr(Appender, "append", tail_fails)
    with pytest.raises(OSError):
        writer.commit(_batch(lake, 0), "b1", StreamTxn("stream-a", 1))
    assert pl.read_delta(lake.table_uri(RAW_EVENTS.name)).height == 4  # landed before the tail
    assert lake.table(RAW_EVENTS.name).transaction_version("stream-a") is None
    monkeypatch.setattr(Appender, "append", append)
    again = LakeWriter(lake).commit(_batch(lake, 0), "b1", StreamTxn("stream-a", 1))
    assert not again.skipped and again.versions_written == 4 and again.raw_events == 0
    assert read_table(lake, "asset_versions").collect().height == 4
    assert lake.table(RAW_EVENTS.name).transaction_version("stream-a") == 1


def test_a_commit_imports_no_numpy_module_on_its_threads(tmp_path: Path) -> None:
    """numpy imports some submodules lazily, on first use; two commit threads doing that first
    import together can recurse until RecursionError (a CI run failed on ``np.ma``). The writer
    imports them up front, so a first commit in a fresh process imports none of them."""
    script = f"""
import sys
sys.path[:0] = {[str(Path(__file__).parent), str(Path(__file__).parents[1])]!r}
from test_writer_txn import _batch
from resolvers.lake.storage import Lake
from resolvers.lake.writer import LakeWriter, StreamTxn
lake = Lake({str(tmp_path / "lake")!r}).create()
writer = LakeWriter(lake)
batch = _batch(lake, 0)
before = {{name for name in sys.modules if name.startswith("numpy")}}
writer.commit(batch, "b1", StreamTxn("stream-a", 1))
writer.commit(_batch(lake, 4), "b2", StreamTxn("stream-a", 2))
print(sorted({{name for name in sys.modules if name.startswith("numpy")}} - before))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
