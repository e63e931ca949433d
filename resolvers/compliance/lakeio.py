"""What evaluation reads from and writes to the lake.

Watermarks. Each evaluation remembers, as Delta application transactions committed together
with its findings (so that findings and watermark move atomically), the highest commit stamp it
has seen in three places: asset_versions (``_seq`` of the tail, ``recorded_at`` of the folded
table), asset_changes (``recorded_at``) and raw_events (``landed_at``); plus ``due``, the next
instant a clock-dependent verdict changes. The next evaluation reads rows stamped after
``watermark - MARGIN``: a writer stamps its rows when its commit starts, so a commit that
started before the watermark but landed after it is still seen as long as commits take less
than the margin. Rows seen twice are harmless (evaluation is idempotent).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, Transaction, write_deltalake

from resolvers.compliance.events import event_from_change, events_from_raw
from resolvers.compliance.intervals import ChainVersion, Finding
from resolvers.compliance.spec import Event
from resolvers.lake import layout
from resolvers.lake.storage import Lake
from resolvers.lake.tables import (
    ASSET_CHANGES,
    ASSET_VERSIONS,
    ASSET_VERSIONS_TAIL,
    FINDINGS,
    RAW_EVENTS,
)
from resolvers.timeutil import from_micros, to_micros

APP_ID = "assetlake.rules"
MARGIN = dt.timedelta(minutes=10)
MAX_COMMIT_RETRIES = 8
CHAIN_COLUMNS = (
    "asset_key", "resource_type", "account_id", "region", "name", "version", "valid_from",
    "valid_to", "is_deleted", "change_event_ids", "config",
)  # fmt: skip
RAW_SOURCES = ("aws_cloudtrail", "gcp_audit_log")
_VERSION_SUFFIX = r"(\d{8}(v\d+)?|\d{4}_\d{2}_\d{2})$"


@dataclass(frozen=True, slots=True)
class Watermarks:
    """Micros since the epoch of the last stamps seen (None: never evaluated)."""

    versions: int | None = None
    changes: int | None = None
    raw: int | None = None
    due: int = 0  # 0: no clock-dependent verdict pending

    NAMES = ("versions", "changes", "raw", "due")

    def transactions(self) -> list[Transaction]:
        """The application transactions that record these watermarks."""
        return [
            Transaction(f"{APP_ID}.{name}", value)
            for name in self.NAMES
            if (value := getattr(self, name)) is not None
        ]


def read_watermarks(lake: Lake) -> Watermarks:
    """The watermarks of the last evaluation committed to the findings table."""
    table = lake.table(FINDINGS.name)
    found = {name: table.transaction_version(f"{APP_ID}.{name}") for name in Watermarks.NAMES}
    return Watermarks(
        versions=found["versions"],
        changes=found["changes"],
        raw=found["raw"],
        due=max(found["due"] or 0, 0),
    )


def since(micros: int | None, margin: dt.timedelta = MARGIN) -> int | None:
    """Where to read from: the watermark minus the margin (None: from the beginning)."""
    return None if micros is None else micros - int(margin.total_seconds() * 1_000_000)


def latest(current: int | None, found: int | None) -> int | None:
    if found is None:
        return current
    return found if current is None else max(current, found)


# -- asset_versions ---------------------------------------------------------------------------
def touched_assets(lake: Lake, since: int | None) -> tuple[set[str], int | None]:
    """Asset keys with version rows stamped after ``since``, and the latest stamp."""
    tail = lake.scan(ASSET_VERSIONS_TAIL.name)
    base = lake.scan(ASSET_VERSIONS.name)
    if since is not None:
        tail = tail.filter(pl.col("_seq") > since)
        base = base.filter(pl.col("recorded_at") > from_micros(since))
    frame = pl.concat(
        [
            tail.select("asset_key", pl.col("_seq").alias("stamp")),
            base.select("asset_key", pl.col("recorded_at").dt.epoch("us").alias("stamp")),
        ]
    ).collect()
    stamp = frame.get_column("stamp").max() if frame.height else None
    return set(frame.get_column("asset_key").to_list()), stamp  # type: ignore[return-value]


def asset_keys_of_types(lake: Lake, types: Collection[str], current_only: bool = False) -> set[str]:
    """Keys of every asset of the given resource types (of current versions, if asked)."""
    if not types:
        return set()
    frame = layout.read_table(lake, ASSET_VERSIONS.name)
    wanted = pl.col("resource_type").is_in(list(types))
    if current_only:
        wanted = wanted & pl.col("is_current") & ~pl.col("is_deleted")
    found = frame.filter(wanted).select("asset_key").unique().collect()
    return set(found.get_column("asset_key").to_list())


def load_chains(
    lake: Lake,
    keys: Collection[str] | None,
    types: Collection[str],
    key_range: tuple[str, str] | None = None,
) -> dict[str, list[ChainVersion]]:
    """The version chains (valid_from order) of ``keys`` (None: every asset) of ``types``,
    within ``key_range`` (inclusive bounds) if given."""
    of_type = pl.col("resource_type").is_in(list(types))
    base = lake.scan(ASSET_VERSIONS.name)
    tail = lake.scan(ASSET_VERSIONS_TAIL.name)  # patches carry no type: filter after resolving
    if keys is not None:
        wanted = pl.col("asset_key").is_in(pl.Series(list(keys), dtype=pl.String).implode())
        base, tail = base.filter(wanted), tail.filter(wanted)
    if key_range is not None:
        within = pl.col("asset_key").is_between(pl.lit(key_range[0]), pl.lit(key_range[1]))
        base, tail = base.filter(within), tail.filter(within)
    frame = (
        layout.resolve(base.filter(of_type), tail)
        .filter(of_type)
        .select(CHAIN_COLUMNS)
        .sort("asset_key", "valid_from")
        .collect()
    )
    return chains_from_frame(frame)


def key_ranges(lake: Lake, types: Collection[str], rows: int) -> list[tuple[str, str]]:
    """Asset key ranges of about ``rows`` versions each, covering every asset of ``types``
    (a full evaluation reads one range at a time; asset_versions is sorted by key, so each
    range reads few files)."""
    counts = (
        layout.read_table(lake, ASSET_VERSIONS.name)
        .filter(pl.col("resource_type").is_in(list(types)))
        .group_by("asset_key")
        .len()
        .sort("asset_key")
        .collect()
    )
    ranges: list[tuple[str, str]] = []
    first, total = None, 0
    for key, count in counts.iter_rows():
        first = key if first is None else first
        total += count
        if total >= rows:
            ranges.append((first, key))
            first, total = None, 0
    if first is not None:
        ranges.append((first, counts.get_column("asset_key")[-1]))
    return ranges


def accounts_of(lake: Lake, keys: Collection[str], types: Collection[str]) -> set[str]:
    """Accounts of the assets among ``keys`` whose current version is of one of ``types``."""
    if not keys or not types:
        return set()
    frame = (
        layout.read_table(lake, ASSET_VERSIONS.name)
        .filter(
            pl.col("asset_key").is_in(list(keys))
            & pl.col("resource_type").is_in(list(types))
            & pl.col("is_current")
        )
        .select("account_id")
        .unique()
        .collect()
    )
    return {a for a in frame.get_column("account_id").to_list() if a}


def chains_from_frame(frame: pl.DataFrame) -> dict[str, list[ChainVersion]]:
    """Chains from asset_versions rows (CHAIN_COLUMNS) sorted by asset_key, valid_from."""
    chains: dict[str, list[ChainVersion]] = {}
    for row in frame.select(CHAIN_COLUMNS).iter_rows():
        version = ChainVersion(*row[:9], tuple(row[9] or ()), row[10] or "")  # type: ignore[misc]
        chains.setdefault(version.asset_key, []).append(version)
    return chains


# -- events -----------------------------------------------------------------------------------
def _base_names() -> pl.Expr:
    return pl.col("event_name").str.replace(_VERSION_SUFFIX, "")


def _changes_frame(frame: pl.LazyFrame) -> list[Event]:
    rows = frame.collect().to_dicts()
    return [event_from_change(row) for row in rows]


def new_change_events(
    lake: Lake, since: int | None, names: Collection[str]
) -> tuple[list[Event], int | None]:
    """asset_changes rows of the rules' events stamped after ``since``."""
    scan = lake.scan(ASSET_CHANGES.name)
    if since is not None:
        scan = scan.filter(pl.col("recorded_at") > from_micros(since))
    stamp = scan.select(pl.col("recorded_at").max()).collect().item()
    relevant = scan.filter(_base_names().is_in(list(names)))
    return _changes_frame(relevant), (to_micros(stamp) if stamp is not None else None)


def change_history(
    lake: Lake,
    keys: Collection[str] | None,
    names: Collection[str],
    accounts: Collection[str] | None,
    account_names: Collection[str],
) -> list[Event]:
    """Every asset_changes row of the rules' events on ``keys``, plus those of account-wide
    rules in ``accounts`` (None for both: all of them)."""
    base = _base_names()
    if keys is None:
        wanted = base.is_in(list(names))
    else:
        wanted = base.is_in(list(names)) & pl.col("asset_key").is_in(list(keys))
        if accounts:
            by_account = base.is_in(list(account_names)) & pl.col("account_id").is_in(
                list(accounts)
            )
            wanted = wanted | by_account
    return _changes_frame(lake.scan(ASSET_CHANGES.name).filter(wanted))


def new_raw_events(
    lake: Lake, since: int | None, names: Collection[str]
) -> tuple[list[Event], int | None]:
    """Events of CloudTrail and audit records received after ``since`` that mention a rule's
    event name (the rules then decide on the parsed record)."""
    scan = lake.scan(RAW_EVENTS.name).filter(pl.col("source").is_in(list(RAW_SOURCES)))
    landed_at = pl.coalesce("landed_at", "received_at")  # received_at: rows from before lineage
    if since is not None:
        scan = scan.filter(landed_at > from_micros(since))
    stamp = scan.select(landed_at.max()).collect().item()
    frame = (
        scan.filter(pl.col("payload").str.contains_any(sorted(names)))
        .select("event_id", "payload")
        .unique("event_id")
        .collect()
    )
    events = [e for eid, text in frame.iter_rows() for e in events_from_raw(text, eid)]
    return events, (to_micros(stamp) if stamp is not None else None)


# -- findings ---------------------------------------------------------------------------------
FINDING_COLUMNS = FINDINGS.schema.names


def existing_findings(
    lake: Lake, keys: Collection[str] | None, accounts: Collection[str] | None
) -> pl.DataFrame:
    """Findings rows of ``keys`` or ``accounts`` (None: every row)."""
    scan = lake.scan(FINDINGS.name)
    if keys is not None:
        wanted = pl.col("asset_key").is_in(list(keys))
        if accounts:
            wanted = wanted | pl.col("account_id").is_in(list(accounts))
        scan = scan.filter(wanted)
    return scan.collect()


def findings_table(findings: Iterable[Finding]) -> pa.Table:
    """Findings as Arrow rows of the findings table."""
    rows = list(findings)
    columns = {name: [getattr(f, name) for f in rows] for name in FINDING_COLUMNS}
    columns["frameworks"] = [list(f.frameworks) for f in rows]
    return pa.Table.from_pydict(columns, schema=FINDINGS.schema)


def write_findings(
    lake: Lake, upserts: pa.Table, delete_ids: Collection[str], marks: Watermarks
) -> None:
    """One commit: upsert changed findings, delete stale ones, record the watermarks."""
    table = lake.table(FINDINGS.name)
    props = CommitProperties(
        app_transactions=marks.transactions(),
        custom_metadata={"assetlake.operation": "rules"},
        max_commit_retries=MAX_COMMIT_RETRIES,
    )
    if upserts.num_rows == 0 and not delete_ids:
        write_deltalake(table, upserts, mode="append", commit_properties=props)
        return
    deletes = pa.Table.from_pydict(
        {"finding_id": list(delete_ids)}, schema=pa.schema([("finding_id", pa.string())])
    )
    source = pl.concat(
        [
            pl.from_arrow(upserts).with_columns(pl.lit(False).alias("_delete")),  # type: ignore[union-attr]
            pl.from_arrow(deletes).with_columns(pl.lit(True).alias("_delete")),  # type: ignore[union-attr]
        ],
        how="diagonal_relaxed",
    ).to_arrow()
    every = {c: f"s.{c}" for c in FINDING_COLUMNS}
    (
        table.merge(
            source.cast(pa.schema([*FINDINGS.schema, ("_delete", pa.bool_())])),
            predicate="t.finding_id = s.finding_id",
            source_alias="s",
            target_alias="t",
            commit_properties=props,
        )
        .when_matched_delete(predicate="s._delete")
        .when_matched_update(every, predicate="NOT s._delete")
        .when_not_matched_insert(every, predicate="NOT s._delete")
        .execute()
    )
