"""Resolving received records: one record into its rows, whatever it holds.

:func:`resolve_record` is the one entry point for every record, from a file or a stream: the
guards of resolvers/guard.py, secret redaction, the record's hash, then the resolver of its
shape (CloudTrail / EventBridge, Cloud Asset Inventory feed, audit LogEntry) or the reason it
has none. This module imports no lake, Dagster or SDK code, so that a resolver worker process
(resolvers/resolve_pool.py) starts in a fraction of a second and stays small.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from resolvers.aws.cloudtrail import SOURCE as CLOUDTRAIL
from resolvers.aws.cloudtrail import is_cloudtrail_record, is_eventbridge_event
from resolvers.aws.resolve import resolve_cloudtrail_record
from resolvers.canonical import canonical_bytes, redact_record
from resolvers.gcp.asset_feed import SOURCE as ASSET_FEED
from resolvers.gcp.asset_feed import is_feed_record, resolve_feed_record
from resolvers.gcp.audit_log import SOURCE as AUDIT_LOG
from resolvers.gcp.audit_log import is_audit_entry, resolve_audit_entry
from resolvers.guard import BOM, dumps, parse, quarantine_times, too_deep, unreadable
from resolvers.model import RawRecord, ResolvedBatch, Unresolved, fallback_id


class _Deferred:
    def __repr__(self) -> str:
        return "DEFERRED"


DEFERRED: Any = _Deferred()  # a Record's value not parsed yet (see Record.of_text)


@dataclass(frozen=True, slots=True)
class Record:
    """One received record: its text as received, and the parsed JSON (None if it is not)."""

    payload: str
    value: Any
    origin: str  # file:line, queue message id, ... (for error details)

    @classmethod
    def of_text(cls, payload: str, origin: str) -> Record:
        """A record to be parsed where it is resolved: a batch that a resolver process
        (resolvers/resolve_pool.py) resolves is sent there as text anyway, so parsing it here
        too would cost the committing process a second parse of every record. Only
        :func:`resolve_record` and what calls it (``resolve_all``, ``ingest_records``) take
        such a record; :meth:`parsed` gives the ordinary one."""
        return cls(payload, DEFERRED, origin)

    def parsed(self) -> Record:
        """This record with its value parsed (itself if it was)."""
        if self.value is DEFERRED:
            return Record(self.payload, parse_json(self.payload), self.origin)
        return self


def source_of(value: Any) -> str | None:
    """Which stream a parsed record belongs to, or None if its shape is unknown."""
    if not isinstance(value, Mapping):
        return None
    if is_eventbridge_event(value) or is_cloudtrail_record(value):
        return CLOUDTRAIL
    if is_audit_entry(value):
        return AUDIT_LOG
    if is_feed_record(value):
        return ASSET_FEED
    return None


def record_hash(record: Record) -> str:
    """The hash of a record's content (a CloudTrail record hashes the same bare or wrapped)."""
    value = record.value
    if isinstance(value, Mapping) and is_eventbridge_event(value):
        value = value["detail"]
    if value is None:
        return hashlib.sha256(record.payload.encode("utf-8", "replace")).hexdigest()[:32]
    return hashlib.sha256(canonical_bytes(value)).hexdigest()[:32]


def resolve_record(
    record: Record, salt: bytes, default_source: str, *, raw_only: bool = False
) -> ResolvedBatch:
    """One record into raw_events plus its changes and observations, or an unresolved row.

    A record that holds a secret (an STS session token in an answer, a password, user data) is
    landed, hashed and resolved redacted: no table keeps it (docs/secrets.md). Nearly all hold
    none and are landed as received, byte for byte. Whatever a record holds, the result has its
    raw row (resolvers/guard.py: a record too deep to walk is landed as text, an implausible
    event time gets no versions, and a resolver that fails on a record explains it instead of
    failing the batch). ``raw_only``: what landing needs, the raw row (and the reason of a
    record that is not readable) without resolving changes: the same raw row, cheaper.
    """
    record = _guarded(record.parsed())
    payload, value = redact_record(record.payload, record.value, salt)
    if payload is not record.payload:
        record = replace(record, payload=payload, value=value)
    digest = record_hash(record)
    try:
        batch = _resolve_record(record, salt, default_source, digest, raw_only)
    except Exception as exc:  # a resolver bug must not fail the batch nor lose the record
        batch = _failed(record, default_source, exc)
    batch = quarantine_times(batch)
    batch.raw = [
        r if r.record_hash == digest else replace(r, record_hash=digest) for r in batch.raw
    ]
    if batch.unresolved:  # rare: an unresolved row is the record's, not only its event id's
        batch.unresolved = [replace(u, record_hash=digest) for u in batch.unresolved]
    return batch


def _resolve_record(
    record: Record, salt: bytes, default_source: str, digest: str, raw_only: bool = False
) -> ResolvedBatch:
    source = source_of(record.value)
    value = record.value
    if source == ASSET_FEED and isinstance(value, Mapping):
        return resolve_feed_record(value, record.payload, salt, digest, raw_only=raw_only)
    if source == CLOUDTRAIL and isinstance(value, Mapping):
        return resolve_cloudtrail_record(
            value, record.payload, None, salt, record_hash=digest, raw_only=raw_only
        )
    if source == AUDIT_LOG and isinstance(value, Mapping):
        return resolve_audit_entry(value, record.payload, fallback_id(record.payload), salt)
    return _unreadable(record, default_source)


def _guarded(record: Record) -> Record:
    """The record as the resolvers may see it: a BOM before its JSON dropped, and a value
    nested too deep to walk taken as text (resolvers/guard.py)."""
    if record.value is None:
        text = record.payload
        if text.startswith(BOM):
            value, _ = parse(text)
            if value is not None and not isinstance(value, str):
                return Record(text.removeprefix(BOM), value, record.origin)
        return record
    if too_deep(record.payload, record.value):
        return Record(record.payload, None, record.origin)
    return record


def _unreadable(record: Record, source: str) -> ResolvedBatch:
    event_id = fallback_id(record.payload)
    reason, why = unreadable(record.payload)
    if record.value is None:
        payload, detail = dumps(record.payload), f"{record.origin}: {why}"
    else:
        payload, reason = record.payload, "unrecognised_record"
        detail = (
            f"{record.origin}: not a CloudTrail, EventBridge, asset feed or audit record ({why})"
        )
    cloud = "gcp" if source in (ASSET_FEED, AUDIT_LOG) else "aws"
    raw = RawRecord(event_id, source, cloud, None, None, None, "unknown", payload)
    return ResolvedBatch(raw=[raw], unresolved=[Unresolved(event_id, source, reason, detail)])


def _failed(record: Record, source: str, exc: Exception) -> ResolvedBatch:
    """The raw row and a ``resolver_error`` row of a record a resolver failed on."""
    batch = _unreadable(replace(record, value=None), source)
    if record.value is not None:  # landed as received: it is JSON, the resolver is wrong
        raw = replace(batch.raw[0], payload=record.payload)
        batch.raw = [raw]
    detail = f"{record.origin}: {type(exc).__name__}: {exc}"[:500]
    batch.unresolved = [replace(batch.unresolved[0], reason="resolver_error", detail=detail)]
    return batch


@dataclass(frozen=True, slots=True)
class ResolveJob:
    """Records to resolve together (a batch of an ingest). Sent to a resolver process as texts
    (each record's text, origin and whether it was JSON) and parsed again there: cheaper than
    pickling the parsed values, and the same records (a text that was not JSON stays not
    JSON)."""

    records: Sequence[Record]
    salt: bytes
    source: str

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        texts = [(r.payload, r.origin, r.value is not None) for r in self.records]
        return _job_of_texts, (texts, self.salt, self.source)


def _job_of_texts(texts: list[tuple[str, str, bool]], salt: bytes, source: str) -> ResolveJob:
    records = [
        Record(text, parse_json(text) if parsed else None, origin) for text, origin, parsed in texts
    ]
    return ResolveJob(records, salt, source)


def parse_json(data: bytes | str) -> Any:
    """The JSON value of a text, or None if it is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def resolve_all(
    records: Iterable[Record], salt: bytes, default_source: str, *, raw_only: bool = False
) -> ResolvedBatch:
    """:func:`resolve_record` over many records, into one batch (from the events alone)."""
    batch = ResolvedBatch()
    for record in records:
        batch.extend(resolve_record(record, salt, default_source, raw_only=raw_only))
    return batch


def resolve_job(job: ResolveJob) -> ResolvedBatch:
    """The records of a job resolved from their events alone (describing is the caller's)."""
    return resolve_all(job.records, job.salt, job.source)
