"""In-process indexes that let a long-lived writer commit a batch without reading the tables.

- :class:`KeyIndex` holds a 64-bit hash of every key of a table (8 bytes a row): a batch's rows
  are checked against it, and only hash hits (re-deliveries, or a collision) are verified by
  reading the table. Landing stays idempotent at a cost that follows the batch.
- :class:`CurrentState` holds the current version of every asset (its start, its last
  observation, its state and number): enough to extend a chain, which is all most batches do.

Both follow the Delta table versions they were built from; when another writer has committed
since, they are rebuilt from the tables on next use.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import polars as pl

from resolvers.lake import layout
from resolvers.lake.scd2 import Version
from resolvers.lake.storage import Lake
from resolvers.lake.tables import ASSET_VERSIONS, ASSET_VERSIONS_TAIL, TableSpec

MERGE_PENDING_AT = 65_536


def key_hashes(frame: pl.DataFrame, key: Iterable[str]) -> np.ndarray:
    """64-bit hashes of the key columns of each row (stable within one process)."""
    return frame.select(list(key)).hash_rows(seed=7).to_numpy()


class KeyIndex:
    """The keys already in one table, as sorted 64-bit hashes."""

    def __init__(self, lake: Lake, spec: TableSpec) -> None:
        self.lake = lake
        self.spec = spec
        self._sorted = np.empty(0, dtype=np.uint64)
        self._pending: set[int] = set()
        self._version: int | None = None

    def _sync(self) -> None:
        version = self.lake.table(self.spec.name, fresh=False).version()
        if version == self._version:
            return
        keys = self.lake.scan(self.spec.name, fresh=False).select(list(self.spec.key)).collect()
        self._sorted = np.unique(key_hashes(keys, self.spec.key))
        self._pending = set()
        self._version = version

    def _contains(self, hashes: np.ndarray) -> np.ndarray:
        hit = np.zeros(len(hashes), dtype=bool)
        if len(self._sorted):
            at = np.minimum(np.searchsorted(self._sorted, hashes), len(self._sorted) - 1)
            hit = self._sorted[at] == hashes
        if self._pending:
            hit |= np.fromiter((h in self._pending for h in hashes.tolist()), bool, len(hashes))
        return hit

    def new_rows(self, rows: pl.DataFrame) -> pl.DataFrame:
        """The rows whose key is not in the table yet (duplicates within ``rows`` dropped)."""
        rows = rows.unique(subset=list(self.spec.key), keep="first", maintain_order=True)
        if rows.is_empty():
            return rows
        self._sync()
        hits = self._contains(key_hashes(rows, self.spec.key))
        if not hits.any():
            return rows
        candidates = rows.filter(pl.Series(hits))
        first = self.spec.key[0]
        present = (
            self.lake.scan(self.spec.name, fresh=False)
            .select(list(self.spec.key))
            .filter(pl.col(first).is_in(candidates.get_column(first).unique().implode()))
            .collect()
        )
        return rows.join(present, on=list(self.spec.key), how="anti", nulls_equal=True)

    def committed(self, rows: pl.DataFrame, version_before: int | None) -> None:
        """Record rows this process just appended (one commit after ``version_before``)."""
        if self._version is None or version_before != self._version:
            self._version = None  # someone else committed in between: rebuild on next use
            return
        self._version = self.lake.table(self.spec.name, fresh=False).version()
        if self._version != version_before + 1:
            self._version = None  # another writer committed meanwhile: rebuild on next use
            return
        self._pending.update(key_hashes(rows, self.spec.key).tolist())
        if len(self._pending) >= MERGE_PENDING_AT:
            pending = np.fromiter(self._pending, dtype=np.uint64, count=len(self._pending))
            self._sorted = np.union1d(self._sorted, pending)
            self._pending = set()


@dataclass(frozen=True, slots=True)
class Current:
    """What the writer needs to know of an asset's current version."""

    valid_from: dt.datetime
    last_observed_at: dt.datetime
    is_deleted: bool
    config_hash: str
    version: int

    def as_version(self, asset_key: str) -> Version:
        """A Version carrying only the chain fields: changes to it are written as patches."""
        return Version(
            asset_key=asset_key,
            cloud="",
            account_id=None,
            region=None,
            resource_type="",
            name=None,
            tags="",
            config="",
            config_hash=self.config_hash,
            version=self.version,
            valid_from=self.valid_from,
            valid_to=None,
            is_current=True,
            is_deleted=self.is_deleted,
            changed_by=None,
            change_event_ids=(),
            change_source="",
            observed_at=self.valid_from,
            last_observed_at=self.last_observed_at,
        )


CURRENT_COLUMNS = [
    "asset_key",
    "valid_from",
    "last_observed_at",
    "is_deleted",
    "config_hash",
    "version",
]


class CurrentState:
    """The current version of every asset, following asset_versions and its tail."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._current: dict[str, Current] = {}
        self._versions: tuple[int, int] | None = None

    def table_versions(self) -> tuple[int, int]:
        """(asset_versions, asset_versions_tail) Delta versions now."""
        base = self.lake.table(ASSET_VERSIONS.name, fresh=False).version()
        return base, self.lake.table(ASSET_VERSIONS_TAIL.name, fresh=False).version()

    def sync(self) -> None:
        """Reload from the tables if anything but this writer committed since the last load."""
        versions = self.table_versions()
        if versions == self._versions:
            return
        tail = self.lake.scan(ASSET_VERSIONS_TAIL.name, fresh=False)
        base = self.lake.scan(ASSET_VERSIONS.name, fresh=False).filter(pl.col("is_current"))
        rows = layout.resolve(base, tail).filter(pl.col("is_current")).select(CURRENT_COLUMNS)
        frame = rows.collect()
        self._current = {
            key: Current(*values) for key, *values in frame.select(CURRENT_COLUMNS).iter_rows()
        }
        self._versions = versions

    def get(self, asset_key: str) -> Current | None:
        """The current version of one asset, or None if it has none."""
        return self._current.get(asset_key)

    def apply(self, chains: dict[str, list[Version]], versions_before: tuple[int, int]) -> bool:
        """Record the chain ends this writer committed (one tail commit after ``before``).

        Returns False when another writer committed to the tail meanwhile: the state is then
        dropped (reloaded on next use) and the caller must re-check the chains it touched.
        """
        base, tail = versions_before
        if versions_before != self._versions or self.table_versions() != (base, tail + 1):
            self._versions = None
            return False
        for key, chain in chains.items():
            last = chain[-1] if chain else None
            if last is None:
                self._current.pop(key, None)
                continue
            self._current[key] = Current(
                last.valid_from,
                last.last_observed_at,
                last.is_deleted,
                last.config_hash,
                last.version,
            )
        self._versions = self.table_versions()
        return True

    def invalidate(self) -> None:
        """Forget everything: reload on next use."""
        self._versions = None

    def __len__(self) -> int:
        return len(self._current)
