"""Feed messages for the bench: batches of TemporalAsset JSON text, deterministic from a seed.

A batch mostly updates random existing assets (a new revision: the config changes), and creates
and deletes a few; every message is later than the synthetic history and than the batch before,
so each one extends a chain (the common case of a live feed).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from resolvers.bench.synthetic import KINDS, feed_template, kind_of, time_text, with_fields

FIRST_REVISION = 1_000_000  # feed revisions never repeat a history revision
SPACING_US = 1_000  # one message a millisecond of event time


class FeedGenerator:
    """Batches of feed messages about assets 0..live-1 (and the ones it creates)."""

    def __init__(
        self,
        live: int,
        seed: int,
        start: dt.datetime,
        create_share: float = 0.02,
        delete_share: float = 0.02,
    ) -> None:
        self.live = live
        self.create_share = create_share
        self.delete_share = delete_share
        self._rng = np.random.default_rng(seed)
        self._start_us = int(start.timestamp() * 1_000_000)
        self._sequence = 0
        self._next_new = live

    def batch(self, size: int) -> list[str]:
        """The JSON text of the next ``size`` messages."""
        frame = self._plan(size)
        self._sequence += size
        return render(frame)

    def _plan(self, size: int) -> pl.DataFrame:
        touched = min(self.live, size - round(size * self.create_share))
        deletes = min(touched, round(size * self.delete_share))
        creates = size - touched
        existing = self._rng.choice(self.live, touched, replace=False).astype(np.int64)
        created = np.arange(self._next_new, self._next_new + creates, dtype=np.int64)
        self._next_new += creates
        ops = np.array(
            ["delete"] * deletes + ["update"] * (touched - deletes) + ["create"] * creates
        )
        order = self._rng.permutation(size)
        sequence = self._sequence + np.arange(size, dtype=np.int64)
        return pl.DataFrame(
            {
                "index": np.concatenate([existing, created])[order],
                "op": ops[order],
                "rev": FIRST_REVISION + sequence,
                "_us": self._start_us + sequence * SPACING_US,
            }
        )


def render(frame: pl.DataFrame) -> list[str]:
    """Feed message texts for the rows of ``frame`` (index, op, rev, _us), in its order."""
    fields = with_fields(frame.select("index", "rev")).drop("index")
    rows = pl.concat([frame.select("index", "op", "_us"), fields], how="horizontal")
    rows = rows.with_columns(
        _row=pl.int_range(pl.len()),
        _kind=kind_of(pl.col("index")),
        _deleted=pl.col("op") == "delete",
        prior=pl.when(pl.col("op") == "create")
        .then(pl.lit("DOES_NOT_EXIST"))
        .otherwise(pl.lit("PRESENT")),
        time=pl.from_epoch(pl.col("_us"), time_unit="us").dt.replace_time_zone("UTC"),
    ).with_columns(time=time_text("time"))
    parts = [
        part.select("_row", text=feed_template(KINDS[int(kind)], bool(deleted)).expr())  # type: ignore[arg-type]
        for (kind, deleted), part in rows.partition_by(["_kind", "_deleted"], as_dict=True).items()
    ]
    return pl.concat(parts).sort("_row").get_column("text").to_list()
