"""NATS JetStream: a durable pull consumer as a stream source (the relay's publisher is in
resolvers/streams/nats_publish.py).

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
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager, suppress
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import nats
import nats.errors
import nats.js.errors
import orjson
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from resolvers.aws.cloudtrail import SOURCE as CLOUDTRAIL
from resolvers.ingest import Record, record_hash
from resolvers.streams.base import (
    FOLLOW_UP_SECONDS,
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
FETCH_BATCH = 1000
EXPIRY_GRACE_SECONDS = 0.2  # how long past its expiry a pull waits for the server's answer
# the status headers JetStream answers a pull request with
STATUS, DESCRIPTION = "Status", "Description"
IDLE_HEARTBEAT, CONFLICT = "100", "409"
CONNECT_SECONDS = 5.0
T = TypeVar("T")


def nats_url(url: str | None = None) -> str:
    """The NATS URL: the argument, else the environment, else the local default."""
    return url or os.environ.get("ASSETLAKE_NATS_URL") or os.environ.get("NATS_URL") or DEFAULT_URL


def record_id(record: Record) -> str:
    """The id a record is published under: the hash of its content (a CloudTrail record hashes
    the same bare or in its EventBridge envelope), so only a true repeat is dropped."""
    return record_hash(record)


def display_url(url: str) -> str:
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


class NatsClientBase:
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

    def __enter__(self) -> NatsClientBase:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _Deliveries:
    """What a pull consumer delivers to one inbox, collected as it arrives.

    nats-py's ``fetch`` waits for each message with a task and a timer of its own, which was
    most of a pull's cost (36 us a message of 66 for the whole pull, land and ack); here a
    subscription callback appends each message to a list, and a pull waits once, until its
    request is answered. Messages that arrive after a pull returned (its request outlived it)
    stay here for the next pull: the client is kept from tick to tick (sensors/streams.py).
    """

    def __init__(self, next_subject: str, inbox: str) -> None:
        self.next_subject = next_subject  # where pull requests go
        self.inbox = inbox  # where their messages come
        self.messages: list[Msg] = []
        self.ended = 0  # pull requests the server has answered with a status (404, 408, 409)
        self.conflict: str | None = None  # why the server refused a request (409)
        self._wanted = 0
        self._ending = 0
        self._arrived = asyncio.Event()

    async def receive(self, message: Msg) -> None:
        """The subscription's callback: a message, or a status that ends a request."""
        headers = {} if message.data else message.headers or {}  # a status has no data
        status = headers.get(STATUS)
        if status is None:
            self.messages.append(message)
        elif status == IDLE_HEARTBEAT:
            return
        else:
            self.ended += 1
            if status == CONFLICT:
                self.conflict = headers.get(DESCRIPTION, "conflict")
        if len(self.messages) >= self._wanted or self.ended >= self._ending:
            self._arrived.set()

    def expect(self, wanted: int) -> None:
        """Before a request: wait for ``wanted`` messages here, or for the request's answer."""
        self._wanted, self._ending = wanted, self.ended + 1
        self._arrived.clear()

    async def wait(self, timeout: float) -> None:
        """Until what :meth:`expect` set is met, or ``timeout``."""
        if len(self.messages) >= self._wanted or self.ended >= self._ending:
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(self._arrived.wait(), timeout)

    def take(self, count: int) -> list[Msg]:
        """The first ``count`` messages collected (fewer if fewer are here)."""
        taken, self.messages = self.messages[:count], self.messages[count:]
        return taken


def _stream_sequence(message: Msg) -> str:
    """A delivered message's sequence in its stream, read off its ack subject: JetStream's
    first form has 9 tokens, ``$JS.ACK.<stream>.<consumer>.<delivered>.<seq>...``, the second
    12, with a domain and an account hash after ``ACK``. (nats-py's ``metadata`` makes objects
    of every token, times included: 3 us a message, for the one number an origin names.)"""
    tokens = (message.reply or "").split(".")
    if len(tokens) == 9:
        return tokens[5]
    if len(tokens) == 12:
        return tokens[7]
    return str(message.metadata.sequence.stream)


class NatsSource(NatsClientBase):
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
        self.name = f"{display_url(self._conn.url)}/{stream}/{durable}"
        self.ack_wait = ack_wait  # unacked messages are redelivered after this
        self.wait_seconds = wait_seconds  # how long a fetch waits when nothing is there
        self.default_source = default_source
        self.long_polls = True  # a pull waits up to wait_seconds for a first message
        self._deliveries: _Deliveries | None = None

    def _reset(self) -> None:
        self._deliveries = None
        super()._reset()

    async def _subscribe(self) -> _Deliveries:
        """The durable consumer (created if missing) and this client's inbox for it."""
        if self._deliveries is None:
            client = await self._conn.connect()
            jetstream = client.jetstream()
            try:
                await jetstream.consumer_info(self.stream, self.durable)
            except nats.js.errors.NotFoundError:
                config = ConsumerConfig(
                    durable_name=self.durable,
                    filter_subject=self.subject,
                    ack_policy=AckPolicy.EXPLICIT,
                    deliver_policy=DeliverPolicy.ALL,
                    ack_wait=self.ack_wait,
                    max_ack_pending=-1,
                )
                await jetstream.add_consumer(self.stream, config)
            deliveries = _Deliveries(
                f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.durable}", client.new_inbox()
            )
            await client.subscribe(deliveries.inbox, cb=deliveries.receive)
            self._deliveries = deliveries
        return self._deliveries

    def pull(self, limits: PullLimits) -> PulledBatch:
        """Fetch messages until none is waiting or a limit is reached."""
        return self._run(self._pull(limits))

    async def _pull(self, limits: PullLimits) -> PulledBatch:
        deliveries = await self._subscribe()
        batch = PulledBatch(self.name)
        deadline = deadline_of(limits, batch.started)
        wait = self.wait_seconds
        while not batch.full(limits, deadline):
            wanted = min(FETCH_BATCH, limits.max_records - len(batch.records))
            timeout = max(0.05, min(wait, deadline - time.monotonic()))
            messages = await self._fetch(deliveries, wanted, timeout)
            if not messages:
                break  # nothing at all arrived: the consumer is drained
            for message in messages:
                origin = f"{self.name}#{_stream_sequence(message)}"
                batch.add([record_of(message.data, origin, limits)], message)
            # a short fetch does not mean an empty stream (a fetch returns what arrived within
            # its timeout, and a loaded machine delivers slowly): ask again, briefly
            wait = FOLLOW_UP_SECONDS if len(messages) < wanted else self.wait_seconds
        batch.pull_s = time.monotonic() - batch.started
        return batch

    async def _fetch(self, deliveries: _Deliveries, wanted: int, timeout: float) -> list[Msg]:
        """Up to ``wanted`` messages: those already here, then what the consumer has at once,
        else what arrives within ``timeout``."""
        if len(deliveries.messages) < wanted:
            missing = wanted - len(deliveries.messages)
            deliveries.expect(wanted)
            await self._request(deliveries, {"batch": missing, "no_wait": True})
            await deliveries.wait(timeout)
        if not deliveries.messages:  # nothing waiting: linger until something comes
            expires = int(timeout * 1_000_000_000)
            # return with the first message: what else this request brings stays collected
            # for the next fetch, which asks for the rest at once and waits only briefly
            deliveries.expect(1)
            await self._request(deliveries, {"batch": wanted, "expires": expires})
            await deliveries.wait(timeout + EXPIRY_GRACE_SECONDS)
        if deliveries.conflict and not deliveries.messages:
            conflict, deliveries.conflict = deliveries.conflict, None
            raise nats.errors.Error(f"the consumer refused a pull: {conflict}")
        return deliveries.take(wanted)

    async def _request(self, deliveries: _Deliveries, request: dict[str, Any]) -> None:
        client = await self._conn.connect()
        payload = orjson.dumps(request)
        await client.publish(deliveries.next_subject, payload, reply=deliveries.inbox)

    def ack(self, batch: PulledBatch) -> int:
        """Ack every message of the batch and flush; returns how many."""
        return self._run(self._ack(batch))

    async def _ack(self, batch: PulledBatch) -> int:
        for message in batch.handles:
            await message.ack()
        client = await self._conn.connect()
        await client.flush()
        return len(batch.handles)
