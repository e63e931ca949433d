"""GCP full scans against a local AssetService serving the corpus's real CAI snapshots.

Every test starts the server (tests/gcp_asset_server.py) on 127.0.0.1 and scans into a fresh
lake: onboarding, agreement with the feed, drift, scoped deletion, faults, paging, a scan killed
halfway, and a feed event newer than the scan's read time.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import orjson
import polars as pl
import pytest
from click.testing import CliRunner
from gcp_asset_server import (
    AssetStore,
    RunningServer,
    feed_message,
    project_of,
    pubsub_asset,
    serve,
)
from google.api_core import exceptions as api_exceptions
from google.cloud.asset_v1 import ContentType, ListAssetsRequest
from google.cloud.asset_v1 import types as asset_types
from google.protobuf import json_format

from pipelines.cli import main
from resolvers.demo_data import load_snapshots
from resolvers.gcp.asset_feed import asset_observation
from resolvers.gcp.scan import (
    GcpScanOptions,
    GcpScanTarget,
    asset_json,
    make_client,
    scan_gcp,
    scan_gcp_project,
)
from resolvers.ingest import ingest_files
from resolvers.lake.layout import read_table
from resolvers.lake.storage import Lake
from resolvers.scan_scope import ScanReport
from resolvers.timeutil import isoformat, utcnow

pytestmark = pytest.mark.service

ROOT = Path(__file__).resolve().parents[1]
MINUTE = dt.timedelta(minutes=1)
FAST_RETRIES = {"retry_initial": 0.01, "retry_maximum": 0.05, "retry_timeout": 5.0}


@pytest.fixture
def store(corpus: Path) -> AssetStore:
    """The corpus's assets, present since an hour ago."""
    return AssetStore.from_corpus(corpus, utcnow() - 60 * MINUTE)


@pytest.fixture
def server(store: AssetStore) -> Iterator[RunningServer]:
    """The AssetService on 127.0.0.1, stopped after the test."""
    with serve(store) as running:
        yield running


def scan(
    lake: Lake, server: RunningServer, projects: list[str] | None = None, **options: Any
) -> ScanReport:
    """A scan of some projects (default: every project) with fast retries."""
    types = tuple(options.pop("types", ()))
    orgs = tuple(options.pop("orgs", ()))
    if projects is None and not orgs:
        projects = server.store.projects()
    target = GcpScanTarget(projects=tuple(projects or ()), organizations=orgs, asset_types=types)
    options.setdefault("read_time", utcnow())  # after the changes a test just made
    return scan_gcp(lake, target, GcpScanOptions(server.endpoint, **{**FAST_RETRIES, **options}))


def versions(lake: Lake) -> pl.DataFrame:
    """asset_versions as readers see it, in key order."""
    return read_table(lake, "asset_versions").collect().sort("asset_key", "valid_from")


def current(lake: Lake) -> dict[str, dict[str, Any]]:
    """The current version of every asset, by key."""
    rows = versions(lake).filter(pl.col("is_current")).to_dicts()
    return {row["asset_key"]: row for row in rows}


def observations(lake: Lake) -> int:
    """How many observations the lake has logged."""
    return read_table(lake, "asset_observations").select(pl.len()).collect().item()


def reports(lake: Lake, scan_id: str) -> pl.DataFrame:
    """The scan_reports rows of one scan."""
    return lake.scan("scan_reports").filter(pl.col("scan_id") == scan_id).collect()


def ingest_feed(lake: Lake, path: Path, messages: list[dict[str, Any]]) -> None:
    """Feed messages (TemporalAsset JSON lines) through the ingest path."""
    path.write_bytes(b"\n".join(orjson.dumps(message) for message in messages))
    ingest_files(lake, [path])


def audit_entry(name: str, principal: str) -> dict[str, Any]:
    """An admin-activity audit entry: ``principal`` patched asset ``name`` just now."""
    service, _, relative = name[2:].partition("/")
    collection = relative.split("/")[-2]
    return {
        "insertId": "audit-1",
        "logName": "projects/p/logs/cloudaudit.googleapis.com%2Factivity",
        "timestamp": isoformat(utcnow()),
        "resource": {"type": "audited_resource", "labels": {}},
        "protoPayload": {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "serviceName": service,
            "methodName": f"v1.{service.split('.')[0]}.{collection}.patch",
            "resourceName": relative,
            "authenticationInfo": {"principalEmail": principal},
        },
    }


def busy_projects(store: AssetStore, count: int) -> list[str]:
    """Projects with several types and assets the corpus holds in several states, biggest
    first (the most to scope by and to change)."""

    def busy(project: str) -> tuple[bool, bool, int]:
        names = store.names(project)
        return (len(types_of(store, project)) > 1, len(labelled(store, project)) > 2, len(names))

    return sorted(store.projects(), key=busy, reverse=True)[:count]


def labelled(store: AssetStore, project: str) -> list[str]:
    """A project's assets with resource data (their labels can change)."""
    return [
        name
        for name in store.names(project)
        if isinstance((store.document(name) or {}).get("resource", {}).get("data"), dict)
    ]


def relabel(store: AssetStore, name: str, at: dt.datetime | None = None) -> dict[str, Any]:
    """A new state of an asset: a label added (a real change of config and tags)."""
    document = orjson.loads(orjson.dumps(store.document(name)))
    data = document["resource"]["data"]
    data["labels"] = {**(data.get("labels") or {}), "scanned": "changed"}
    store.put(document, at)
    return document


def twin(store: AssetStore, name: str, suffix: str) -> dict[str, Any]:
    """A new asset of the same project and type: a copy of ``name`` under another name."""
    document = store.document(name)
    assert document is not None
    return {**document, "name": name + suffix}


def types_of(store: AssetStore, project: str) -> Counter[str]:
    """How many assets of each type a project holds."""
    return Counter(a.asset_type for a in store.snapshot(utcnow()) if project_of(a) == project)


def of_type(store: AssetStore, project: str, asset_type: str) -> list[str]:
    """The names of a project's assets of one type."""
    return [
        a.name
        for a in store.snapshot(utcnow())
        if project_of(a) == project and a.asset_type == asset_type
    ]


# -- onboarding and agreement with the feed -----------------------------------------------------
def test_first_scan_onboards_every_asset(lake: Lake, server: RunningServer) -> None:
    report = scan(lake, server)
    rows = versions(lake)
    expected = in_projects(server.store)
    assert set(rows["asset_key"]) == expected and rows.height == len(expected)
    assert set(rows["change_source"]) == {"scan"} and set(rows["version"]) == {1}
    assert rows["valid_from"].unique().to_list() == [report.read_time]
    assert not rows["is_deleted"].any() and rows["changed_by"].null_count() == rows.height
    drift = reports(lake, report.scan_id)
    assert set(drift["status"]) == {"complete"}
    assert drift["new_assets"].sum() == len(expected) == report.total("scanned_assets")
    assert drift["changed_assets"].sum() == drift["deleted_assets"].sum() == 0
    by_scope = {(r["account_id"], r["resource_type"]): r["new_assets"] for r in drift.to_dicts()}
    for project in server.store.projects():
        for asset_type, count in types_of(server.store, project).items():
            assert by_scope[(project, asset_type)] == count

    again = scan(lake, server, read_time=report.read_time)  # the same scan once more
    assert again.scan_id == report.scan_id and versions(lake).equals(rows)
    assert reports(lake, report.scan_id).height == drift.height


def in_projects(store: AssetStore) -> set[str]:
    """The names of the stored assets that belong to a project."""
    return {a.name for a in store.snapshot(utcnow()) if project_of(a) is not None}


def test_org_scan_covers_assets_outside_projects(lake: Lake, server: RunningServer) -> None:
    report = scan(lake, server, orgs=["1234"])
    assert set(versions(lake)["asset_key"]) == set(server.store.names())
    outside = reports(lake, report.scan_id).filter(pl.col("scope") == "organizations/1234")
    assert outside["new_assets"].sum() == len(server.store.names()) - len(in_projects(server.store))


def test_scan_agrees_with_the_feed(lake: Lake, server: RunningServer, tmp_path: Path) -> None:
    """Feed and scan give one asset state the same config and hash: after the feed told the
    lake everything (creations, then changes), a scan finds nothing new, across every type."""
    store = server.store
    onboarded = store.snapshot(utcnow())[0].update_time.ToDatetime(tzinfo=dt.UTC)
    names = store.names()
    ingest_feed(
        lake, tmp_path / "created.jsonl",
        [feed_message(store.document(name), name, onboarded) for name in names],
    )  # fmt: skip
    changed_at = utcnow() - 10 * MINUTE
    changed = [name for name in names if store.variants[name]]
    for name in changed:
        store.put(store.variants[name][0], changed_at)
    ingest_feed(
        lake, tmp_path / "changed.jsonl",
        [feed_message(store.document(name), name, changed_at) for name in changed],
    )  # fmt: skip
    before = versions(lake)
    assert before.filter(pl.col("version") == 2).height == len(changed) > 10

    report = scan(lake, server, orgs=["1234"])
    assert report.total("unchanged_assets") == len(names)
    assert report.total("new_assets") + report.total("changed_assets") == 0
    after = versions(lake)
    assert after.height == before.height
    assert (
        after.drop("last_observed_at")
        .sort("asset_key", "valid_from")
        .equals(before.drop("last_observed_at").sort("asset_key", "valid_from"))
    )
    logged = read_table(lake, "asset_observations").collect().sort("event_time")
    configs = {
        source: dict(zip(frame["asset_key"], frame["config"], strict=True))  # the latest wins
        for source, frame in logged.group_by("change_source")
    }
    assert configs[("scan",)] == configs[("event",)]  # not only the hash: the same text


def test_every_corpus_state_maps_like_its_feed_message(corpus: Path) -> None:
    """The scanner's reading of an Asset message and the feed's reading of the same asset as
    Pub/Sub JSON give one observation: config text, hash, account, region, name, tags."""
    at = utcnow()
    states = [state for found in load_snapshots(corpus).values() for state in found]
    for state in states:
        message = json_format.ParseDict(state, asset_types.Asset.pb()())
        scanned, streamed = asset_json(message), pubsub_asset(state)
        assert same_observation(scanned, streamed, at), state["name"]
    assert len(states) > 300


def same_observation(scanned: dict[str, Any], streamed: dict[str, Any], at: dt.datetime) -> bool:
    """Whether two Asset documents give the same observation."""
    seen = [
        asset_observation(doc["name"], doc["assetType"], doc, at, (), b"salt", change_source=source)
        for doc, source in ((scanned, "scan"), (streamed, "event"))
    ]
    fields = ("config", "config_hash", "account_id", "region", "name", "tags", "resource_type")
    return all(getattr(seen[0], name) == getattr(seen[1], name) for name in fields)


# -- drift and scoped deletion ------------------------------------------------------------------
def test_scan_records_what_the_feed_missed(
    lake: Lake, server: RunningServer, tmp_path: Path
) -> None:
    store = server.store
    first = scan(lake, server)
    project = busy_projects(store, 1)[0]
    names = store.names(project)
    changed = labelled(store, project)[:2]
    gone = next(name for name in names if name not in changed)
    store.delete(gone)
    for name in changed:
        relabel(store, name)
    created = twin(store, names[-1], "-copy")
    store.put(created)
    ingest_feed(lake, tmp_path / "audit.jsonl", [audit_entry(changed[0], "alice@example.com")])

    report = scan(lake, server)
    assert report.read_time > first.read_time
    now = current(lake)
    assert now[gone]["is_deleted"] and now[gone]["valid_from"] == report.read_time
    for name in changed:
        assert now[name]["version"] == 2 and now[name]["change_source"] == "scan"
        assert not now[name]["is_deleted"]
    assert now[changed[0]]["changed_by"] == "alice@example.com"  # the audit entry in between
    assert now[changed[0]]["change_event_ids"] == ["audit-1"]
    assert now[changed[1]]["changed_by"] is None and now[changed[1]]["change_event_ids"] == []
    assert now[created["name"]]["version"] == 1
    drift = reports(lake, report.scan_id).filter(pl.col("account_id") == project)
    assert (drift["new_assets"].sum(), drift["changed_assets"].sum()) == (1, len(changed))
    assert drift["deleted_assets"].sum() == 1
    missed = drift.filter(pl.col("deleted_assets") > 0).row(0, named=True)
    assert missed["missed_rate"] == pytest.approx(1 / (missed["scanned_assets"] + 1))
    assert report.total("changed_assets") == len(changed)


def test_deletions_only_inside_completed_scopes(lake: Lake, server: RunningServer) -> None:
    store = server.store
    first, second = busy_projects(store, 2)
    kinds = [kind for kind, _ in types_of(store, first).most_common(2)]
    scan(lake, server, [first, second])
    in_scope = of_type(store, first, kinds[0])[0]
    other_type = of_type(store, first, kinds[1])[0]
    denied_type = next(kind for kind in types_of(store, second) if kind != kinds[1])
    denied = of_type(store, second, denied_type)[0]
    for name in (in_scope, other_type, denied):
        store.delete(name)
    server.service.inject(grpc.StatusCode.PERMISSION_DENIED, 100, parent=f"projects/{second}")
    scan_types = sorted({kinds[0], denied_type})

    report = scan(lake, server, [first, second], types=scan_types)
    now = current(lake)
    assert now[in_scope]["is_deleted"] and now[in_scope]["change_source"] == "scan"
    assert not now[other_type]["is_deleted"] and not now[denied]["is_deleted"]
    assert versions(lake).filter(pl.col("is_deleted")).height == 1
    drift = reports(lake, report.scan_id)
    refused = drift.filter(pl.col("account_id") == second)
    assert set(refused["status"]) == {"denied"} and refused.height == len(set(scan_types))
    assert refused["error"].str.contains("PERMISSION_DENIED").all()
    assert report.failed_scopes == [f"projects/{second}"]
    assert drift.filter(pl.col("resource_type") == kinds[0])["deleted_assets"].sum() == 1

    server.service.faults.clear()  # the next complete scan completes the deletions
    scan(lake, server, [first, second])
    now = current(lake)
    assert now[other_type]["is_deleted"] and now[denied]["is_deleted"]


def test_scan_gcp_project_is_one_project_scope(lake: Lake, server: RunningServer) -> None:
    project = busy_projects(server.store, 1)[0]
    kind = types_of(server.store, project).most_common(1)[0][0]
    report = scan_gcp_project(lake, project, [kind], endpoint=server.endpoint)
    assert set(versions(lake)["asset_key"]) == set(of_type(server.store, project, kind))
    assert [(r.scope, r.resource_type, r.status) for r in report.rows] == [
        (f"projects/{project}", kind, "complete")
    ]


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
    logged = read_table(lake, "asset_observations").collect().height
    server.store.delete(server.store.names(project)[0])
    server.service.inject(
        grpc.StatusCode.INTERNAL, 1, parent=f"projects/{project}", mid_paging=True
    )
    report = scan(lake, server, [project], page_size=5)
    assert [row.status for row in report.rows] == ["failed"]
    assert not versions(lake)["is_deleted"].any()
    assert read_table(lake, "asset_observations").collect().height == logged


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
