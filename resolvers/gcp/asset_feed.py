"""GCP Cloud Asset Inventory feed messages (TemporalAsset) to observations and changes.

A feed message carries the whole asset, so the state comes from the message itself: no API call
is ever needed. Both spellings are accepted: camelCase as Pub/Sub delivers feed messages
(``assetType``, ``priorAssetState``, ``window.startTime``) and snake_case as exports and the
client libraries write them (``asset_type``, ``prior_asset_state``, ``window.start_time``).
A bare Asset (an export line) with an update time is an observation at that time.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from resolvers.canonical import canonical_bytes
from resolvers.model import AssetChange, Observation, RawRecord, ResolvedBatch, Unresolved
from resolvers.observe import observation
from resolvers.timeutil import parse_time

SOURCE = "gcp_asset_feed"
EVENT_SOURCE = "cloudasset.googleapis.com"
CONTENT_KEYS = {
    "resource": "resource",
    "iamPolicy": "iam_policy",
    "orgPolicy": "org_policy",
    "accessPolicy": "access_policy",
    "accessLevel": "access_level",
    "servicePerimeter": "service_perimeter",
    "osInventory": "os_inventory",
}
_PROJECT_IN_NAME = re.compile(r"/projects/([^/]+)")
_LOCATION_IN_NAME = re.compile(r"/(?:locations|regions|zones)/([^/]+)")


class FeedRecordError(ValueError):
    """A feed message that cannot be read; ``reason`` goes to unresolved_events."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


_ABSENT = object()


def _get(mapping: Mapping[str, Any], camel: str, snake: str | None = None) -> Any:
    """A field under its camelCase or snake_case name."""
    value = mapping.get(camel, _ABSENT)
    if value is _ABSENT:
        return mapping.get(snake or _snake(camel))
    return value


@functools.cache
def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def is_feed_record(record: Mapping[str, Any]) -> bool:
    """Whether a JSON object looks like a TemporalAsset or a bare CAI Asset."""
    if "window" in record and (
        "asset" in record or "priorAsset" in record or "prior_asset" in record
    ):
        return True
    return "name" in record and ("assetType" in record or "asset_type" in record)


def feed_event_id(record: Mapping[str, Any]) -> str:
    """A deterministic id for a feed message: the same message always gets the same id."""
    return "cai-" + hashlib.sha256(canonical_bytes(record)).hexdigest()[:32]


def _asset_and_time(
    record: Mapping[str, Any],
) -> tuple[Mapping[str, Any], Any, bool, Mapping | None]:
    if "window" in record:
        window = record.get("window")
        if not isinstance(window, Mapping):
            raise FeedRecordError("malformed", "window is not an object")
        asset = _get(record, "asset") or {}
        prior = _get(record, "priorAsset")
        deleted = bool(record.get("deleted", False))
        return (
            asset,
            _get(window, "startTime"),
            deleted,
            prior if isinstance(prior, Mapping) else None,
        )
    return record, _get(record, "updateTime"), False, None


def _content(asset: Mapping[str, Any]) -> dict[str, Any]:
    """The asset's content, spelled the same whether it came camelCase (Pub/Sub) or
    snake_case (exports): envelope and policy keys in camelCase, ``resource.data`` as the
    service wrote it (it is the resource's own JSON, the same in both)."""
    document: dict[str, Any] = {}
    for key, snake in CONTENT_KEYS.items():
        value = _get(asset, key, snake)
        if value is None:
            continue
        if key == "resource" and isinstance(value, Mapping):
            value = {
                camel(k): v if k == "data" else camel_keys(v)
                for k, v in value.items()
                if k not in ("discovery_document_uri", "discoveryDocumentUri")
            }
        else:
            value = camel_keys(value)
        document[key] = value
    return document


@functools.lru_cache(maxsize=4096)
def camel(name: str) -> str:
    """``asset_type`` -> ``assetType``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def camel_keys(value: Any) -> Any:
    """Proto-message JSON with camelCase keys at every depth (exports write snake_case)."""
    if isinstance(value, Mapping):
        return {camel(k) if isinstance(k, str) else k: camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(item) for item in value]
    return value


def _account(name: str, asset: Mapping[str, Any]) -> str | None:
    found = _PROJECT_IN_NAME.search(name)
    if found:
        return found.group(1)
    for ancestor in _get(asset, "ancestors") or []:
        if isinstance(ancestor, str) and ancestor.startswith("projects/"):
            return ancestor.split("/", 1)[1]
    resource = _get(asset, "resource") or {}
    parent = resource.get("parent") if isinstance(resource, Mapping) else None
    if isinstance(parent, str) and "/projects/" in parent:
        return parent.rsplit("/", 1)[1]
    return None


def _region(name: str, asset: Mapping[str, Any]) -> str | None:
    resource = _get(asset, "resource") or {}
    location = resource.get("location") if isinstance(resource, Mapping) else None
    if isinstance(location, str) and location:
        return location.lower()
    found = _LOCATION_IN_NAME.search(name)
    if found:
        return found.group(1)
    data = resource.get("data") if isinstance(resource, Mapping) else None
    if isinstance(data, Mapping) and isinstance(data.get("location"), str):
        return data["location"].lower()
    return "global"


def _display_name(name: str, data: Mapping[str, Any]) -> str:
    for field in ("name", "displayName", "display_name", "id"):
        value = data.get(field)
        if isinstance(value, str) and value:
            return value.rsplit("/", 1)[-1]
    return name.rstrip("/").rsplit("/", 1)[-1]


def _labels(data: Mapping[str, Any]) -> dict[str, Any]:
    labels = data.get("labels")
    return dict(labels) if isinstance(labels, Mapping) else {}


def resolve_feed_record(
    record: Mapping[str, Any],
    payload: str,
    salt: bytes,
    digest: str | None = None,
    *,
    raw_only: bool = False,
) -> ResolvedBatch:
    """One feed message as a raw record plus its change and observation (or unresolved).

    ``digest`` is the hash of the message's canonical JSON when the caller has it already.
    ``raw_only``: the raw record alone, as landing needs it (the same row, without building
    the asset's configuration).
    """
    event_id = f"cai-{digest}" if digest else feed_event_id(record)
    try:
        message = _message(record)
    except FeedRecordError as exc:
        raw = RawRecord(event_id, SOURCE, "gcp", None, None, None, "unknown", payload, digest or "")
        bad = Unresolved(event_id, SOURCE, exc.reason, str(exc), EVENT_SOURCE, "TemporalAsset")
        return ResolvedBatch(raw=[raw], unresolved=[bad])
    if raw_only:  # the raw row's placement without building the asset's configuration
        described = _described(message.asset, message.prior)
        account, region = _account(message.name, described), _region(message.name, described)
        return ResolvedBatch(raw=[_raw(message, event_id, payload, digest, account, region)])
    obs = asset_observation(
        message.name, message.asset_type, message.asset, message.event_time, [event_id], salt,
        deleted=message.deleted, prior=message.prior,
    )  # fmt: skip
    raw = _raw(message, event_id, payload, digest, obs.account_id, obs.region)
    change = AssetChange(
        event_id=event_id,
        asset_key=message.name,
        cloud="gcp",
        account_id=obs.account_id,
        region=obs.region,
        resource_type=message.asset_type,
        action=_action(record, message.deleted),
        event_source=EVENT_SOURCE,
        event_name="TemporalAsset",
        event_time=message.event_time,
    )
    return ResolvedBatch(raw=[raw], changes=[change], observations=[obs])


def _raw(
    message: _Message,
    event_id: str,
    payload: str,
    digest: str | None,
    account: str | None,
    region: str | None,
) -> RawRecord:
    return RawRecord(
        event_id, SOURCE, "gcp", account, region, message.event_time, "change", payload,
        digest or "",
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Message:
    """What a feed message says, checked: the asset, its name and type, when, and how."""

    asset: Mapping[str, Any]
    name: str
    asset_type: str
    event_time: dt.datetime
    deleted: bool
    prior: Mapping[str, Any] | None


def _message(record: Mapping[str, Any]) -> _Message:
    asset, start, deleted, prior = _asset_and_time(record)
    if not isinstance(asset, Mapping):
        raise FeedRecordError("malformed", "asset is not an object")
    source_asset = asset if _get(asset, "name") else (prior or {})
    name = _get(source_asset, "name")
    asset_type = _get(source_asset, "assetType")
    if not isinstance(name, str) or not name.startswith("//") or not isinstance(asset_type, str):
        raise FeedRecordError("malformed", "no asset name (//service/...) or asset type")
    if start is None:
        raise FeedRecordError("no_event_time", f"{name}: no window.startTime or updateTime")
    try:
        event_time = parse_time(start)
    except ValueError as exc:
        raise FeedRecordError("bad_event_time", f"{name}: {exc}") from exc
    return _Message(asset, name, asset_type, event_time, deleted, prior)


def _described(asset: Mapping[str, Any], prior: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The asset whose resource describes the state: a deletion without content is described
    by the asset before it (as asset_observation decides, without building the content)."""
    has_content = any(_get(asset, c, s) is not None for c, s in CONTENT_KEYS.items())
    return asset if has_content else (prior or asset)


def asset_observation(
    name: str,
    asset_type: str,
    asset: Mapping[str, Any],
    event_time: dt.datetime,
    event_ids: Iterable[str],
    salt: bytes,
    *,
    deleted: bool = False,
    prior: Mapping[str, Any] | None = None,
    change_source: str = "event",
) -> Observation:
    """The observation of one CAI Asset (camelCase or snake_case JSON) at ``event_time``.

    The one mapping from an Asset to the lake, shared by the feed and the scanner so that the
    same asset state always gets the same config and hash: config ``{"resource", "iamPolicy",
    ...}`` without ``discoveryDocumentUri``, account = project, region, name, labels as tags.
    A deletion has an empty config and is described by ``prior`` when the asset has no content.
    """
    content = _content(asset)
    described = _described(asset, prior)
    resource = _get(described, "resource") or {}
    data = resource.get("data") if isinstance(resource, Mapping) else None
    data = data if isinstance(data, Mapping) else {}
    return observation(
        asset_key=name,
        cloud="gcp",
        resource_type=asset_type,
        config={} if deleted else content,
        event_time=event_time,
        event_ids=event_ids,
        salt=salt,
        account_id=_account(name, described),
        region=_region(name, described),
        name=_display_name(name, data),
        tags=_labels(data),
        is_deleted=deleted,
        change_source=change_source,
    )


def _action(record: Mapping[str, Any], deleted: bool) -> str:
    if deleted:
        return "delete"
    prior_state = _get(record, "priorAssetState")
    if prior_state in ("DOES_NOT_EXIST", "DELETED"):
        return "create"
    if prior_state == "PRESENT" or _get(record, "priorAsset"):
        return "update"
    return "create" if "window" in record else "update"
