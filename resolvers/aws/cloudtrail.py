"""The shapes of CloudTrail records: bare (log files, JSON lines) or in an EventBridge envelope.

Resolution (classification, assets, principals, state) is resolvers/aws/resolve.py; this module
only says what a record is, so that the format detection, the streams and the resolver agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SOURCE = "aws_cloudtrail"


def is_cloudtrail_record(record: Mapping[str, Any]) -> bool:
    """A bare CloudTrail record (as in a log file's Records array)."""
    return "eventVersion" in record or ("eventSource" in record and "eventName" in record)


def is_eventbridge_event(record: Mapping[str, Any]) -> bool:
    """An EventBridge event that wraps a CloudTrail record."""
    return "detail-type" in record and isinstance(record.get("detail"), Mapping)


def unwrap(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """The CloudTrail record inside an EventBridge envelope (or the record itself)."""
    return record["detail"] if is_eventbridge_event(record) else record
