"""NATS JetStream: a durable pull consumer as a stream source, and the relay's publisher.

nats-py is asynchronous; each client here owns a private event loop and one connection, so
that ``pull``/``ack``/``publish`` are plain synchronous calls (a sensor tick, the CLI). The
connection is opened on first use and closed by ``close()`` (or ``with``). The URL comes from
the argument, else ``$ASSETLAKE_NATS_URL``, else ``$NATS_URL``, else nats://127.0.0.1:4222.

Messages carry one record each: the payload is the record as received, ``Nats-Msg-Id`` its
content id (:func:`record_id`), so the stream's duplicate window drops a republished record.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType

from resolvers.aws.cloudtrail import SOURCE as CLOUDTRAIL
from resolvers.ingest import Record, record_hash
from resolvers.streams.base import (
    PulledBatch,
    PullLimits,
    StreamUnavailable,
    deadline_of,
    record_of,
)

DEFAULT_URL = "nats://127.0.0.1:4222"
DEFAULT_STREAM = "ASSETLAKE"
DEFAULT_SUBJECT = "assetlake.records"
DEFAULT_DURABLE = "assetlake-lake"
MSG_ID = "Nats-Msg-Id"
ORIGIN_HEADER = "Assetlake-Origin"
FETCH_BATCH = 1000
FOLLOW_UP_SECONDS = 0.1  # how long a fetch after a short one waits
CONNECT_SECONDS = 5.0
T = TypeVar("T")


def nats_url(url: str | None = None) -> str:
    """The NATS URL: the argument, else the environment, else the local default."""
    return url or os.environ.get("ASSETLAKE_NATS_URL") or os.environ.get("NATS_URL") or DEFAULT_URL


def record_id(record: Record) -> str:
    """The id a record is published under: the hash of its content (a CloudTrail record hashes
    the same bare or in its EventBridge envelope), so only a true repeat is dropped."""
    return record_hash(record)


def _display(url: str) -> str:
    """The URL without credentials, for names and errors."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 4222}"


class _Connection:
    """One NATS connection driven by a private event loop, for synchronous callers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._loop: asyncio.AbstractEventLoop | None = None
        self.client: NatsClient | None = None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run one coroutine to completion on the private loop."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(coroutine)

    async def connect(self) -> NatsClient:
        """The connection, opened on first use (no reconnects: the next tick tries again)."""
        if self.client is None or self.client.is_closed:
            connecting = nats.connect(
                self.url,
                connect_timeout=2,
                allow_reconnect=False,
                max_reconnect_attempts=1,  # 0 would mean "forever" to the server pool
                reconnect_time_wait=0.2,
                error_cb=_ignore,
            )
            self.client = await asyncio.wait_for(connecting, CONNECT_SECONDS)
        return self.client

    def close(self) -> None:
        """Close the connection and the loop."""
        if self._loop is None:
            return
        try:
            if self.client is not None and not self.client.is_closed:
                self.run(self.client.close())
        finally:
            self.client = None
            self._loop.close()
            self._loop = None


async def _ignore(_: Exception) -> None:
    """Connection errors surface as exceptions of the calls (see nats_errors)."""


@contextmanager
def nats_errors(source: str) -> Iterator[None]:
    """Turn NATS failures into one-line :class:`StreamUnavailable` errors."""
    try:
        yield
    except nats.js.errors.NotFoundError as exc:
        raise StreamUnavailable(source, f"not found: {exc.description or exc}") from None
    except nats.errors.NoServersError:
        raise StreamUnavailable(source, "cannot connect (no server is listening)") from None
    except (TimeoutError, nats.errors.Error, OSError) as exc:
        raise StreamUnavailable(source, f"{type(exc).__name__}: {exc}") from None


class _Client:
    """What the NATS source and publisher share: the connection, ``close`` and ``with``."""

    name: str

    def __init__(self, url: str | None) -> None:
        self._conn = _Connection(nats_url(url))

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        with nats_errors(self.name):
            try:
                return self._conn.run(coroutine)
            except BaseException:
                self._reset()
                raise

    def _reset(self) -> None:
        """Forget the connection after a failure (the next call reconnects)."""
        self._conn.close()

    def close(self) -> None:
        """Close the connection (a later call reconnects)."""
        self._reset()

    def __enter__(self) -> _Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class NatsSource(_Client):
    """A JetStream durable pull consumer: fetch, then ack after the records are landed."""

    def __init__(
        self,
        url: str | None = None,
        stream: str = DEFAULT_STREAM,
        subject: str = DEFAULT_SUBJECT,
        durable: str = DEFAULT_DURABLE,
        *,
        ack_wait: float = 60.0,
        wait_seconds: float = 0.5,
        default_source: str = CLOUDTRAIL,
    ) -> None:
        super().__init__(url)
        self.stream, self.subject, self.durable = stream, subject, durable
        self.name = f"{_display(self._conn.url)}/{stream}/{durable}"
        self.ack_wait = ack_wait  # unacked messages are redelivered after this
        self.wait_seconds = wait_seconds  # how long a fetch waits when nothing is there
        self.default_source = default_source
        self._subscription: Any = None

    def _reset(self) -> None:
        self._subscription = None
        super()._reset()

    async def _subscribe(self) -> Any:
        if self._subscription is None:
            client = await self._conn.connect()
            config = ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self.ack_wait,
                max_ack_pending=-1,
            )
            self._subscription = await client.jetstream().pull_subscribe(
                self.subject, durable=self.durable, stream=self.stream, config=config
            )
        return self._subscription

    def pull(self, limits: PullLimits) -> PulledBatch:
        """Fetch messages until none is waiting or a limit is reached."""
        return self._run(self._pull(limits))

    async def _pull(self, limits: PullLimits) -> PulledBatch:
        subscription = await self._subscribe()
        batch = PulledBatch(self.name)
        deadline = deadline_of(limits, batch.started)
        wait = self.wait_seconds
        while not batch.full(limits, deadline):
            wanted = min(FETCH_BATCH, limits.max_records - len(batch.records))
            timeout = max(0.05, min(wait, deadline - time.monotonic()))
            try:
                messages = await subscription.fetch(wanted, timeout=timeout)
            except TimeoutError:  # nats' own, or asyncio's from a batch fetch
                break  # nothing at all arrived: the consumer is drained
            for message in messages:
                origin = f"{self.name}#{message.metadata.sequence.stream}"
                batch.add([record_of(message.data, origin, limits)], message)
            # a short fetch does not mean an empty stream (a fetch returns what arrived within
            # its timeout, and a loaded machine delivers slowly): ask again, briefly
            wait = FOLLOW_UP_SECONDS if len(messages) < wanted else self.wait_seconds
        batch.pull_s = time.monotonic() - batch.started
        return batch

    def ack(self, batch: PulledBatch) -> int:
        """Ack every message of the batch and flush; returns how many."""
        return self._run(self._ack(batch))

    async def _ack(self, batch: PulledBatch) -> int:
        for message in batch.handles:
            await message.ack()
        client = await self._conn.connect()
        await client.flush()
        return len(batch.handles)


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What JetStream acknowledged for one publish of records."""

    stored: int
    duplicates: int  # dropped by the stream's duplicate window (Nats-Msg-Id seen already)


class JetStreamPublisher(_Client):
    """Publishes records into a stream, one message each, and waits for JetStream's acks."""

    def __init__(
        self,
        url: str | None = None,
        stream: str = DEFAULT_STREAM,
        subject: str = DEFAULT_SUBJECT,
        *,
        create_stream: bool = True,
        duplicate_window: float = 600.0,
        ack_timeout: float = 30.0,
    ) -> None:
        super().__init__(url)
        self.stream, self.subject = stream, subject
        self.name = f"{_display(self._conn.url)}/{stream}/{subject}"
        self.create_stream = create_stream
        self.duplicate_window = duplicate_window  # used when the stream is created here
        self.ack_timeout = ack_timeout
        self._ready = False

    def _reset(self) -> None:
        self._ready = False
        super()._reset()

    def publish(self, records: Sequence[Record]) -> PublishResult:
        """Publish records with ``Nats-Msg-Id``; returns once JetStream acked every one."""
        return self._run(self._publish(records))

    async def _publish(self, records: Sequence[Record]) -> PublishResult:
        client = await self._conn.connect()
        jetstream = client.jetstream()
        if not self._ready:
            await self._ensure_stream(jetstream)
        futures = []
        for record in records:
            headers = {MSG_ID: record_id(record), ORIGIN_HEADER: record.origin}
            payload = record.payload.encode()
            futures.append(
                await jetstream.publish_async(
                    self.subject, payload, stream=self.stream, headers=headers
                )
            )
        acks = await asyncio.wait_for(asyncio.gather(*futures), timeout=self.ack_timeout)
        duplicates = sum(1 for ack in acks if ack.duplicate)
        return PublishResult(len(acks) - duplicates, duplicates)

    async def _ensure_stream(self, jetstream: Any) -> None:
        try:
            await jetstream.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            if not self.create_stream:
                raise
            await jetstream.add_stream(
                name=self.stream,
                subjects=[self.subject],
                storage=StorageType.FILE,
                duplicate_window=self.duplicate_window,
            )
        self._ready = True
