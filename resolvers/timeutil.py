"""UTC timestamps with microseconds: the one time representation of the lake."""

from __future__ import annotations

import datetime as dt

UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


def parse_time(value: object) -> dt.datetime:
    """Parse an RFC 3339 / ISO 8601 timestamp (or a datetime) into an aware UTC datetime.

    Nanosecond fractions (as Google APIs write them) are truncated to microseconds.
    Raises ValueError on anything that is not a timestamp (or is out of range in UTC).
    """
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        raise ValueError(f"not a timestamp: {value!r}")
    try:  # the usual shapes (a Z, up to nine fraction digits) read as they are, and fast
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        parsed = dt.datetime.fromisoformat(_iso(value))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed.tzinfo is UTC:
        return parsed
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:  # 9999-12-31T23:59:59-01:00 is past the last datetime in UTC
        raise ValueError(f"not a timestamp: {value!r} is out of range in UTC") from exc


def _iso(value: str) -> str:
    """A timestamp spelled as :meth:`datetime.fromisoformat` reads any: no spaces around it,
    ``+00:00`` for a Z, six fraction digits (nanoseconds truncated)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    head, dot, frac = text.partition(".")
    if dot:
        digits = len(frac) - len(frac.lstrip("0123456789"))
        frac = frac[:digits][:6].ljust(6, "0") + frac[digits:]
        text = f"{head}.{frac}"
    return text


def to_micros(value: dt.datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime."""
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> dt.datetime:
    """The aware UTC datetime of microseconds since the Unix epoch."""
    return EPOCH + dt.timedelta(microseconds=micros)


def utcnow() -> dt.datetime:
    """Now, in UTC, with microseconds."""
    return dt.datetime.now(UTC)


def isoformat(value: dt.datetime | None) -> str | None:
    """RFC 3339 with microseconds and a Z suffix, or None."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
