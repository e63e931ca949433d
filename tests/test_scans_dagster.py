"""Scan jobs in Dagster: partitions, daily schedules, a GCP partition run against the local
AssetService, and the drift it found as run metadata."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest
from gcp_scan_helpers import corpus_server

from assets.resources import LakeResource
from pipelines.definitions import defs
from pipelines.scans import (
    ScanResource,
    aws_daily_scan_schedule,
    gcp_daily_scan_schedule,
    gcp_scan_job,
    scan_gcp_partition,
)
from resolvers.lake.layout import read_table
from resolvers.lake.storage import Lake

TICK = dt.datetime(2026, 11, 30, 3, 23, tzinfo=dt.UTC)


def _tick(schedule: dg.ScheduleDefinition) -> dg.ScheduleExecutionData:
    context = dg.build_schedule_context(
        scheduled_execution_time=TICK, repository_def=defs.get_repository_def()
    )
    return schedule.evaluate_tick(context)


def test_the_daily_aws_schedule_asks_one_run_per_account_and_region() -> None:
    job = defs.resolve_job_def("aws_scan_job")
    requests = _tick(aws_daily_scan_schedule).run_requests or []
    keys = job.partitions_def.get_partition_keys() if job.partitions_def else []
    assert keys and sorted(r.partition_key or "" for r in requests) == sorted(keys)
    assert all(r.run_key and r.run_key.endswith("@2026-11-30") for r in requests)


def test_the_gcp_schedule_skips_without_projects() -> None:
    if gcp_scan_job.partitions_def and gcp_scan_job.partitions_def.get_partition_keys():
        pytest.skip("ASSETLAKE_SCAN_GCP_PROJECTS is set in this environment")
    assert "no partition configured" in (_tick(gcp_daily_scan_schedule).skip_message or "")


@pytest.mark.service
def test_a_gcp_partition_run_scans_the_project_and_reports_drift(
    corpus: Path, tmp_path: Path
) -> None:
    lake_uri = str(tmp_path / "lake")
    with corpus_server(corpus) as server:
        project = server.store.projects()[0]

        # the module's partitions come from the environment: the same op in a one-project job
        @dg.job(partitions_def=dg.StaticPartitionsDefinition([project]))
        def one_project() -> None:
            scan_gcp_partition()

        result = one_project.execute_in_process(
            partition_key=project,
            resources={
                "lake": LakeResource(uri=lake_uri),
                "scans": ScanResource(gcp_asset_endpoint=server.endpoint),
            },
        )
    assert result.success
    (output,) = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = output.event_specific_data.metadata  # type: ignore[union-attr]
    versions = read_table(Lake(lake_uri), "asset_versions").collect()
    assert versions.height > 0 and set(versions.get_column("change_source")) == {"scan"}
    assert metadata["missed_new"].value == versions.height  # every asset was new to the lake
    assert metadata["failed_scopes"].value == "none"
