"""``assetlake demo`` end to end: a lake that the query commands and the notebook can open."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from click.testing import CliRunner

from pipelines.cli import main
from resolvers.lake.layout import read_table
from resolvers.lake.storage import Lake


def test_demo_builds_a_lake_and_refuses_to_mix_into_one(tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    runner = CliRunner()
    first = runner.invoke(main, ["demo", "--lake", str(lake_dir)])
    assert first.exit_code == 0, first.output
    assert "Try next:" in first.output and "made public and reverted" in first.output

    versions = read_table(Lake(str(lake_dir)), "asset_versions").collect()
    assert versions.height >= 300
    # the demo folds at the end: the Delta table alone holds the exact SCD2 rows
    assert pl.read_delta(str(lake_dir / "asset_versions")).height == versions.height

    again = runner.invoke(main, ["demo", "--lake", str(lake_dir)])
    assert again.exit_code == 2 and "--replace" in again.output
    replaced = runner.invoke(main, ["demo", "--lake", str(lake_dir), "--replace"])
    assert replaced.exit_code == 0, replaced.output
