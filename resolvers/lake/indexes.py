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
from typing import Any, NamedTuple

import numpy as np
import numpy.ma  # imported up front: see the note below
import polars as pl
import pyarrow as pa

from resolvers.lake import layout
from resolvers.lake.scd2 import Version
from resolvers.lake.storage import Lake
from resolvers.lake.tables import ASSET_VERSIONS, ASSET_VERSIONS_TAIL, TableSpec

MERGE_PENDING_AT = 65_536

# ``np.unique`` reaches for ``np.ma``, which numpy imports lazily from its module ``__getattr__``.
# The writer calls it from its commit threads, and two threads doing that first import together
# can recurse until RecursionError: CPython marks ``numpy.ma`` loaded a moment before it binds it
# as ``numpy.ma``, and in that gap ``import numpy.ma as ma`` finds the module but not the
# attribute, and calls ``__getattr__`` again. A CI run failed on it; importing it here, once, on
# the importing thread, closes the gap.


def key_hashes(frame: pl.DataFrame, key: Iterable[str]) -> np.ndarray:
    """64-bit hashes of the key columns of each row (stable within one process)."""
    return frame.select(list(key)).hash_rows(seed=7).to_numpy()


class _Hashes:
    """The key hashes of one partition: a sorted array plus what was added since."""

    def __init__(self, hashes: np.ndarray) -> None:
        self.sorted = np.unique(hashes)
        self.pending: set[int] = set()

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        hit = np.zeros(len(hashes), dtype=bool)
        if len(self.sorted):
            at = np.minimum(np.searchsorted(self.sorted, hashes), len(self.sorted) - 1)
            hit = self.sorted[at] == hashes
        if self.pending:
            hit |= np.fromiter((h in self.pending for h in hashes.tolist()), bool, len(hashes))
        return hit

    def add(self, hashes: np.ndarray) -> None:
        self.pending.update(hashes.tolist())
        if len(self.pending) >= MERGE_PENDING_AT:
            added = np.fromiter(self.pending, dtype=np.uint64, count=len(self.pending))
            self.sorted = np.union1d(self.sorted, added)
            self.pending = set()


class KeyIndex:
    """The keys already in one table, as sorted 64-bit hashes, loaded partition by partition
    (a table partitioned by event day: a batch of today's events loads today's keys only)."""

    def __init__(self, lake: Lake, spec: TableSpec) -> None:
        self.lake = lake
        self.spec = spec
        self.partition = spec.partition_by[0] if spec.partition_by else None
        self._parts: dict[Any, _Hashes] = {}
        self._version: int | None = None

    def _sync(self) -> None:
        version = self.lake.head(self.spec.name)
        if version != self._version:
            self._parts.clear()
            self._version = version

    def _where(self, value: Any) -> pl.Expr:
        if self.partition is None:
            return pl.lit(True)
        column = pl.col(self.partition)
        return column.is_null() if value is None else column == value

    def _part(self, value: Any) -> _Hashes:
        part = self._parts.get(value)
        if part is None:
            scan = self.lake.scan(self.spec.name, fresh=False).filter(self._where(value))
            keys = scan.select(list(self.spec.key)).collect()
            part = self._parts[value] = _Hashes(key_hashes(keys, self.spec.key))
        return part

    def _groups(self, rows: pl.DataFrame) -> list[tuple[Any, pl.Series]]:
        """(partition value, row mask) for each partition the rows fall in."""
        if self.partition is None:
            return [(None, pl.Series([True] * rows.height))]
        column = rows.get_column(self.partition)
        values = column.unique().to_list()
        return [
            (v, column.is_null() if v is None else (column == v).fill_null(False)) for v in values
        ]

    def new_rows(self, rows: pa.Table) -> Fresh:
        """The rows whose key is not in the table yet (duplicates within ``rows`` dropped),
        as given: only their key and partition columns are read."""
        key = list(self.spec.key)
        keys = pl.DataFrame(pl.from_arrow(rows.select([*key, *self._partition_column(key)])))
        first = keys.select(pl.struct(key).is_first_distinct()).to_series()
        if not first.all():
            rows, keys = rows.filter(first.to_arrow()), keys.filter(first)
        if rows.num_rows == 0:
            return Fresh(rows, keys, np.empty(0, dtype=np.uint64))
        self._sync()
        hashes = key_hashes(keys, key)
        hits = np.zeros(rows.num_rows, dtype=bool)
        for value, mask in self._groups(keys):
            selected = mask.to_numpy()
            hits[selected] = self._part(value).contains(hashes[selected])
        if not hits.any():
            return Fresh(rows, keys, hashes)
        present = self._present(keys.filter(pl.Series(hits)))
        there = (
            keys.select(key)
            .with_row_index("_row")
            .join(present, on=key, how="semi", nulls_equal=True)
        )
        absent = np.ones(rows.num_rows, dtype=bool)
        absent[there.get_column("_row").to_numpy()] = False
        return Fresh(rows.filter(absent), keys.filter(pl.Series(absent)), hashes[absent])

    def _partition_column(self, key: list[str]) -> list[str]:
        return [self.partition] if self.partition and self.partition not in key else []

    def _present(self, candidates: pl.DataFrame) -> pl.DataFrame:
        """The candidates' keys as they are in the table (a hash hit is verified exactly)."""
        first = self.spec.key[0]
        wanted = pl.col(first).is_in(candidates.get_column(first).unique().implode())
        if self.partition is not None:  # read only the candidates' day partitions
            days = [self._where(value) for value, _ in self._groups(candidates)]
            wanted = wanted & pl.any_horizontal(days)
        scan = self.lake.scan(self.spec.name, fresh=False).filter(wanted)
        return scan.select(list(self.spec.key)).collect()

    def committed(self, fresh: Fresh | None, version_before: int | None) -> bool:
        """Record rows this process just appended (one commit after ``version_before``;
        ``fresh`` None: a commit of no rows).

        False when another writer committed between this index's view and the append (the
        index is then reloaded on next use, and the caller checks for rows both appended).
        """
        version = self.lake.head(self.spec.name)
        if version_before != self._version:
            self._version = None
            return False
        if self._version is None or version_before is None or version != version_before + 1:
            self._version = None  # someone else committed meanwhile: reload on next use
            return False
        self._version = version
        if fresh is None:
            return True
        for value, mask in self._groups(fresh.keys):
            part = self._parts.get(value)
            if part is not None:  # a partition not loaded yet will read these rows from the table
                part.add(fresh.hashes[mask.to_numpy()])
        return True


class Fresh(NamedTuple):
    """The rows of a batch whose key a table does not hold yet."""

    rows: pa.Table  # as given, the others left out
    keys: pl.DataFrame  # their key and partition columns
    hashes: np.ndarray  # their key hashes (key_hashes)


class Current(NamedTuple):
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
        # asset key -> the fields of its Current as a plain tuple: a tuple of plain values is
        # one the garbage collector stops tracking once it has seen it, and a writer holds one
        # per live asset (a million on a large estate; as Current objects, every full
        # collection walked them all: 0.07 s a collection at 100,000)
        self._current: dict[str, tuple[Any, ...]] = {}
        self._versions: tuple[int, int] | None = None

    def table_versions(self) -> tuple[int, int]:
        """(asset_versions, asset_versions_tail) Delta versions now."""
        return self.lake.head(ASSET_VERSIONS.name), self.lake.head(ASSET_VERSIONS_TAIL.name)

    def sync(self) -> None:
        """Reload from the tables if anything but this writer committed since the last load."""
        versions = self.table_versions()
        if versions == self._versions:
            return
        tail = self.lake.scan(ASSET_VERSIONS_TAIL.name, fresh=False)
        base = self.lake.scan(ASSET_VERSIONS.name, fresh=False).filter(pl.col("is_current"))
        rows = layout.resolve(base, tail).filter(pl.col("is_current")).select(CURRENT_COLUMNS)
        frame = rows.collect()
        self._current = {row[0]: row[1:] for row in frame.select(CURRENT_COLUMNS).iter_rows()}
        self._versions = versions

    def get(self, asset_key: str) -> Current | None:
        """The current version of one asset, or None if it has none."""
        values = self._current.get(asset_key)
        return None if values is None else Current._make(values)

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
            self._current[key] = (
                last.valid_from,
                last.last_observed_at,
                last.is_deleted,
                last.config_hash,
                last.version,
            )
        self._versions = self.table_versions()
        return True

    def in_sync(self) -> bool:
        """Whether the state follows the tables as they are now (nobody else committed)."""
        return self._versions is not None and self.table_versions() == self._versions

    def rebase(self) -> None:
        """Follow the tables' new versions after a change of layout only (a fold)."""
        self._versions = self.table_versions()

    def invalidate(self) -> None:
        """Forget everything: reload on next use."""
        self._versions = None

    def __len__(self) -> int:
        return len(self._current)
