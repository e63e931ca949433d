"""GCP full scans against a local AssetService serving the corpus's real CAI snapshots:
onboarding, agreement with the feed, drift and its attribution, scoped deletion.

Every test starts the server (tests/gcp_asset_server.py) on 127.0.0.1 and scans into a fresh
lake; tests/test_gcp_scan_faults.py has faults, paging, a killed scan and races.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import polars as pl
import pytest
from gcp_asset_server import RunningServer, feed_message, pubsub_asset
from gcp_scan_helpers import (
    MINUTE,
    audit_entry,
    busy_projects,
    corpus_server,
    current,
    in_projects,
    ingest_feed,
    labelled,
    of_type,
    relabel,
    reports,
    scan,
    twin,
    types_of,
    versions,
)  # fmt: skip
from google.cloud.asset_v1 import types as asset_types
from google.protobuf import json_format

from resolvers.demo_snapshots import load_snapshots
from resolvers.gcp.asset_feed import asset_observation
from resolvers.gcp.scan import asset_json, scan_gcp_project
from resolvers.lake.layout import read_table
from resolvers.lake.storage import Lake
from resolvers.timeutil import utcnow

pytestmark = pytest.mark.service


@pytest.fixture
def server(corpus: Path) -> Iterator[RunningServer]:
    """The AssetService on 127.0.0.1 over the corpus, stopped after the test."""
    with corpus_server(corpus) as running:
        yield running


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
