"""Events as event rules see them, from any of the three places they live, and their judging.

- an ``asset_changes`` row (the contract path: the resolver already found the asset);
- a CloudTrail record (from ``raw_events`` or a file): the asset is found with the AWS event
  catalog, the same one the resolver uses, so both paths give the same keys;
- a Cloud Audit Log entry: the asset is named from ``serviceName`` and ``resourceName``.

The whole record, where at hand, lets rules read what asset_changes does not keep
(``additionalEventData.MFAUsed`` of a ConsoleLogin).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson

from resolvers.aws import catalog, cloudtrail
from resolvers.compliance.catalog import Registry
from resolvers.compliance.intervals import Judged
from resolvers.compliance.rules._docs import base_name, get
from resolvers.compliance.spec import EMPTY, Event, Rule
from resolvers.timeutil import parse_time

GCP_TYPES = (  # (service, resourceName pattern, asset type, key template)
    ("storage.googleapis.com", re.compile(r"^projects/_/buckets/([^/]+)$"),
     "storage.googleapis.com/Bucket", "//storage.googleapis.com/{0}"),
    ("cloudresourcemanager.googleapis.com", re.compile(r"^(projects/[^/]+)$"),
     "cloudresourcemanager.googleapis.com/Project", "//cloudresourcemanager.googleapis.com/{0}"),
    ("cloudkms.googleapis.com", re.compile(r"^(projects/.+/cryptoKeys/[^/]+)$"),
     "cloudkms.googleapis.com/CryptoKey", "//cloudkms.googleapis.com/{0}"),
    ("bigquery.googleapis.com", re.compile(r"^(projects/[^/]+/datasets/[^/]+)$"),
     "bigquery.googleapis.com/Dataset", "//bigquery.googleapis.com/{0}"),
    ("compute.googleapis.com", re.compile(r"^(projects/[^/]+/global/firewalls/[^/]+)$"),
     "compute.googleapis.com/Firewall", "//compute.googleapis.com/{0}"),
)  # fmt: skip


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else EMPTY


def _json(text: Any) -> Mapping[str, Any]:
    if not isinstance(text, str) or not text:
        return EMPTY
    try:
        return _mapping(orjson.loads(text))
    except orjson.JSONDecodeError:
        return EMPTY


# -- building events ----------------------------------------------------------------------------
def event_from_change(row: Mapping[str, Any]) -> Event:
    """An asset_changes row (request/response are JSON text)."""
    return Event(
        event_id=row["event_id"],
        event_time=row["event_time"],
        cloud=row.get("cloud") or "aws",
        event_source=row.get("event_source") or "",
        event_name=row.get("event_name") or "",
        asset_key=row.get("asset_key"),
        resource_type=row.get("resource_type"),
        account_id=row.get("account_id"),
        region=row.get("region"),
        principal=row.get("principal"),
        principal_type=row.get("principal_type"),
        request=_json(row.get("request")),
        response=_json(row.get("response")),
    )


def events_from_cloudtrail(record: Mapping[str, Any], fallback_id: str = "") -> list[Event]:
    """One event per asset the record touched (catalog ARNs), or one without an asset."""
    detail = cloudtrail.unwrap(record)
    source, name = str(detail.get("eventSource") or ""), str(detail.get("eventName") or "")
    try:
        when = parse_time(detail.get("eventTime"))
    except ValueError:
        return []
    entry = catalog.lookup(source, name)
    keys: list[str | None] = list(entry.arns(record)) if entry is not None else []
    identity = _mapping(detail.get("userIdentity"))
    base = Event(
        event_id=str(detail.get("eventID") or fallback_id),
        event_time=when,
        cloud="aws",
        event_source=source,
        event_name=name,
        resource_type=entry.resource_type if entry is not None else None,
        account_id=catalog.account_of(detail),
        region=detail.get("awsRegion"),
        principal=identity.get("arn"),
        principal_type=identity.get("type"),
        request=_mapping(detail.get("requestParameters")),
        response=_mapping(detail.get("responseElements")),
        record=detail,
        error=detail.get("errorCode") or None,
    )
    return [dataclasses.replace(base, asset_key=key) for key in keys or [None]]


def gcp_asset(service: str, resource_name: str) -> tuple[str | None, str | None]:
    """The CAI asset name and type an audit entry's resource stands for, where known."""
    for known, pattern, type_name, template in GCP_TYPES:
        found = pattern.match(resource_name) if service == known else None
        if found:
            return template.format(found.group(1)), type_name
    if not resource_name:
        return None, None
    return f"//{service}/{resource_name}", None


def event_from_audit(entry: Mapping[str, Any], fallback_id: str = "") -> Event | None:
    """A Cloud Audit Log entry (None when it has no time)."""
    proto = _mapping(entry.get("protoPayload"))
    try:
        when = parse_time(entry.get("timestamp") or entry.get("receiveTimestamp"))
    except ValueError:
        return None
    service = str(proto.get("serviceName") or "")
    asset_key, type_name = gcp_asset(service, str(proto.get("resourceName") or ""))
    status = _mapping(proto.get("status"))
    return Event(
        event_id=str(entry.get("insertId") or fallback_id),
        event_time=when,
        cloud="gcp",
        event_source=service,
        event_name=str(proto.get("methodName") or ""),
        asset_key=asset_key,
        resource_type=type_name,
        account_id=get(entry, "resource", "labels", "project_id"),
        principal=get(proto, "authenticationInfo", "principalEmail"),
        request=_mapping(proto.get("request")),
        response=_mapping(proto.get("response")),
        record=entry,
        error=str(status.get("code")) if status.get("code") not in (None, 0) else None,
    )


def events_from_raw(payload: str, event_id: str) -> list[Event]:
    """The events of one raw_events payload (CloudTrail, EventBridge or audit entry)."""
    try:
        record = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(record, Mapping):
        return []
    if isinstance(record.get("protoPayload"), Mapping):
        event = event_from_audit(record, event_id)
        return [event] if event is not None else []
    return events_from_cloudtrail(record, event_id)


# -- judging ------------------------------------------------------------------------------------
class EventIndex:
    """The event rules of a registry by (event source, base event name)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        index: dict[tuple[str, str], list[Rule]] = {}
        for rule in registry.event_rules:
            for spec in rule.events:
                source, name = spec.split(":", 1)
                index.setdefault((source, base_name(name)), []).append(rule)
        self._index = {key: tuple(rules) for key, rules in index.items()}
        self.names: frozenset[str] = frozenset(name for _, name in self._index)
        self.account_wide_names: frozenset[str] = frozenset(
            base_name(spec.split(":", 1)[1])
            for rule in registry.event_rules
            if account_wide(rule)
            for spec in rule.events
        )

    def rules_for(self, event: Event) -> tuple[Rule, ...]:
        """The event rules that read this event."""
        return self._index.get((event.event_source, base_name(event.event_name)), ())


def region_key(account_id: str | None, region: str | None) -> str:
    """What a region-scoped act and its reversal share."""
    return f"{account_id}/{region}"


def account_wide(rule: Rule) -> bool:
    """Rules whose findings are not keyed by the event's own asset (region scope, or a target):
    their history is looked up by account."""
    return rule.scope == "region" or rule.target is not None


def judge_events(events: Iterable[Event], index: EventIndex, source: str) -> Iterator[Judged]:
    """Each event judged by each event rule that reads it (failed calls are skipped).

    ``source`` ('changes' or 'raw') is kept in the evidence: findings opened from raw records
    are their own log (see evaluate.py).
    """
    for event in events:
        if event.error:
            continue
        for rule in index.rules_for(event):
            verdict = rule.check(event)
            if verdict is None:
                continue
            located = rule.target(event) if rule.target else (event.asset_key, event.resource_type)
            asset_key, resource_type = located or (None, None)
            if not asset_key:
                continue
            evidence = {"event_name": event.event_name, "principal": event.principal}
            evidence["source"] = source
            match_key = asset_key
            if rule.scope == "region":
                match_key = region_key(event.account_id, event.region)
                evidence["region"] = event.region
            yield Judged(
                rule_id=rule.id,
                match_key=match_key,
                asset_key=asset_key,
                resource_type=resource_type,
                account_id=event.account_id,
                event_id=event.event_id,
                event_time=event.event_time,
                failed=verdict.failed,
                evidence={**evidence, **verdict.evidence},
            )
