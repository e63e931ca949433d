"""The processes the chaos suite starts, kills and restarts: servers, forwarders, workers.

Servers come from ``stream_fixtures.start_server`` (own process group, free 127.0.0.1 port,
killed with the test process). nats-server keeps its JetStream store on disk, so it is killed
for real (SIGKILL) and started again on the same port and store. moto and the Pub/Sub emulator
keep their state in memory, so the worker reaches them through a forwarder
(:mod:`chaos.proxy`) which is what gets killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from stream_fixtures import STARTUP_SECONDS, Server, _binary, free_port, port_open

TESTS = Path(__file__).resolve().parents[1]
STOP_SECONDS = 10.0


def chaos_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process: this one's, the tests folder importable."""
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, **(extra or {})}


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process group and reap its leader."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_SECONDS)


@dataclass
class Restartable:
    """A server that can be SIGKILLed and started again on the same port."""

    name: str
    argv: list[str]
    port: int
    address: str
    folder: Path
    server: Server | None = None
    kills: int = 0
    closed: bool = False  # the run is over: start() does nothing

    def start(self) -> Restartable:
        """Start it and wait for its port (with this process's environment: the chaos run puts
        the tests folder on PYTHONPATH for the forwarders).

        Not ``start_server``: its children die with the *thread* that started them
        (PR_SET_PDEATHSIG), and a fault's thread ends right after the restart.
        """
        if self.closed:
            return self
        log = self.folder / f"{self.name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.server = Server(self.name, process, self.address, log)
        deadline = time.monotonic() + STARTUP_SECONDS
        while not port_open(self.port):
            if process.poll() is not None or time.monotonic() > deadline:
                self.server.stop()
                raise RuntimeError(f"{self.name} did not start again: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        """kill -9 (the whole process group)."""
        if self.server is not None:
            kill_group(self.server.process)
            self.kills += 1

    def stop(self) -> None:
        """Stop it for good."""
        self.closed = True
        if self.server is not None:
            self.server.stop()


def nats_server(folder: Path) -> Restartable:
    """nats-server with JetStream, its store in ``folder``."""
    port = free_port()
    argv = [_binary("nats-server"), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(folder)]
    return Restartable("nats", argv, port, f"nats://127.0.0.1:{port}", folder).start()


def forwarder(name: str, target: str, folder: Path, delay: float = 0.0) -> Restartable:
    """A forwarder (chaos.proxy) to ``target`` (http://127.0.0.1:PORT or 127.0.0.1:PORT); with
    ``delay``, the target's answers arrive that many seconds late."""
    port, target_port = free_port(), int(target.rsplit(":", 1)[1])
    argv = [sys.executable, "-m", "chaos.proxy", str(port), str(target_port), str(delay)]
    address = target.replace(f":{target_port}", f":{port}")
    return Restartable(name, argv, port, address, folder).start()


@dataclass
class Worker:
    """The pump + drain worker of one pipeline (chaos.worker), killed and restarted at will."""

    name: str
    config: dict[str, Any]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    kills: int = 0
    starts: int = 0
    closed: bool = False  # the run is over: start() does nothing
    _offset: int = field(default=0)

    def start(self) -> None:
        """Start it (once more)."""
        if self.closed:
            return
        argv = [sys.executable, "-m", "chaos.worker", orjson.dumps(self.config).decode()]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=chaos_env(self.env),
                start_new_session=True,
            )  # fmt: skip
        self.starts += 1

    def alive(self) -> bool:
        """Whether it runs."""
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """kill -9."""
        if self.process is not None:
            kill_group(self.process)
            self.kills += 1

    def stop(self) -> None:
        """Stop it for good (SIGKILL: it holds nothing that a kill would lose)."""
        if self.alive():
            assert self.process is not None
            kill_group(self.process)

    def lines(self, word: str) -> int:
        """How many of its output lines so far say ``word`` (``pulled``, ``error``...)."""
        if not self.log.exists():
            return 0
        return sum(1 for line in self.log.read_text().splitlines() if f" {word} " in line)

    def rounds(self, start: float, end: float) -> tuple[int, int]:
        """Between two instants: (rounds that failed, records pulled again that were already
        landed: redeliveries after a kill or a lost ack)."""
        failed = redelivered = 0
        for line in self.log.read_text().splitlines() if self.log.exists() else []:
            stamp, _, rest = line.partition(" ")
            try:
                when = float(stamp)
            except ValueError:
                continue  # a library's own log line
            if not start <= when < end:
                continue
            if rest.startswith("error "):
                failed += 1
            elif rest.startswith("landed "):  # landed N of M, acked K
                words = rest.split()
                redelivered += int(words[3].rstrip(",")) - int(words[1])
        return failed, redelivered

    def wait_for(self, word: str, timeout: float) -> bool:
        """Wait until it says ``word`` once more (``pulled``: it is landing a batch)."""
        seen, deadline = self.lines(word), time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.lines(word) > seen:
                return True
            time.sleep(0.02)
        return False


def wait_port(port: int, timeout: float = 30.0) -> None:
    """Wait until something listens on the port."""
    deadline = time.monotonic() + timeout
    while not port_open(port) and time.monotonic() < deadline:
        time.sleep(0.05)
