"""The fault injectors: each strikes one pipeline at a random moment of a phase and heals.

An injector gets the pipeline, the services, a seeded random generator and the phase, does its
damage, restores what it broke (the worker or server started again), notes what it did in
``phase.events`` and returns.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from chaos import records as chaos_records
from chaos.harness import Phase, Pipeline, Services
from chaos.services import Restartable, chaos_env
from resolvers.ingest import read_file

INGEST_TIMEOUT_S = 300.0

Fault = Callable[[Pipeline, Services, random.Random, Phase, Path], None]


def kill_worker(pipe: Pipeline, run: Services, rng: random.Random, phase: Phase, _: Path) -> None:
    """SIGKILL the worker just after it pulled a batch (mid-batch), then start it again."""
    mid_batch = pipe.worker.wait_for("pulled", timeout=20.0)
    time.sleep(rng.uniform(0.0, 0.4))  # somewhere in landing, acking or draining
    pipe.worker.kill()
    phase.events.append(f"worker killed {'mid-batch' if mid_batch else 'while idle'}")
    time.sleep(rng.uniform(0.2, 1.5))
    pipe.worker.start()


def _outage(
    server: Restartable | None, pipe: Pipeline, rng: random.Random, phase: Phase, what: str
) -> None:
    """Kill ``server`` just after the worker pulled a batch, and start it again a little later."""
    assert server is not None
    mid_batch = pipe.worker.wait_for("pulled", timeout=20.0)
    time.sleep(rng.uniform(0.0, 0.3))
    server.kill()
    down = rng.uniform(1.0, 3.0)
    time.sleep(down)
    server.start()
    phase.events.append(f"{what} {'mid-batch' if mid_batch else 'while idle'}, down {down:.1f} s")


def kill_nats(pipe: Pipeline, run: Services, rng: random.Random, phase: Phase, _: Path) -> None:
    """kill -9 of nats-server, restarted on the same port and JetStream store."""
    _outage(run.nats, pipe, rng, phase, "nats-server killed")


def cut_pubsub(pipe: Pipeline, run: Services, rng: random.Random, phase: Phase, _: Path) -> None:
    """The worker's connection to the Pub/Sub emulator cut (its forwarder SIGKILLed)."""
    _outage(run.pubsub_proxy, pipe, rng, phase, "pubsub cut")


def cut_moto(pipe: Pipeline, run: Services, rng: random.Random, phase: Phase, _: Path) -> None:
    """The worker's connection to moto (SQS and the S3 lake) cut (its forwarder SIGKILLed)."""
    _outage(run.moto_proxy, pipe, rng, phase, "moto cut")


def second_writer(
    pipe: Pipeline, run: Services, rng: random.Random, phase: Phase, corpus: Path
) -> None:
    """``assetlake ingest --offline`` of another corpus file into the same lake, concurrently."""
    kind = "gcp" if pipe.source == "pubsub" else "aws"
    path = corpus / chaos_records.INGEST_FILES[kind][pipe.large]
    phase.ingested = chaos_records.landed_ids(read_file(path), pipe.lake.salt)
    argv = [str(Path(sys.executable).with_name("assetlake")), "ingest", "--offline", "--no-rules",
            "--lake", pipe.lake.uri, str(path)]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(
        argv, env=chaos_env(pipe.lake_env), capture_output=True, timeout=INGEST_TIMEOUT_S
    )
    took = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"the second writer failed: {done.stderr.decode()[-1000:]}")
    phase.events.append(f"second writer ingested {len(phase.ingested)} records in {took:.1f} s")


def same_records_writer(
    pipe: Pipeline, run: Services, rng: random.Random, phase: Phase, corpus: Path
) -> None:
    """``assetlake ingest --offline`` of the very records the phase streams (a trail's log files
    ingested while EventBridge delivers the same events), into the same lake, concurrently."""
    path = run.folder / f"same-records-{pipe.source}.jsonl"
    path.write_bytes(b"".join(orjson.dumps(value) + b"\n" for value in phase.values))
    argv = [str(Path(sys.executable).with_name("assetlake")), "ingest", "--offline", "--no-rules",
            "--lake", pipe.lake.uri, str(path)]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(
        argv, env=chaos_env(pipe.lake_env), capture_output=True, timeout=INGEST_TIMEOUT_S
    )
    if done.returncode != 0:
        raise RuntimeError(f"the same-records writer failed: {done.stderr.decode()[-1000:]}")
    took = time.monotonic() - started
    phase.events.append(f"ingest of the same {len(phase.values)} records took {took:.1f} s")


FAULTS: dict[str, Fault] = {
    "same records writer": same_records_writer,
    "kill worker": kill_worker,
    "kill nats-server": kill_nats,
    "cut pubsub": cut_pubsub,
    "cut moto": cut_moto,
    "second writer": second_writer,
}
