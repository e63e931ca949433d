"""CloudTrail records (from log files, JSON lines or EventBridge envelopes): the envelope.

This module reads what every CloudTrail record carries (id, time, account, region, principal)
and classifies it. Mapping a change to the asset it touched is the job of the resolver
catalog; records it cannot map yet land in raw_events and in unresolved_events with a reason.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from resolvers.model import RawRecord, ResolvedBatch, Unresolved
from resolvers.timeutil import parse_time

SOURCE = "aws_cloudtrail"
READ_PREFIXES = ("Get", "List", "Describe", "Head", "Lookup", "BatchGet", "Search", "Query", "Scan")


def is_cloudtrail_record(record: Mapping[str, Any]) -> bool:
    """A bare CloudTrail record (as in a log file's Records array)."""
    return "eventVersion" in record or ("eventSource" in record and "eventName" in record)


def is_eventbridge_event(record: Mapping[str, Any]) -> bool:
    """An EventBridge event that wraps a CloudTrail record."""
    return "detail-type" in record and isinstance(record.get("detail"), Mapping)


def unwrap(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """The CloudTrail record inside an EventBridge envelope (or the record itself)."""
    return record["detail"] if is_eventbridge_event(record) else record


def classify(detail: Mapping[str, Any]) -> str:
    """change | read | error | unknown, from the envelope alone."""
    if detail.get("errorCode"):
        return "error"
    name = detail.get("eventName")
    if not isinstance(name, str) or not name:
        return "unknown"
    if detail.get("readOnly") in (True, "true") or name.startswith(READ_PREFIXES):
        return "read"
    return "unknown"


def envelope(
    record: Mapping[str, Any], payload: str, fallback_id: str
) -> tuple[RawRecord, Unresolved | None]:
    """The raw_events row of one CloudTrail record, and why it is unresolved where it is."""
    detail = unwrap(record)
    event_id = str(detail.get("eventID") or record.get("id") or fallback_id)
    event_time = None
    with contextlib.suppress(ValueError):
        event_time = parse_time(detail.get("eventTime") or record.get("time"))
    account = detail.get("recipientAccountId") or record.get("account")
    if account is None and isinstance(detail.get("userIdentity"), Mapping):
        account = detail["userIdentity"].get("accountId")
    classification = classify(detail)
    raw = RawRecord(
        event_id=event_id,
        source=SOURCE,
        cloud="aws",
        account_id=str(account) if account is not None else None,
        region=detail.get("awsRegion") or record.get("region"),
        event_time=event_time,
        classification=classification,
        payload=payload,
    )
    if classification != "unknown":
        return raw, None
    unresolved = Unresolved(
        event_id=event_id,
        source=SOURCE,
        reason="no_resolver",
        detail=f"no resolver maps {detail.get('eventSource')} {detail.get('eventName')} yet",
        event_source=_str_or_none(detail.get("eventSource")),
        event_name=_str_or_none(detail.get("eventName")),
        event_time=event_time,
    )
    return raw, unresolved


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def resolve_cloudtrail_record(
    record: Mapping[str, Any], payload: str, fallback_id: str
) -> ResolvedBatch:
    """One CloudTrail record into the lake's rows."""
    raw, unresolved = envelope(record, payload, fallback_id)
    return ResolvedBatch(raw=[raw], unresolved=[unresolved] if unresolved else [])
