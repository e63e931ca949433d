"""Embedded services for ``assetlake demo``: moto in server mode and the Pub/Sub emulator.

Each service runs in its own process group on a free 127.0.0.1 port and is stopped as a group
(the emulator is Java under a gcloud wrapper): :func:`embedded_services` stops everything it
started when its block ends, whatever ends it (an error, Ctrl-C, SIGTERM). On Linux the
children are also killed if this process dies without cleaning up. No Dagster here.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from resolvers.errors import AssetlakeError

STARTUP_SECONDS = 60.0  # the emulator (a JVM) may take a while on a loaded machine
STOP_SECONDS = 10.0
PR_SET_PDEATHSIG = 1
# moto's EC2 backend loads ~1,300 public AMIs per region on its first call (seconds); the
# embedded account knows one, the image the demo's instances are launched from.
DEMO_AMI_ID = "ami-0c02fb55956c7d316"
DEMO_AMI = {
    "ami_id": DEMO_AMI_ID, "state": "available", "public": True, "owner_id": "137112412989",
    "image_location": "amazon/al2023-ami-2023.6.20241121.0-kernel-6.1-x86_64",
    "sriov": "simple", "root_device_type": "ebs", "root_device_name": "/dev/xvda",
    "description": "Amazon Linux 2023 AMI", "image_type": "machine", "platform": None,
    "architecture": "x86_64", "name": "al2023-ami-2023.6.20241121.0-kernel-6.1-x86_64",
    "virtualization_type": "hvm", "hypervisor": "xen",
}  # fmt: skip


class ServiceError(AssetlakeError):
    """An embedded service could not be started."""


@dataclass
class EmbeddedServer:
    """A server process (leader of its own process group) and the address clients use."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    address: str
    log: Path

    def stop(self) -> None:
        """Terminate the whole process group, then kill whatever is left of it."""
        stop_group(self.process)

    def wait_ready(self, timeout: float = STARTUP_SECONDS) -> None:
        """Return once the port accepts connections; ServiceError (with the log) otherwise."""
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-1500:]
                raise ServiceError(f"{self.name} did not start on 127.0.0.1:{self.port}: {tail}")
            time.sleep(0.05)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def stop_group(process: subprocess.Popen[bytes], timeout: float = STOP_SECONDS) -> None:
    """Terminate the process group ``process`` leads and return once every member has exited,
    killing what is left after ``timeout``.

    Waiting for the leader alone is not enough: a member that outlives it (a Dagster run the
    daemon launched, a JVM under gcloud) may still be writing into a folder the caller is about
    to remove.
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        _signal_group(process.pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None and not group_alive(process.pid):
                return
            time.sleep(0.05)


def group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is still running (zombies, which run nothing and
    wait for a parent that may never reap them, do not count on Linux)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not Path("/proc/self/stat").exists():
        return True
    return any(p.group == pgid and p.state != "Z" for p in processes().values())


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """One process as /proc/PID/stat tells it."""

    command: str
    state: str  # R, S, D, Z...
    group: int  # process group


def processes() -> dict[int, ProcessInfo]:
    """Every process of the machine by pid (Linux; empty elsewhere)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            head, tail = stat.read_text().rsplit(")", 1)
            state, _ppid, group = tail.split()[:3]
            found[int(stat.parent.name)] = ProcessInfo(head.split(" (", 1)[1], state, int(group))
    return found


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def default_sigterm() -> None:
    """In a child about to start: SIGTERM back to its default action. A group is stopped with
    SIGTERM (:func:`stop_group`), and an ignored signal is inherited across exec: Dagster maps
    SIGTERM to SIGINT's handler in a process that executes runs, and a background job starts
    with SIGINT ignored, so under ``make test &`` the test process ignored SIGTERM and so did
    every service it started (each then waited out the stop's timeout for SIGKILL)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def prepare_child() -> None:
    """In a child about to start as the leader of a group that :func:`stop_group` will stop:
    SIGTERM at its default, and (Linux) killed when the parent dies, however it dies."""
    default_sigterm()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def launch(name: str, argv: list[str], port: int, address: str, folder: Path,
           env: dict[str, str] | None = None) -> EmbeddedServer:  # fmt: skip
    """Start ``argv`` in a new process group, logging to ``folder/name.log`` (no waiting)."""
    log = folder / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            preexec_fn=prepare_child,
        )
    return EmbeddedServer(name, process, port, address, log)


def launch_moto(folder: Path) -> EmbeddedServer:
    """moto in server mode (every AWS service moto has), knowing one public AMI."""
    try:
        import moto.server  # noqa: F401  (only checks that moto[server] is installed)
    except ImportError as exc:
        raise ServiceError(
            "assetlake demo needs moto[server] (installed by `make`; or pip install 'moto[server]')"
        ) from exc
    amis = folder / "amis.json"
    amis.write_text(json.dumps([DEMO_AMI]), encoding="utf-8")
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    env = {"MOTO_AMIS_PATH": str(amis)}
    return launch("moto", argv, port, f"http://127.0.0.1:{port}", folder, env)


def gcloud_binary() -> str | None:
    """The gcloud CLI, if the SDK and a Java runtime (the emulator's) are installed."""
    found = shutil.which("gcloud")
    return found if found and shutil.which("java") else None


def launch_pubsub(folder: Path) -> EmbeddedServer | None:
    """The Google Pub/Sub emulator of the gcloud SDK, or None when the SDK is not there."""
    gcloud = gcloud_binary()
    if gcloud is None:
        return None
    port = free_port()
    data = folder / "pubsub-data"
    data.mkdir(exist_ok=True)
    argv = [
        gcloud, "beta", "emulators", "pubsub", "start",
        f"--host-port=127.0.0.1:{port}", f"--data-dir={data}", "--quiet",
    ]  # fmt: skip
    env = {"CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
    return launch("pubsub", argv, port, f"127.0.0.1:{port}", folder, env)


@dataclass
class EmbeddedServices:
    """The services of one demo run."""

    moto: EmbeddedServer
    pubsub: EmbeddedServer | None
    started: list[EmbeddedServer] = field(default_factory=list)
    pubsub_problem: str | None = None  # why the emulator is not there, if the SDK is

    @property
    def ports(self) -> list[int]:
        """Every port a service of this run listens on."""
        return [server.port for server in self.started]


def _emulator_problem(emulator: EmbeddedServer | None) -> str | None:
    """None once the emulator answers (or when there is none); else why it did not start
    (a gcloud SDK without the emulator component, no Java), after stopping what is left."""
    if emulator is None:
        return None
    try:
        emulator.wait_ready()
    except ServiceError as exc:
        emulator.stop()
        return " ".join(str(exc).split())[:300]
    return None


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM unwinds like Ctrl-C, so ``finally`` clauses stop services."""
    try:
        previous: Callable[..., object] | int | None = signal.signal(
            signal.SIGTERM, _raise_interrupt
        )
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def embedded_services(folder: Path, pubsub: bool = True) -> Iterator[EmbeddedServices]:
    """moto, and the Pub/Sub emulator where the SDK is (both starting at once), stopped after."""
    started: list[EmbeddedServer] = []
    with sigterm_as_interrupt():
        try:
            emulator = launch_pubsub(folder) if pubsub else None  # the slower one first
            if emulator is not None:
                started.append(emulator)
            moto = launch_moto(folder)
            started.append(moto)
            moto.wait_ready()
            problem = _emulator_problem(emulator)
            if problem:  # the demo goes on without it (the feed then comes from a file)
                emulator = None
            yield EmbeddedServices(moto, emulator, list(started), problem)
        finally:
            for server in reversed(started):
                server.stop()
