"""The Dagster daemon killed while it lands a stream: a real ``dagster-daemon`` on workspace.yaml
with ``nats_events_sensor`` pointed at a JetStream stream and drain runs following it, SIGKILLed
at a random moment while records flow, then started again. Nothing may be lost or doubled.

Only the daemon process is killed: the code server it started (where sensor ticks run) and the
drain runs it launched are left to die or finish on their own, as after a real crash of the
daemon's host process; the restarted daemon starts its own.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from resolvers.bench.e2e import _daemon, _message, _nats_transport, _stop
from resolvers.lake.checks import chain_violations
from resolvers.lake.layout import read_table
from resolvers.lake.storage import Lake

pytestmark = [pytest.mark.service, pytest.mark.slow]
PHASES = 3  # published before the kill, while the daemon is down, after its restart
PER_PHASE = 150
WAIT_S = 240.0
FOLLOW_S = 20.0


def _landed(lake: Lake) -> int:
    if not lake.exists():
        return 0
    return read_table(lake, "raw_events").select(pl.len()).collect().item()


def _wait(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def test_killing_the_dagster_daemon_loses_and_doubles_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("ASSETLAKE_CHAOS_SEED") or random.SystemRandom().randrange(10**6))
    rng = random.Random(seed)
    print(f"daemon chaos seed {seed}")
    transport = _nats_transport(tmp_path)
    assert not isinstance(transport, str), transport
    lake = Lake(str(tmp_path / "lake"))
    daemons = []
    try:
        daemons.append(_daemon(tmp_path, lake.uri, transport.env, FOLLOW_S))
        transport.publish([_message(i, "chaos") for i in range(PER_PHASE)])
        assert _wait(lambda: _landed(lake) > 0, WAIT_S), "the daemon never landed anything"
        time.sleep(rng.uniform(0.0, 3.0))  # a random moment of the landing and draining
        os.kill(daemons[0].pid, signal.SIGKILL)
        transport.publish([_message(i, "chaos") for i in range(PER_PHASE, 2 * PER_PHASE)])
        time.sleep(rng.uniform(0.5, 3.0))
        daemons.append(_daemon(tmp_path, lake.uri, transport.env, FOLLOW_S))
        transport.publish([_message(i, "chaos") for i in range(2 * PER_PHASE, 3 * PER_PHASE)])
        sent = PHASES * PER_PHASE

        def drained() -> bool:
            versions = read_table(lake, "asset_versions").select(pl.len()).collect().item()
            return versions >= sent

        assert _wait(drained, WAIT_S), f"not drained: {_landed(lake)} of {sent} landed"
    finally:
        for daemon in daemons:
            _stop(daemon)
        transport.stop()
    raw = read_table(lake, "raw_events").collect()
    changes = read_table(lake, "asset_changes").collect()
    versions = read_table(lake, "asset_versions").collect()
    print(f"sent {sent}, landed {raw.height}, changes {changes.height}, versions {versions.height}")
    assert raw.height == raw.select("event_id", "record_hash").unique().height == sent
    assert changes.height == changes.select("event_id", "asset_key").unique().height == sent
    assert versions.height == sent and not chain_violations(lake)
