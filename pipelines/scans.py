"""Full scans in Dagster: AWS partitioned by account x region, GCP by project, a daily schedule
each, retries on transient failure, and the drift each scan found as run metadata.

The partitions come from the environment when the code location loads (no network):
``ASSETLAKE_SCAN_AWS_ACCOUNTS`` (comma-separated; ``self`` is the account of the current
credentials, the default), ``ASSETLAKE_SCAN_AWS_REGIONS`` (default ``us-east-1``) and
``ASSETLAKE_SCAN_GCP_PROJECTS`` (none by default: the GCP scan job then has no partition).
No ``from __future__ import annotations``: Dagster reads the op annotations.
"""

import os

import dagster as dg
from pydantic import Field

from assets.resources import LakeResource
from resolvers.aws.scan import scan_aws
from resolvers.aws.scan_plan import ScanOptions
from resolvers.errors import AssetlakeError
from resolvers.gcp.scan import scan_gcp_project
from resolvers.scan_scope import ScanReport

SELF_ACCOUNT = "self"
RETRY = dg.RetryPolicy(max_retries=3, delay=30, backoff=dg.Backoff.EXPONENTIAL)
SCAN_TAGS = {"assetlake/job": "scan"}


class ScanResource(dg.ConfigurableResource):
    """How scans reach the clouds (empty: the SDKs' defaults and real endpoints)."""

    aws_endpoint_url: str = Field(default="", description="AWS endpoint (moto in tests).")
    aws_role_name: str = Field(
        default="", description="Read-only role assumed in each account (empty: the default)."
    )
    gcp_asset_endpoint: str = Field(
        default="", description="host:port of a Cloud Asset API test server (insecure)."
    )


SCAN_ENV = {
    "aws_endpoint_url": "AWS_ENDPOINT_URL",
    "aws_role_name": "ASSETLAKE_SCAN_AWS_ROLE",
    "gcp_asset_endpoint": "ASSETLAKE_GCP_ASSET_ENDPOINT",
}


def scan_resource() -> ScanResource:
    """The scan settings of the environment (each variable read when the resource is)."""
    return ScanResource(
        **{field: dg.EnvVar(env) for field, env in SCAN_ENV.items() if os.environ.get(env)}
    )


def _listed(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


aws_partitions = dg.MultiPartitionsDefinition(
    {
        "account": dg.StaticPartitionsDefinition(
            _listed("ASSETLAKE_SCAN_AWS_ACCOUNTS", SELF_ACCOUNT)
        ),
        "region": dg.StaticPartitionsDefinition(_listed("ASSETLAKE_SCAN_AWS_REGIONS", "us-east-1")),
    }
)
gcp_partitions = dg.StaticPartitionsDefinition(_listed("ASSETLAKE_SCAN_GCP_PROJECTS", ""))


def drift_metadata(report: ScanReport) -> dict[str, dg.MetadataValue]:
    """What the scan found that the streams had missed, per scope and type."""
    records = [
        dg.TableRecord(
            {
                "scope": row.scope,
                "resource_type": row.resource_type,
                "status": row.status,
                "scanned": row.scanned_assets,
                "new": row.new_assets,
                "changed": row.changed_assets,
                "deleted": row.deleted_assets,
                "missed_rate": round(row.missed_rate or 0.0, 4),
            }
        )
        for row in report.rows
    ]
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn(name, kind)
            for name, kind in (
                ("scope", "string"), ("resource_type", "string"), ("status", "string"),
                ("scanned", "int"), ("new", "int"), ("changed", "int"), ("deleted", "int"),
                ("missed_rate", "float"),
            )
        ]
    )  # fmt: skip
    return {
        "scan_id": dg.MetadataValue.text(report.scan_id),
        "observations": dg.MetadataValue.int(report.observations),
        "versions_written": dg.MetadataValue.int(report.versions_written),
        "missed_new": dg.MetadataValue.int(report.total("new_assets")),
        "missed_changed": dg.MetadataValue.int(report.total("changed_assets")),
        "missed_deleted": dg.MetadataValue.int(report.total("deleted_assets")),
        "failed_scopes": dg.MetadataValue.text(", ".join(report.failed_scopes) or "none"),
        "drift": dg.MetadataValue.table(records, schema),
    }


@dg.op(retry_policy=RETRY, tags={"kind": "aws"})
def scan_aws_partition(
    context: dg.OpExecutionContext, lake: LakeResource, scans: ScanResource
) -> dg.Output[None]:
    """Scan one account x region of AWS and merge what it read into the history."""
    keys = context.partition_key.keys_by_dimension  # type: ignore[attr-defined]
    account, region = keys["account"], keys["region"]
    options = ScanOptions(accounts=() if account == SELF_ACCOUNT else (account,), regions=(region,))
    try:
        result = scan_aws(lake.get_lake().create(), options)
    except AssetlakeError as exc:
        raise dg.Failure(description=str(exc)) from exc
    context.log.info(f"{account}/{region}: {result.assets} assets, {result.api_calls} API calls")
    metadata = drift_metadata(result.report)
    metadata["api_calls"] = dg.MetadataValue.int(result.api_calls)
    return dg.Output(None, metadata=metadata)


@dg.op(retry_policy=RETRY, tags={"kind": "gcp"})
def scan_gcp_partition(
    context: dg.OpExecutionContext, lake: LakeResource, scans: ScanResource
) -> dg.Output[None]:
    """Scan one GCP project (Cloud Asset Inventory) and merge what it read into the history."""
    try:
        report = scan_gcp_project(
            lake.get_lake().create(),
            context.partition_key,
            endpoint=scans.gcp_asset_endpoint or None,
        )
    except AssetlakeError as exc:
        raise dg.Failure(description=str(exc)) from exc
    return dg.Output(None, metadata=drift_metadata(report))


@dg.job(partitions_def=aws_partitions, tags=SCAN_TAGS)
def aws_scan_job() -> None:
    """A full AWS inventory scan of one account x region (the safety net of the streams)."""
    scan_aws_partition()


@dg.job(partitions_def=gcp_partitions, tags=SCAN_TAGS)
def gcp_scan_job() -> None:
    """A full GCP inventory scan of one project (the safety net of the asset feed)."""
    scan_gcp_partition()


def _daily_runs(job: dg.JobDefinition, context: dg.ScheduleEvaluationContext):
    partitions = job.partitions_def
    keys = partitions.get_partition_keys() if partitions else []
    if not keys:
        yield dg.SkipReason(f"{job.name}: no partition configured")
        return
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    for key in keys:
        yield dg.RunRequest(run_key=f"{key}@{day}", partition_key=key)


@dg.schedule(cron_schedule="23 3 * * *", job=aws_scan_job, execution_timezone="UTC")
def aws_daily_scan_schedule(context: dg.ScheduleEvaluationContext):
    """Every day at 03:23 UTC: one scan run per AWS account x region partition."""
    yield from _daily_runs(aws_scan_job, context)


@dg.schedule(cron_schedule="43 3 * * *", job=gcp_scan_job, execution_timezone="UTC")
def gcp_daily_scan_schedule(context: dg.ScheduleEvaluationContext):
    """Every day at 03:43 UTC: one scan run per GCP project partition."""
    yield from _daily_runs(gcp_scan_job, context)
