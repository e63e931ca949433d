"""GCP Cloud Audit Log entries (LogEntry with an AuditLog protoPayload) to asset changes.

Admin-activity entries for changes become asset_changes rows: the asset is the CAI full resource
name built from ``serviceName`` + ``resourceName`` (:mod:`resolvers.gcp.audit_names`), the
principal is ``authenticationInfo.principalEmail``. Audit entries carry no whole state, so they
produce no observation: the Cloud Asset Inventory feed does (its versions are attributed to the
audit principal by the ``asset_versions_attributed`` view, :mod:`resolvers.gcp.attribution`),
and audit entries for types the feed does not cover stand as asset_changes on their own.
Data-access entries (object reads and writes, Publish, Encrypt, token minting) are ``data``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from resolvers.canonical import canonicalize
from resolvers.gcp.audit_names import asset_type, full_name, location_of, project_of
from resolvers.model import AssetChange, RawRecord, ResolvedBatch, Unresolved
from resolvers.timeutil import parse_time

SOURCE = "gcp_audit_log"
READ_VERBS = (
    "get", "list", "search", "query", "lookup", "read", "describe", "aggregated", "fetch",
    "testIamPermissions", "check", "healthz", "readyz", "livez", "watch",
)  # fmt: skip
DATA_VERBS = (
    "encrypt", "decrypt", "sign", "publish", "pull", "acknowledge", "generateaccesstoken",
    "generateidtoken", "signjwt", "signblob", "authorizeuser", "connect", "exec", "attach",
    "portforward", "insertjob", "jobservice.insert",
)  # fmt: skip
DATA_METHOD_PARTS = ("storage.objects.", ".objects.", "pods.exec", "pods.attach")
CREATE_VERBS = ("create", "insert", "add")
DELETE_VERBS = ("delete", "remove", "destroy")
_NOUN_VERB = re.compile(r"^(create|insert|delete|destroy|remove|add)([A-Z]\w*)$", re.IGNORECASE)
CONTAINERS = frozenset({"projects", "organizations", "folders", "locations", "zones", "regions"})


def is_audit_entry(record: Mapping[str, Any]) -> bool:
    """A LogEntry carrying an audit log payload."""
    return isinstance(record.get("protoPayload"), Mapping)


def _text(mapping: Any, key: str) -> str | None:
    value = mapping.get(key) if isinstance(mapping, Mapping) else None
    return value if isinstance(value, str) and value else None


def _verb(method: str) -> str:
    return method.rsplit(".", 1)[-1]


def classify(entry: Mapping[str, Any]) -> str:
    """change | read | data | error | unknown, from the log, the method name and the status."""
    payload = entry.get("protoPayload")
    if not isinstance(payload, Mapping):
        return "unknown"
    status = payload.get("status")
    if isinstance(status, Mapping) and status.get("code") not in (None, 0, "0"):
        return "error"
    method = _text(payload, "methodName")
    if method is None:
        return "unknown"
    verb = _verb(method)
    if verb.startswith(READ_VERBS) or verb.lower().startswith(("get", "list")):
        return "read"
    lowered = method.lower()
    if verb.lower().startswith(DATA_VERBS) or any(p in lowered for p in DATA_METHOD_PARTS):
        return "data"
    if lowered.endswith(DATA_VERBS) or "data_access" in (_text(entry, "logName") or ""):
        return "data"
    return "change"


def _event_time(entry: Mapping[str, Any]) -> dt.datetime | None:
    try:
        return parse_time(entry.get("timestamp") or entry.get("receiveTimestamp"))
    except (ValueError, TypeError, OverflowError):
        return None


def resolve_audit_entry(
    entry: Mapping[str, Any], payload: str, fallback_id: str, salt: bytes = b""
) -> ResolvedBatch:
    """One audit log entry into raw_events and, for a change, its asset_changes row."""
    proto = entry.get("protoPayload")
    proto = proto if isinstance(proto, Mapping) else {}
    event_id = _text(entry, "insertId") or fallback_id
    event_time = _event_time(entry)
    classification = classify(entry)
    service, method = _text(proto, "serviceName"), _text(proto, "methodName")
    resource = _text(proto, "resourceName") or ""
    key = full_name(service or "", resource, entry)
    project = project_of(key or resource, entry)
    raw = RawRecord(event_id, SOURCE, "gcp", project, None, event_time, classification, payload)
    batch = ResolvedBatch(raw=[raw])

    def unresolved(reason: str, detail: str) -> None:
        batch.unresolved.append(
            Unresolved(event_id, SOURCE, reason, detail, service, method, event_time)
        )

    if classification == "unknown":
        unresolved("unknown_event", f"no methodName in audit entry ({service})")
    elif classification == "change":
        if event_time is None:
            unresolved("no_event_time", "a change entry without a readable timestamp")
        elif key is None:
            unresolved("no_identifier", f"{service} {method}: no resource name")
        else:
            batch.changes.append(_change(entry, proto, event_id, event_time, key, salt))
    return batch


def _change(
    entry: Mapping[str, Any],
    proto: Mapping[str, Any],
    event_id: str,
    event_time: dt.datetime,
    key: str,
    salt: bytes,
) -> AssetChange:
    asset, action, relation = _target(proto, key)
    auth = proto.get("authenticationInfo")
    metadata = proto.get("requestMetadata")
    email = _text(auth, "principalEmail")
    return AssetChange(
        event_id=event_id, asset_key=asset, cloud="gcp", account_id=project_of(asset, entry),
        region=location_of(asset, entry), resource_type=asset_type(asset), action=action,
        event_source=_text(proto, "serviceName") or "", event_name=_text(proto, "methodName") or "",
        event_time=event_time, principal=email or _text(auth, "principalSubject"),
        principal_type=_principal_type(email), source_ip=_caller_ip(metadata),
        user_agent=_text(metadata, "callerSuppliedUserAgent"), invoked_by=None,
        request=_json(proto.get("request"), salt), response=_json(proto.get("response"), salt),
        principal_id=_text(auth, "principalSubject"), session_issuer=_delegator(auth),
        relation=relation,
    )  # fmt: skip


def _target(proto: Mapping[str, Any], key: str) -> tuple[str, str, str]:
    """(asset, action, relation): a creation that names only its parent (CreateServiceAccount
    on ``projects/P``) is its own resource when the response names it, else an update of the
    project or organisation that holds it; a method on another collection than the resource's
    (``dns.changes.create`` on a managed zone) updates the resource."""
    method = _text(proto, "methodName") or ""
    verb = _verb(method).lower()
    created = _created_name(proto, key)
    if created is not None:
        return created, "create", "target"
    if _is_container(key):
        holder = _holder(key)
        if holder != key or verb.startswith(CREATE_VERBS):
            return holder, "update", "parent"
    if not _same_collection(method, key):
        return key, "update", "target"
    if verb.startswith(CREATE_VERBS):
        return key, "create", "target"
    if verb.startswith(DELETE_VERBS):
        return key, "delete", "target"
    return key, "update", "target"


def _path(key: str) -> list[str]:
    return [p for p in key[2:].split("/")[1:] if p]


def _created_name(proto: Mapping[str, Any], key: str) -> str | None:
    response = proto.get("response")
    name = _text(response, "name")
    if name is None or not name.startswith(("projects/", "organizations/", "folders/")):
        return None
    candidate = f"//{key[2:].split('/', 1)[0]}/{name}"
    deeper = len(_path(candidate)) > len(_path(key))
    return candidate if deeper and _path(candidate)[:2] == _path(key)[:2] else None


def _is_container(key: str) -> bool:
    """Whether a name is a project, organisation, location or collection, not a resource."""
    parts = _path(key)
    if key.startswith("//storage.googleapis.com/") and len(parts) == 1:
        return False  # a bucket
    if len(parts) >= 2 and parts[-2] in CONTAINERS:
        return not key.startswith("//cloudresourcemanager.googleapis.com/")
    last = parts[-1] if parts else ""
    return len(parts) >= 3 and parts[-3] in CONTAINERS and last.isalpha() and last.islower()


def _holder(key: str) -> str:
    """The project, folder or organisation a container name belongs to."""
    parts = _path(key)
    if len(parts) >= 2 and parts[0] in ("projects", "organizations", "folders"):
        return f"//cloudresourcemanager.googleapis.com/{parts[0]}/{parts[1]}"
    return key


def _same_collection(method: str, key: str) -> bool:
    """Whether a method acts on the key's own collection: ``v1.compute.firewalls.insert`` on a
    firewall, ``google.iam.admin.v1.CreateRole`` on a role."""
    segments = method.split(".")
    parts = _path(key)
    named = _NOUN_VERB.match(segments[-1])
    if named:  # CreateRole, addGroupMember: the noun must be the key's kind
        kind = asset_type(key).rsplit("/", 1)[-1]
        return kind.lower().endswith(named.group(2).lower())
    if len(segments) < 3 or len(parts) < 2:
        return True
    collection = segments[-2]
    return collection == parts[-2] or not collection.islower() or collection in CONTAINERS


def _caller_ip(metadata: Any) -> str | None:
    return _text(metadata, "callerIp") or _text(metadata, "callerIP")


def _principal_type(email: str | None) -> str | None:
    if email is None:
        return None
    return "serviceAccount" if email.endswith(".gserviceaccount.com") else "user"


def _delegator(auth: Any) -> str | None:
    chain = auth.get("serviceAccountDelegationInfo") if isinstance(auth, Mapping) else None
    if not isinstance(chain, list) or not chain or not isinstance(chain[0], Mapping):
        return None
    first = chain[0].get("firstPartyPrincipal")
    return _text(first, "principalEmail")


def _json(value: Any, salt: bytes) -> str | None:
    return None if value is None else canonicalize(value, salt).json
