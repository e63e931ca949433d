"""Helpers of the GCP scan tests: the corpus server, scans with fast retries, lake readers, and
the corpus assets the tests pick and change."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import polars as pl
from gcp_asset_server import AssetStore, RunningServer, project_of, serve

from resolvers.gcp.scan import GcpScanOptions, GcpScanTarget, scan_gcp
from resolvers.ingest import ingest_files
from resolvers.lake.layout import read_table
from resolvers.lake.storage import Lake
from resolvers.scan_scope import ScanReport
from resolvers.timeutil import isoformat, utcnow

ROOT = Path(__file__).resolve().parents[1]
MINUTE = dt.timedelta(minutes=1)
FAST_RETRIES = {"retry_initial": 0.01, "retry_maximum": 0.05, "retry_timeout": 5.0}


@contextmanager
def corpus_server(corpus: Path) -> Iterator[RunningServer]:
    """The AssetService on 127.0.0.1 serving the corpus's assets, present since an hour ago."""
    with serve(AssetStore.from_corpus(corpus, utcnow() - 60 * MINUTE)) as running:
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


def in_projects(store: AssetStore) -> set[str]:
    """The names of the stored assets that belong to a project."""
    return {a.name for a in store.snapshot(utcnow()) if project_of(a) is not None}
