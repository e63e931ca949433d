"""The chaos suite, short form (``make chaos`` runs the long one): records streamed through SQS,
Pub/Sub and NATS JetStream into lakes on S3 (moto) and in a folder while the worker is killed
mid-batch, the brokers and moto are killed or cut, and a second writer commits to the same
tables; afterwards nothing is lost or doubled and every table reads. ``ASSETLAKE_CHAOS_RECORDS``
and ``ASSETLAKE_CHAOS_SEED`` set the size and the seed (printed, to replay a failure).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from chaos.harness import ChaosConfig
from chaos.runner import run_chaos

pytest_plugins = ["stream_fixtures"]
pytestmark = [pytest.mark.service, pytest.mark.slow]
SHORT_RECORDS = 300


def test_nothing_is_lost_or_doubled_under_faults(tmp_path: Path, corpus: Path) -> None:
    records = int(os.environ.get("ASSETLAKE_CHAOS_RECORDS", SHORT_RECORDS))
    seed = int(os.environ.get("ASSETLAKE_CHAOS_SEED") or random.SystemRandom().randrange(10**6))
    print(f"chaos seed {seed} (ASSETLAKE_CHAOS_SEED={seed} replays it)")
    config = ChaosConfig.sized(records, seed)
    report = run_chaos(tmp_path, corpus, config)
    print(report.table())
    assert not report.problems, "\n".join(report.problems)
    faults = {(f.source, f.fault) for f in report.figures}
    assert ("sqs", "kill worker") in faults and ("nats", "kill nats-server") in faults
    assert all(f.sent for f in report.figures), report.table()
    assert sum(report.worker_kills.values()) >= len(config.sources), "no worker was killed"
    assert (report.lost, report.doubled) == (0, 0), report.table()
    assert all(f.landed == f.sent for f in report.figures), report.table()
