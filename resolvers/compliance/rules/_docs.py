"""Reading configuration documents and events defensively: paths, lists, times, flags.

Every helper returns a neutral value (None, [], False) on a missing key or a value of the wrong
type, so that rules read as plain statements of what they check.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from resolvers.timeutil import parse_time

_VERSION_SUFFIX = re.compile(r"(\d{8}(v\d+)?|\d{4}_\d{2}_\d{2})$")


def get(document: Any, *path: str | int) -> Any:
    """The value at ``path`` inside nested dicts and lists, or None."""
    value = document
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return None
            value = value[step]
        # parsed JSON is dicts: test that first, an ABC isinstance check costs 20 times more
        elif type(value) is dict or isinstance(value, Mapping):
            value = value.get(step)
        else:
            return None
    return value


def items(value: Any) -> list[Any]:
    """A list as a list, one item as a one-item list, anything else as []."""
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def mappings(value: Any) -> Iterator[Mapping[str, Any]]:
    """The dicts among ``items(value)``."""
    return (item for item in items(value) if isinstance(item, dict))


def ec2_items(value: Any) -> list[Any]:
    """A CloudTrail EC2 list (``{"items": [...]}``) or a plain list, as a list."""
    if isinstance(value, dict):
        return items(value.get("items"))
    return items(value)


def flag(value: Any) -> bool | None:
    """A boolean, also from "true"/"false" strings and 0/1; None when it is neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, int):
        return bool(value)
    return None


def number(value: Any) -> int | None:
    """An integer, also from a numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def instant(value: Any) -> dt.datetime | None:
    """An aware UTC datetime from an ISO 8601 string (or a datetime); None otherwise."""
    if value is None:
        return None
    try:
        return parse_time(value)
    except (ValueError, TypeError):
        return None


def seconds(value: Any) -> int | None:
    """A protobuf Duration (``"7776000s"``) or a number, in whole seconds."""
    if isinstance(value, str) and value.endswith("s"):
        value = value[:-1].split(".")[0]
    return number(value)


def parsed(value: Any) -> Any:
    """A JSON document that may be stored as text (policies in some shapes): parsed."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    return value


def base_name(event_name: str) -> str:
    """An event name without Lambda/CloudFront API-version suffixes
    (CreateFunctionUrlConfig20211031 -> CreateFunctionUrlConfig)."""
    return _VERSION_SUFFIX.sub("", event_name)
