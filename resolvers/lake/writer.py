"""Committing a resolved batch to the lake, idempotently, so invariants 1-5 hold after it.

Commits, chosen so that a crash anywhere loses nothing and a re-run repairs it: raw_events,
asset_changes, unresolved_events and asset_observations (the log a chain is rebuilt from) side
by side, then the asset_versions row operations (the tail, see layout.py). Every append is
idempotent on the table's key, checked against in-process hash indexes so that a batch costs
what the batch is, not what the table is. Each commit carries the batch id in its metadata. A
caller that numbers its batches passes an application transaction (``app_id``, sequence), so
that a re-delivered batch is recognised without reading any rows: it is noted in a commit of its
own on raw_events after every other commit of the batch, so it is there only if they all are.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl
import pyarrow as pa

from resolvers.lake import layout, scd2
from resolvers.lake.append import Appender, CommitNote
from resolvers.lake.dedupe import deduplicate
from resolvers.lake.fold import FoldResult, fold
from resolvers.lake.indexes import CurrentState, KeyIndex
from resolvers.lake.rows import (
    asset_changes_table,
    observations_from_table,
    observations_table,
    raw_events_table,
    tail_rows,
    unresolved_table,
    versions_from_table,
)
from resolvers.lake.storage import Lake
from resolvers.lake.tables import (
    ASSET_CHANGES,
    ASSET_OBSERVATIONS,
    ASSET_VERSIONS,
    ASSET_VERSIONS_TAIL,
    RAW_EVENTS,
    UNRESOLVED_EVENTS,
    TableSpec,
)
from resolvers.model import Observation, ResolvedBatch
from resolvers.timeutil import utcnow

log = logging.getLogger(__name__)

# raw_events commit metadata: the sources of the records the commit lands, comma-separated
LANDED_SOURCES_KEY = "assetlake.sources"
FOLD_AT_TAIL_ROWS = 250_000


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
    folded: FoldResult | None = None


@dataclass(slots=True)
class VersionPlan:
    """What a batch does to asset_versions, as row operations for the tail."""

    puts: list[scd2.Version] = field(default_factory=list)
    patches: list[scd2.Version] = field(default_factory=list)
    deletes: list[tuple[str, dt.datetime]] = field(default_factory=list)
    rebuilt_keys: set[str] = field(default_factory=set)
    chains: dict[str, list[scd2.Version]] = field(default_factory=dict)
    new_observations: list[Observation] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Whether the plan changes no row."""
        return not (self.puts or self.patches or self.deletes)


class LakeWriter:
    """Commits resolved batches into one lake. Keep one per process and reuse it."""

    def __init__(
        self, lake: Lake, fold_at_tail_rows: int = FOLD_AT_TAIL_ROWS, run_id: str | None = None
    ) -> None:
        self.lake = lake
        self.run_id = run_id  # the Dagster run committing, written on the rows of records
        self.fold_at_tail_rows = fold_at_tail_rows
        self._indexes = {
            spec.name: KeyIndex(lake, spec)
            for spec in (RAW_EVENTS, ASSET_CHANGES, UNRESOLVED_EVENTS, ASSET_OBSERVATIONS)
        }
        self._appenders = {
            spec.name: Appender(lake, spec)
            for spec in (*(index.spec for index in self._indexes.values()), ASSET_VERSIONS_TAIL)
        }
        self.state = CurrentState(lake)
        self._tail_size: int | None = None
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="assetlake-commit")

    # -- entry points ---------------------------------------------------------------------
    def commit(
        self, batch: ResolvedBatch, batch_id: str, txn: StreamTxn | None = None
    ) -> CommitResult:
        """Commit one batch; a batch already committed (by rows or by txn) changes nothing."""
        self._refresh()
        if txn is not None and self._already_committed(txn):
            return CommitResult(batch_id=batch_id, skipped=True)
        now = utcnow()
        note = _commit_note(batch_id)
        plan = self.plan_versions(batch.observations)
        # The four appends are independent commits to four tables (each idempotent on its
        # keys), so they run side by side; the tail comes after the observation log, which a
        # concurrent writer's repair rebuilds chains from.
        run, lineage = self.run_id, batch.lineage
        appends = {
            RAW_EVENTS.name: (
                RAW_EVENTS,
                raw_events_table(batch.raw, batch_id, now, run, lineage),
            ),
            ASSET_CHANGES.name: (
                ASSET_CHANGES,
                asset_changes_table(batch.changes, batch_id, now, run, lineage),
            ),
            UNRESOLVED_EVENTS.name: (
                UNRESOLVED_EVENTS,
                unresolved_table(batch.unresolved, batch_id, now, run, lineage),
            ),
            ASSET_OBSERVATIONS.name: (
                ASSET_OBSERVATIONS,
                observations_table(plan.new_observations, now),
            ),
        }
        # raw_events' commits say which sources they land: a stream sensor then asks for no
        # drain run for a consumer that nothing was landed for (resolvers/landed_sources.py)
        landed = _commit_note(batch_id, sorted({r.source for r in batch.raw}))
        futures = {
            name: self._pool.submit(
                self._append_new, spec, rows, landed if spec is RAW_EVENTS else note
            )
            for name, (spec, rows) in appends.items()
        }
        written = {name: future.result() for name, future in futures.items()}
        raw, changes = written[RAW_EVENTS.name], written[ASSET_CHANGES.name]
        unresolved, logged = written[UNRESOLVED_EVENTS.name], written[ASSET_OBSERVATIONS.name]
        self._append_plan(plan, now, note)
        if txn is not None:
            self._note_txn(txn, batch_id)
        folded = self._maybe_fold()
        return CommitResult(
            batch_id=batch_id,
            raw_events=raw,
            asset_changes=changes,
            unresolved_events=unresolved,
            versions_written=len(plan.puts) + len(plan.patches),
            versions_deleted=len(plan.deletes),
            assets_touched=len(plan.chains),
            assets_rebuilt=len(plan.rebuilt_keys),
            observations=logged,
            folded=folded,
        )

    def fold(self) -> FoldResult:
        """Apply the tail to asset_versions now (asset_versions is then exact on its own)."""
        in_sync = self.state.in_sync()
        result = fold(self.lake)
        self._tail_size = 0
        if in_sync:  # folding changes the layout, not the content: the state stays valid
            self.state.rebase()
        return result

    def _refresh(self) -> None:
        """Learn of other writers' commits to every table, once a batch (the tail before the
        base: a fold running meanwhile then shows its operations twice, never not at all)."""
        for spec in (RAW_EVENTS, ASSET_CHANGES, UNRESOLVED_EVENTS, ASSET_OBSERVATIONS):
            self.lake.refresh(spec.name)
        self.lake.refresh(ASSET_VERSIONS_TAIL.name)
        self.lake.refresh(ASSET_VERSIONS.name)

    def _note_txn(self, txn: StreamTxn, batch_id: str) -> None:
        """Note the batch's application transaction in a commit of its own, after all others of
        the batch: a batch whose commits stopped half way is then not taken for done."""
        before = self.lake.head(RAW_EVENTS.name)
        note = _commit_note(batch_id, sources=(), txn=txn)  # it lands nothing
        self._appenders[RAW_EVENTS.name].append(RAW_EVENTS.schema.empty_table(), note)
        # no rows: the key index follows the new version instead of reloading at the next batch
        self._indexes[RAW_EVENTS.name].committed(None, before)

    def _already_committed(self, txn: StreamTxn) -> bool:
        done = self.lake.table(RAW_EVENTS.name, fresh=False).transaction_version(txn.app_id)
        return done is not None and done >= txn.sequence

    # -- idempotent appends ---------------------------------------------------------------
    def _append_new(self, spec: TableSpec, rows: pa.Table, note: CommitNote) -> int:
        """Append the rows whose key is not in the table yet; returns how many were written."""
        if rows.num_rows == 0:
            return 0
        index = self._indexes[spec.name]
        fresh = index.new_rows(rows)
        if fresh.rows.num_rows == 0:
            return 0
        before = self.lake.head(spec.name)
        self._appenders[spec.name].append(fresh.rows, note)
        if index.committed(fresh, before):
            return fresh.rows.num_rows
        # Another writer committed meanwhile: if it appended rows of the same keys (two
        # writers landing the same records at once; Delta appends never conflict), one copy of
        # each is kept.
        return fresh.rows.num_rows - deduplicate(self.lake, spec, fresh.keys)

    # -- asset_versions -------------------------------------------------------------------
    def plan_versions(self, observations: Sequence[Observation]) -> VersionPlan:
        """Decide what the observations change in the chains of the assets they touch."""
        by_key: dict[str, list[Observation]] = defaultdict(list)
        for obs in observations:
            by_key[obs.asset_key].append(obs)
        plan = VersionPlan()
        if not by_key:
            return plan
        self.state.sync()
        rebuild = []
        for key, batch in by_key.items():
            current = self.state.get(key)
            stub = current.as_version(key) if current else None
            if scd2.needs_rebuild(stub, batch):
                rebuild.append(key)
            else:
                _plan_extension(plan, key, stub, batch)
        if rebuild:
            self._plan_rebuilds(plan, sorted(rebuild), by_key)
        return plan

    def _plan_rebuilds(
        self, plan: VersionPlan, keys: list[str], by_key: dict[str, list[Observation]]
    ) -> None:
        chains, logged = self._chains(keys), self._logged_observations(keys)
        for key in keys:
            seen = {scd2.observation_key(obs) for obs in logged[key]}
            fresh = [o for o in _unique(by_key[key]) if scd2.observation_key(o) not in seen]
            chain = scd2.rebuild_chain([*logged[key], *fresh])
            diff = scd2.diff_chain(chains[key], chain)
            plan.puts.extend(diff.upserts)
            plan.deletes.extend((key, start) for start in diff.deletes)
            plan.chains[key] = chain
            plan.new_observations.extend(fresh)
            if diff.upserts or diff.deletes:
                plan.rebuilt_keys.add(key)

    def _chains(self, keys: Sequence[str]) -> dict[str, list[scd2.Version]]:
        wanted = pl.col("asset_key").is_in(pl.Series(keys, dtype=pl.String).implode())
        tail = self.lake.scan(ASSET_VERSIONS_TAIL.name, fresh=False).filter(wanted)
        base = self.lake.scan(ASSET_VERSIONS.name, fresh=False).filter(wanted)
        frame = layout.resolve(base, tail).sort(layout.KEY).collect()
        chains: dict[str, list[scd2.Version]] = {key: [] for key in keys}
        for version in versions_from_table(frame):
            chains[version.asset_key].append(version)
        return chains

    def _logged_observations(self, keys: Sequence[str]) -> dict[str, list[Observation]]:
        wanted = pl.col("asset_key").is_in(pl.Series(keys, dtype=pl.String).implode())
        frame = self.lake.scan(ASSET_OBSERVATIONS.name, fresh=False).filter(wanted).collect()
        logged: dict[str, list[Observation]] = {key: [] for key in keys}
        for obs in observations_from_table(frame):
            logged[obs.asset_key].append(obs)
        return logged

    def _append_plan(self, plan: VersionPlan, now: dt.datetime, note: CommitNote) -> None:
        if plan.empty:
            return
        before = self.state.table_versions()
        self._appenders[ASSET_VERSIONS_TAIL.name].append(
            tail_rows(plan.puts, plan.patches, plan.deletes, plan.rebuilt_keys, now), note
        )
        if self._tail_size is not None:
            self._tail_size += len(plan.puts) + len(plan.patches) + len(plan.deletes)
        if not self.state.apply(plan.chains, before):
            self._repair(sorted(plan.chains), note)

    def _repair(self, keys: list[str], note: CommitNote) -> None:
        """Another writer appended to the tail while this one did: both may have extended the
        same chains from the same state. Rebuilding those chains from the observation log (which
        every writer commits before its tail operations) writes whatever corrects them."""
        log.warning("concurrent asset_versions writer detected; re-checking %d assets", len(keys))
        self._refresh()
        plan = VersionPlan()
        self._plan_rebuilds(plan, keys, {key: [] for key in keys})
        self._append_plan(plan, utcnow(), note)

    def _maybe_fold(self) -> FoldResult | None:
        if self._tail_size is None:
            self._tail_size = self.lake.table(ASSET_VERSIONS_TAIL.name, fresh=False).count()
        if self._tail_size < self.fold_at_tail_rows:
            return None
        return self.fold()


def _plan_extension(
    plan: VersionPlan, key: str, stub: scd2.Version | None, batch: list[Observation]
) -> None:
    chain = scd2.extend_chain(stub, batch)
    if stub is not None and _chain_changed(stub, chain[0]):
        plan.patches.append(chain[0])
    plan.puts.extend(chain[1:] if stub is not None else chain)
    plan.chains[key] = chain
    plan.new_observations.extend(_unique(batch))


def _chain_changed(before: scd2.Version, after: scd2.Version) -> bool:
    """Whether extending a chain changed its first version (only its chain fields can change:
    a patch writes those, so comparing them is comparing the rows)."""
    return (
        before.version != after.version
        or before.valid_to != after.valid_to
        or before.is_current != after.is_current
        or before.last_observed_at != after.last_observed_at
    )


def _commit_note(
    batch_id: str, sources: Sequence[str] | None = None, txn: StreamTxn | None = None
) -> CommitNote:
    metadata = {"assetlake.batch_id": batch_id}
    if sources is not None:
        metadata[LANDED_SOURCES_KEY] = ",".join(sources)
    return CommitNote(metadata, (txn.app_id, txn.sequence) if txn else None)


def _unique(observations: Sequence[Observation]) -> Sequence[Observation]:
    if len(observations) < 2:  # nearly every asset of a batch: nothing to tell apart
        return observations
    return list({scd2.observation_key(obs): obs for obs in observations}.values())
