"""A deterministic corpus of hostile records, built from real corpus records mutated.

Every case is one record as it goes on the wire (a JSON line, a message body): bytes, so that
invalid UTF-8, BOMs, NaN literals and duplicate keys survive. The seeds are the first real
change record of each shape in ``../shared/corpus`` (a bare CloudTrail record, an EventBridge
envelope, a GCP audit LogEntry, a Cloud Asset Inventory TemporalAsset made of a real exported
Asset); the corpus is read in place, never copied. docs/hostile-input.md lists the cases and
what each becomes.

Each case gets its own event id (or, for the asset feed, its own content) unless the case is
about ids (the ``collision`` family): so every case is one distinct record, "nothing lost" is a
count, and a record's rows can be found by its event id.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

CLOUDTRAIL_FILE = "stratus_red_team_detonation_logs.cloudtrail.jsonl"
EVENTBRIDGE_FILE = "cloud_custodian_tests.eventbridge.jsonl"
AUDIT_FILE = "panther_analysis_rule_tests.gcp_audit.jsonl"
CAI_FILE = "gcp_policy_library_fixtures.cai_assets.jsonl"
KINDS = ("cloudtrail", "eventbridge", "audit", "feed")
MB = 1024 * 1024
HUGE = 64 * 1024  # the "huge string" of the wrong-type walk (a few hundred of them in a run)
WRONG_VALUES: tuple[tuple[str, Any], ...] = (
    ("list", [1, "x", None]),
    ("dict", {"k": {"v": 1}}),
    ("int", -(2**63)),
    ("bool", True),
    ("null", None),
    ("float", 1.5e308),
    ("huge_string", "\u00e9" * (HUGE // 2)),
)
TIMES: tuple[tuple[str, Any], ...] = (
    ("year_9999", "9999-12-31T23:59:59Z"),
    ("year_9999_west_offset", "9999-12-31T23:59:59-01:00"),  # past datetime.max in UTC
    ("year_1_east_offset", "0001-01-01T00:00:00+01:00"),  # before datetime.min in UTC
    ("epoch_1970", "1970-01-01T00:00:00Z"),
    ("year_1900", "1900-01-01T00:00:00Z"),
    ("before_2006", "2005-12-31T23:59:59Z"),
    ("next_century", "2100-06-01T00:00:00Z"),
    ("unparseable", "yesterday, around noon"),
    ("month_13", "2024-13-45T99:99:99Z"),
    ("offset_plus_14", "2024-05-01T10:00:00+14:00"),
    ("offset_odd", "2024-05-01T10:00:00+05:45"),
    ("offset_beyond_24h", "2024-05-01T10:00:00+25:00"),
    ("nanoseconds", "2024-05-01T10:00:00.123456789Z"),
    ("epoch_number", 1714557600),
    ("empty", ""),
)


@dataclass(frozen=True, slots=True)
class Case:
    """One hostile record: a name (``kind.family.detail``), its bytes, the seed's shape."""

    name: str
    body: bytes
    kind: str

    @property
    def family(self) -> str:
        """The case family (``wrong_type``, ``deep``, ``time``, ...)."""
        return self.name.split(".")[1]


# -- seeds ------------------------------------------------------------------------------------
def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as lines:
        for line in lines:
            if line.strip():
                yield orjson.loads(line)


def seeds(corpus: Path) -> dict[str, dict[str, Any]]:
    """The first real record of each shape that is a change (deterministic)."""
    cloudtrail = next(
        r for r in _lines(corpus / CLOUDTRAIL_FILE)
        if r.get("eventName") == "StopLogging" and not r.get("errorCode")
    )  # fmt: skip
    eventbridge = next(_lines(corpus / EVENTBRIDGE_FILE))
    audit = next(_lines(corpus / AUDIT_FILE))
    asset = next(_lines(corpus / CAI_FILE))
    feed = {
        "asset": asset,
        "priorAssetState": "PRESENT",
        "window": {"startTime": "2024-05-01T10:00:00Z"},
    }
    return {"cloudtrail": cloudtrail, "eventbridge": eventbridge, "audit": audit, "feed": feed}


def _retag(record: dict[str, Any], kind: str, tag: str) -> dict[str, Any]:
    """The record with its own identity: event id / insertId, or a feed field of its own."""
    record = copy.deepcopy(record)
    if kind == "cloudtrail":
        record["eventID"] = f"hostile-{kind}-{tag}"
    elif kind == "eventbridge":
        record["id"] = f"hostile-envelope-{tag}"
        if isinstance(record.get("detail"), dict):
            record["detail"]["eventID"] = f"hostile-{kind}-{tag}"
    elif kind == "audit":
        record["insertId"] = f"hostile-{kind}-{tag}"
    else:  # a feed message's id is the hash of its content
        record["hostileCase"] = tag
    return record


def _time_path(kind: str) -> tuple[str, ...]:
    return {
        "cloudtrail": ("eventTime",),
        "eventbridge": ("detail", "eventTime"),
        "audit": ("timestamp",),
        "feed": ("window", "startTime"),
    }[kind]


def _payload_path(kind: str) -> tuple[str, ...]:
    """Where a record carries free-form content (for deep and large values)."""
    return {
        "cloudtrail": ("requestParameters",),
        "eventbridge": ("detail", "requestParameters"),
        "audit": ("protoPayload", "request"),
        "feed": ("asset", "resource", "data", "hostile"),
    }[kind]


def _set(record: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    target: Any = record
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return record


def _paths(value: Any, prefix: tuple[Any, ...] = (), depth: int = 4) -> Iterator[tuple[Any, ...]]:
    """Every field of a record, parents before children (dicts: every key; lists: item 0)."""
    if depth == 0:
        return
    if isinstance(value, Mapping):
        for key in value:
            yield (*prefix, key)
            yield from _paths(value[key], (*prefix, key), depth - 1)
    elif isinstance(value, list) and value:
        yield (*prefix, 0)
        yield from _paths(value[0], (*prefix, 0), depth - 1)


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value)


# -- the families -----------------------------------------------------------------------------
def wrong_types(kind: str, seed: dict[str, Any], depth: int = 4) -> Iterator[Case]:
    """Every field of the seed (to ``depth``) replaced by a list, dict, int, bool, null,
    float and a huge string, in turn."""
    for path in _paths(seed, depth=depth):
        where = "/".join(str(p) for p in path)
        for label, value in WRONG_VALUES:
            tag = f"wt-{where}-{label}"
            record = _retag(seed, kind, tag)
            if isinstance(value, str):  # a huge id of its own, not one shared by every kind
                value = f"{kind}:{tag}:{value}"
            _set(record, path, copy.deepcopy(value))
            yield Case(f"{kind}.wrong_type.{where}={label}", _dumps(record), kind)


def nested(depth: int, leaf: Any = 1) -> Any:
    """A value nested ``depth`` levels (lists and objects alternating), built iteratively."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"n": value}
    return value


def nested_text(depth: int) -> bytes:
    """The JSON text of ``depth`` nested arrays (no Python object of that depth is built)."""
    return b"[" * depth + b"1" + b"]" * depth


DEPTHS = (100, 200, 300, 1100, 10_000)  # orjson: dumps stops at 255 levels, loads at 1024


def deep(kind: str, seed: dict[str, Any]) -> Iterator[Case]:
    """Deeply nested content in a record, at depths on either side of each parser's limit."""
    for depth in DEPTHS:
        tag = f"deep-{depth}"
        record = _retag(seed, kind, tag)
        marker = b'"@@DEEP@@"'
        body = _dumps(_set(record, _payload_path(kind), "@@DEEP@@"))
        yield Case(f"{kind}.deep.{depth}", body.replace(marker, nested_text(depth)), kind)


def large(kind: str, seed: dict[str, Any], sizes: tuple[int, ...]) -> Iterator[Case]:
    """A record of about ``size`` bytes (a real record with a large free-form value)."""
    for size in sizes:
        record = _retag(seed, kind, f"large-{size}")
        base = len(_dumps(_set(copy.deepcopy(record), _payload_path(kind), "")))
        body = _dumps(_set(record, _payload_path(kind), "x" * max(0, size - base)))
        yield Case(f"{kind}.large.{size}", body, kind)


def times(kind: str, seed: dict[str, Any]) -> Iterator[Case]:
    """The record's event time replaced by far, early, odd and unparseable timestamps."""
    for label, value in TIMES:
        record = _retag(seed, kind, f"time-{label}")
        yield Case(f"{kind}.time.{label}", _dumps(_set(record, _time_path(kind), value)), kind)


def bad_bytes(kind: str, seed: dict[str, Any]) -> Iterator[Case]:
    """Invalid UTF-8, NaN / Infinity literals, a BOM, duplicate keys, truncation."""
    body = _dumps(_retag(seed, kind, "bytes-marker"))
    marker = b"bytes-marker" if kind != "feed" else b'"hostileCase":"bytes-marker"'
    invalid = {
        "invalid_utf8_ff": b"\xff\xfe",
        "invalid_utf8_truncated": b"\xe2\x82",
        "invalid_utf8_overlong": b"\xc0\xaf",
        "invalid_utf8_surrogate": b"\xed\xa0\x80",
        "escaped_lone_surrogate": b"\\ud800",
        "nul_escape": b"\\u0000",
    }
    for label, raw in invalid.items():
        if kind == "feed":
            replaced = body.replace(marker, b'"hostileCase":"' + label.encode() + raw + b'"')
        else:
            replaced = body.replace(marker, label.encode() + raw)
        yield Case(f"{kind}.bytes.{label}", replaced, kind)
    time_key = _time_path(kind)[-1].encode()
    for label, literal in (("nan", b"NaN"), ("infinity", b"Infinity"), ("neg_inf", b"-Infinity")):
        text = _dumps(_retag(seed, kind, f"literal-{label}"))
        start = text.index(b'"' + time_key + b'":') + len(time_key) + 3
        end = text.index(b'"', start + 1) + 1  # the end of the time string
        yield Case(f"{kind}.bytes.{label}", text[:start] + literal + text[end:], kind)
    yield Case(f"{kind}.bytes.bom", b"\xef\xbb\xbf" + _dumps(_retag(seed, kind, "bom")), kind)
    # duplicate keys: the event time twice (a real one first, garbage last), and the id twice
    text = _dumps(_retag(seed, kind, "dupkeys"))
    yield Case(
        f"{kind}.bytes.duplicate_keys",
        b"{" + b'"' + time_key + b'":"2024-05-01T10:00:00Z","hostileDup":1,"hostileDup":2,'
        + text[1:],
        kind,
    )  # fmt: skip
    truncated = _dumps(_retag(seed, kind, "truncated"))
    yield Case(f"{kind}.bytes.truncated", truncated[: len(truncated) // 2], kind)


def collisions(seed: dict[str, Any]) -> Iterator[Case]:
    """One eventID in three accounts with different contents (CloudTrail), and a read and a
    change that share an id: every one is its own record."""
    for account in ("111111111111", "222222222222", "333333333333"):
        record = copy.deepcopy(seed)
        record["eventID"] = "hostile-colliding-id"
        record["recipientAccountId"] = account
        if isinstance(record.get("userIdentity"), dict):
            record["userIdentity"]["accountId"] = account
        name = f"arn:aws:cloudtrail:us-east-1:{account}:trail/t"
        record["requestParameters"] = {"name": name}
        record["awsRegion"] = "us-east-1"
        yield Case(f"cloudtrail.collision.{account}", _dumps(record), "cloudtrail")
    unknown = []
    for account in ("111111111111", "222222222222"):
        record = copy.deepcopy(seed)
        record.update(eventID="hostile-colliding-unknown", recipientAccountId=account)
        record.update(eventSource="widgets.amazonaws.com", eventName="FrobnicateWidget")
        unknown.append(record)
        yield Case(f"cloudtrail.collision.unknown_{account}", _dumps(record), "cloudtrail")


SHAPES: tuple[tuple[str, bytes], ...] = (
    ("scalar_int", b"42"),
    ("scalar_string", b'"just a string"'),
    ("scalar_null", b"null"),
    ("scalar_true", b"true"),
    ("empty_object", b"{}"),
    ("empty_array", b"[]"),
    ("array_of_numbers", b"[1,2,3]"),
    ("not_json", b"{this is not json"),
    ("nan_alone", b"NaN"),
    ("big_number", b"1" * 400),
    ("deep_bare_300", nested_text(300)),
    ("deep_bare_10000", nested_text(10_000)),
    ("deep_objects_10000", b'{"a":' * 10_000 + b"1" + b"}" * 10_000),
    ("controls", b"\x00\x01\x02\x1b[31m"),
)


def shapes() -> Iterator[Case]:
    """Records of no known shape: scalars, arrays, not JSON, bare deep nesting."""
    for label, body in SHAPES:
        yield Case(f"other.shape.{label}", body, "other")


def array_of_records(seed: dict[str, Any]) -> Case:
    """Two CloudTrail records in one JSON array line (a record of no known shape)."""
    first, second = _retag(seed, "cloudtrail", "array-1"), _retag(seed, "cloudtrail", "array-2")
    return Case("other.shape.array_of_records", _dumps([first, second]), "other")


def hostile_cases(
    corpus: Path, *, walk_depth: int = 4, large_sizes: tuple[int, ...] = ()
) -> list[Case]:
    """The whole hostile corpus (deterministic): every family for every seed shape."""
    found = seeds(corpus)
    cases: list[Case] = []
    for kind in KINDS:
        seed = found[kind]
        cases.extend(wrong_types(kind, seed, walk_depth))
        cases.extend(deep(kind, seed))
        cases.extend(times(kind, seed))
        cases.extend(bad_bytes(kind, seed))
        cases.extend(large(kind, seed, large_sizes))
    cases.extend(collisions(found["cloudtrail"]))
    cases.extend(shapes())
    cases.append(array_of_records(found["cloudtrail"]))
    return unique(cases)


def unique(cases: list[Case]) -> list[Case]:
    """The cases with distinct bodies (a mutation can coincide with another one)."""
    seen: set[bytes] = set()
    kept = []
    for case in cases:
        if case.body not in seen:
            seen.add(case.body)
            kept.append(case)
    return kept


def good_records(corpus: Path, count: int = 20) -> list[bytes]:
    """Real records that resolve, to mix into the hostile batches (each with its own id)."""
    found = seeds(corpus)
    bodies = []
    for index in range(count):
        kind = KINDS[index % len(KINDS)]
        bodies.append(_dumps(_retag(found[kind], kind, f"good-{index}")))
    return bodies


def jsonl(bodies: list[bytes]) -> bytes:
    """JSON lines of bodies, with empty and whitespace-only lines and CRLFs between them."""
    out = bytearray()
    for index, body in enumerate(bodies):
        out += body + (b"\r\n" if index % 7 == 0 else b"\n")
        if index % 11 == 0:
            out += b"\n   \t\n"
    return bytes(out)
