"""Committing a resolved batch to the lake, idempotently, so invariants 1-5 hold after it.

Order of commits, chosen so that a crash anywhere leaves nothing lost and a re-run repairs it:
raw_events (landing), asset_changes, unresolved_events, asset_versions, asset_observations.
Every append is idempotent on the table's key (rows already present are not written again), and
each commit carries the batch id in its metadata and, for streams, an application transaction
(``app_id``, sequence) so that a re-delivered batch is recognised without reading any rows.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError

from resolvers.lake import scd2
from resolvers.lake.storage import Lake
from resolvers.lake.tables import (
    ASSET_CHANGES,
    ASSET_OBSERVATIONS,
    ASSET_VERSIONS,
    RAW_EVENTS,
    UNRESOLVED_EVENTS,
    TableSpec,
    asset_changes_table,
    observations_from_table,
    observations_table,
    raw_events_table,
    unresolved_table,
    versions_from_table,
    versions_table,
)
from resolvers.model import Observation, ResolvedBatch
from resolvers.timeutil import utcnow

log = logging.getLogger(__name__)

MAX_COMMIT_ATTEMPTS = 8
VERSION_COLUMNS = ASSET_VERSIONS.schema.names
MERGE_PREDICATE = "t.asset_key = s.asset_key AND t.valid_from = s.valid_from"


@dataclass(frozen=True, slots=True)
class StreamTxn:
    """An application transaction: stream ``app_id`` has committed batches up to ``sequence``."""

    app_id: str
    sequence: int


@dataclass(frozen=True, slots=True)
class CommitResult:
    """What one batch commit wrote."""

    batch_id: str
    skipped: bool = False
    raw_events: int = 0
    asset_changes: int = 0
    unresolved_events: int = 0
    versions_written: int = 0
    versions_deleted: int = 0
    assets_touched: int = 0
    assets_rebuilt: int = 0
    observations: int = 0


@dataclass(frozen=True, slots=True)
class VersionPlan:
    """The asset_versions rows a batch writes and removes, and the observations to log."""

    upserts: list[scd2.Version]
    deletes: list[tuple[str, dt.datetime]]
    new_observations: list[Observation]
    assets_touched: int
    assets_rebuilt: int
    only_current_rows: bool  # every row the plan changes is a current version


class LakeWriter:
    """Commits resolved batches into one lake."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    # -- entry point ----------------------------------------------------------------------
    def commit(
        self, batch: ResolvedBatch, batch_id: str, txn: StreamTxn | None = None
    ) -> CommitResult:
        """Commit one batch; a batch already committed (by rows or by txn) changes nothing."""
        if txn is not None and self._already_committed(txn):
            return CommitResult(batch_id=batch_id, skipped=True)
        now = utcnow()
        props = self._commit_properties(batch_id, txn)
        raw = self._append_new(RAW_EVENTS, raw_events_table(batch.raw, batch_id, now), props)
        changes = self._append_new(
            ASSET_CHANGES, asset_changes_table(batch.changes, batch_id, now), props
        )
        unresolved = self._append_new(
            UNRESOLVED_EVENTS, unresolved_table(batch.unresolved, batch_id, now), props
        )
        plan = self._commit_versions(batch.observations, props)
        logged = self._append_new(
            ASSET_OBSERVATIONS, observations_table(plan.new_observations, now), props
        )
        return CommitResult(
            batch_id=batch_id,
            raw_events=raw,
            asset_changes=changes,
            unresolved_events=unresolved,
            versions_written=len(plan.upserts),
            versions_deleted=len(plan.deletes),
            assets_touched=plan.assets_touched,
            assets_rebuilt=plan.assets_rebuilt,
            observations=logged,
        )

    def _already_committed(self, txn: StreamTxn) -> bool:
        done = self.lake.table(ASSET_OBSERVATIONS.name).transaction_version(txn.app_id)
        return done is not None and done >= txn.sequence

    @staticmethod
    def _commit_properties(batch_id: str, txn: StreamTxn | None) -> CommitProperties:
        transactions = [Transaction(txn.app_id, txn.sequence)] if txn else None
        return CommitProperties(
            custom_metadata={"assetlake.batch_id": batch_id},
            app_transactions=transactions,
            max_commit_retries=MAX_COMMIT_ATTEMPTS,
        )

    # -- idempotent appends ---------------------------------------------------------------
    def _append_new(self, spec: TableSpec, rows: pa.Table, props: CommitProperties) -> int:
        """Append the rows whose key is not in the table yet; returns how many were written."""
        rows = _unique_by_key(rows, spec.key)
        if rows.num_rows == 0:
            return 0
        rows = self._drop_existing(spec, rows)
        if rows.num_rows == 0:
            return 0
        write_deltalake(
            self.lake.table(spec.name),
            rows,
            mode="append",
            commit_properties=props,
            storage_options=self.lake.storage_options,
        )
        return rows.num_rows

    def _drop_existing(self, spec: TableSpec, rows: pa.Table) -> pa.Table:
        first = spec.key[0]
        wanted = pl.Series(pc.unique(rows.column(first)).to_pylist(), dtype=pl.String)
        scan = self.lake.scan(spec.name).select(spec.key).filter(pl.col(first).is_in(wanted))
        existing = scan.collect().to_arrow()
        if existing.num_rows == 0:
            return rows
        present = set(_key_tuples(existing, spec.key))
        keep = [key not in present for key in _key_tuples(rows, spec.key)]
        return rows.filter(pa.array(keep, type=pa.bool_()))

    # -- asset_versions -------------------------------------------------------------------
    def _commit_versions(
        self, observations: Sequence[Observation], props: CommitProperties
    ) -> VersionPlan:
        for attempt in range(1, MAX_COMMIT_ATTEMPTS + 1):
            plan = self.plan_versions(observations)
            try:
                self._merge_versions(plan, props)
                return plan
            except CommitFailedError:
                if attempt == MAX_COMMIT_ATTEMPTS:
                    raise
                log.warning("asset_versions commit conflict; replanning (attempt %d)", attempt)
                time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    def plan_versions(self, observations: Sequence[Observation]) -> VersionPlan:
        """Decide, from the table as it is now, what the observations change in the chains."""
        by_key: dict[str, list[Observation]] = defaultdict(list)
        for obs in observations:
            by_key[obs.asset_key].append(obs)
        if not by_key:
            return VersionPlan([], [], [], 0, 0, True)
        current = self._current_versions(by_key)
        rebuild = sorted(k for k, obs in by_key.items() if scd2.needs_rebuild(current.get(k), obs))
        upserts: list[scd2.Version] = []
        deletes: list[tuple[str, dt.datetime]] = []
        new_observations: list[Observation] = []
        for key in by_key.keys() - set(rebuild):
            old = [current[key]] if key in current else []
            plan = scd2.diff_chain(old, scd2.extend_chain(current.get(key), by_key[key]))
            upserts.extend(plan.upserts)
            new_observations.extend(_unique_observations(by_key[key]))
        if rebuild:
            chains, logged = self._chains(rebuild), self._logged_observations(rebuild)
            for key in rebuild:
                seen = {scd2.observation_key(obs) for obs in logged[key]}
                fresh = [o for o in _unique_observations(by_key[key]) if scd2.observation_key(o) not in seen]
                plan = scd2.diff_chain(chains[key], scd2.rebuild_chain([*logged[key], *fresh]))
                upserts.extend(plan.upserts)
                deletes.extend((key, start) for start in plan.deletes)
                new_observations.extend(fresh)
        return VersionPlan(
            upserts=upserts,
            deletes=deletes,
            new_observations=new_observations,
            assets_touched=len(by_key),
            assets_rebuilt=len(rebuild),
            only_current_rows=not rebuild,
        )

    def _read_versions(self, keys: Iterable[str], current_only: bool) -> list[scd2.Version]:
        condition = pl.col("asset_key").is_in(pl.Series(sorted(keys), dtype=pl.String))
        if current_only:
            condition = pl.col("is_current") & condition
        return versions_from_table(self.lake.scan(ASSET_VERSIONS.name).filter(condition).collect())

    def _current_versions(self, keys: Iterable[str]) -> dict[str, scd2.Version]:
        return {v.asset_key: v for v in self._read_versions(keys, current_only=True)}

    def _chains(self, keys: Sequence[str]) -> dict[str, list[scd2.Version]]:
        chains: dict[str, list[scd2.Version]] = {key: [] for key in keys}
        for version in self._read_versions(keys, current_only=False):
            chains[version.asset_key].append(version)
        return chains

    def _logged_observations(self, keys: Sequence[str]) -> dict[str, list[Observation]]:
        condition = pl.col("asset_key").is_in(pl.Series(keys, dtype=pl.String))
        scan = self.lake.scan(ASSET_OBSERVATIONS.name).filter(condition)
        logged: dict[str, list[Observation]] = {key: [] for key in keys}
        for obs in observations_from_table(scan.collect()):
            logged[obs.asset_key].append(obs)
        return logged

    def _merge_versions(self, plan: VersionPlan, props: CommitProperties) -> None:
        if not plan.upserts and not plan.deletes:
            return
        source = _merge_source(plan)
        predicate = MERGE_PREDICATE
        if plan.only_current_rows:
            predicate += " AND t.is_current = true"  # literal partition filter: prunes history
        updates = {name: f"s.{name}" for name in VERSION_COLUMNS}
        (
            self.lake.table(ASSET_VERSIONS.name)
            .merge(
                source,
                predicate=predicate,
                source_alias="s",
                target_alias="t",
                streamed_exec=False,
                commit_properties=props,
            )
            .when_matched_delete(predicate="s._op = 'delete'")
            .when_matched_update(updates, predicate="s._op = 'upsert'")
            .when_not_matched_insert(updates, predicate="s._op = 'upsert'")
            .execute()
        )


def _merge_source(plan: VersionPlan) -> pa.Table:
    now = utcnow()
    upserts = versions_table(plan.upserts, now)
    upserts = upserts.append_column("_op", pa.array(["upsert"] * upserts.num_rows, pa.string()))
    if not plan.deletes:
        return upserts
    columns = {name: pa.nulls(len(plan.deletes), upserts.schema.field(name).type) for name in VERSION_COLUMNS}
    columns["asset_key"] = pa.array([key for key, _ in plan.deletes], pa.string())
    columns["valid_from"] = pa.array([start for _, start in plan.deletes], upserts.schema.field("valid_from").type)
    columns["_op"] = pa.array(["delete"] * len(plan.deletes), pa.string())
    deletes = pa.Table.from_pydict(columns, schema=upserts.schema)
    return pa.concat_tables([upserts, deletes])


def _unique_observations(observations: Iterable[Observation]) -> list[Observation]:
    return list({scd2.observation_key(obs): obs for obs in observations}.values())


def _key_tuples(table: pa.Table, key: Sequence[str]) -> list[tuple]:
    columns = [table.column(name).to_pylist() for name in key]
    return [tuple(tuple(v) if isinstance(v, list) else v for v in values) for values in zip(*columns)]


def _unique_by_key(rows: pa.Table, key: Sequence[str]) -> pa.Table:
    if rows.num_rows < 2:
        return rows
    seen: set[tuple] = set()
    keep: list[bool] = []
    for value in _key_tuples(rows, key):
        keep.append(value not in seen)
        seen.add(value)
    return rows if all(keep) else rows.filter(pa.array(keep, type=pa.bool_()))
