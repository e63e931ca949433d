"""Exact SCD2 version rows of synthetic assets, generated vectorised a million at a time.

Asset ``index`` has ``n`` versions (``version`` 1..n) whose ``valid_from`` climb through one
year of history (:data:`HISTORY_START` to :data:`HISTORY_END`); each ``valid_to`` is the next
``valid_from``, the last is NULL and current. Now and then a version in the middle of a chain is
a deletion, and the next one re-creates the asset. The content of a version (config, tags, name,
...) is what the real resolver makes of the asset's feed message at revision ``version``, via the
templates of :mod:`resolvers.bench.synthetic`; config_hash is computed from it as
:func:`resolvers.canonical.config_hash` does. Nothing here knows how the lake stores the rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools

import numpy as np
import polars as pl
import pyarrow as pa

from resolvers.bench.synthetic import (
    ASSETS_PER_PROJECT,
    KINDS,
    BenchError,
    kind_of,
    row_templates,
    utc,
    with_fields,
)
from resolvers.gcp.asset_feed import EVENT_SOURCE
from resolvers.gcp.asset_feed import SOURCE as ASSET_FEED
from resolvers.lake.tables import ASSET_CHANGES, ASSET_OBSERVATIONS, RAW_EVENTS, TableSpec

HISTORY_START = utc(2024, 1, 1)
HISTORY_SPAN = dt.timedelta(days=365)
HISTORY_END = HISTORY_START + HISTORY_SPAN  # every synthetic valid_from is before this
FEED_START = HISTORY_END + dt.timedelta(days=1)  # feed messages of the bench come after it
AS_OF = HISTORY_START + HISTORY_SPAN * 3 / 4  # the past instant of the as-of query
DELETION_EVERY = 23  # about one version in 23 (never the first or last) is a deletion
CONTENT_COLUMNS = ("asset_key", "cloud", "account_id", "region", "resource_type", "name", "tags")
STUB_PAYLOAD = '{"bench":"synthetic history event; payload not kept"}'
BATCH_ID = "bench-history"
# Table columns taken from a differently named column of the generated rows.
RENAMED: dict[str, dict[str, str]] = {
    ASSET_OBSERVATIONS.name: {
        "event_time": "valid_from",
        "event_ids": "change_event_ids",
        "principal": "changed_by",
    },
    RAW_EVENTS.name: {"event_time": "valid_from"},
    ASSET_CHANGES.name: {"event_time": "valid_from", "principal": "changed_by"},
}
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_US = 1_000_000


def version_counts(live: int, history: int, seed: int) -> np.ndarray:
    """Versions per asset: at least one each, ``history`` in all, spread at random."""
    if live < 1 or history < live:
        raise BenchError(f"history rows ({history}) must be at least the live assets ({live})")
    rng = np.random.default_rng(seed)
    extra = np.bincount(rng.integers(0, live, history - live), minlength=live)
    return (extra + 1).astype(np.int64)


def chunk_bounds(counts: np.ndarray, rows_per_chunk: int) -> list[tuple[int, int]]:
    """Ranges of asset indexes, whole projects each, of about ``rows_per_chunk`` rows."""
    ends = np.cumsum(counts)
    bounds, start = [], 0
    while start < len(counts):
        before = int(ends[start - 1]) if start else 0
        end = int(np.searchsorted(ends, before + rows_per_chunk, side="left")) + 1
        end = min(len(counts), -(-end // ASSETS_PER_PROJECT) * ASSETS_PER_PROJECT)
        bounds.append((start, end))
        start = end
    return bounds


def chain_frame(first: int, counts: np.ndarray) -> pl.DataFrame:
    """One row per version of assets ``first``, ``first + 1``, ...: index, version, n."""
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return pl.DataFrame(
        {
            "index": np.repeat(np.arange(first, first + len(counts), dtype=np.int64), counts),
            "version": np.arange(int(counts.sum()), dtype=np.int64) - starts + 1,
            "n": np.repeat(counts, counts),
        }
    )


def with_chain(frame: pl.DataFrame) -> pl.DataFrame:
    """Add valid_from, valid_to, is_current, is_deleted (rows sorted by index, version)."""
    i, v, n = pl.col("index"), pl.col("version"), pl.col("n")
    span = int(HISTORY_SPAN.total_seconds()) * _US
    offset = (i * 7_919 % 100_000) * (span // 200_000)  # first version: first half of the year
    step = (span - offset) // n
    jitter = (i * 104_729 + v * 7_919) % 1_000 * (step // 2_000)
    start = int(HISTORY_START.timestamp()) * _US
    valid_from = pl.from_epoch(start + offset + (v - 1) * step + jitter, time_unit="us")
    return frame.with_columns(
        valid_from=valid_from.dt.replace_time_zone("UTC"),
        is_current=v == n,
        is_deleted=(v > 1) & (v < n) & ((i + v) % DELETION_EVERY == 0),
    ).with_columns(
        valid_to=pl.when(v < n).then(pl.col("valid_from").shift(-1)),
        action=pl.when(v == 1)
        .then(pl.lit("create"))
        .when(pl.col("is_deleted"))
        .then(pl.lit("delete"))
        .when(pl.col("is_deleted").shift(1))
        .then(pl.lit("create"))
        .otherwise(pl.lit("update")),
    )


def with_content(frame: pl.DataFrame) -> pl.DataFrame:
    """Add the content columns, config and config_hash of each version (revision = version).

    The rows come back grouped by kind (their order is not kept).
    """
    fields = with_fields(frame.select("index", rev=pl.col("version")))
    keyed = pl.concat([frame, fields.drop("index")], how="horizontal")
    keyed = keyed.with_columns(_kind=kind_of(pl.col("index")))
    parts = []
    for (kind, deleted), part in keyed.partition_by(["_kind", "is_deleted"], as_dict=True).items():
        templates = row_templates(KINDS[int(kind)], bool(deleted))  # type: ignore[arg-type]
        columns = {name: templates[name].expr() for name in (*CONTENT_COLUMNS, "config")}
        content = part.select(*frame.columns, **columns)
        hashes = sha256_hex(
            part.select(_h=templates["hash_input"].expr(), _n=pl.col("index"))["_h"]
        )
        parts.append(content.with_columns(config_hash=hashes))
    return pl.concat(parts)


def sha256_hex(texts: pl.Series, chars: int = 32) -> pl.Series:
    """The first ``chars`` hex digits of the sha256 of each UTF-8 text (as config_hash is)."""
    array = texts.to_arrow().cast(pa.large_string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    _, offsets_buffer, data = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[array.offset :]
    offsets = offsets[: len(array) + 1].tolist()
    view, sha = memoryview(data or b""), hashlib.sha256
    digests = [sha(view[a:b]).hexdigest()[:chars] for a, b in itertools.pairwise(offsets)]
    return pl.Series(texts.name, digests, dtype=pl.String)


def random_hex(rng: np.random.Generator, rows: int, chars: int = 32) -> pl.Series:
    """``rows`` random lowercase hex strings of ``chars`` characters (ids, record hashes)."""
    raw = np.frombuffer(rng.bytes(rows * chars // 2), dtype=np.uint8).reshape(rows, chars // 2)
    text = np.empty((rows, chars), dtype=np.uint8)
    text[:, 0::2], text[:, 1::2] = _HEX[raw >> 4], _HEX[raw & 15]
    values = pa.array(text.view(f"S{chars}").ravel()).cast(pa.string())
    return pl.Series("hex", values)


def version_rows(first: int, counts: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
    """Every version of assets ``first``.. with content, chain fields and an event id each."""
    frame = with_content(with_chain(chain_frame(first, counts)))
    event_ids = pl.lit("cai-") + random_hex(rng, frame.height)
    return frame.with_columns(event_id=event_ids, record_hash=random_hex(rng, frame.height))


def _derived(now: dt.datetime) -> dict[str, pl.Expr]:
    """Columns every written table may need, beyond the generated ones."""
    text = pl.String
    return {
        "change_event_ids": pl.concat_list(pl.col("event_id")),
        "observed_at": pl.col("valid_from"),
        "last_observed_at": pl.col("valid_from"),
        "recorded_at": pl.lit(now),
        "received_at": pl.lit(now),
        "changed_by": pl.lit(None, dtype=text),
        "change_source": pl.lit("event"),
        "source": pl.lit(ASSET_FEED),
        "classification": pl.lit("change"),
        "payload": pl.lit(STUB_PAYLOAD),
        "batch_id": pl.lit(BATCH_ID),
        "event_source": pl.lit(EVENT_SOURCE),
        "event_name": pl.lit("TemporalAsset"),
        "event_date": pl.col("valid_from").dt.date(),
    }


def lake_rows(frame: pl.DataFrame, now: dt.datetime) -> pa.Table:
    """Generated rows with every column the lake's tables take from them, as Arrow."""
    return frame.with_columns(**_derived(now)).to_arrow()


def table_for(spec: TableSpec, rows: pa.Table) -> pa.Table:
    """The rows as ``spec``'s table: its columns, renamed where needed, nulls where absent."""
    renamed = RENAMED.get(spec.name, {})
    columns = []
    for field in spec.schema:
        source = renamed.get(field.name, field.name)
        if source in rows.column_names:
            columns.append(rows.column(source).cast(field.type))
        else:
            columns.append(pa.nulls(rows.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=spec.schema)
