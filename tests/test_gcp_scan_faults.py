"""GCP full scans under faults: transient errors, a failure mid-paging, paging itself, a scan
killed halfway, a feed event newer than the scan's read time, and the command line.

Every test starts the server (tests/gcp_asset_server.py) on 127.0.0.1 and scans into a fresh
lake.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import polars as pl
import pytest
from click.testing import CliRunner
from gcp_asset_server import RunningServer, feed_message, project_of
from gcp_scan_helpers import (
    MINUTE,
    ROOT,
    busy_projects,
    corpus_server,
    current,
    ingest_feed,
    labelled,
    observations,
    of_type,
    relabel,
    scan,
    twin,
    types_of,
    versions,
)  # fmt: skip
from google.api_core import exceptions as api_exceptions
from google.cloud.asset_v1 import ContentType, ListAssetsRequest

from pipelines.cli import main
from resolvers.gcp.scan import make_client
from resolvers.lake.storage import Lake
from resolvers.timeutil import utcnow

pytestmark = pytest.mark.service


@pytest.fixture
def server(corpus: Path) -> Iterator[RunningServer]:
    """The AssetService on 127.0.0.1 over the corpus, stopped after the test."""
    with corpus_server(corpus) as running:
        yield running


# -- faults and paging --------------------------------------------------------------------------
def test_transient_errors_are_retried(lake: Lake, server: RunningServer) -> None:
    project, hopeless = busy_projects(server.store, 2)
    service = server.service
    service.inject(grpc.StatusCode.UNAVAILABLE, 3, parent=f"projects/{project}")
    service.inject(grpc.StatusCode.RESOURCE_EXHAUSTED, 1, parent=f"projects/{project}")
    service.inject(grpc.StatusCode.DEADLINE_EXCEEDED, 1, mid_paging=True)
    service.inject(grpc.StatusCode.UNAVAILABLE, 10_000, parent=f"projects/{hopeless}")
    report = scan(lake, server, [project, hopeless], page_size=10, retry_timeout=0.5)
    rows = {row.account_id: row for row in report.rows}
    assert rows[project].status == "complete"
    assert set(versions(lake)["asset_key"]) == set(server.store.names(project))
    pages = sum(1 for r in service.requests if r.parent == f"projects/{project}")
    assert rows[project].scope_api_calls == pages and pages >= 5 + 2
    assert rows[hopeless].status == "failed" and "UNAVAILABLE" in (rows[hopeless].error or "")


def test_failure_in_the_middle_of_paging_deletes_nothing(lake: Lake, server: RunningServer) -> None:
    project = busy_projects(server.store, 1)[0]
    scan(lake, server, [project])
    logged = observations(lake)
    server.store.delete(server.store.names(project)[0])
    server.service.inject(
        grpc.StatusCode.INTERNAL, 1, parent=f"projects/{project}", mid_paging=True
    )
    report = scan(lake, server, [project], page_size=5)
    assert [row.status for row in report.rows] == ["failed"]
    assert not versions(lake)["is_deleted"].any()
    assert observations(lake) == logged


def test_paging_across_many_pages(lake: Lake, server: RunningServer) -> None:
    project = busy_projects(server.store, 1)[0]
    assets = [a for a in server.store.snapshot(utcnow()) if project_of(a) == project]
    with_policy = sum(1 for a in assets if a.HasField("iam_policy"))
    with_resource = sum(1 for a in assets if a.HasField("resource"))
    paged = scan(lake, server, [project], page_size=4)
    requests = [r for r in server.service.requests if r.parent == f"projects/{project}"]
    assert len(requests) == -(-with_resource // 4) + max(1, -(-with_policy // 4))
    assert sum(1 for r in requests if r.page_token) == len(requests) - 2
    assert set(versions(lake)["asset_key"]) == {a.name for a in assets}
    whole = scan(lake, server, [project])  # one page each: the same states
    assert whole.total("unchanged_assets") == paged.total("new_assets") == len(assets)

    client = make_client(server.endpoint)
    request = ListAssetsRequest(parent=f"projects/{project}", page_token=requests[1].page_token)
    with pytest.raises(api_exceptions.InvalidArgument):
        client.list_assets(request=request, retry=None)
    request = ListAssetsRequest(
        parent=f"projects/{project}", content_type=ContentType.RESOURCE,
        read_time=utcnow() + 10 * MINUTE,
    )  # fmt: skip
    with pytest.raises(api_exceptions.InvalidArgument):
        client.list_assets(request=request, retry=None)


# -- a killed scan, a race with the feed, the command line --------------------------------------
def test_killed_scan_deletes_nothing(lake: Lake, server: RunningServer) -> None:
    store = server.store
    first, second = busy_projects(store, 2)
    onboarding = scan(lake, server, [first, second])
    logged = observations(lake)
    gone = [store.names(first)[0], store.names(second)[0]]
    for name in gone:
        store.delete(name)
    server.service.stall_on(f"projects/{second}")
    command = [
        sys.executable, "-m", "pipelines.cli", "scan", "gcp", "--lake", lake.uri,
        "--endpoint", server.endpoint, "--project", first, "--project", second,
        "--commit-every", "1",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ), stderr=subprocess.PIPE)
    try:
        stalled = server.service.stalled.wait(timeout=60)
        deadline = time.monotonic() + 60  # and the first project's observations committed
        while observations(lake) == logged and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.kill()
        _, errors = process.communicate(timeout=30)
    assert stalled, errors.decode()
    assert observations(lake) > logged  # killed after committing some observations
    assert not versions(lake)["is_deleted"].any()
    assert set(lake.scan("scan_reports").collect()["scan_id"]) == {onboarding.scan_id}

    server.service.release.set()
    scan(lake, server, [first, second])
    assert all(current(lake)[name]["is_deleted"] for name in gone)


def test_feed_event_newer_than_the_read_time_wins(
    lake: Lake, server: RunningServer, tmp_path: Path
) -> None:
    store = server.store
    project = busy_projects(store, 1)[0]
    scan(lake, server, [project], read_time=utcnow() - 50 * MINUTE)
    names = store.names(project)
    changed = labelled(store, project)[0]
    removed = next(name for name in names if name != changed)
    prior = store.document(removed)
    created = twin(store, names[-1], "-late")
    streamed_at = utcnow() - 5 * MINUTE
    relabel(store, changed, streamed_at)
    store.put(created, streamed_at)
    store.delete(removed, streamed_at)
    ingest_feed(
        lake, tmp_path / "feed.jsonl",
        [
            feed_message(store.document(changed), changed, streamed_at),
            feed_message(created, created["name"], streamed_at),
            feed_message(None, removed, streamed_at, prior=prior),
        ],
    )  # fmt: skip
    streamed = current(lake)

    report = scan(lake, server, [project], read_time=utcnow() - 10 * MINUTE)
    now = current(lake)
    for name in (changed, created["name"], removed):
        assert now[name]["valid_from"] == streamed_at
        assert now[name]["config_hash"] == streamed[name]["config_hash"]
        assert now[name]["is_deleted"] == streamed[name]["is_deleted"]
    assert now[removed]["is_deleted"] and not now[created["name"]]["is_deleted"]
    assert report.total("deleted_assets") == report.total("changed_assets") == 0
    assert versions(lake).filter(pl.col("asset_key") == changed).height == 2


def test_command_line_scan(lake: Lake, server: RunningServer) -> None:
    project = busy_projects(server.store, 1)[0]
    kinds = sorted(types_of(server.store, project))[:2]
    arguments = ["scan", "gcp", "--lake", lake.uri, "--endpoint", server.endpoint]
    result = CliRunner().invoke(
        main, [*arguments, "--project", project, "--types", ",".join(kinds)]
    )
    assert result.exit_code == 0, result.output
    count = sum(len(of_type(server.store, project, kind)) for kind in kinds)
    assert f"scanned {count} assets" in result.output and f"{count} new" in result.output
    server.service.inject(grpc.StatusCode.PERMISSION_DENIED, 10)
    result = CliRunner().invoke(main, [*arguments, "--project", project])
    assert result.exit_code == 2 and "every scope failed" in result.output
