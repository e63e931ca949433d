"""The JetStream publisher of ``assetlake relay`` (and of the bench and the tests): records into
a stream, one message each with ``Nats-Msg-Id`` set to the record's content id, so the stream's
duplicate window drops a republished record; a publish returns once JetStream acked them all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import nats.errors
import nats.js.errors
import orjson
from nats.aio.msg import Msg
from nats.js.api import StorageType

from resolvers.ingest import Record
from resolvers.streams.nats import (
    DEFAULT_STREAM,
    DEFAULT_SUBJECT,
    MSG_ID,
    STATUS,
    NatsClientBase,
    display_url,
    record_id,
)


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What JetStream acknowledged for one publish of records."""

    stored: int
    duplicates: int  # dropped by the stream's duplicate window (Nats-Msg-Id seen already)


class _Acks:
    """JetStream's acks of one publisher's messages, collected by a subscription callback.

    nats-py's ``publish_async`` made a future, an inbox and a parsed ack object for every
    message, and asked the stream to check its name in a header that every consumer then
    parsed (35-53 us of CPU a published message, 16-21 here). Here each message of a publish
    asks for its ack at ``<inbox>.<publish>.<n>``, one callback counts the acks, and a publish
    waits once for all of them; the stream's name is checked on the ack.
    """

    def __init__(self, inbox: str, stream: str) -> None:
        self.inbox, self.stream = inbox, stream
        self.prefix = ""  # the reply subjects of the publish under way
        self.wanted = self.stored = self.duplicates = 0
        self.refused: str | None = None  # why JetStream did not store a message
        self._publishes = 0
        self._done = asyncio.Event()

    def start(self, wanted: int) -> str:
        """Before a publish of ``wanted`` messages: the prefix of their reply subjects."""
        self._publishes += 1
        self.prefix = f"{self.inbox}.{self._publishes}."
        self.wanted, self.stored, self.duplicates, self.refused = wanted, 0, 0, None
        self._done.clear()
        if not wanted:
            self._done.set()
        return self.prefix

    async def receive(self, message: Msg) -> None:
        """The subscription's callback: one message's ack."""
        if not message.subject.startswith(self.prefix):
            return  # an ack of an earlier publish, which gave up waiting for it
        self._count(message)
        if self.refused or self.stored + self.duplicates >= self.wanted:
            self._done.set()

    def _count(self, message: Msg) -> None:
        if not message.data:  # a status instead of an ack: no stream takes the subject (503)
            status = (message.headers or {}).get(STATUS, "no status")
            self.refused = f"no stream takes the subject (status {status})"
            return
        try:
            ack = orjson.loads(message.data)
        except orjson.JSONDecodeError:
            ack = None
        if not isinstance(ack, dict):
            self.refused = f"an ack that is not JSON: {message.data[:200]!r}"
        elif ack.get("error"):
            error = ack["error"]
            self.refused = str(error.get("description") if isinstance(error, dict) else error)
        elif ack.get("stream") != self.stream:
            self.refused = f"stored in stream {ack.get('stream')!r}, not {self.stream!r}"
        elif ack.get("duplicate"):
            self.duplicates += 1
        else:
            self.stored += 1

    async def wait(self, timeout: float) -> PublishResult:
        """Until every message of the publish is acked (TimeoutError after ``timeout``)."""
        await asyncio.wait_for(self._done.wait(), timeout)
        if self.refused:
            raise nats.errors.Error(f"JetStream did not store a message: {self.refused}")
        return PublishResult(self.stored, self.duplicates)


class JetStreamPublisher(NatsClientBase):
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
        self.name = f"{display_url(self._conn.url)}/{stream}/{subject}"
        self.create_stream = create_stream
        self.duplicate_window = duplicate_window  # used when the stream is created here
        self.ack_timeout = ack_timeout
        self._acks: _Acks | None = None

    def _reset(self) -> None:
        self._acks = None
        super()._reset()

    def publish(self, records: Sequence[Record]) -> PublishResult:
        """Publish records with ``Nats-Msg-Id``; returns once JetStream acked every one."""
        return self._run(self._publish(records))

    async def _publish(self, records: Sequence[Record]) -> PublishResult:
        client = await self._conn.connect()
        if self._acks is None:
            await self._ensure_stream(client.jetstream())
            acks = _Acks(client.new_inbox(), self.stream)
            await client.subscribe(f"{acks.inbox}.>", cb=acks.receive)
            self._acks = acks
        acks = self._acks
        prefix = acks.start(len(records))
        for number, record in enumerate(records):
            # Nats-Msg-Id alone: every consumer parses every header of every message, a
            # character at a time in nats-py (the record's origin was sent too, and read by none)
            await client.publish(
                self.subject,
                record.payload.encode(),
                reply=f"{prefix}{number}",
                headers={MSG_ID: record_id(record)},
            )
        return await acks.wait(self.ack_timeout)

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
