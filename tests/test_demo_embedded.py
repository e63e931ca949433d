"""The demo's embedded services: started on free 127.0.0.1 ports, always stopped.

A gcloud SDK whose emulator cannot start is not fatal (the feed then comes from a file), and
whatever ends the block (its end, an exception, SIGTERM) stops every process it started.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from resolvers.embedded import (
    embedded_services,
    free_port,
    group_alive,
    launch,
    port_open,
    processes,
    stop_group,
)

pytestmark = pytest.mark.service


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return (
        Path(f"/proc/{pid}/status").exists()
        and "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    )


@pytest.fixture
def broken_gcloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH whose gcloud exits at once (an SDK without the emulator component)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("gcloud", "echo 'emulator component missing' >&2; exit 1"),
                       ("java", "exit 0")):  # fmt: skip
        tool = bin_dir / name
        tool.write_text(f"#!/bin/sh\n{body}\n")
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}")


def test_moto_answers_and_stops_with_the_block(tmp_path: Path) -> None:
    with embedded_services(tmp_path, pubsub=False) as services:
        port, pid = services.moto.port, services.moto.process.pid
        assert services.moto.address == f"http://127.0.0.1:{port}" and port_open(port)
        assert services.pubsub is None and services.pubsub_problem is None
    assert not port_open(port) and not _alive(pid)


def test_an_emulator_that_cannot_start_is_reported_not_fatal(
    tmp_path: Path, broken_gcloud: None
) -> None:
    with embedded_services(tmp_path) as services:
        assert services.pubsub is None
        assert "pubsub did not start" in (services.pubsub_problem or "")
        assert "component missing" in (services.pubsub_problem or "")
        port = services.moto.port
        assert port_open(port)
    assert not port_open(port)


def test_an_error_or_sigterm_in_the_block_still_stops_the_services(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(RuntimeError), embedded_services(tmp_path, pubsub=False) as services:
        port = services.moto.port
        raise RuntimeError("the demo failed")
    assert not port_open(port)
    with pytest.raises(KeyboardInterrupt), embedded_services(tmp_path, pubsub=False) as services:
        port = services.moto.port
        os.kill(os.getpid(), signal.SIGTERM)  # unwinds like Ctrl-C inside the block
    assert not port_open(port)
    assert signal.getsignal(signal.SIGTERM) == before  # the previous handler is back


def test_stopping_a_group_waits_for_members_that_outlive_their_leader(tmp_path: Path) -> None:
    # the leader dies on SIGTERM at once; its child (like a run the Dagster daemon launched)
    # takes a second to finish writing, and whoever removes the folder next must wait for it
    done = tmp_path / "done"
    child = f'trap "sleep 1; touch {done}; exit 0" TERM; while :; do sleep 0.1; done'
    # started by launch() from a process that ignores SIGTERM (as a process that executed a
    # Dagster run does in a background job): the group must still get it
    ignored = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        argv = ["bash", "-c", f"bash -c '{child}' & wait"]
        leader = launch("group", argv, free_port(), "", tmp_path).process
    finally:
        signal.signal(signal.SIGTERM, ignored)
    deadline = time.monotonic() + 10
    while "sleep" not in _group_commands(leader.pid):  # the child's loop has started
        assert time.monotonic() < deadline
    stop_group(leader, timeout=10)
    assert done.exists() and not group_alive(leader.pid)


def _group_commands(pgid: int) -> str:
    return " ".join(p.command for p in processes().values() if p.group == pgid)
