"""Cloud Audit Log resource names to Cloud Asset Inventory full resource names and types.

An audit entry names its resource relative to its service (``protoPayload.resourceName``:
``projects/P/global/firewalls/F``, ``projects/_/buckets/B``, ``projects/-/serviceAccounts/N``);
the lake keys GCP assets by the CAI full resource name (``//compute.googleapis.com/projects/P/
global/firewalls/F``, ``//storage.googleapis.com/B``) so that audit changes and feed versions
meet on one key. The asset type is the CAI one (``compute.googleapis.com/Firewall``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# serviceName -> the service host CAI uses in names, where they differ
NAME_HOSTS = {"sqladmin.googleapis.com": "cloudsql.googleapis.com"}
# the service host of a name -> the one CAI uses in asset types, where they differ
TYPE_HOSTS = {"cloudsql.googleapis.com": "sqladmin.googleapis.com"}
# collection -> CAI kind, where singular + capitalised is not it
KINDS = {
    "iam.googleapis.com/keys": "ServiceAccountKey",
    "sinks": "LogSink",
    "managedZones": "ManagedZone",
    "policies": "Policy",
    "addresses": "Address",
    "ingressRules": "IngressRule",
    "iap_web": "Resource",
}
_PROJECT = re.compile(r"(?:^|/)projects/([^/]+)")
_LOCATION = re.compile(r"/(?:locations|regions|zones)/([^/]+)")


def labels(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    """``resource.labels`` of a LogEntry ({} when absent)."""
    resource = entry.get("resource")
    found = resource.get("labels") if isinstance(resource, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def full_name(service: str, resource_name: str, entry: Mapping[str, Any]) -> str | None:
    """The CAI full resource name of an audit entry's resource, or None if it names none."""
    name = resource_name.strip()
    if name.startswith("//"):
        return name
    name = name.lstrip("/")
    if not name or not service or "." not in service:
        return None
    found = labels(entry)
    if service == "storage.googleapis.com":
        return _storage(name)
    if service == "k8s.io":
        return _kubernetes(name, found)
    project = found.get("project_id") if isinstance(found.get("project_id"), str) else None
    if project and name.startswith("projects/-/"):
        name = f"projects/{project}/" + name[len("projects/-/") :]
    elif project and name.startswith(("managedZones/", "namespaces/")) is True:
        name = f"projects/{project}/{name}"
    return f"//{NAME_HOSTS.get(service, service)}/{name}"


def _storage(name: str) -> str | None:
    parts = name.split("/")
    if len(parts) >= 4 and parts[0] == "projects" and parts[2] == "buckets":
        return f"//storage.googleapis.com/{parts[3]}"
    if name.startswith("projects/"):
        return f"//cloudresourcemanager.googleapis.com/{'/'.join(parts[:2])}"
    return f"//storage.googleapis.com/{parts[0]}" if parts[0] else None


def _kubernetes(name: str, found: Mapping[str, Any]) -> str:
    parts = name.split("/")
    path = "/".join(parts[2:]) if len(parts) > 2 and parts[1].startswith("v") else name
    project, location, cluster = (found.get(k) for k in ("project_id", "location", "cluster_name"))
    if all(isinstance(v, str) and v for v in (project, location, cluster)):
        cluster_name = f"projects/{project}/locations/{location}/clusters/{cluster}"
        return f"//container.googleapis.com/{cluster_name}/k8s/{path}"
    return f"//k8s.io/{path}"


def asset_type(key: str) -> str:
    """The CAI asset type of a full resource name (``//compute.../firewalls/F`` -> Firewall)."""
    host, _, path = key[2:].partition("/")
    parts = [p for p in path.split("/") if p]
    if host == "storage.googleapis.com" and len(parts) == 1:
        return "storage.googleapis.com/Bucket"
    if "/k8s/" in key or host == "k8s.io":
        collection = parts[-2] if len(parts) >= 2 else "Resource"
        return f"k8s.io/{_kind(collection)}"
    collection = parts[-2] if len(parts) >= 2 else (parts[0] if parts else "Resource")
    return f"{TYPE_HOSTS.get(host, host)}/{_kind(collection, host)}"


def _kind(collection: str, host: str = "") -> str:
    for name in (f"{host}/{collection}", collection):
        if name in KINDS:
            return KINDS[name]
    singular = collection[:-1] if collection.endswith("s") else collection
    return singular[:1].upper() + singular[1:]


def project_of(key: str, entry: Mapping[str, Any]) -> str | None:
    """The project of an asset: from its name, else from the entry's resource labels."""
    match = _PROJECT.search(key)
    if match and match.group(1) not in ("_", "-"):
        return match.group(1)
    project = labels(entry).get("project_id")
    return project if isinstance(project, str) and project else None


def location_of(key: str, entry: Mapping[str, Any]) -> str | None:
    """The location (region or zone) of an asset: from its name, else from the labels."""
    match = _LOCATION.search(key)
    if match:
        return match.group(1)
    found = labels(entry)
    for label in ("location", "zone", "region"):
        value = found.get(label)
        if isinstance(value, str) and value:
            return value
    return None
