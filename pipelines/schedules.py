"""Schedules of the code location."""

import dagster as dg

from pipelines.jobs import MaintenanceConfig, lake_maintenance_job
from pipelines.resources import LakeResource

MAINTENANCE_CRON = "17 * * * *"  # hourly: micro-batches leave many small files behind


@dg.schedule(
    job=lake_maintenance_job,
    cron_schedule=MAINTENANCE_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def lake_maintenance_schedule(
    context: dg.ScheduleEvaluationContext, lake: LakeResource
) -> dg.RunRequest | dg.SkipReason:
    """Hourly lake maintenance (defaults: a week's vacuum retention); skips while no lake exists."""
    target = lake.get_lake()
    if not target.exists():
        return dg.SkipReason(f"no assetlake lake at {target.uri} yet")
    return dg.RunRequest(
        run_key=context.scheduled_execution_time.isoformat(),
        run_config=dg.RunConfig(ops={"maintain_lake": MaintenanceConfig()}),
    )
