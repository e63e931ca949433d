"""GCP Cloud Audit Log entries (LogEntry with an AuditLog protoPayload): the envelope."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resolvers.model import RawRecord, ResolvedBatch, Unresolved
from resolvers.timeutil import parse_time

SOURCE = "gcp_audit_log"
READ_VERBS = ("get", "list", "search", "query", "lookup", "read", "describe", "aggregated",
              "fetch", "testIamPermissions")


def is_audit_entry(record: Mapping[str, Any]) -> bool:
    """A LogEntry carrying an audit log payload."""
    return isinstance(record.get("protoPayload"), Mapping)


def classify(entry: Mapping[str, Any]) -> str:
    """change | read | error | unknown, from the method name and status."""
    payload = entry["protoPayload"]
    status = payload.get("status")
    if isinstance(status, Mapping) and status.get("code") not in (None, 0):
        return "error"
    method = payload.get("methodName")
    if not isinstance(method, str) or not method:
        return "unknown"
    verb = method.rsplit(".", 1)[-1]
    return "read" if verb.startswith(READ_VERBS) else "unknown"


def resolve_audit_entry(entry: Mapping[str, Any], payload: str, fallback_id: str) -> ResolvedBatch:
    """One audit log entry into the lake's rows."""
    proto = entry["protoPayload"]
    event_id = str(entry.get("insertId") or fallback_id)
    try:
        event_time = parse_time(entry.get("timestamp") or entry.get("receiveTimestamp"))
    except ValueError:
        event_time = None
    resource = entry.get("resource")
    labels = resource.get("labels") if isinstance(resource, Mapping) else None
    project = labels.get("project_id") if isinstance(labels, Mapping) else None
    classification = classify(entry)
    raw = RawRecord(event_id, SOURCE, "gcp", project, None, event_time, classification, payload)
    if classification != "unknown":
        return ResolvedBatch(raw=[raw])
    method = proto.get("methodName")
    unresolved = Unresolved(
        event_id=event_id,
        source=SOURCE,
        reason="no_resolver",
        detail=f"no resolver maps {proto.get('serviceName')} {method} yet",
        event_source=_str(proto.get("serviceName")),
        event_name=_str(method),
        event_time=event_time,
    )
    return ResolvedBatch(raw=[raw], unresolved=[unresolved])


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
