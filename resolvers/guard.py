"""Hostile input at the boundary: what a record must be before a resolver sees it.

Every record, from a file or a stream, goes through :func:`resolvers.resolution.resolve_record`,
which calls these checks, so the resolvers behind it only ever see JSON they can walk:

* JSON is parsed by orjson, which refuses NaN / Infinity literals, numbers out of the double
  range, invalid UTF-8 (lone surrogates too) and nesting deeper than 1024 levels; a UTF-8 byte
  order mark before a record is dropped (it is not part of the record).
* A record nested deeper than :data:`MAX_DEPTH` levels is not walked at all: orjson cannot
  serialise more than 254 levels and the recursive code behind the resolvers stops near 1000.
  It is landed as text, like a record that is not JSON, with the reason ``too_deep``.
* A record that is not JSON gets the reason ``malformed`` with what is wrong in it; the reason
  and its detail are worked out from the landed text alone, so that a drain, which reads the
  record back from raw_events, says the same as the landing did.
* An event time before :data:`EARLIEST_EVENT_TIME` or more than :data:`FUTURE_SKEW` after now
  is not a time a cloud wrote: the record is landed with no event time, and instead of changes
  and versions (a version from year 9999 would stay current for ever) it gets the reason
  ``implausible_event_time``.
"""

from __future__ import annotations

import datetime as dt
import re
import zlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import orjson

from resolvers.model import ResolvedBatch, Unresolved
from resolvers.timeutil import isoformat, utcnow

MAX_DEPTH = 128  # levels of arrays and objects a record may have (real records: under 20)
BOM = "\ufeff"
EARLIEST_EVENT_TIME = dt.datetime(2006, 1, 1, tzinfo=dt.UTC)  # before any cloud audit log
FUTURE_SKEW = dt.timedelta(days=1)  # clocks are wrong by minutes, not by a day
OVERSIZED_PREFIX = "[oversized message: "  # the stand-in of resolvers.streams.base.oversized
POISON_ORIGINS = ("s3://", "sqs://", "nats://", "pubsub://")  # resolvers.streams.base.poison
DETAIL_CHARS = 300
GZIP_MAGIC = b"\x1f\x8b"
_RECORDS_START = re.compile(rb'\A\s*\{\s*"Records"\s*:\s*\[')
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},]', re.DOTALL)
GZIP_CHUNK = 1024 * 1024


def depth_over(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether a parsed JSON value is nested deeper than ``limit`` levels (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if level > limit:
            return True
        stack.extend((child, level + 1) for child in children if isinstance(child, Mapping | list))
    return False


def too_deep(text: str, value: Any, limit: int = MAX_DEPTH) -> bool:
    """:func:`depth_over` for a record whose JSON ``text`` is at hand: a text with no more
    brackets than ``limit`` cannot nest deeper (nearly every record), so it is not walked."""
    return text.count("{") + text.count("[") > limit and depth_over(value, limit)


def parse(text: str) -> tuple[Any, str | None]:
    """(value, None) for a JSON record; (None, why) for one that is not, or is too deep."""
    try:
        value = orjson.loads(text.removeprefix(BOM))
    except orjson.JSONDecodeError as exc:
        return None, _why(str(exc))
    if too_deep(text, value):
        return None, f"nested deeper than {MAX_DEPTH} levels"
    return value, None


def _why(message: str) -> str:
    if "depth limit" in message:
        return f"nested deeper than {MAX_DEPTH} levels ({message})"
    return message


def unreadable(text: str) -> tuple[str, str]:
    """(reason, detail) of a record that is landed as text: from the text alone."""
    if not text.strip():
        return "malformed", "an empty record"
    if text.startswith(OVERSIZED_PREFIX):  # a stand-in for a message over the size limit
        return "malformed", text[1 : text.find("]")][:DETAIL_CHARS]
    if text.startswith("[") and text.endswith("]") and text[1:].startswith(POISON_ORIGINS):
        return "malformed", text[1:-1][:DETAIL_CHARS]  # a stand-in for an unreadable object
    value, why = parse(text)
    if why is not None:
        reason = "too_deep" if why.startswith("nested deeper") else "malformed"
        return reason, f"not JSON: {why}"[:DETAIL_CHARS] if reason == "malformed" else why
    if "\ufffd" in text:  # it parses now that its bytes were decoded with replacements
        return "malformed", "not valid UTF-8 (invalid bytes, shown replaced by U+FFFD)"
    return "unrecognised_record", f"a JSON {type(value).__name__ if value is not None else 'null'}"


def dumps(value: Any) -> str:
    """Compact JSON of a parsed value at any depth (orjson stops at 254 levels)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return _dumps_deep(value)


def _dumps_deep(value: Any) -> str:
    """The same compact JSON as orjson writes, without recursion."""
    parts: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Token):
            parts.append(item.text)
        elif isinstance(item, Mapping):
            stack.append(_Token("}"))
            entries = list(item.items())
            for index in range(len(entries) - 1, -1, -1):
                key, child = entries[index]
                stack.append(child)
                comma = "," if index else ""
                stack.append(_Token(comma + orjson.dumps(str(key)).decode() + ":"))
            stack.append(_Token("{"))
        elif isinstance(item, list):
            stack.append(_Token("]"))
            for index in range(len(item) - 1, -1, -1):
                stack.append(item[index])
                if index:
                    stack.append(_Token(","))
            stack.append(_Token("["))
        else:
            parts.append(orjson.dumps(item).decode())
    return "".join(parts)


class _Token:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def implausible(event_time: dt.datetime | None, now: dt.datetime | None = None) -> str | None:
    """Why an event time cannot be a cloud's, or None when it can."""
    if event_time is None:
        return None
    if event_time < EARLIEST_EVENT_TIME:
        return f"event time {isoformat(event_time)} is before {EARLIEST_EVENT_TIME:%Y-%m-%d}"
    limit = (now or utcnow()) + FUTURE_SKEW
    if event_time > limit:
        return f"event time {isoformat(event_time)} is more than a day in the future"
    return None


def quarantine_times(batch: ResolvedBatch, now: dt.datetime | None = None) -> ResolvedBatch:
    """A batch whose records have an implausible event time: their raw rows without the
    time, no changes or observations, an ``implausible_event_time`` row each instead."""
    bad: dict[str, str] = {}
    for raw in batch.raw:
        why = implausible(raw.event_time, now)
        if why is not None:
            bad[raw.event_id] = why
    if not bad:
        return batch
    unresolved = [u for u in batch.unresolved if u.event_id not in bad]
    for raw in batch.raw:
        if raw.event_id in bad:
            names = _names(batch, raw.event_id)
            unresolved.append(
                Unresolved(
                    raw.event_id, raw.source, "implausible_event_time", bad[raw.event_id], *names
                )
            )
    return ResolvedBatch(
        raw=[replace(r, event_time=None) if r.event_id in bad else r for r in batch.raw],
        changes=[c for c in batch.changes if c.event_id not in bad],
        observations=[o for o in batch.observations if not set(o.event_ids) & bad.keys()],
        unresolved=unresolved,
    )


def _names(batch: ResolvedBatch, event_id: str) -> tuple[str | None, str | None]:
    for item in (*batch.unresolved, *batch.changes):
        if item.event_id == event_id:
            return item.event_source, item.event_name
    return None, None


def gunzip(data: bytes, limit: int) -> bytes:
    """The content of gzip data (every member), or ValueError when it is not valid gzip or
    would be larger than ``limit`` bytes: a decompression bomb is refused, not expanded."""
    out = bytearray()
    while data:
        inflater = zlib.decompressobj(wbits=31)  # gzip, one member
        try:
            while data:
                out += inflater.decompress(data, GZIP_CHUNK)
                data = inflater.unconsumed_tail
                if len(out) > limit:
                    raise ValueError(f"more than {limit} bytes once decompressed")
            out += inflater.flush()
            if len(out) > limit:
                raise ValueError(f"more than {limit} bytes once decompressed")
            if not inflater.eof:
                raise ValueError("truncated gzip data (no end of stream)")
        except zlib.error as exc:
            raise ValueError(f"not valid gzip data ({exc})") from exc
        data = inflater.unused_data.lstrip(b"\x00")  # the next member (trailing NULs: padding)
    return bytes(out)


def split_records(data: bytes) -> list[bytes] | None:
    """The items of a log file ``{"Records": [...]}`` that is not JSON as a whole (one record
    of it is not: too deep, invalid UTF-8, a NaN), cut at its top-level commas without parsing
    them; None when the data does not start like a log file. A truncated file's last item is
    returned as it is (it then is malformed on its own)."""
    start = _RECORDS_START.match(data)
    if start is None:
        return None
    items: list[bytes] = []
    depth, begin = 0, start.end()
    for token in _TOKENS.finditer(data, begin):
        char = token.group()[:1]
        if char in b"[{":
            depth += 1
        elif char in b"]}":
            if depth == 0:  # the end of the Records array
                items.append(data[begin : token.start()])
                begin = -1
                break
            depth -= 1
        elif char == b"," and depth == 0:
            items.append(data[begin : token.start()])
            begin = token.end()
    if begin >= 0:
        items.append(data[begin:])
    return [item.strip() for item in items if item.strip()]
