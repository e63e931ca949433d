"""Shared fixtures: the corpus in ../shared, temporary lakes, a moto S3 server."""

from __future__ import annotations

import datetime as dt
import re
import socket
import subprocess
import sys
import time
import traceback
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import polars as pl
import pytest
from click.testing import CliRunner

from resolvers.lake.layout import read_table
from resolvers.lake.storage import Lake

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared corpus of real CloudTrail, EventBridge, audit and CAI records."""
    if not CORPUS.is_dir():
        pytest.fail(f"the shared corpus is missing: expected it at {CORPUS}")
    return CORPUS


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    """A new, empty lake in a temporary folder."""
    return Lake(str(tmp_path / "lake")).create()


# -- the demo: run once for the session, shared by the tests that read its lake --------------------
@dataclass(frozen=True)
class DemoRun:
    """One ``assetlake demo``: what it printed and the lake it left."""

    output: str
    lake: Lake
    ports: tuple[int, ...]
    finished: dt.datetime

    def table(self, name: str) -> pl.DataFrame:
        """A table as readers see it."""
        return read_table(self.lake, name).collect()


def run_demo_cli(lake_dir: Path) -> DemoRun:
    """``assetlake demo --lake DIR`` in this process; fails the test on a non-zero exit."""
    from pipelines.cli import main  # Dagster: imported only by the tests that run the demo

    result = CliRunner().invoke(main, ["demo", "--lake", str(lake_dir)])
    error = "".join(traceback.format_exception(*result.exc_info)) if result.exc_info else ""
    assert result.exit_code == 0, result.output + error
    ports = sorted(
        {int(p) for p in re.findall(r"on (?:http://)?127\.0\.0\.1:(\d+)", result.output)}
    )
    return DemoRun(result.output, Lake(str(lake_dir)), tuple(ports), dt.datetime.now(dt.UTC))


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The demo, run once for the session (test_demo.py, test_secrets.py read its lake)."""
    return run_demo_cli(tmp_path_factory.mktemp("demo") / "lake")


# -- S3: a real moto server -----------------------------------------------------------------------
MOTO_BUCKET = "assetlake-test"
MOTO_STARTUP_SECONDS = 30.0
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
}


@dataclass(frozen=True)
class MotoS3:
    """A moto server on 127.0.0.1 and the bucket created in it."""

    endpoint: str
    bucket: str

    def env(self) -> dict[str, str]:
        """The AWS variables that point clients (boto3, s3fs, delta-rs) at this server."""
        return {**FAKE_AWS, "AWS_ENDPOINT_URL": self.endpoint}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_answering(endpoint: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll the server until it answers HTTP; fail with its log if it dies or never answers."""
    deadline = time.monotonic() + MOTO_STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"moto server exited ({process.returncode}): {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"moto server did not answer within {MOTO_STARTUP_SECONDS}s: {log.read_text()}")


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    """A moto server (S3) started for the session, with one bucket; stopped at the end.

    The AWS variables are set only around the bucket creation here: tests that talk to the
    server take the ``s3_env`` fixture, so that no other test of the session sees them.
    """
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_until_answering(endpoint, process, log)
        server = MotoS3(endpoint=endpoint, bucket=MOTO_BUCKET)
        with pytest.MonkeyPatch.context() as patch:
            for name, value in server.env().items():
                patch.setenv(name, value)
            boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=MOTO_BUCKET)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def s3_env(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> MotoS3:
    """For one test: AWS_ENDPOINT_URL, fake credentials and AWS_REGION pointing at moto."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in moto_s3.env().items():
        monkeypatch.setenv(name, value)
    return moto_s3
