"""CloudTrail from an SQS queue: EventBridge events, and notifications of new log objects.

Each message body is detected on its own:

* an EventBridge event (``detail-type`` "AWS API Call via CloudTrail"): one record;
* an S3 event notification of new objects (``{"Records": [{"eventSource": "aws:s3", ...}]}``),
  raw, or wrapped in an SNS envelope (``{"Type": "Notification", "Message": "<json>"}``), or the
  EventBridge "Object Created" event of S3: the CloudTrail log objects are fetched and their
  records yielded (origin ``s3://bucket/key#index``);
* an S3 test event, or a notification of a digest file: no record; the message is acked;
* anything else (not JSON, not an event, larger than the limit): landed as a record, so that it
  becomes an unresolved row with the reason, and acked. Nothing is ever left poisoning the queue.

Messages are received 10 at a time with the client's visibility timeout; a pull stops well
inside that timeout, so the batch is landed and deleted before the messages reappear.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from resolvers.aws.cloudtrail import SOURCE as CLOUDTRAIL
from resolvers.ingest import Record
from resolvers.streams.aws import aws_client, aws_errors
from resolvers.streams.base import (
    PulledBatch,
    PullLimits,
    deadline_of,
    oversized,
    parse_json,
    slices,
)
from resolvers.streams.s3_objects import fetch_log_file, is_log_file_key, log_file_records

log = logging.getLogger(__name__)

SQS_BATCH = 10  # the most SQS receives or deletes in one call


@dataclass(frozen=True, slots=True)
class Receipt:
    """The ack handle of one SQS message."""

    message_id: str
    receipt_handle: str


class SqsSource:
    """A queue of EventBridge events and/or S3 notifications of CloudTrail log objects."""

    def __init__(
        self,
        queue_url: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        visibility_timeout: int = 60,
        wait_seconds: int = 1,
        default_source: str = CLOUDTRAIL,
    ) -> None:
        self.queue_url = queue_url
        self.name = f"sqs://{queue_url}"
        self.default_source = default_source
        self.endpoint_url = endpoint_url
        self.region = region
        self.visibility_timeout = visibility_timeout
        self.wait_seconds = wait_seconds  # long polling of the first receive of a pull (0: off)
        self.long_polls = wait_seconds > 0
        self._clients: dict[str, Any] = {}

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = aws_client(service, self.endpoint_url, self.region)
        return self._clients[service]

    # -- pulling ----------------------------------------------------------------------------
    def pull(self, limits: PullLimits) -> PulledBatch:
        """Receive messages (10 a call) until the queue is empty or a limit is reached."""
        batch = PulledBatch(self.name)
        deadline = deadline_of(limits, batch.started, self.visibility_timeout / 2)
        wait = self.wait_seconds
        with aws_errors(self.name):
            while not batch.full(limits, deadline):
                wanted = min(SQS_BATCH, limits.max_records - len(batch.records))
                messages = self._receive(wanted, wait)
                wait = 0
                for message in messages:
                    receipt = Receipt(message["MessageId"], message["ReceiptHandle"])
                    batch.add(self._records_of(message, limits), receipt)
                if len(messages) < wanted:
                    break
        batch.pull_s = time.monotonic() - batch.started
        return batch

    def _receive(self, wanted: int, wait: int) -> list[dict[str, Any]]:
        response = self._client("sqs").receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=wanted,
            WaitTimeSeconds=wait,
            VisibilityTimeout=self.visibility_timeout,
        )
        return response.get("Messages", [])

    def _records_of(self, message: Mapping[str, Any], limits: PullLimits) -> list[Record]:
        origin = f"{self.name}#{message['MessageId']}"
        body = str(message.get("Body", "")).encode()
        if len(body) > limits.max_record_bytes:
            return [oversized(body, origin, limits.max_record_bytes)]
        value, text = _unwrap_sns(parse_json(body), body.decode("utf-8", "replace"))
        if _is_log_document(value):
            return log_file_records(text.encode(), origin, limits)
        objects = s3_objects_of(value)
        if objects is None:
            return [Record(text, value, origin)]
        records: list[Record] = []
        for bucket, key in objects:
            with aws_errors(f"{self.name}: s3://{bucket}/{key}"):
                records.extend(fetch_log_file(self._client("s3"), bucket, key, limits))
        return records

    # -- acking -----------------------------------------------------------------------------
    def ack(self, batch: PulledBatch) -> int:
        """Delete the batch's messages (10 a call); returns how many were deleted."""
        age = time.monotonic() - batch.started
        if age > self.visibility_timeout:
            log.warning(
                "%s: deleting %d messages %.0f s after receiving them (visibility %d s): some may "
                "be redelivered, which lands nothing twice",
                self.name, len(batch.handles), age, self.visibility_timeout,
            )  # fmt: skip
        deleted = 0
        with aws_errors(self.name):
            for chunk in slices(batch.handles, SQS_BATCH):
                entries = [
                    {"Id": str(index), "ReceiptHandle": receipt.receipt_handle}
                    for index, receipt in enumerate(chunk)
                ]
                response = self._client("sqs").delete_message_batch(
                    QueueUrl=self.queue_url, Entries=entries
                )
                deleted += len(response.get("Successful", []))
                for failure in response.get("Failed", []):
                    log.warning("%s: delete failed: %s", self.name, failure)
        return deleted

    def close(self) -> None:
        """Close the HTTP connections (new ones are made on the next call)."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()


def _unwrap_sns(value: Any, text: str) -> tuple[Any, str]:
    """The message inside an SNS notification envelope (or the body itself)."""
    if (
        isinstance(value, Mapping)
        and value.get("Type") == "Notification"
        and isinstance(value.get("Message"), str)
        and "TopicArn" in value
    ):
        inner = value["Message"]
        return parse_json(inner), inner
    return value, text


def _is_log_document(value: Any) -> bool:
    """A whole CloudTrail log file document sent as the message body."""
    if not isinstance(value, Mapping) or not isinstance(value.get("Records"), list):
        return False
    items = value["Records"]
    return bool(items) and not any(_is_s3_record(item) for item in items)


def _is_s3_record(item: Any) -> bool:
    return isinstance(item, Mapping) and item.get("eventSource") == "aws:s3" and "s3" in item


def s3_objects_of(value: Any) -> list[tuple[str, str]] | None:
    """The (bucket, key) of the new log objects a notification announces; [] for a test event
    or a notification of other objects; None when the body is not an S3 notification."""
    if not isinstance(value, Mapping):
        return None
    if value.get("Event") == "s3:TestEvent":
        return []
    if value.get("source") == "aws.s3" and value.get("detail-type") == "Object Created":
        detail = value.get("detail")
        bucket, key = _field(detail, "bucket", "name"), _field(detail, "object", "key")
        if not (bucket and key):
            return None  # a forged notification: landed as a record of no known shape
        return [(bucket, key)] if is_log_file_key(key) else []
    items = value.get("Records")
    if not isinstance(items, list) or not items or not all(_is_s3_record(i) for i in items):
        return None
    objects = []
    for item in items:
        if not str(item.get("eventName", "")).startswith("ObjectCreated"):
            continue
        key, bucket = _field(item["s3"], "object", "key"), _field(item["s3"], "bucket", "name")
        if not (bucket and key):
            return None  # a forged notification: landed as a record of no known shape
        if is_log_file_key(unquote_plus(key)):
            objects.append((bucket, unquote_plus(key)))
    return objects


def _field(value: Any, outer: str, inner: str) -> str | None:
    """``value[outer][inner]`` when it is a non-empty string (notifications can be forged)."""
    middle = value.get(outer) if isinstance(value, Mapping) else None
    found = middle.get(inner) if isinstance(middle, Mapping) else None
    return found if isinstance(found, str) and found else None
