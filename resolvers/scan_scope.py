"""Merging a full scan into history, for any cloud: scoped deletions and the drift report.

A scan lists every asset of some *scopes* (an AWS account x region x types, a GCP project x
types) as of one instant, its *read time*. :class:`ScanMerge` turns what it listed into
observations at that instant (``change_source='scan'``) and, when the whole scan has finished,
into deletions, under these rules:

- An asset the scan saw is an observation at the read time. The SCD2 engine makes it a create
  version (new), an update version (changed) or nothing (unchanged); a state a stream recorded
  after the read time stays the current one (the chain is ordered by time, not by arrival).
- An asset current in the lake but missing from a *completed* scope gets a deleted observation
  at the read time, unless something observed it at or after the read time (a stream raced the
  scan). A failed or denied scope never deletes anything, and deletions are planned only in
  :meth:`ScanMerge.finish`: a scan killed halfway deletes nothing (the next one completes it).
- New, changed and deleted assets are the streams' misses: counted per scope and type into
  ``scan_reports``, and attributed to a change event of ``asset_changes`` between the last
  observation and the read time when one exists (else ``changed_by`` stays NULL).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import orjson
import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, write_deltalake

from resolvers.lake.layout import read_table
from resolvers.lake.storage import Lake
from resolvers.lake.tables import ASSET_CHANGES, ASSET_VERSIONS, SCAN_REPORTS
from resolvers.lake.writer import LakeWriter
from resolvers.model import Observation, ResolvedBatch
from resolvers.observe import observation
from resolvers.timeutil import utcnow

COMPLETE, DENIED, FAILED = "complete", "denied", "failed"
ALL_TYPES = "*"
COMMIT_EVERY = 5000
STATE_COLUMNS = (
    "asset_key", "account_id", "region", "resource_type", "name", "tags", "config_hash",
    "is_deleted", "is_current", "valid_from", "valid_to", "last_observed_at",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Scope:
    """What one listing covers: an account (under its lake account ids), a region, types."""

    cloud: str
    account_id: str  # as the report names it (the project or account asked for)
    label: str  # how the API names it: ``projects/P``, ``123456789012/us-east-1``
    aliases: frozenset[str] = frozenset()  # other account ids its assets have in the lake
    region: str | None = None  # None: every region
    resource_types: tuple[str, ...] | None = None  # None: every type
    deletes: bool = True  # whether a completed listing may delete what it did not see

    def covers(self, account_id: str | None, region: str | None, resource_type: str) -> bool:
        """Whether a lake asset with these attributes lies inside the scope."""
        if account_id != self.account_id and account_id not in self.aliases:
            return False
        if self.region is not None and region != self.region:
            return False
        return self.resource_types is None or resource_type in self.resource_types


@dataclass(frozen=True, slots=True)
class DriftRow:
    """One row of scan_reports: what one scan found in one scope for one type."""

    scan_id: str
    cloud: str
    scope: str
    account_id: str
    region: str | None
    resource_type: str
    status: str  # complete | denied | failed
    error: str | None
    read_time: dt.datetime
    scanned_assets: int = 0
    new_assets: int = 0
    changed_assets: int = 0
    deleted_assets: int = 0
    unchanged_assets: int = 0
    scope_api_calls: int = 0

    @property
    def missed_rate(self) -> float | None:
        """The share of the scope's assets whose change the streams missed."""
        seen = self.scanned_assets + self.deleted_assets
        missed = self.new_assets + self.changed_assets + self.deleted_assets
        return missed / seen if seen else None


@dataclass(slots=True)
class ScanReport:
    """What one scan did: its drift rows, and what it committed."""

    scan_id: str
    cloud: str
    read_time: dt.datetime
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    rows: list[DriftRow] = field(default_factory=list)
    observations: int = 0
    versions_written: int = 0

    def total(self, name: str) -> int:
        """Sum of one DriftRow counter over the rows."""
        return sum(getattr(row, name) for row in self.rows)

    @property
    def failed_scopes(self) -> list[str]:
        """The scopes that failed or were denied (nothing was deleted in them)."""
        return sorted({row.scope for row in self.rows if row.status != COMPLETE})

    @property
    def api_calls(self) -> int:
        """API calls over every scope, retries included."""
        return sum({row.scope: row.scope_api_calls for row in self.rows}.values())


@dataclass(slots=True)
class _Listed:
    scope: Scope
    observations: list[Observation]
    api_calls: int
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (type, outcome)


class ScanMerge:
    """Merges one scan into the lake: feed it scopes as they finish, then call :meth:`finish`."""

    def __init__(
        self, lake: Lake, *, cloud: str, scan_id: str, read_time: dt.datetime,
        commit_every: int = COMMIT_EVERY, writer: LakeWriter | None = None,
    ) -> None:  # fmt: skip
        lake.create()  # adds tables the lake may not have yet (scan_reports), replaces nothing
        self.lake, self.cloud, self.scan_id, self.read_time = lake, cloud, scan_id, read_time
        self.commit_every = commit_every
        self.writer = writer or LakeWriter(lake)
        self.report = ScanReport(scan_id, cloud, read_time, started_at=utcnow())
        self._pending: list[_Listed] = []
        self._completed: list[_Listed] = []
        self._failed: list[tuple[Scope, str, str, int]] = []
        self._seen: set[str] = set()
        self._commits = 0

    def complete(self, scope: Scope, observations: Sequence[Observation], api_calls: int) -> None:
        """A scope listed to the end: its observations (all at the read time) are merged."""
        listed = _Listed(scope, list(observations), api_calls)
        self._seen.update(obs.asset_key for obs in listed.observations)
        self._pending.append(listed)
        self._completed.append(listed)
        if sum(len(item.observations) for item in self._pending) >= self.commit_every:
            self._flush([])

    def failed(self, scope: Scope, status: str, error: str, api_calls: int) -> None:
        """A scope that was denied or failed: reported, and nothing in it is deleted."""
        self._failed.append((scope, status, error, api_calls))

    def finish(self) -> ScanReport:
        """Deletions inside the completed scopes, the last commit, and the scan_reports rows."""
        self._flush(self._deletable())
        self.report.rows = [*self._complete_rows(), *self._failed_rows()]
        self.report.finished_at = utcnow()
        write_report(self.lake, self.report)
        return self.report

    # -- planning -------------------------------------------------------------------------
    def _flush(self, deletable: Sequence[Scope]) -> None:
        """Classify and commit the pending observations, with deletions in ``deletable``."""
        pending, self._pending = self._pending, []
        keys = [obs.asset_key for item in pending for obs in item.observations]
        if not keys and not deletable:
            return
        accounts = {a for scope in deletable for a in (scope.account_id, *scope.aliases)}
        rows = self._lake_rows(accounts, keys)
        as_of = {row["asset_key"]: row for row in rows.filter(pl.col("_valid_at")).to_dicts()}
        batch = [obs for item in pending for obs in self._classify(item, as_of)]
        current = rows.filter(pl.col("is_current") & ~pl.col("is_deleted"))
        batch.extend(self._deletions(current, deletable))
        self._commit(self._attributed(batch, as_of))

    def _classify(self, listed: _Listed, as_of: dict[str, dict]) -> list[Observation]:
        for obs in listed.observations:
            before = as_of.get(obs.asset_key)
            if before is None or before["is_deleted"]:
                outcome = "new"
            elif before["config_hash"] != obs.config_hash:
                outcome = "changed"
            else:
                outcome = "unchanged"
            listed.counts[(obs.resource_type, outcome)] += 1
        return listed.observations

    def _deletable(self) -> list[Scope]:
        return [item.scope for item in self._completed if item.scope.deletes]

    def _deletions(self, current: pl.DataFrame, deletable: Sequence[Scope]) -> list[Observation]:
        """Deleted observations for current assets of completed scopes the scan did not see."""
        missing = current.filter(
            ~pl.col("asset_key").is_in(_strings(self._seen))
            & (pl.col("last_observed_at") < self.read_time)
        )
        by_scope = {item.scope: item for item in self._completed}
        deletions = []
        for row in missing.to_dicts():
            scope = next(
                (s for s in deletable
                 if s.covers(row["account_id"], row["region"], row["resource_type"])),
                None,
            )  # fmt: skip
            if scope is None:
                continue
            by_scope[scope].counts[(row["resource_type"], "deleted")] += 1
            deletions.append(self._deleted(row))
        return deletions

    def _deleted(self, row: dict) -> Observation:
        """The deletion of a lake asset at the read time (empty config, as streams record it)."""
        return observation(
            asset_key=row["asset_key"], cloud=self.cloud, resource_type=row["resource_type"],
            config={}, event_time=self.read_time, event_ids=(), salt=self.lake.salt,
            account_id=row["account_id"], region=row["region"], name=row["name"],
            tags=_json_object(row["tags"]), is_deleted=True, change_source="scan",
        )  # fmt: skip

    def _lake_rows(self, accounts: set[str], keys: list[str]) -> pl.DataFrame:
        """Versions valid at the read time, and current ones, of these accounts or keys."""
        valid_at = (pl.col("valid_from") <= self.read_time) & (
            pl.col("valid_to").is_null() | (pl.col("valid_to") > self.read_time)
        )
        wanted = pl.col("account_id").is_in(_strings(accounts)) | pl.col("asset_key").is_in(
            _strings(keys)
        )
        return (
            read_table(self.lake, ASSET_VERSIONS.name)
            .filter((pl.col("cloud") == self.cloud) & wanted & (valid_at | pl.col("is_current")))
            .select(*STATE_COLUMNS, valid_at.alias("_valid_at"))
            .collect()
        )

    # -- attribution and commits ----------------------------------------------------------
    def _attributed(self, batch: list[Observation], as_of: dict[str, dict]) -> list[Observation]:
        """Observations that differ from the lake, attributed to a change event in between."""
        drift = {
            obs.asset_key: obs for obs in batch
            if (before := as_of.get(obs.asset_key)) is None or before["config_hash"]
            != obs.config_hash or before["is_deleted"] != obs.is_deleted
        }  # fmt: skip
        if not drift:
            return batch
        since = {key: (as_of.get(key) or {}).get("last_observed_at") for key in drift}
        events = latest_change_events(self.lake, self.cloud, since, self.read_time)
        for key, (event_id, action, principal) in events.items():
            obs = drift[key]
            if (action == "delete") == obs.is_deleted:
                drift[key] = dataclasses.replace(obs, event_ids=(event_id,), principal=principal)
        return [drift.get(obs.asset_key, obs) for obs in batch]

    def _commit(self, batch: list[Observation]) -> None:
        if not batch:
            return
        result = self.writer.commit(
            ResolvedBatch(observations=batch), f"{self.scan_id}/{self._commits}"
        )
        self._commits += 1
        self.report.observations += result.observations
        self.report.versions_written += result.versions_written

    # -- report rows ----------------------------------------------------------------------
    def _complete_rows(self) -> Iterable[DriftRow]:
        for item in self._completed:
            types = sorted(
                set(item.scope.resource_types or ()) | {kind for kind, _ in item.counts}
            ) or [ALL_TYPES]
            for kind in types:
                yield self._row(item.scope, kind, COMPLETE, None, item.api_calls, item.counts)

    def _failed_rows(self) -> Iterable[DriftRow]:
        for scope, status, error, api_calls in self._failed:
            for kind in scope.resource_types or (ALL_TYPES,):
                yield self._row(scope, kind, status, error, api_calls, Counter())

    def _row(
        self, scope: Scope, kind: str, status: str, error: str | None, api_calls: int,
        counts: Counter[tuple[str, str]],
    ) -> DriftRow:  # fmt: skip
        new, changed = counts[(kind, "new")], counts[(kind, "changed")]
        unchanged = counts[(kind, "unchanged")]
        return DriftRow(
            scan_id=self.scan_id, cloud=self.cloud, scope=scope.label,
            account_id=scope.account_id, region=scope.region, resource_type=kind, status=status,
            error=error, read_time=self.read_time, scanned_assets=new + changed + unchanged,
            new_assets=new, changed_assets=changed, deleted_assets=counts[(kind, "deleted")],
            unchanged_assets=unchanged, scope_api_calls=api_calls,
        )  # fmt: skip


def latest_change_events(
    lake: Lake, cloud: str, since: dict[str, dt.datetime | None], until: dt.datetime
) -> dict[str, tuple[str, str, str | None]]:
    """Per asset, the latest change event with a principal after ``since[key]`` and at or
    before ``until``: ``(event_id, action, principal)``. Events a version already holds come
    before ``since`` (its last observation), so they are never picked again."""
    frame = (
        read_table(lake, ASSET_CHANGES.name)
        .filter(
            (pl.col("cloud") == cloud)
            & pl.col("asset_key").is_in(_strings(since))
            & (pl.col("event_time") <= until)
            & pl.col("principal").is_not_null()
        )
        .select("asset_key", "event_id", "action", "principal", "event_time")
        .sort("event_time", "event_id")
        .collect()
    )
    latest: dict[str, tuple[str, str, str | None]] = {}
    for row in frame.to_dicts():
        start = since.get(row["asset_key"])
        if start is None or row["event_time"] > start:
            latest[row["asset_key"]] = (row["event_id"], row["action"], row["principal"])
    return latest


def write_report(lake: Lake, report: ScanReport) -> int:
    """Append the report's rows to scan_reports (rows of this scan already there are kept)."""
    if not report.rows:
        return 0
    done = (
        lake.scan(SCAN_REPORTS.name)
        .filter(pl.col("scan_id") == report.scan_id)
        .select("scope", "resource_type")
        .collect()
    )
    landed = set(done.iter_rows())
    rows = [row for row in report.rows if (row.scope, row.resource_type) not in landed]
    if not rows:
        return 0
    write_deltalake(
        lake.table(SCAN_REPORTS.name, fresh=False),
        scan_reports_table(rows, report),
        mode="append",
        commit_properties=CommitProperties(custom_metadata={"assetlake.batch_id": report.scan_id}),
        storage_options=lake.storage_options,
    )
    return len(rows)


def scan_reports_table(rows: Sequence[DriftRow], report: ScanReport) -> pa.Table:
    """Arrow rows of scan_reports."""
    names = [f.name for f in dataclasses.fields(DriftRow)]
    columns: dict[str, list] = {name: [getattr(row, name) for row in rows] for name in names}
    columns["missed_rate"] = [row.missed_rate for row in rows]
    columns["started_at"] = [report.started_at] * len(rows)
    columns["finished_at"] = [report.finished_at] * len(rows)
    columns["recorded_at"] = [utcnow()] * len(rows)
    return pa.Table.from_pydict(
        {name: columns[name] for name in SCAN_REPORTS.schema.names}, schema=SCAN_REPORTS.schema
    )


def _strings(values: Iterable[str]) -> pl.Expr:
    """A list literal for ``is_in`` (one element: the whole list)."""
    return pl.lit(pl.Series(list(values), dtype=pl.String).implode())


def _json_object(text: str | None) -> dict:
    value = orjson.loads(text) if text else {}
    return value if isinstance(value, dict) else {}
