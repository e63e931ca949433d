"""New CloudTrail log objects under a trail's prefix, listed incrementally by key.

A trail delivers to ``[PREFIX/]AWSLogs/o-ORG/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/`` (an
organisation trail) or ``[PREFIX/]AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/``, in files named
``ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_UNIQUE.json.gz``: under one (account, region) prefix
the keys sort by delivery time, across days too. The cursor keeps, per (account, region) prefix,
the last key processed and its day; a tick lists each prefix with ``StartAfter`` and takes
objects until a limit is reached. CloudTrail delivers files a few minutes late and not quite in
order, so the listing starts ``lag`` before the last key and skips the keys already processed
in that window (kept in the cursor). Objects are not deleted: acking a batch advances the cursor.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from resolvers.aws.cloudtrail import SOURCE as CLOUDTRAIL
from resolvers.streams.aws import aws_client, aws_errors
from resolvers.streams.base import PulledBatch, PullLimits, deadline_of
from resolvers.streams.s3_objects import fetch_log_file, is_log_file_key

CURSOR_VERSION = 1
MAX_RECENT = 2000  # keys remembered per prefix within the lag window
_FILE_TIME = re.compile(r"_(\d{8}T\d{4})Z_[^/]*$")
_ACCOUNT = re.compile(r"^\d{12}$")


@dataclass(slots=True)
class PrefixState:
    """Where the listing of one (account, region) prefix stands."""

    last_key: str = ""
    day: str = ""  # YYYY/MM/DD of last_key: the day being listed
    recent: list[str] = field(default_factory=list)  # keys done within the lag window


@dataclass(slots=True)
class S3LogsCursor:
    """The cursor of an S3 log source, as JSON for a sensor's cursor string."""

    prefixes: dict[str, PrefixState] = field(default_factory=dict)
    discovered_at: float = 0.0  # epoch seconds of the last listing of accounts and regions
    next_prefix: int = 0  # round robin: the prefix the next tick starts with
    version: int = CURSOR_VERSION

    def to_json(self) -> str:
        """The cursor as a JSON string."""
        return orjson.dumps(asdict(self), option=orjson.OPT_SORT_KEYS).decode()

    @classmethod
    def from_json(cls, text: str | None) -> S3LogsCursor:
        """The cursor of a JSON string; a fresh cursor when it is empty or cannot be decoded."""
        try:
            data = orjson.loads(text or "{}")
            if data.get("version", CURSOR_VERSION) != CURSOR_VERSION:
                return cls()
            prefixes = {k: PrefixState(**v) for k, v in data.get("prefixes", {}).items()}
            return cls(
                prefixes, float(data.get("discovered_at", 0.0)), int(data.get("next_prefix", 0))
            )
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            return cls()

    def copy(self) -> S3LogsCursor:
        """A deep copy (a pull works on a copy; the ack makes it current)."""
        return S3LogsCursor.from_json(self.to_json())


def file_time(key: str) -> dt.datetime | None:
    """The delivery time in a CloudTrail log file name."""
    match = _FILE_TIME.search(key)
    if match is None:
        return None
    try:
        return dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M").replace(tzinfo=dt.UTC)
    except ValueError:  # digits that are no time: a name that is not CloudTrail's
        return None


def day_of(key: str, prefix: str) -> str:
    """The YYYY/MM/DD folder of a key under a region prefix."""
    return key[len(prefix) : len(prefix) + 10]


class S3LogSource:
    """CloudTrail log files of one trail's bucket, every account and region under it."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        cursor: S3LogsCursor | str | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        start_day: str | None = None,
        lag: dt.timedelta = dt.timedelta(minutes=30),
        rediscover_seconds: float = 300.0,
        default_source: str = CLOUDTRAIL,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.name = f"s3://{bucket}/{self.prefix}AWSLogs/"
        self.default_source = default_source
        self.long_polls = False  # a listing returns at once: a tick stops at an empty one
        self.cursor = cursor if isinstance(cursor, S3LogsCursor) else S3LogsCursor.from_json(cursor)
        self.endpoint_url = endpoint_url
        self.region = region
        self.start_day = start_day  # YYYY/MM/DD: where a new prefix starts (None: its first key)
        self.lag = lag
        self.rediscover_seconds = rediscover_seconds
        self._s3: Any = None

    @property
    def s3(self) -> Any:
        """The boto3 S3 client, made on first use."""
        if self._s3 is None:
            self._s3 = aws_client("s3", self.endpoint_url, self.region)
        return self._s3

    # -- pulling ----------------------------------------------------------------------------
    def pull(self, limits: PullLimits) -> PulledBatch:
        """The records of the next new objects, prefix by prefix, within the limits."""
        batch = PulledBatch(self.name)
        deadline = deadline_of(limits, batch.started)
        with aws_errors(self.name):
            self._discover(self.cursor)  # not a read of records: kept even without an ack
            cursor = batch.cursor = self.cursor.copy()
            order = sorted(cursor.prefixes)
            for turn in range(len(order)):
                index = (cursor.next_prefix + turn) % len(order)
                self._pull_prefix(
                    order[index], cursor.prefixes[order[index]], batch, limits, deadline
                )
                if batch.full(limits, deadline):
                    cursor.next_prefix = index + 1  # the next tick starts after this one
                    break
        batch.pull_s = time.monotonic() - batch.started
        return batch

    def _pull_prefix(
        self,
        prefix: str,
        state: PrefixState,
        batch: PulledBatch,
        limits: PullLimits,
        deadline: float,
    ) -> None:
        done = set(state.recent)
        for key in self._new_keys(prefix, state):
            if key in done or not is_log_file_key(key):
                continue
            batch.add(fetch_log_file(self.s3, self.bucket, key, limits), key)
            _advance(state, prefix, key, self.lag)
            if batch.full(limits, deadline):
                return

    def _new_keys(self, prefix: str, state: PrefixState) -> Iterator[str]:
        """Keys after the cursor's position (from ``lag`` before it), in key order."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        start_after = self._start_after(prefix, state)
        if start_after:
            params["StartAfter"] = start_after
        for page in self.s3.get_paginator("list_objects_v2").paginate(**params):
            for item in page.get("Contents", []):
                yield item["Key"]

    def _start_after(self, prefix: str, state: PrefixState) -> str | None:
        if not state.last_key:
            return prefix + self.start_day if self.start_day else None
        when = file_time(state.last_key)
        if when is None:
            return state.last_key
        start = when - self.lag
        account, region = prefix.rstrip("/").split("/")[-3], prefix.rstrip("/").split("/")[-1]
        return f"{prefix}{start:%Y/%m/%d}/{account}_CloudTrail_{region}_{start:%Y%m%dT%H%M}Z"

    # -- accounts and regions ---------------------------------------------------------------
    def _discover(self, cursor: S3LogsCursor) -> None:
        """List the (account, region) prefixes again when the last listing is old."""
        if cursor.prefixes and time.time() - cursor.discovered_at < self.rediscover_seconds:
            return
        for prefix in self.region_prefixes():
            cursor.prefixes.setdefault(prefix, PrefixState())
        cursor.discovered_at = time.time()

    def region_prefixes(self) -> list[str]:
        """Every ``.../ACCOUNT/CloudTrail/REGION/`` prefix of the trail (org or not)."""
        root = f"{self.prefix}AWSLogs/"
        accounts = []
        for top in self._folders(root):
            name = top[len(root) : -1]
            if name.startswith("o-"):
                accounts.extend(a for a in self._folders(top) if _ACCOUNT.match(a[len(top) : -1]))
            elif _ACCOUNT.match(name):
                accounts.append(top)
        return sorted(
            region for account in accounts for region in self._folders(f"{account}CloudTrail/")
        )

    def _folders(self, prefix: str) -> list[str]:
        paginator = self.s3.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/")
        return [entry["Prefix"] for page in pages for entry in page.get("CommonPrefixes", [])]

    # -- acking -----------------------------------------------------------------------------
    def ack(self, batch: PulledBatch) -> int:
        """Make the batch's cursor current (objects are never deleted); returns the objects."""
        if isinstance(batch.cursor, S3LogsCursor):
            self.cursor = batch.cursor
        return len(batch.handles)

    def close(self) -> None:
        """Close the HTTP connections."""
        if self._s3 is not None:
            self._s3.close()
            self._s3 = None


def _advance(state: PrefixState, prefix: str, key: str, lag: dt.timedelta) -> None:
    """Record ``key`` as processed; forget the keys that fell out of the lag window."""
    if key > state.last_key:
        state.last_key, state.day = key, day_of(key, prefix)
    newest = file_time(state.last_key)
    if newest is None:  # the listing starts right after last_key: nothing to remember
        state.recent = []
        return
    keep = {k for k in [*state.recent, key] if (file_time(k) or newest) >= newest - lag}
    state.recent = sorted(keep)[-MAX_RECENT:]
