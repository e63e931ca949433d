"""Real servers for the stream tests, on free 127.0.0.1 ports, started once per session.

moto in server mode (SQS, S3, SNS), nats-server with JetStream (its own store in a temporary
folder: the machine's shared server on 4222 is never touched), and the Google Pub/Sub emulator
from the gcloud SDK. Each runs in its own process group, killed as a group at the end of the
session. A test module loads the fixtures with ``pytest_plugins = ["stream_fixtures"]`` and
imports the helpers; a server is started once per session. (PYTEST_DONT_REWRITE: the module
is imported before pytest registers it, so the helpers' asserts carry their own messages.)
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import grpc
import orjson
import polars as pl
import pytest
from google.pubsub_v1 import PublisherClient, SubscriberClient
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

from resolvers.canonical import redact_record
from resolvers.embedded import free_port, port_open, prepare_child, stop_group
from resolvers.ingest import Record, record_hash
from resolvers.lake.storage import Lake

STARTUP_SECONDS = 30.0
PROJECT = "projects/assetlake-test"
_names = itertools.count()
_RUNNING: dict[str, Server] = {}


@dataclass
class Server:
    """A server process and the address clients use."""

    name: str
    process: subprocess.Popen[bytes]
    address: str
    log: Path

    def stop(self) -> None:
        """Terminate the whole process group (the emulator runs java under gcloud) and wait
        for every member of it, not only its leader."""
        stop_group(self.process, timeout=10)


def start_server(name: str, argv: list[str], port: int, address: str, folder: Path) -> Server:
    """Start ``argv`` in a new process group; return once its port accepts connections."""
    log = folder / f"{name}.log"
    env = {**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
    _stop_servers_on_sigterm()
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            preexec_fn=prepare_child,
        )
    server = Server(name, process, address, log)
    deadline = time.monotonic() + STARTUP_SECONDS
    while not port_open(port):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            pytest.fail(f"{name} did not start on port {port}: {log.read_text()[-2000:]}")
        time.sleep(0.05)
    return server


def _stop_servers_on_sigterm() -> None:
    """A test run stopped with SIGTERM (a CI timeout) still runs the fixtures' teardown."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.fail(f"{name} is not installed: the stream tests need it")
    return found


def _moto(folder: Path) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    return start_server("moto", argv, port, f"http://127.0.0.1:{port}", folder)


def _nats(folder: Path) -> Server:
    port = free_port()
    argv = [_binary("nats-server"), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(folder)]
    return start_server("nats", argv, port, f"nats://127.0.0.1:{port}", folder)


def _pubsub(folder: Path) -> Server:
    port = free_port()
    argv = [
        _binary("gcloud"), "beta", "emulators", "pubsub", "start",
        f"--host-port=127.0.0.1:{port}", f"--data-dir={folder}",
    ]  # fmt: skip
    return start_server("pubsub", argv, port, f"127.0.0.1:{port}", folder)


def _shared(
    name: str, start: Callable[[Path], Server], factory: pytest.TempPathFactory
) -> Iterator[str]:
    owner = name not in _RUNNING
    if owner:
        _RUNNING[name] = start(factory.mktemp(name))
    try:
        yield _RUNNING[name].address
    finally:
        if owner:
            _RUNNING.pop(name).stop()


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The endpoint URL of a moto server (SQS, S3, SNS)."""
    yield from _shared("moto", _moto, tmp_path_factory)


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a nats-server with JetStream."""
    yield from _shared("nats", _nats, tmp_path_factory)


@pytest.fixture(scope="session")
def pubsub_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """HOST:PORT of the Google Pub/Sub emulator."""
    yield from _shared("pubsub", _pubsub, tmp_path_factory)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy AWS credentials and a region, and no profile or endpoint from the machine."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


# -- records and tables ------------------------------------------------------------------------
def corpus_lines(corpus: Path, name: str, count: int | None = None) -> list[dict[str, Any]]:
    """The first ``count`` JSON objects of a corpus file (read in place, never copied)."""
    values = []
    with (corpus / name).open("rb") as lines:
        for line in lines:
            if line.strip():
                values.append(orjson.loads(line))
            if count is not None and len(values) == count:
                break
    return values


def eventbridge(record: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge event that wraps a CloudTrail record ("AWS API Call via CloudTrail")."""
    return {
        "version": "0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, str(record.get("eventID")))),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws." + str(record.get("eventSource", "unknown")).split(".")[0],
        "account": record.get("recipientAccountId", "123456789012"),
        "time": record.get("eventTime"),
        "region": record.get("awsRegion", "us-east-1"),
        "resources": [],
        "detail": record,
    }


def content_ids(values: list[Any], salt: bytes | None = None) -> list[str]:
    """The content ids (raw_events.record_hash) of published JSON values; with the lake's
    ``salt``, exact for records that carry a secret too (they are landed redacted, and their id
    is that of the redacted record: docs/secrets.md)."""
    ids = []
    for value in values:
        text = orjson.dumps(value).decode()
        if salt is not None:
            text, value = redact_record(text, value, salt)
        ids.append(record_hash(Record(text, value, "test")))
    return ids


def table(lake: Lake, name: str) -> pl.DataFrame:
    """A lake table as a polars frame."""
    return pl.read_delta(lake.table_uri(name))


def assert_landed_once(lake: Lake, values: list[Any], poison: int = 0) -> pl.DataFrame:
    """Every published value is in raw_events exactly once; besides them, ``poison`` rows."""
    raw = table(lake, "raw_events")
    expected = set(content_ids(values, lake.salt))
    unique = raw.select("event_id", "record_hash").unique().height
    assert raw.height == unique, f"raw_events holds {raw.height - unique} duplicate rows"
    assert raw.height == len(expected) + poison, f"{raw.height} rows, {len(expected)}+{poison}"
    missing = expected - set(raw.get_column("record_hash"))
    assert not missing, f"{len(missing)} published records are not in raw_events"
    return raw


# -- Pub/Sub emulator helpers --------------------------------------------------------------------
@cache
def pubsub_clients(host: str) -> tuple[PublisherClient, SubscriberClient]:
    """A publisher and a subscriber for the emulator (plain gRPC)."""
    publisher = PublisherClient(
        transport=PublisherGrpcTransport(channel=grpc.insecure_channel(host))
    )
    subscriber = SubscriberClient(
        transport=SubscriberGrpcTransport(channel=grpc.insecure_channel(host))
    )
    return publisher, subscriber


def pubsub_subscription(host: str, name: str) -> tuple[str, str]:
    """A new topic and a pull subscription on it (60 s ack deadline): (topic, subscription)."""
    publisher, subscriber = pubsub_clients(host)
    suffix = f"{name}-{next(_names)}-{time.monotonic_ns()}"
    topic = publisher.create_topic(name=f"{PROJECT}/topics/{suffix}").name
    subscription = f"{PROJECT}/subscriptions/{suffix}-lake"
    subscriber.create_subscription(name=subscription, topic=topic, ack_deadline_seconds=60)
    return topic, subscription


def pubsub_publish(host: str, topic: str, bodies: list[bytes]) -> None:
    """Publish message bodies, 1,000 a request."""
    publisher, _ = pubsub_clients(host)
    for start in range(0, len(bodies), 1000):
        publisher.publish(topic=topic, messages=[{"data": b} for b in bodies[start : start + 1000]])


def feed_message(index: int) -> dict[str, Any]:
    """A Cloud Asset Inventory feed message (TemporalAsset, camelCase as Pub/Sub delivers it)."""
    kind = ("storage.googleapis.com/Bucket", "compute.googleapis.com/Firewall")[index % 2]
    name = (
        f"//storage.googleapis.com/assetlake-bucket-{index}"
        if index % 2 == 0
        else f"//compute.googleapis.com/projects/assetlake-test/global/firewalls/allow-{index}"
    )
    when = f"2026-03-01T10:{index // 60 % 60:02d}:{index % 60:02d}.{index:06d}Z"
    return {
        "asset": {
            "name": name,
            "assetType": kind,
            "ancestors": ["projects/318576589455"],
            "resource": {"version": "v1", "data": {"name": name.rsplit("/", 1)[-1], "n": index}},
            "updateTime": when,
        },
        "priorAssetState": "DOES_NOT_EXIST",
        "window": {"startTime": when},
    }
