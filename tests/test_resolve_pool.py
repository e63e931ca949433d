"""Resolving in worker processes (resolvers/resolve_pool.py): the same lake as resolving inline,
results in order, a worker's error where it happened, and nothing lost when a worker dies."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from resolvers import resolve_pool
from resolvers.embedded import processes
from resolvers.ingest import Record, dominant_source, ingest_files, ingest_records, read_file
from resolvers.lake.layout import read_table
from resolvers.lake.storage import SALT_ENV, Lake
from resolvers.lake.writer import LakeWriter
from resolvers.resolve_pool import ordered_map

# when and by what a row was loaded (and so which batch and commit): not what it says
LOAD_COLUMNS = ("batch_id", "recorded_at", "received_at", "landed_at", "resolved_at", "observed_at")
TABLES = ("raw_events", "asset_changes", "unresolved_events", "asset_versions")


def _double_or_die(item: int) -> int:
    """Twice ``item``; in a worker process, item 3 kills the worker instead."""
    if item == 3 and multiprocessing.parent_process() is not None:
        os._exit(1)
    return item * 2


def test_results_come_back_in_order_from_workers() -> None:
    assert list(ordered_map(abs, range(0, -40, -1), workers=1)) == list(range(40))
    assert list(ordered_map(abs, [-5], workers=1)) == [5]  # one item: inline
    assert list(ordered_map(abs, [], workers=1)) == []


def test_an_error_in_a_worker_reaches_the_caller_at_its_item() -> None:
    results = ordered_map(int, ["1", "2", "not a number", "4"], workers=1)
    assert next(results) == 1
    assert next(results) == 2
    with pytest.raises(ValueError, match="not a number"):
        next(results)


def test_a_worker_that_dies_loses_nothing(caplog: pytest.LogCaptureFixture) -> None:
    assert list(ordered_map(_double_or_die, range(10), workers=1)) == [n * 2 for n in range(10)]
    assert "worker process died" in caplog.text
    assert list(ordered_map(abs, [-1, -2, -3], workers=1)) == [1, 2, 3]  # a new pool after


def test_worker_count_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(resolve_pool.WORKERS_ENV, "3")
    assert resolve_pool.worker_count() == 3
    monkeypatch.setenv(resolve_pool.WORKERS_ENV, "0")
    assert resolve_pool.worker_count() == 0
    monkeypatch.setenv(resolve_pool.WORKERS_ENV, "many")
    assert resolve_pool.worker_count() == 0
    monkeypatch.delenv(resolve_pool.WORKERS_ENV)
    assert resolve_pool.worker_count() == min(4, max(0, (os.cpu_count() or 1) - 1))


def _contents(lake: Lake) -> dict[str, list[dict[str, Any]]]:
    contents = {}
    for name in TABLES:
        rows = read_table(lake, name).collect().to_dicts()
        kept = [{k: v for k, v in row.items() if k not in LOAD_COLUMNS} for row in rows]
        contents[name] = sorted(kept, key=repr)
    return contents


def _mixed_file(corpus: Path, folder: Path) -> Path:
    """Real CloudTrail records, CAI assets as feed messages, and lines that are not records."""
    lines = (corpus / "invictus_aws_dataset.cloudtrail.jsonl").read_text().splitlines()[:400]
    for index, line in enumerate((corpus / "gcp_policy_library_fixtures.cai_assets.jsonl")
                                 .read_text().splitlines()[:150]):  # fmt: skip
        asset = orjson.loads(line)
        window = {"startTime": f"2024-05-01T10:{index // 60:02d}:{index % 60:02d}Z"}
        lines.append(orjson.dumps({"asset": asset, "window": window}).decode())
    lines += ["not json", '{"half": ', '"a string"', "[1, 2]", '{"Records": 5}']
    path = folder / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ingest_in_workers_gives_the_lake_resolving_inline_gives(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _mixed_file(corpus, tmp_path)
    monkeypatch.setenv(SALT_ENV, "one salt for both lakes")
    lakes = {}
    for workers in ("0", "1"):
        monkeypatch.setenv(resolve_pool.WORKERS_ENV, workers)
        lakes[workers] = Lake(str(tmp_path / f"lake-{workers}"))
        ingest_files(lakes[workers], [source], batch_size=50)
    inline, in_workers = _contents(lakes["0"]), _contents(lakes["1"])
    assert {name: len(rows) for name, rows in in_workers.items()} == {
        name: len(rows) for name, rows in inline.items()
    }
    assert len(inline["raw_events"]) == 555
    assert in_workers == inline


def test_records_parsed_where_they_are_resolved_land_as_parsed_ones_do(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a drain hands over its records unparsed (Record.of_text); inline and in a worker they
    # must resolve to the rows of the same records parsed beforehand, not-JSON lines included
    parsed = read_file(_mixed_file(corpus, tmp_path))
    deferred = [Record.of_text(record.payload, record.origin) for record in parsed]
    assert sum(record.value is None for record in parsed) == 2  # "not json", '{"half": '
    monkeypatch.setenv(SALT_ENV, "one salt for every lake")
    contents = {}
    for name, records, workers in (
        ("parsed", parsed, "0"), ("deferred-inline", deferred, "0"),
        ("deferred-workers", deferred, "1"),
    ):  # fmt: skip
        monkeypatch.setenv(resolve_pool.WORKERS_ENV, workers)
        lake = Lake(str(tmp_path / name)).create()
        ingest_records(LakeWriter(lake), records, dominant_source(parsed), batch_size=50)
        contents[name] = _contents(lake)
    assert len(contents["parsed"]["raw_events"]) == 555
    assert len(contents["parsed"]["unresolved_events"]) > 0
    assert contents["deferred-inline"] == contents["parsed"]
    assert contents["deferred-workers"] == contents["parsed"]


def _use_workers() -> None:
    assert list(ordered_map(abs, [-1, -2, -3], workers=1)) == [1, 2, 3]


def test_a_process_started_by_multiprocessing_still_ends() -> None:
    """A Dagster step or a bench lane is a multiprocessing child: it joins its own children
    when it ends, so its idle resolver workers must be stopped before that, not waited for."""
    child = multiprocessing.get_context("spawn").Process(target=_use_workers)
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
        pytest.fail("the process did not end: its resolver workers were never stopped")
    assert child.exitcode == 0


def test_a_forked_child_starts_workers_of_its_own() -> None:
    """A child forked after the pool started must not wait on its parent's workers."""
    assert list(ordered_map(abs, [-1, -2], workers=1)) == [1, 2]
    pid = os.fork()
    if pid == 0:  # the child: exits 0 when its own workers answered, dies after 60 s if not
        signal.alarm(60)
        code = 1
        try:
            code = 0 if list(ordered_map(abs, [-3, -4], workers=1)) == [3, 4] else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def _start_workers_then_die(pids: Any) -> None:
    assert list(ordered_map(abs, [-1, -2, -3], workers=1)) == [1, 2, 3]
    pids.put(list(resolve_pool._pool._processes))  # type: ignore[union-attr]
    pids.close()
    pids.join_thread()  # the pids are sent before the end
    os.kill(os.getpid(), signal.SIGKILL)  # no clean-up of any kind


def test_workers_end_when_their_parent_is_killed() -> None:
    context = multiprocessing.get_context("spawn")
    pids = context.Queue()
    parent = context.Process(target=_start_workers_then_die, args=(pids,))
    parent.start()
    workers = pids.get(timeout=60)
    parent.join(timeout=60)
    assert parent.exitcode == -signal.SIGKILL and workers
    deadline = time.monotonic() + 15
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    orphans = [pid for pid in workers if _running(pid)]
    for pid in orphans:
        os.kill(pid, signal.SIGKILL)
    assert not orphans, f"resolver workers {orphans} outlived their parent"


def _running(pid: int) -> bool:
    found = processes().get(pid)
    return found is not None and found.state != "Z"


def test_a_single_batch_resolved_in_parts_gives_the_lake_resolving_it_whole_gives(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one batch has no commit to overlap its resolution with: its records are resolved in
    # parts, the first here and the others in the worker, and joined in their order
    from resolvers import ingest as ingest_module

    records = read_file(_mixed_file(corpus, tmp_path))
    monkeypatch.setenv(SALT_ENV, "one salt for both lakes")
    monkeypatch.setattr(ingest_module, "MIN_PART", 100)
    parts: list[int] = []
    spied = ingest_module.ordered_map

    def ordered_map(function: Any, items: Any, workers: int | None = None) -> Any:
        items = list(items)
        parts.append(len(items))
        return spied(function, items, workers)

    monkeypatch.setattr(ingest_module, "ordered_map", ordered_map)
    contents = {}
    for workers in ("0", "1"):
        monkeypatch.setenv(resolve_pool.WORKERS_ENV, workers)
        lake = Lake(str(tmp_path / f"lake-{workers}")).create()
        ingest_records(LakeWriter(lake), records, dominant_source(records), batch_size=10_000)
        contents[workers] = _contents(lake)
    assert parts == [1, 2]  # whole when there is no worker, in two parts with one
    assert len(contents["1"]["raw_events"]) == 555
    assert contents["1"] == contents["0"]
