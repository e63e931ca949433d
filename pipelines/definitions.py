"""The Dagster code location of assetlake, built once: ``defs``.

Loaded by ``workspace.yaml`` (``make dev``, ``dagster definitions validate``). Loading it does no
I/O: resources open the lake and the queues on first use, in a run or a sensor/schedule tick.
"""

from __future__ import annotations

from functools import cache

import dagster as dg

from assets.lake import asset_versions_chains, drain_job, findings, raw_events, resolve_landed
from pipelines.jobs import ingest_files_job, lake_maintenance_job
from pipelines.resources import resources
from pipelines.scans import (
    aws_daily_scan_schedule,
    aws_scan_job,
    gcp_daily_scan_schedule,
    gcp_scan_job,
)
from pipelines.schedules import lake_maintenance_schedule
from sensors.catalog import STREAM_SENSORS

# While a stream flows, a following drain run reports asset_versions every second, and each
# findings run is a new process (2-4 s of CPU before the rules start): evaluated every 5 s, the
# automation ran them back to back. Every 30 s, findings follow a change by at most about
# 30 s plus the run's own time, and the streams keep the machine.
FINDINGS_EVERY_S = 30

findings_automation_sensor = dg.AutomationConditionSensorDefinition(
    "findings_automation_sensor",
    target=dg.AssetSelection.assets(findings),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=FINDINGS_EVERY_S,
    description="Materialises findings after every drain run that wrote asset_versions.",
)


@cache
def build_defs() -> dg.Definitions:
    """Every asset, check, job, sensor, schedule and resource of the code location."""
    return dg.Definitions(
        assets=[raw_events, resolve_landed, findings],
        asset_checks=[asset_versions_chains],
        jobs=[drain_job, lake_maintenance_job, ingest_files_job, aws_scan_job, gcp_scan_job],
        sensors=[*STREAM_SENSORS, findings_automation_sensor],
        schedules=[lake_maintenance_schedule, aws_daily_scan_schedule, gcp_daily_scan_schedule],
        resources=resources(),
    )


defs = build_defs()
