"""GCP audit entries: asset keys, principals, classification, and the feed attribution view."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from resolvers.gcp.attribution import VIEW_NAME, VIEW_SQL
from resolvers.gcp.audit_log import classify, resolve_audit_entry
from resolvers.gcp.audit_names import asset_type, full_name
from resolvers.ingest import Record, ingest_records
from resolvers.lake.storage import Lake
from resolvers.lake.writer import LakeWriter
from resolvers.query import connect

SALT = b"salt"
FIREWALL = "//compute.googleapis.com/projects/p1/global/firewalls/allow-ssh"


def entry(method: str, resource: str, service: str = "compute.googleapis.com",
          time: str = "2024-05-01T10:00:00Z", **extra: Any) -> dict[str, Any]:  # fmt: skip
    """An admin-activity LogEntry shaped like the ones a log sink delivers."""
    return {
        "insertId": f"ins-{method}-{time}", "timestamp": time,
        "logName": "projects/p1/logs/cloudaudit.googleapis.com%2Factivity",
        "resource": {"type": "gce_firewall_rule", "labels": {"project_id": "p1"}},
        "protoPayload": {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "serviceName": service, "methodName": method, "resourceName": resource,
            "authenticationInfo": {"principalEmail": "alice@example.com"},
            "requestMetadata": {"callerIp": "203.0.113.9", "callerSuppliedUserAgent": "gcloud"},
            **extra,
        },
    }  # fmt: skip


def resolve(record: dict[str, Any]) -> Any:
    """Resolve one entry."""
    return resolve_audit_entry(record, json.dumps(record), "fallback", SALT)


@pytest.mark.parametrize(
    ("service", "resource", "key", "type_name"),
    [
        ("compute.googleapis.com", "projects/p1/global/firewalls/allow-ssh", FIREWALL,
         "compute.googleapis.com/Firewall"),
        ("storage.googleapis.com", "projects/_/buckets/logs", "//storage.googleapis.com/logs",
         "storage.googleapis.com/Bucket"),
        ("iam.googleapis.com", "projects/-/serviceAccounts/123",
         "//iam.googleapis.com/projects/p1/serviceAccounts/123",
         "iam.googleapis.com/ServiceAccount"),
        ("cloudresourcemanager.googleapis.com", "projects/p1",
         "//cloudresourcemanager.googleapis.com/projects/p1",
         "cloudresourcemanager.googleapis.com/Project"),
        ("sqladmin.googleapis.com", "projects/p1/instances/db",
         "//cloudsql.googleapis.com/projects/p1/instances/db",
         "sqladmin.googleapis.com/Instance"),
        ("dns.googleapis.com", "managedZones/zone",
         "//dns.googleapis.com/projects/p1/managedZones/zone", "dns.googleapis.com/ManagedZone"),
    ],
)  # fmt: skip
def test_full_resource_names(service: str, resource: str, key: str, type_name: str) -> None:
    """serviceName + resourceName give the CAI full resource name and asset type."""
    record = entry("x.update", resource, service)
    assert full_name(service, resource, record) == key
    assert asset_type(key) == type_name


def test_change_entries_become_asset_changes() -> None:
    """A firewall insert: its key, the principal, the caller, the action."""
    request = {"name": "allow-ssh", "sourceRanges": ["0.0.0.0/0"]}
    path = "projects/p1/global/firewalls/allow-ssh"
    batch = resolve(entry("v1.compute.firewalls.insert", path, request=request))
    assert batch.raw[0].classification == "change"
    (change,) = batch.changes
    assert (change.asset_key, change.action, change.cloud) == (FIREWALL, "create", "gcp")
    assert change.principal == "alice@example.com" and change.principal_type == "user"
    assert (change.source_ip, change.user_agent) == ("203.0.113.9", "gcloud")
    assert (change.account_id, change.event_source) == ("p1", "compute.googleapis.com")
    assert json.loads(change.request or "{}")["sourceRanges"] == ["0.0.0.0/0"]
    assert batch.observations == []  # the feed carries the state


def test_creations_named_by_their_parent() -> None:
    """CreateServiceAccount on projects/P: the account from the response, else the project."""
    response = {"name": "projects/p1/serviceAccounts/sa@p1.iam.gserviceaccount.com"}
    method = "google.iam.admin.v1.CreateServiceAccount"
    named = resolve(entry(method, "projects/p1", "iam.googleapis.com", response=response))
    assert named.changes[0].asset_key.endswith("/serviceAccounts/sa@p1.iam.gserviceaccount.com")
    assert named.changes[0].action == "create"
    unnamed = resolve(entry("google.devtools.cloudbuild.v1.CloudBuild.CreateBuild",
                            "projects/p1/builds", "cloudbuild.googleapis.com"))  # fmt: skip
    assert unnamed.changes[0].asset_key == "//cloudresourcemanager.googleapis.com/projects/p1"
    assert unnamed.changes[0].relation == "parent"


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("v1.compute.firewalls.get", "read"), ("storage.objects.create", "data"),
        ("SignJwt", "data"), ("google.pubsub.v1.Publisher.Publish", "data"),
        ("SetIamPolicy", "change"), ("v1.compute.instances.delete", "change"),
    ],
)  # fmt: skip
def test_classification(method: str, expected: str) -> None:
    """Reads, data access and changes; an error status wins; no method is unknown."""
    assert classify(entry(method, "projects/p1")) == expected
    assert classify(entry(method, "projects/p1", status={"code": 7})) == "error"
    broken = entry(method, "projects/p1")
    del broken["protoPayload"]["methodName"]
    assert classify(broken) == "unknown"


def test_corpus_entries_are_classified_and_explained(corpus: Path) -> None:
    """Every corpus audit entry lands; every change is an asset change or unresolved."""
    lines = (corpus / "panther_analysis_rule_tests.gcp_audit.jsonl").read_text().splitlines()
    for line in lines:
        batch = resolve_audit_entry(json.loads(line), line, "fallback", SALT)
        if batch.raw[0].classification == "change":
            assert batch.changes or batch.unresolved


# -- attribution of feed versions ---------------------------------------------------------------
def feed(time: str, source_ranges: list[str]) -> dict[str, Any]:
    """A CAI feed message for the firewall."""
    return {
        "asset": {"name": FIREWALL, "assetType": "compute.googleapis.com/Firewall",
                  "resource": {"data": {"name": "allow-ssh", "sourceRanges": source_ranges}},
                  "updateTime": time},
        "window": {"startTime": time},
    }  # fmt: skip


def _records(*values: dict[str, Any]) -> list[Record]:
    return [Record(orjson.dumps(v).decode(), v, f"test:{i}") for i, v in enumerate(values)]


@pytest.mark.parametrize("audit_first", [True, False])
def test_feed_versions_are_attributed_whichever_arrives_first(
    tmp_path: Path, audit_first: bool
) -> None:
    """The view joins the audit principal to the feed version it explains, in either order."""
    audit = _records(
        entry("v1.compute.firewalls.insert", "projects/p1/global/firewalls/allow-ssh",
              time="2024-05-01T09:59:58Z"),
        entry("v1.compute.firewalls.patch", "projects/p1/global/firewalls/allow-ssh",
              time="2024-05-01T11:00:00Z"),
    )  # fmt: skip
    feeds = _records(feed("2024-05-01T10:00:01Z", ["10.0.0.0/8"]),
                     feed("2024-05-01T11:00:03Z", ["0.0.0.0/0"]))  # fmt: skip
    lake = Lake(str(tmp_path / "lake")).create()
    writer = LakeWriter(lake)
    batches = [audit, feeds] if audit_first else [feeds, audit]
    for records in batches:
        ingest_records(writer, records, "gcp_asset_feed")
    con = connect(lake)
    con.execute(VIEW_SQL)
    rows = con.execute(
        f"SELECT version, changed_by, attributed_principal, attributed_event_id "
        f"FROM {VIEW_NAME} WHERE asset_key = ? ORDER BY version",
        [FIREWALL],
    ).fetchall()
    assert [r[0] for r in rows] == [1, 2]
    assert [r[2] for r in rows] == ["alice@example.com", "alice@example.com"]
    assert rows[0][3].startswith("ins-v1.compute.firewalls.insert")
    assert rows[1][3].startswith("ins-v1.compute.firewalls.patch")
