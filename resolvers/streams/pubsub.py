"""GCP Pub/Sub pull subscriptions: the Cloud Asset Inventory feed and the audit-log sink.

One client class for both; ``source`` says which stream the subscription carries
(``gcp_asset_feed``: TemporalAsset messages; ``gcp_audit_log``: LogEntry messages from a log
sink). Synchronous pull and acknowledge through the GAPIC ``SubscriberClient``; with
``PUBSUB_EMULATOR_HOST`` (or ``emulator_host=``) it talks plain gRPC to the emulator. The
subscription's ack deadline must cover a tick (pull + land): 60 s is a good value.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from google.api_core.exceptions import DeadlineExceeded, GoogleAPIError

from resolvers.errors import InputError
from resolvers.gcp.asset_feed import SOURCE as ASSET_FEED
from resolvers.gcp.audit_log import SOURCE as AUDIT_LOG
from resolvers.streams.base import (
    FOLLOW_UP_SECONDS,
    PulledBatch,
    PullLimits,
    StreamUnavailable,
    deadline_of,
    record_of,
    slices,
)

SUBSCRIPTION = re.compile(r"^projects/[^/]+/subscriptions/[^/]+$")
MAX_PULL = 1000  # messages asked for per pull (the emulator returns at most 100)
MAX_ACK = 1000  # ack ids per acknowledge request (the API takes up to 2,500)
# A pull asks the server to answer at once (``return_immediately``), empty or not, and asks
# again, at most this often, until its wait is spent.
EMPTY_PULL_PAUSE_SECONDS = 0.1
# A pull never ends at its client deadline while the server may still answer: messages the
# server has handed to a pull the client gave up on stay leased, unseen, until the ack deadline
# passes (a burst of the full bench lost 100 messages for 60 s that way, its pulls waiting
# 0.1 s for more). The deadline is the wait plus this margin, a safety net for a server that
# does not answer at all (or ignores ``return_immediately``, which the API discourages).
PULL_DEADLINE_MARGIN_SECONDS = 5.0


class PubSubSource:
    """A pull subscription carrying asset-feed or audit-log messages."""

    def __init__(
        self,
        subscription: str,
        source: str = ASSET_FEED,
        *,
        emulator_host: str | None = None,
        wait_seconds: float = 1.0,
        ack_timeout: float = 30.0,
    ) -> None:
        if not SUBSCRIPTION.match(subscription):
            raise InputError(f"{subscription!r}: expected projects/PROJECT/subscriptions/NAME")
        if source not in (ASSET_FEED, AUDIT_LOG):
            raise InputError(f"{source!r}: a Pub/Sub source is {ASSET_FEED} or {AUDIT_LOG}")
        self.subscription = subscription
        self.name = f"pubsub://{subscription}"
        self.default_source = source
        self.emulator_host = emulator_host
        self.wait_seconds = wait_seconds  # how long an empty pull may wait for messages
        self.ack_timeout = ack_timeout
        self.long_polls = True  # a pull waits up to wait_seconds for a first message
        self._subscriber: Any = None

    @property
    def subscriber(self) -> Any:
        """The GAPIC SubscriberClient, made on first use."""
        if self._subscriber is None:
            self._subscriber = _subscriber_client(self.name, self.emulator_host)
        return self._subscriber

    def pull(self, limits: PullLimits) -> PulledBatch:
        """Synchronous pulls until the subscription is empty or a limit is reached."""
        batch = PulledBatch(self.name)
        deadline = deadline_of(limits, batch.started)
        wait = self.wait_seconds
        with gcp_errors(self.name):
            while not batch.full(limits, deadline):
                wanted = min(MAX_PULL, limits.max_records - len(batch.records))
                timeout = max(0.1, min(wait, deadline - time.monotonic()))
                received = self._pull_within(wanted, timeout)
                if not received:
                    break
                for item in received:
                    origin = f"{self.name}#{item.message.message_id}"
                    batch.add([record_of(item.message.data, origin, limits)], item.ack_id)
                wait = FOLLOW_UP_SECONDS  # the batch lands once the stream pauses
        batch.pull_s = time.monotonic() - batch.started
        return batch

    def _pull_within(self, wanted: int, timeout: float) -> list[Any]:
        """Messages, as soon as some come within ``timeout`` (none: the wait was spent)."""
        until = time.monotonic() + timeout
        while True:
            asked = time.monotonic()
            received = self._pull(wanted, max(0.0, until - asked))
            left = until - time.monotonic()
            if received or left <= 0:
                return received
            time.sleep(min(left, max(0.0, EMPTY_PULL_PAUSE_SECONDS - (time.monotonic() - asked))))

    def _pull(self, wanted: int, wait: float) -> list[Any]:
        """One pull, answered at once by the server (see PULL_DEADLINE_MARGIN_SECONDS)."""
        request = {
            "subscription": self.subscription,
            "max_messages": wanted,
            "return_immediately": True,
        }
        timeout = wait + PULL_DEADLINE_MARGIN_SECONDS
        try:
            response = self.subscriber.pull(request=request, timeout=timeout, retry=None)
        except DeadlineExceeded:  # no answer at all: nothing was received
            return []
        # the protobuf messages themselves: proto-plus wraps every field read (5 a message) in
        # a marshal, 30 us a message under the profiler against 2 for the whole message here
        return list(type(response).pb(response).received_messages)

    def ack(self, batch: PulledBatch) -> int:
        """Acknowledge the batch's messages; returns how many."""
        with gcp_errors(self.name):
            for chunk in slices(batch.handles, MAX_ACK):
                request = {"subscription": self.subscription, "ack_ids": list(chunk)}
                self.subscriber.acknowledge(request=request, timeout=self.ack_timeout)
        return len(batch.handles)

    def close(self) -> None:
        """Close the gRPC channel (a new one is made on the next call)."""
        if self._subscriber is not None:
            self._subscriber.transport.close()
            self._subscriber = None


def _subscriber_client(name: str, emulator_host: str | None) -> Any:
    """A SubscriberClient: plain gRPC to the emulator, else Google's default credentials.
    (Imported here: google.pubsub_v1 takes half a second to import.)"""
    import grpc
    from google.auth.exceptions import DefaultCredentialsError
    from google.pubsub_v1 import SubscriberClient
    from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

    host = emulator_host or os.environ.get("PUBSUB_EMULATOR_HOST")
    if host:
        channel = grpc.insecure_channel(host)
        return SubscriberClient(transport=SubscriberGrpcTransport(channel=channel))
    try:
        return SubscriberClient()
    except DefaultCredentialsError as exc:
        raise StreamUnavailable(name, f"no Google credentials: {exc}") from None


@contextmanager
def gcp_errors(source: str) -> Iterator[None]:
    """Turn Google API failures into one-line :class:`StreamUnavailable` errors."""
    try:
        yield
    except GoogleAPIError as exc:
        kind = type(exc).__name__
        message = getattr(exc, "message", None) or str(exc)
        raise StreamUnavailable(source, f"{kind}: {message}") from None
