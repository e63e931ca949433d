"""Checks of the SCD2 invariants on a lake, as data quality checks (Dagster asset checks)."""

from __future__ import annotations

import polars as pl

from resolvers.lake.layout import read_table
from resolvers.lake.storage import Lake

CHAIN_COLUMNS = [
    "asset_key",
    "version",
    "valid_from",
    "valid_to",
    "is_current",
    "is_deleted",
    "config_hash",
]


def chain_violations(lake: Lake, limit: int = 100) -> list[str]:
    """Up to ``limit`` descriptions of chains that break invariant 1 or 2 (none: all hold)."""
    versions = read_table(lake, "asset_versions").select(CHAIN_COLUMNS)
    checked = (
        versions.sort("asset_key", "valid_from")
        .with_columns(
            next_from=pl.col("valid_from").shift(-1).over("asset_key"),
            previous_hash=pl.col("config_hash").shift(1).over("asset_key"),
            previous_deleted=pl.col("is_deleted").shift(1).over("asset_key"),
            position=pl.int_range(1, pl.len() + 1).over("asset_key"),
            last=pl.int_range(1, pl.len() + 1).over("asset_key") == pl.len().over("asset_key"),
        )
        .with_columns(
            problem=pl.when(pl.col("version") != pl.col("position"))
            .then(pl.lit("versions not numbered 1..n"))
            .when(pl.col("last") & (pl.col("valid_to").is_not_null() | ~pl.col("is_current")))
            .then(pl.lit("last version not current"))
            .when(~pl.col("last") & (pl.col("valid_to") != pl.col("next_from")))
            .then(pl.lit("valid_to is not the next valid_from"))
            .when(~pl.col("last") & pl.col("is_current"))
            .then(pl.lit("a closed version marked current"))
            .when(
                (pl.col("config_hash") == pl.col("previous_hash"))
                & (pl.col("is_deleted") == pl.col("previous_deleted"))
            )
            .then(pl.lit("same state as the version before"))
        )
        .filter(pl.col("problem").is_not_null())
        .head(limit)
        .collect()
    )
    return [
        f"{key} v{version}: {problem}"
        for key, version, problem in checked.select("asset_key", "version", "problem").iter_rows()
    ]
