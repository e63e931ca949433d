"""The Dagster code location: it loads, matches its snapshot, validates, and its jobs work.

The snapshot (tests/snapshots/code_location.json) lists the assets, jobs (with their ops and
assets), schedules, sensors and resources. After an intended change, refresh it with
``ASSETLAKE_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_definitions.py`` and
review the diff.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import orjson
import pytest
from click.testing import CliRunner

from pipelines.cli import main
from pipelines.definitions import defs
from pipelines.jobs import ingest_files_job, lake_maintenance_job
from pipelines.resources import LakeResource
from pipelines.schedules import lake_maintenance_schedule
from resolvers import drain
from resolvers.gcp.asset_feed import SOURCE as ASSET_FEED
from resolvers.ingest import ingest_files, read_file
from resolvers.lake.maintenance import MaintenanceOptions, active_files, maintain
from resolvers.lake.storage import Lake
from resolvers.lake.tables import ASSET_VERSIONS, TABLES
from resolvers.lake.writer import LakeWriter
from sensors import streams as sensor_streams
from sensors.catalog import STREAM_SENSORS
from sensors.streams import STREAM_SETTINGS, StreamSpec, stream_sensor

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "tests" / "snapshots" / "code_location.json"
UPDATE_ENV = "ASSETLAKE_UPDATE_SNAPSHOTS"
BUCKET = "storage.googleapis.com/Bucket"


# -- the code location ------------------------------------------------------------------------
def code_location_snapshot(definitions: dg.Definitions) -> dict[str, Any]:
    """Names and wiring of everything in the code location (no volatile details)."""
    repo = definitions.get_repository_def()
    assets = {
        spec.key.to_user_string(): sorted(dep.asset_key.to_user_string() for dep in spec.deps)
        for spec in definitions.resolve_all_asset_specs()
    }
    jobs = {
        job.name: {
            "ops": sorted(node.name for node in job.graph.nodes),
            "assets": sorted(key.to_user_string() for key in job.asset_layer.selected_asset_keys),
            "tags": dict(sorted(job.tags.items())),
        }
        for job in definitions.resolve_all_job_defs()
        if not job.name.startswith("__")
    }
    schedules = {
        s.name: {
            "job": s.job_name,
            "cron": s.cron_schedule,
            "timezone": s.execution_timezone,
            "default_status": s.default_status.value,
        }
        for s in repo.schedule_defs
    }
    sensors = {
        s.name: {
            "jobs": sorted(target.job_name for target in s.targets),
            "minimum_interval_seconds": s.minimum_interval_seconds,
            "default_status": _default_status(s),
        }
        for s in repo.sensor_defs
    }
    return {
        "assets": dict(sorted(assets.items())),
        "jobs": dict(sorted(jobs.items())),
        "schedules": dict(sorted(schedules.items())),
        "sensors": dict(sorted(sensors.items())),
        "resources": sorted(definitions.resources or {}),
    }


def _default_status(sensor: dg.SensorDefinition) -> str:
    """A sensor's default status; a stream sensor's follows its setting, whatever is set here."""
    setting = STREAM_SETTINGS.get(sensor.name)
    if setting is None:
        return sensor.default_status.value
    expected = "RUNNING" if os.environ.get(setting) else "STOPPED"
    assert sensor.default_status.value == expected, sensor.name
    return f"RUNNING when {setting} is set"


def test_a_stream_sensor_runs_by_default_only_when_its_stream_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the registry of the code location's sensors stays as it is
    monkeypatch.setattr(sensor_streams, "STREAM_SETTINGS", dict(STREAM_SETTINGS))
    spec = StreamSpec("test_sensor", lambda _s, _c: None, (), "ASSETLAKE_TEST_STREAM", "test")
    monkeypatch.delenv("ASSETLAKE_TEST_STREAM", raising=False)
    assert stream_sensor(spec).default_status == dg.DefaultSensorStatus.STOPPED
    monkeypatch.setenv("ASSETLAKE_TEST_STREAM", "nats://127.0.0.1:4222")
    assert stream_sensor(spec).default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor_streams.STREAM_SETTINGS["test_sensor"] == "ASSETLAKE_TEST_STREAM"
    # every stream sensor of the code location is registered, so the snapshot sees its rule
    assert set(STREAM_SETTINGS) == {s.name for s in STREAM_SENSORS}


def test_code_location_loads() -> None:
    """Every job, schedule and resource resolves."""
    assert defs.get_job_def("lake_maintenance_job").name == "lake_maintenance_job"
    assert defs.get_job_def("ingest_files_job").name == "ingest_files_job"
    names = {job.name for job in defs.resolve_all_job_defs()}
    assert {"lake_maintenance_job", "ingest_files_job"} <= names
    schedule = defs.resolve_schedule_def("lake_maintenance_schedule")
    assert "maintenance" in schedule.name and schedule.job_name == "lake_maintenance_job"
    assert isinstance(defs.resources, dict) and isinstance(defs.resources["lake"], LakeResource)
    defs.get_repository_def().load_all_definitions()


def test_code_location_matches_snapshot() -> None:
    """The code location's names and wiring are the committed snapshot."""
    current = code_location_snapshot(defs)
    if os.environ.get(UPDATE_ENV):
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    committed = json.loads(SNAPSHOT.read_text())
    assert current == committed, f"code location changed; review and set {UPDATE_ENV}=1"


@pytest.mark.slow
def test_dagster_definitions_validate(tmp_path: Path) -> None:
    """``dagster definitions validate -w workspace.yaml`` passes, as ``make lint`` runs it."""
    dagster = Path(sys.executable).parent / "dagster"
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    done = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful for code location assetlake" in done.stdout + done.stderr


# -- a real lake of GCP asset feed messages ---------------------------------------------------
def feed_message(name: str, time: str, labels: dict[str, str], deleted: bool = False) -> str:
    """One Cloud Asset Inventory feed message (TemporalAsset, camelCase as Pub/Sub sends it)."""
    asset = {
        "name": f"//storage.googleapis.com/{name}",
        "assetType": BUCKET,
        "resource": {"data": {"name": name, "labels": labels}},
    }
    message: dict[str, Any] = {"asset": asset, "window": {"startTime": time}}
    if deleted:
        message["deleted"] = True
    return orjson.dumps(message).decode()


@pytest.fixture
def feed_files(tmp_path: Path) -> list[Path]:
    """Three feed files: buckets created, some relabelled, one deleted."""
    days = [
        [feed_message(f"b{i}", "2026-01-01T00:00:00Z", {"env": "dev"}) for i in range(4)],
        [feed_message(f"b{i}", "2026-01-02T00:00:00Z", {"env": "prod"}) for i in range(2)],
        [feed_message("b3", "2026-01-03T00:00:00Z", {"env": "dev"}, deleted=True)],
    ]
    paths = []
    for index, lines in enumerate(days):
        path = tmp_path / f"feed-{index}.jsonl"
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths


@pytest.fixture
def fragmented_lake(tmp_path: Path, feed_files: list[Path]) -> Lake:
    """A lake built by one ingest per file: several small files per table."""
    lake = Lake(str(tmp_path / "lake"))
    for path in feed_files:
        ingest_files(lake, [path])
    return lake


def table_contents(lake: Lake) -> dict[str, list[str]]:
    """Every row of every table, order-free."""
    return {
        spec.name: sorted(repr(row) for row in lake.scan(spec.name).collect().rows())
        for spec in TABLES
    }


def files_on_disk(lake: Lake) -> dict[str, int]:
    """Data files under each table's folder (active or not; not the log's checkpoints)."""
    counts = {}
    for spec in TABLES:
        root = Path(lake.table_uri(spec.name))
        files = [
            p for p in root.rglob("*.parquet") if "_delta_log" not in p.relative_to(root).parts
        ]
        counts[spec.name] = len(files)
    return counts


def output_metadata(result: dg.ExecuteInProcessResult, op: str) -> dict[str, Any]:
    """The metadata of an op's successful output."""
    [event] = [e for e in result.events_for_node(op) if e.is_successful_output]
    assert event.step_output_data is not None
    return {key: value.value for key, value in event.step_output_data.metadata.items()}


# -- the jobs ---------------------------------------------------------------------------------
def test_maintenance_job_keeps_contents_with_fewer_files(fragmented_lake: Lake) -> None:
    """The maintenance job compacts and vacuums; every table reads back the same rows."""
    lake = fragmented_lake
    before, disk_before = table_contents(lake), files_on_disk(lake)
    active_before = {s.name: active_files(lake.table(s.name)).height for s in TABLES}
    assert active_before[ASSET_VERSIONS.name] > 0
    result = lake_maintenance_job.execute_in_process(
        run_config={"ops": {"maintain_lake": {"config": {"vacuum_retention_hours": 0}}}},
        resources={"lake": LakeResource(uri=lake.uri)},
    )
    assert result.success
    reread = Lake(lake.uri)
    assert table_contents(reread) == before
    after = {s.name: active_files(reread.table(s.name)).height for s in TABLES}
    assert all(after[name] <= active_before[name] for name in after)
    assert sum(after.values()) < sum(active_before.values())
    assert all(files_on_disk(reread)[name] <= disk_before[name] for name in disk_before)
    metadata = output_metadata(result, "maintain_lake")
    rows = {record.data["table"]: record.data for record in metadata["tables"].records}
    assert set(rows) == {spec.name for spec in TABLES}
    assert rows[ASSET_VERSIONS.name]["files_before"] == active_before[ASSET_VERSIONS.name]
    assert "is_current=true" in rows[ASSET_VERSIONS.name]["z_ordered"]
    assert metadata["files_after"] == sum(after.values())


def test_maintenance_twice_changes_nothing_the_second_time(fragmented_lake: Lake) -> None:
    """A second maintenance right after the first commits nothing (no re-z-order, no vacuum)."""
    job_resources = {"lake": LakeResource(uri=fragmented_lake.uri)}
    config = {"ops": {"maintain_lake": {"config": {"vacuum_retention_hours": 0}}}}
    assert lake_maintenance_job.execute_in_process(config, resources=job_resources).success
    versions = {s.name: Lake(fragmented_lake.uri).table(s.name).version() for s in TABLES}
    result = lake_maintenance_job.execute_in_process(config, resources=job_resources)
    assert {s.name: Lake(fragmented_lake.uri).table(s.name).version() for s in TABLES} == versions
    metadata = output_metadata(result, "maintain_lake")
    assert metadata["files_before"] == metadata["files_after"]
    assert metadata["files_vacuumed"] == 0


def test_ingest_files_job_reports_what_it_wrote(tmp_path: Path, feed_files: list[Path]) -> None:
    """The ingest job runs the same ingest as the CLI and reports its counts."""
    lake_uri = str(tmp_path / "replayed")
    result = ingest_files_job.execute_in_process(
        run_config={"ops": {"ingest_event_files": {"config": {"paths": [str(feed_files[0])]}}}},
        resources={"lake": LakeResource(uri=lake_uri)},
    )
    assert result.success
    metadata = output_metadata(result, "ingest_event_files")
    assert metadata["records"] == 4 and metadata["raw_events"] == 4
    assert metadata["versions_written"] == 4 and metadata["unresolved"] == 0
    assert Lake(lake_uri).scan("raw_events").collect().height == 4


def test_ingest_files_job_fails_clearly_on_a_missing_file(tmp_path: Path) -> None:
    """A missing file fails the run with the CLI's one-line message; nothing is written."""
    lake_uri = str(tmp_path / "lake")
    missing = str(tmp_path / "missing.jsonl")
    result = ingest_files_job.execute_in_process(
        run_config={"ops": {"ingest_event_files": {"config": {"paths": [missing]}}}},
        resources={"lake": LakeResource(uri=lake_uri)},
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_failure_data is not None
    assert "missing.jsonl: cannot read" in str(failure.step_failure_data.error)
    assert not Path(lake_uri).exists()


def test_maintenance_schedule_skips_until_the_lake_exists(
    tmp_path: Path, feed_files: list[Path]
) -> None:
    """The schedule asks for a run only once there is a lake to maintain."""
    lake_uri = str(tmp_path / "lake")
    tick_time = dt.datetime(2026, 1, 1, 3, 17, tzinfo=dt.UTC)
    with dg.build_schedule_context(
        resources={"lake": LakeResource(uri=lake_uri)}, scheduled_execution_time=tick_time
    ) as context:
        skipped = lake_maintenance_schedule.evaluate_tick(context)
        assert not skipped.run_requests and "no assetlake lake" in (skipped.skip_message or "")
        ingest_files(Lake(lake_uri), feed_files[:1])
        [request] = lake_maintenance_schedule.evaluate_tick(context).run_requests or []
    assert request.run_key == tick_time.isoformat()
    config = request.run_config["ops"]["maintain_lake"]["config"]
    assert config["vacuum_retention_hours"] == 168


# -- the command line -------------------------------------------------------------------------
def test_assetlake_compact(fragmented_lake: Lake) -> None:
    """``assetlake compact`` maintains the lake through the same code and reports per table."""
    before = table_contents(fragmented_lake)
    runner = CliRunner()
    result = runner.invoke(main, ["compact", "--lake", fragmented_lake.uri, "--vacuum-hours", "0"])
    assert result.exit_code == 0, result.output
    assert f"{ASSET_VERSIONS.name}: " in result.output
    assert "z-ordered is_current=" in result.output
    assert table_contents(Lake(fragmented_lake.uri)) == before


def test_assetlake_compact_without_a_lake(tmp_path: Path) -> None:
    """No lake: one line on stderr, exit status 2, nothing created."""
    missing = tmp_path / "nothing"
    result = CliRunner().invoke(main, ["compact", "--lake", str(missing)])
    assert result.exit_code == 2
    assert "no assetlake lake here" in result.output
    assert not missing.exists()


def test_maintenance_keeps_files_a_drain_has_yet_to_read(
    tmp_path: Path, feed_files: list[Path]
) -> None:
    """Vacuum keeps the raw_events files whose change feed a drain consumer has not read yet."""
    lake = Lake(str(tmp_path / "lake")).create()
    writer = LakeWriter(lake)
    drain.land(writer, read_file(feed_files[0]), ASSET_FEED)
    drain.drain(writer, "test", ASSET_FEED)
    for path in feed_files[1:]:
        drain.land(writer, read_file(path), ASSET_FEED)
    report = maintain(Lake(lake.uri), MaintenanceOptions(vacuum_hours=0))
    [raw] = [table for table in report.tables if table.table == "raw_events"]
    # raw_events is partitioned by event day: compaction merges within a day only
    assert raw.files_after <= raw.files_before and raw.files_vacuumed == 0
    assert raw.vacuum_hours >= 1
    assert drain.drain(LakeWriter(Lake(lake.uri)), "test", ASSET_FEED).records == 3
