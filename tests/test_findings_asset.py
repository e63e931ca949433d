"""The ``findings`` asset through Dagster: what it writes, and the priority of its process."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import dagster as dg
import polars as pl
from test_compliance_evaluate import BUCKET, _cai, feed, ingest

from assets.lake import AUTOMATION_TAG, FINDINGS_NICENESS, findings
from assets.resources import LakeResource
from resolvers.lake.storage import Lake


def _materialize(lake_uri: str, tags: dict[str, str]) -> tuple[bool, int]:
    """Materialise findings in this process: (success, how much its niceness rose)."""
    before = os.nice(0)
    result = dg.materialize([findings], resources={"lake": LakeResource(uri=lake_uri)}, tags=tags)
    return result.success, os.nice(0) - before


def test_a_findings_run_judges_the_lake_and_yields_only_in_a_process_of_its_own(
    lake: Lake, corpus: Path
) -> None:
    ingest(lake, [feed(_cai(corpus, 338), 0, BUCKET)])
    # executed in-process (a test, the embedded demo): this process keeps its priority
    assert _materialize(lake.uri, {}) == (True, 0)
    assert pl.read_delta(lake.table_uri("findings")).height > 0
    # launched by the automation sensor, in a run process of its own: it yields to the streams
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        launched = pool.apply(_materialize, (lake.uri, {AUTOMATION_TAG: "true"}))
    assert launched == (True, min(FINDINGS_NICENESS, 19 - os.nice(0)))  # 19: the least priority
