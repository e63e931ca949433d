"""The production instance configuration: Dagster storage in PostgreSQL (dagster-postgres).

Uses the PostgreSQL server that the project's machines run on 127.0.0.1:5432, in a database
created for the test and dropped after it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from assets.resources import LakeResource
from pipelines.definitions import defs

ROOT = Path(__file__).resolve().parents[1]
PG = {"host": "127.0.0.1", "port": "5432", "user": "postgres"}
pytestmark = pytest.mark.service


def _psql(sql: str) -> None:
    subprocess.run(
        ["psql", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], "-v", "ON_ERROR_STOP=1",
         "-c", sql],
        check=True,
        capture_output=True,
    )  # fmt: skip


@pytest.fixture
def postgres_db() -> Iterator[str]:
    """A new, empty database on the local PostgreSQL server."""
    with socket.socket() as probe:
        if probe.connect_ex((PG["host"], int(PG["port"]))) != 0 or not shutil.which("psql"):
            pytest.fail("PostgreSQL is expected on 127.0.0.1:5432 on this kind of machine")
    name = f"assetlake_test_{uuid.uuid4().hex[:8]}"
    _psql(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_runs_are_stored_in_postgres(
    postgres_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster-postgres.yaml", home / "dagster.yaml")
    for key, value in {
        "DAGSTER_PG_HOST": PG["host"],
        "DAGSTER_PG_PORT": PG["port"],
        "DAGSTER_PG_USER": PG["user"],
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": postgres_db,
    }.items():
        monkeypatch.setenv(key, value)
    lake = str(tmp_path / "lake")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.run_monitoring_enabled  # drain runs that died are failed, not stuck
        job = defs.resolve_job_def("lake_maintenance_job")
        from resolvers.lake.storage import Lake

        Lake(lake).create()
        result = job.execute_in_process(
            instance=instance, resources={"lake": LakeResource(uri=lake)}
        )
        assert result.success
        runs = instance.get_runs()
        assert [r.job_name for r in runs] == ["lake_maintenance_job"]
        assert os.environ["DAGSTER_PG_DB"] == postgres_db
