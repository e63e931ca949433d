"""Jobs: thin Dagster ops around the resolvers' lake maintenance and file ingest.

Both jobs run their one op in the run's own process (no extra step process per op). No
``from __future__ import annotations`` here: Dagster reads the ops' config annotations.
"""

from pathlib import Path

import dagster as dg
from pydantic import Field

from pipelines.resources import LakeResource
from resolvers.errors import AssetlakeError
from resolvers.ingest import DEFAULT_BATCH_SIZE, IngestReport, ingest_files
from resolvers.lake.maintenance import (
    DEFAULT_VACUUM_HOURS,
    MaintenanceOptions,
    MaintenanceReport,
    maintain,
)

MAINTENANCE_TAGS = {"assetlake/job": "maintenance"}
INGEST_TAGS = {"assetlake/job": "ingest_files"}


class MaintenanceConfig(dg.Config):
    """Settings of one maintenance run."""

    vacuum_retention_hours: int = Field(
        default=DEFAULT_VACUUM_HOURS,
        ge=0,
        description="Files the tables stopped using more recently than this are kept.",
    )
    z_order: bool = Field(default=True, description="Z-order the tables that have a z-order.")


class IngestFilesConfig(dg.Config):
    """The event files of one ingest run."""

    paths: list[str] = Field(
        description="Event files (relative paths from the code location's working directory)."
    )
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, gt=0, description="Records per commit.")


@dg.op(out=dg.Out(dg.Nothing), tags={"kind": "deltalake"})
def maintain_lake(
    context: dg.OpExecutionContext, config: MaintenanceConfig, lake: LakeResource
) -> dg.Output[None]:
    """Compact, z-order, vacuum and checkpoint every table of the lake (layout only)."""
    options = MaintenanceOptions(vacuum_hours=config.vacuum_retention_hours, z_order=config.z_order)
    try:
        report = maintain(lake.get_lake(), options)
    except AssetlakeError as exc:
        raise dg.Failure(description=str(exc)) from exc
    context.log.info(
        f"maintained {len(report.tables)} tables in {report.seconds:.2f} s: "
        f"{report.total('files_before')} -> {report.total('files_after')} files"
    )
    return dg.Output(None, metadata=maintenance_metadata(report))


def maintenance_metadata(report: MaintenanceReport) -> dict[str, dg.MetadataValue]:
    """Totals, and one row per table (files before/after, rows, duration)."""
    columns = [
        ("table", "string"),
        ("files_before", "int"),
        ("files_after", "int"),
        ("rows", "int"),
        ("files_vacuumed", "int"),
        ("vacuum_hours", "int"),
        ("z_ordered", "string"),
        ("seconds", "float"),
    ]
    records = [
        dg.TableRecord(
            {
                "table": t.table,
                "files_before": t.files_before,
                "files_after": t.files_after,
                "rows": t.rows,
                "files_vacuumed": t.files_vacuumed,
                "vacuum_hours": t.vacuum_hours,
                "z_ordered": ", ".join(t.z_ordered),
                "seconds": round(t.seconds, 3),
            }
        )
        for t in report.tables
    ]
    schema = dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in columns])
    return {
        "tables": dg.MetadataValue.table(records, schema=schema),
        "files_before": dg.MetadataValue.int(report.total("files_before")),
        "files_after": dg.MetadataValue.int(report.total("files_after")),
        "rows": dg.MetadataValue.int(report.total("rows")),
        "files_vacuumed": dg.MetadataValue.int(report.total("files_vacuumed")),
        "lake_steps": dg.MetadataValue.json(report.lake_steps),
        "duration_s": dg.MetadataValue.float(round(report.seconds, 3)),
    }


@dg.op(out=dg.Out(dg.Nothing), tags={"kind": "deltalake"})
def ingest_event_files(
    context: dg.OpExecutionContext, config: IngestFilesConfig, lake: LakeResource
) -> dg.Output[None]:
    """Ingest event files into the lake, as ``assetlake ingest`` does (same code)."""
    paths = [Path(path) for path in config.paths]
    try:
        report = ingest_files(
            lake.get_lake(),
            paths,
            batch_size=config.batch_size,
            run_id=context.run.run_id,
            landed_by=context.job_name,
        )
    except AssetlakeError as exc:
        raise dg.Failure(description=str(exc)) from exc
    context.log.info(f"{report.records} records from {report.files} files")
    return dg.Output(None, metadata=ingest_metadata(report))


def ingest_metadata(report: IngestReport) -> dict[str, dg.MetadataValue]:
    """What the ingest wrote, summed over its batches."""
    counters = {
        "raw_events": "raw_events",
        "asset_changes": "asset_changes",
        "versions_written": "versions_written",
        "unresolved": "unresolved_events",
    }
    metadata: dict[str, dg.MetadataValue] = {
        name: dg.MetadataValue.int(report.total(c)) for name, c in counters.items()
    }
    metadata["files"] = dg.MetadataValue.int(report.files)
    metadata["records"] = dg.MetadataValue.int(report.records)
    metadata["batches"] = dg.MetadataValue.int(len(report.batches))
    return metadata


@dg.job(tags=MAINTENANCE_TAGS, executor_def=dg.in_process_executor)
def lake_maintenance_job() -> None:
    """Scheduled upkeep of the lake's Delta tables: compact, z-order, vacuum, checkpoint."""
    maintain_lake()


@dg.job(tags=INGEST_TAGS, executor_def=dg.in_process_executor)
def ingest_files_job() -> None:
    """Ingest (or replay) event files given in the run config, as ``assetlake ingest`` does."""
    ingest_event_files()
