"""The demo's Dagster side: the code location's sensors ticked and its jobs run in-process.

What the daemon does for a stream, minus the daemon: evaluate a sensor with
``dg.build_sensor_context`` (its cursor kept from tick to tick, its raw_events materialisations
recorded in the instance), execute each run it requests with ``execute_in_process`` (the run
config and tags of the request), and materialise ``findings`` with the job that declarative
automation launches. Every run is recorded in the demo's instance.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from assets.lake import DrainConfig, findings
from assets.resources import LakeResource, StreamsResource
from pipelines.definitions import defs
from resolvers.errors import AssetlakeError
from resolvers.lake.storage import Lake

Say = Callable[[str], None]
MAX_TICKS = 6  # per call: one tick lands everything the demo sends; the rest is a margin
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # failures still raise
DAGSTER_FOLDER = "_dagster"
INSTANCE_YAML = """\
# The Dagster instance of `assetlake demo` (its runs): DAGSTER_HOME=<this folder> dagster dev
# shows them. The run queue is the one of deploy/dagster.yaml (one drain run per stream).
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 4
    tag_concurrency_limits:
      - key: assetlake/stream
        value: {applyLimitPerUniqueValue: true}
        limit: 1
telemetry:
  enabled: false
"""


def dagster_home(lake: Lake) -> Path | None:
    """Where the demo's Dagster instance lives: under a local lake (None for s3://)."""
    return None if lake.is_s3 else Path(lake.uri) / DAGSTER_FOLDER


@contextlib.contextmanager
def demo_instance(lake: Lake) -> Iterator[dg.DagsterInstance]:
    """A persistent instance under the lake's folder, else an ephemeral one."""
    home = dagster_home(lake)
    if home is None:
        with dg.DagsterInstance.ephemeral() as instance:
            yield instance
        return
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(INSTANCE_YAML, encoding="utf-8")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


@contextlib.contextmanager
def scoped_env(values: Mapping[str, str | None]) -> Iterator[None]:
    """Environment variables set (or removed, for None) within the block, restored after."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _landed(result: dg.SensorResult) -> int:
    total = 0
    for event in result.asset_events or []:
        value = event.metadata.get("landed") if isinstance(event, dg.AssetMaterialization) else None
        total += int(getattr(value, "value", 0) or 0)
    return total


class Pipeline:
    """The code location's sensors and jobs, evaluated and executed in this process."""

    def __init__(self, lake: Lake, instance: dg.DagsterInstance, say: Say) -> None:
        self.lake_resource = LakeResource(uri=lake.uri)
        self.instance, self.say = instance, say
        self.runs: list[dg.ExecuteInProcessResult] = []
        self.cursors: dict[str, str | None] = {}
        self.drain_overrides: dict[str, Any] = {}  # resolve_landed config the demo sets

    def tick(self, sensor: dg.SensorDefinition, streams: StreamsResource) -> dg.SensorResult:
        """One evaluation of ``sensor``, from its last cursor."""
        context = dg.build_sensor_context(
            cursor=self.cursors.get(sensor.name),
            resources={"lake": self.lake_resource, "streams": streams},
            instance=self.instance,
            sensor_name=sensor.name,
        )
        result = sensor(context)
        if isinstance(result, dg.SkipReason):
            raise AssetlakeError(f"{sensor.name} skipped: {result.skip_message}")
        assert isinstance(result, dg.SensorResult)
        self.cursors[sensor.name] = result.cursor
        for event in result.asset_events or []:  # what the daemon records of a tick
            if isinstance(event, dg.AssetMaterialization):
                self.instance.report_runless_asset_event(event)
        return result

    def follow(self, sensor: dg.SensorDefinition, streams: StreamsResource) -> tuple[int, int]:
        """Tick until nothing new lands and no run is asked for, running what is asked;
        returns (records landed, runs)."""
        landed = runs = 0
        for _ in range(MAX_TICKS):
            result = self.tick(sensor, streams)
            landed += _landed(result)
            for request in result.run_requests or []:
                self.execute(request)
                runs += 1
            if not _landed(result) and not result.run_requests:
                break
        return landed, runs

    def execute(self, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
        """One drain run, as the daemon would launch it for this request."""
        config = dict(request.run_config or {})
        op_config = config.get("ops", {}).get("resolve_landed", {}).get("config")
        if isinstance(op_config, dict):
            op_config.update(self.drain_overrides)
        return self._run("drain_job", {**config, **QUIET}, tags=request.tags)

    def ingest_file(self, path: Path) -> dg.ExecuteInProcessResult:
        """The feed from a file (no Pub/Sub emulator): the ingest_files_job of the location."""
        config = {"ops": {"ingest_event_files": {"config": {"paths": [str(path)]}}}}
        return self._run("ingest_files_job", {**config, **QUIET})

    def _run(
        self, job_name: str, run_config: dict[str, Any], tags: Mapping[str, str] | None = None
    ) -> dg.ExecuteInProcessResult:
        run = defs.resolve_job_def(job_name).execute_in_process(
            run_config=run_config,
            resources={"lake": self.lake_resource},
            tags=dict(tags or {}),
            instance=self.instance,
        )
        self.runs.append(run)
        return run

    def materialise_findings(self) -> dg.ExecuteInProcessResult:
        """The findings asset, with the job declarative automation launches after the drains."""
        location = dg.Definitions(assets=[findings], resources={"lake": self.lake_resource})
        job = location.resolve_implicit_global_asset_job_def()
        run = job.execute_in_process(run_config=QUIET, instance=self.instance)
        self.runs.append(run)
        return run


def offline_drains(lake: Lake) -> dict[str, Any]:
    """Drain config for a lake on S3: the describer must not reach S3 there (the lake's own
    endpoint), so drains keep to the events when the drain job can be told to."""
    fields = getattr(DrainConfig, "model_fields", {})
    return {"offline": True} if lake.is_s3 and "offline" in fields else {}
