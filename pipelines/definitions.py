"""The Dagster code location of assetlake, built once: ``defs``.

Loaded by ``workspace.yaml`` (``make dev``, ``dagster definitions validate``). Loading it does no
I/O: resources open the lake on first use, in a run or a schedule tick.
"""

from __future__ import annotations

from functools import cache

import dagster as dg

from pipelines.jobs import ingest_files_job, lake_maintenance_job
from pipelines.resources import resources
from pipelines.schedules import lake_maintenance_schedule


@cache
def build_defs() -> dg.Definitions:
    """Every job, schedule and resource of the code location."""
    return dg.Definitions(
        jobs=[lake_maintenance_job, ingest_files_job],
        schedules=[lake_maintenance_schedule],
        resources=resources(),
    )


defs = build_defs()
