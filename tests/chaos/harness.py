"""The chaos run: stream records through SQS, Pub/Sub and NATS JetStream into lakes (S3 on moto
and a local folder) while faults are injected, then drain and count.

Each pipeline (a source, its lake, its worker process) goes through phases; a phase sends its
share of the records spread over a few seconds while one fault strikes at a random moment:

- ``none``: nothing (the baseline);
- ``kill worker``: the pump + drain process is SIGKILLed just after it pulled a batch (so
  mid-batch: landing, acking or draining), and started again;
- ``kill nats-server``: kill -9 of the broker, restarted on the same port and store;
- ``cut pubsub`` / ``cut moto``: the forwarder between the worker and the Pub/Sub emulator or
  moto (SQS and the S3 lake) is SIGKILLed, cutting every request in flight, and restarted;
- ``second writer``: ``assetlake ingest --offline`` of another corpus file commits to the same
  lake while the worker lands and drains.

Then everything is up again, the worker drains to the end, is stopped, and a fresh process
drains once more (nothing new). Figures per (source, fault): records sent, landed (in
raw_events), lost (not in raw_events, or a change record in neither asset_changes nor
unresolved_events) and doubled (extra rows in raw_events or asset_changes).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import orjson
from google.pubsub_v1 import PubsubMessage
from stream_fixtures import _moto, _pubsub, pubsub_clients

from chaos import records as chaos_records
from chaos.services import Restartable, Worker, chaos_env, forwarder, nats_server
from resolvers.ingest import Record
from resolvers.lake.storage import Lake
from resolvers.streams.base import StreamUnavailable
from resolvers.streams.nats_publish import JetStreamPublisher

BUCKET = "assetlake-chaos"
REDELIVERY_S = 8  # SQS visibility, Pub/Sub ack deadline, JetStream ack wait
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
FAULTS = {
    "sqs": ("none", "kill worker", "cut moto", "second writer"),
    "pubsub": ("none", "kill worker", "cut pubsub", "cut moto", "second writer"),
    "nats": ("none", "kill worker", "kill nats-server", "second writer"),
}


@dataclass(frozen=True)
class ChaosConfig:
    """How much a run sends and how long it waits."""

    records: int = 300  # per source
    seed: int = 0
    batch: int = 50  # records per micro-batch
    drain_timeout_s: float = 180.0
    sources: tuple[str, ...] = ("sqs", "pubsub", "nats")
    sqs_records: int | None = None  # moto's SQS is slow with thousands queued (docs/chaos.md)
    extra_faults: tuple[str, ...] = ()  # phases added to every pipeline's

    def records_of(self, source: str) -> int:
        """Records sent through ``source``."""
        return self.sqs_records if source == "sqs" and self.sqs_records else self.records

    @classmethod
    def sized(
        cls,
        records: int,
        seed: int,
        sources: tuple[str, ...] | None = None,
        sqs_records: int | None = None,
    ) -> ChaosConfig:
        """A run of ``records`` per source: larger micro-batches and a longer wait as it grows."""
        return cls(
            records=records, seed=seed, batch=max(50, records // 40),
            drain_timeout_s=max(180.0, records / 20), sources=sources or cls.sources,
            sqs_records=sqs_records,
        )  # fmt: skip

    def phase_seconds(self, records: int) -> float:
        """How long a phase spreads its records (enough for a fault to strike and heal)."""
        return max(6.0, records / 120)


@dataclass
class Phase:
    """One fault window of a pipeline and the records sent during it."""

    fault: str
    ids: list[str] = field(default_factory=list)
    ingested: list[str] = field(default_factory=list)  # content ids the second writer committed
    events: list[str] = field(default_factory=list)  # what happened, for the report
    started: float = field(default_factory=time.time)  # epoch seconds, as the worker logs
    values: list[Any] = field(default_factory=list, repr=False)  # the records sent


@dataclass
class Pipeline:
    """A source, its lake, its worker and how to send to it."""

    source: str
    lake: Lake
    consumer: str
    default_source: str
    worker: Worker
    send: Callable[[list[Any]], None]
    values: list[Any]
    lake_env: dict[str, str]
    phases: list[Phase] = field(default_factory=list)
    close: Callable[[], None] = lambda: None  # the sender's connections

    @property
    def large(self) -> bool:
        """Whether this is the long form (the second writer ingests the larger files)."""
        return len(self.values) >= chaos_records.LONG_FORM


@dataclass
class Services:
    """Everything started for a run."""

    folder: Path
    moto: Any = None
    moto_proxy: Restartable | None = None
    pubsub: Any = None
    pubsub_proxy: Restartable | None = None
    nats: Restartable | None = None

    def aws_env(self, via_proxy: bool) -> dict[str, str]:
        """AWS variables for moto (direct, or through the forwarder the faults cut)."""
        assert self.moto is not None and self.moto_proxy is not None
        endpoint = self.moto_proxy.address if via_proxy else self.moto.address
        return {**FAKE_AWS, "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint}


@contextlib.contextmanager
def services(folder: Path, sources: tuple[str, ...]) -> Iterator[Services]:
    """Start moto (+ forwarder) and the brokers the sources need; stop all of it after."""
    running = Services(folder)
    started: list[Any] = []
    importable = environment({"PYTHONPATH": chaos_env()["PYTHONPATH"]})  # for chaos.proxy
    importable.__enter__()
    try:
        running.moto = _moto(_mkdir(folder / "moto"))
        started.append(running.moto)
        running.moto_proxy = forwarder("moto-proxy", running.moto.address, folder / "moto")
        started.append(running.moto_proxy)
        boto3.client("s3", endpoint_url=running.moto.address, region_name="us-east-1",
                     aws_access_key_id="testing", aws_secret_access_key="testing",
                     ).create_bucket(Bucket=BUCKET)  # fmt: skip
        if "pubsub" in sources:
            running.pubsub = _pubsub(_mkdir(folder / "pubsub"))
            started.append(running.pubsub)
            proxy = forwarder("pubsub-proxy", running.pubsub.address, folder / "pubsub")
            running.pubsub_proxy = proxy
            started.append(proxy)
        if "nats" in sources:
            running.nats = nats_server(_mkdir(folder / "nats"))
            started.append(running.nats)
        yield running
    finally:
        for server in reversed(started):
            with contextlib.suppress(Exception):
                server.stop()
        importable.__exit__(None, None, None)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- pipelines ---------------------------------------------------------------------------------
def _retrying(what: str, call: Callable[[], object], timeout: float = 120.0) -> None:
    """Call until it succeeds (the broker may be down): a record is sent once acknowledged."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            call()
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: still failing after {timeout:.0f} s: {exc}") from exc
            time.sleep(0.3)


def sqs_pipeline(run: Services, corpus: Path, config: ChaosConfig) -> Pipeline:
    """EventBridge events of corpus records through SQS into a lake on S3 (moto)."""
    env = run.aws_env(via_proxy=True)
    sqs = boto3.client("sqs", **_boto(run.aws_env(via_proxy=False)))
    queue_url = sqs.create_queue(QueueName="chaos-cloudtrail")["QueueUrl"]

    def send(values: list[Any]) -> None:
        for start in range(0, len(values), 10):
            entries = [
                {"Id": str(i), "MessageBody": orjson.dumps(v).decode()}
                for i, v in enumerate(values[start : start + 10])
            ]
            _retrying("sqs send", lambda e=entries: _send_sqs(sqs, queue_url, e))

    lake = f"s3://{BUCKET}/sqs-lake"
    worker_config = {
        "source": "sqs", "queue_url": queue_url, "endpoint": env["AWS_ENDPOINT_URL"],
        "redelivery_s": REDELIVERY_S, "consumer": "aws_cloudtrail",
        "default_source": "aws_cloudtrail", "lake": lake, "batch": config.batch,
    }  # fmt: skip
    values = chaos_records.eventbridge_events(corpus, config.records_of("sqs"))
    return _pipeline(run, "sqs", lake, worker_config, env, send, values)


def _send_sqs(sqs: Any, queue_url: str, entries: list[dict[str, str]]) -> None:
    failed = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed")
    if failed:
        raise RuntimeError(f"{len(failed)} messages refused")


def _boto(env: dict[str, str]) -> dict[str, str]:
    return {
        "endpoint_url": env["AWS_ENDPOINT_URL"],
        "region_name": env["AWS_REGION"],
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
    }


def pubsub_pipeline(run: Services, corpus: Path, config: ChaosConfig) -> Pipeline:
    """Cloud Asset Inventory feed messages through Pub/Sub into a lake on S3 (moto)."""
    assert run.pubsub is not None and run.pubsub_proxy is not None
    publisher, subscriber = pubsub_clients(run.pubsub.address)
    topic = publisher.create_topic(name="projects/assetlake-chaos/topics/asset-feed").name
    subscription = "projects/assetlake-chaos/subscriptions/asset-feed-lake"
    subscriber.create_subscription(
        name=subscription, topic=topic, ack_deadline_seconds=REDELIVERY_S
    )

    def send(values: list[Any]) -> None:
        messages = [PubsubMessage(data=orjson.dumps(v)) for v in values]
        _retrying("pubsub publish", lambda: publisher.publish(topic=topic, messages=messages))

    lake = f"s3://{BUCKET}/pubsub-lake"
    worker_config = {
        "source": "pubsub", "subscription": subscription, "endpoint": run.pubsub_proxy.address,
        "consumer": "gcp_asset_feed", "default_source": "gcp_asset_feed", "lake": lake,
        "batch": config.batch,
    }  # fmt: skip
    env = run.aws_env(via_proxy=True)
    values = chaos_records.feed_messages(config.records_of("pubsub"))
    return _pipeline(run, "pubsub", lake, worker_config, env, send, values)


def nats_pipeline(run: Services, corpus: Path, config: ChaosConfig) -> Pipeline:
    """Bare CloudTrail corpus records through NATS JetStream into a lake in a local folder."""
    assert run.nats is not None
    publisher = JetStreamPublisher(run.nats.address, "CHAOS", "chaos.records")

    def send(values: list[Any]) -> None:
        batch = [Record(orjson.dumps(v).decode(), v, "chaos") for v in values]
        _retrying("nats publish", lambda: _publish(publisher, batch))

    _retrying("nats stream", lambda: _publish(publisher, []))  # the stream, before the worker
    lake = str(run.folder / "nats-lake")
    worker_config = {
        "source": "nats", "endpoint": run.nats.address, "stream": "CHAOS",
        "subject": "chaos.records", "durable": "chaos-lake", "redelivery_s": REDELIVERY_S,
        "consumer": "aws_cloudtrail", "default_source": "aws_cloudtrail", "lake": lake,
        "batch": config.batch,
    }  # fmt: skip
    values = chaos_records.cloudtrail(corpus, config.records_of("nats"))
    pipe = _pipeline(run, "nats", lake, worker_config, {}, send, values)
    pipe.close = publisher.close
    return pipe


def _publish(publisher: JetStreamPublisher, batch: list[Record]) -> None:
    try:
        publisher.publish(batch)  # a repeat after a lost ack is dropped (Nats-Msg-Id)
    except StreamUnavailable:
        publisher.close()
        raise


def _pipeline(
    run: Services,
    source: str,
    lake_uri: str,
    worker_config: dict[str, Any],
    env: dict[str, str],
    send: Callable[[list[Any]], None],
    values: list[Any],
) -> Pipeline:
    lake_env = run.aws_env(via_proxy=False) if lake_uri.startswith("s3://") else {}
    with environment(lake_env):
        lake = Lake(lake_uri).create()
    worker = Worker(source, worker_config, env, run.folder / f"worker-{source}.log")
    consumer, default = worker_config["consumer"], worker_config["default_source"]
    return Pipeline(source, lake, consumer, default, worker, send, values, lake_env)


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for a block (the lake's S3 settings are read from them)."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


PIPELINES = {"sqs": sqs_pipeline, "pubsub": pubsub_pipeline, "nats": nats_pipeline}
