"""The process the chaos suite kills: a stream sensor's tick and its drain run, in a loop.

Each round pulls a micro-batch, lands it in raw_events, acks it (``pump``), then drains the
consumer (``drain``), exactly as a sensor tick and a drain run do; the writer is kept across
rounds and across failures, as the sensor's code server keeps it. A failure (a broker or the
lake unreachable) is printed and the round is tried again. The worker prints ``pulled N``
before it lands a batch, so the harness can kill it mid-batch.

    python -m chaos.worker '{"source": "sqs", "lake": "...", ...}'
"""

from __future__ import annotations

import sys
import time
from typing import Any

import orjson

from resolvers.drain import drain
from resolvers.lake.storage import Lake
from resolvers.lake.writer import LakeWriter
from resolvers.streams.base import PulledBatch, PullLimits, StreamSource, pump
from resolvers.streams.nats import NatsSource
from resolvers.streams.pubsub import PubSubSource
from resolvers.streams.sqs import SqsSource

IDLE_SLEEP_S = 0.2
ERROR_SLEEP_S = 0.5


class Announcing:
    """A source that prints ``pulled N`` once it holds a non-empty batch (before landing)."""

    def __init__(self, source: StreamSource) -> None:
        self.source = source
        self.name = source.name
        self.default_source = source.default_source
        self.long_polls = source.long_polls

    def pull(self, limits: PullLimits) -> PulledBatch:
        """The wrapped source's batch, announced."""
        batch = self.source.pull(limits)
        if not batch.empty:
            say(f"pulled {len(batch.records)}")
        return batch

    def ack(self, batch: PulledBatch) -> int:
        """Ack through the wrapped source."""
        return self.source.ack(batch)

    def close(self) -> None:
        """Close the wrapped source."""
        self.source.close()


def say(line: str) -> None:
    """One line on stdout, flushed (the harness reads it)."""
    sys.stdout.write(f"{time.time():.3f} {line[:400]}\n")
    sys.stdout.flush()


def make_source(config: dict[str, Any]) -> StreamSource:
    """The stream client the config names."""
    kind = config["source"]
    if kind == "sqs":
        return SqsSource(
            config["queue_url"], endpoint_url=config["endpoint"],
            visibility_timeout=config["redelivery_s"], wait_seconds=0,
        )  # fmt: skip
    if kind == "pubsub":
        return PubSubSource(
            config["subscription"], config["default_source"],
            emulator_host=config["endpoint"], wait_seconds=0.5, ack_timeout=10.0,
        )  # fmt: skip
    if kind == "nats":
        return NatsSource(
            config["endpoint"], config["stream"], config["subject"], config["durable"],
            ack_wait=float(config["redelivery_s"]), wait_seconds=0.3,
            default_source=config["default_source"],
        )  # fmt: skip
    raise ValueError(f"unknown source {kind!r}")


def run(config: dict[str, Any]) -> None:
    """Pump and drain until killed."""
    source = Announcing(make_source(config))
    limits = PullLimits(max_records=config["batch"], max_seconds=2.0)
    writer = LakeWriter(Lake(config["lake"]))
    consumer, default = config["consumer"], config["default_source"]
    say("started")
    busy = True
    while True:
        try:
            pumped = pump(writer, source, limits)
            if not pumped.empty:
                say(f"landed {pumped.landed} of {pumped.records}, acked {pumped.acked}")
            drained = drain(writer, consumer, default, [default])
            if drained.records:
                say(f"drained {drained.records} to v{drained.to_version}")
            if pumped.empty and not drained.records:
                if busy:
                    say("idle")  # caught up with the stream
                busy = False
                time.sleep(IDLE_SLEEP_S)
            else:
                busy = True
        except Exception as exc:  # a broker or the lake is down: try the round again
            say(f"error {type(exc).__name__}: {' '.join(str(exc).split())}")
            source.close()
            time.sleep(ERROR_SLEEP_S)


if __name__ == "__main__":
    run(orjson.loads(sys.argv[1]))
