"""CloudTrail records (bare or in an EventBridge envelope) into the lake's rows.

One record gives its raw_events row (classified by the catalog: change, read, data, error,
unknown) and, for a change, one asset_changes row per asset it touched
(:mod:`resolvers.aws.resolve_targets`) with the principal (:mod:`resolvers.aws.resolve_attribution`)
and the state the event itself carries (:mod:`resolvers.aws.resolve_state`). Unknown events and
changes whose asset cannot be named get an unresolved_events row with the reason. Nothing a
record holds can make this raise: a record it cannot read is still landed and explained.

Online, :func:`resolvers.aws.resolve_online.describe_batch` then replaces event-carried state
by what a :class:`resolvers.aws.describe.Describer` says, one describe per asset per batch.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from typing import Any, NamedTuple

from resolvers import model
from resolvers.aws.arns import arn_fields
from resolvers.aws.catalog import (
    CLASS_OF_EFFECT,
    READ_PREFIXES,
    CatalogEntry,
    Registry,
    account_of,
    registry,
)
from resolvers.aws.cloudtrail import SOURCE, unwrap
from resolvers.aws.resolve_attribution import Attribution, attribution
from resolvers.aws.resolve_state import creation_document, resource_id, subdocument_parts
from resolvers.aws.resolve_subdocs import DELETED
from resolvers.aws.resolve_targets import Target, Unresolvable, targets
from resolvers.canonical import canonicalize
from resolvers.model import AssetChange, Observation, RawRecord, ResolvedBatch, Unresolved
from resolvers.observe import observation
from resolvers.timeutil import parse_time


class Envelope(NamedTuple):
    """What every CloudTrail record carries, read defensively."""

    event_id: str
    event_time: dt.datetime | None
    account: str | None
    region: str | None
    event_source: str | None
    event_name: str | None


def _text(mapping: Mapping[str, Any], key: str) -> str | None:
    """A non-empty string field, else None."""
    value = mapping.get(key)
    return value if isinstance(value, str) and value else None


@functools.lru_cache(maxsize=8192)
def _time(text: str) -> dt.datetime | None:
    """A parsed eventTime (records of one second share it: cached)."""
    try:
        return parse_time(text)
    except (ValueError, TypeError, OverflowError):
        return None


def envelope(
    record: Mapping[str, Any], detail: Mapping[str, Any], fallback_id: str | None, payload: str
) -> Envelope:
    """The envelope of one record (EventBridge fields fill what the detail lacks)."""
    stamp = detail.get("eventTime") or record.get("time")
    event_time = _time(stamp) if isinstance(stamp, str) else None
    account = account_of(detail) or _text(record, "account")
    event_id = _text(detail, "eventID") or _text(record, "id")
    return Envelope(
        event_id=event_id or fallback_id or model.fallback_id(payload),
        event_time=event_time,
        account=account,
        region=_text(detail, "awsRegion") or _text(record, "region"),
        event_source=_text(detail, "eventSource"),
        event_name=_text(detail, "eventName"),
    )


def resolve_cloudtrail_record(
    record: Mapping[str, Any],
    payload: str,
    fallback_id: str | None = None,
    salt: bytes = b"",
    catalog: Registry | None = None,
    record_hash: str = "",
    *,
    raw_only: bool = False,
) -> ResolvedBatch:
    """One CloudTrail record into raw_events, asset_changes, observations and unresolved rows.

    ``fallback_id``: the event id of a record without one (None: a hash of ``payload``).
    ``raw_only``: the raw record alone (classified), as landing needs it.
    """
    catalog = catalog or registry()
    detail = unwrap(record)
    env = envelope(record, detail, fallback_id, payload)
    entry = _lookup(catalog, env.event_source, env.event_name, _text(detail, "apiVersion"))
    classification = _classify(detail, env, entry)
    raw = RawRecord(
        env.event_id, SOURCE, "aws", env.account, env.region, env.event_time, classification,
        payload, record_hash,
    )  # fmt: skip
    batch = ResolvedBatch(raw=[raw])
    if raw_only:
        return batch
    if classification == "unknown":
        name = f"{env.event_source} {env.event_name}"
        batch.unresolved.append(_unresolved(env, "unknown_event", f"no catalog entry for {name}"))
    elif classification == "change" and entry is not None:
        try:
            resolve_change(batch, detail, env, salt, catalog, entry)
        except Unresolvable as exc:
            batch.unresolved.append(_unresolved(env, exc.reason, exc.detail))
        except Exception as exc:  # a resolver bug must not lose the record: explain it
            detail_text = f"{type(exc).__name__}: {exc}"[:500]
            batch.unresolved.append(_unresolved(env, "resolver_error", detail_text))
    return batch


_ENTRIES: dict[tuple[int, str, str, str], CatalogEntry | None] = {}
_UNSEEN: Any = object()


def _lookup(
    catalog: Registry, source: str | None, name: str | None, api: str | None
) -> CatalogEntry | None:
    """The catalog entry of an event, cached per (catalog, source, name, apiVersion)."""
    if source is None or name is None:
        return None
    key = (id(catalog), source, name, api or "")
    found = _ENTRIES.get(key, _UNSEEN)
    if found is _UNSEEN:
        if len(_ENTRIES) > 50_000:
            _ENTRIES.clear()
        found = _ENTRIES[key] = catalog.lookup(source, name, api)
    return found


def _classify(detail: Mapping[str, Any], env: Envelope, entry: CatalogEntry | None) -> str:
    """:func:`resolvers.aws.catalog.classify` on an entry already looked up."""
    if detail.get("errorCode"):
        return "error"
    if env.event_source is None or env.event_name is None:
        return "unknown"
    if entry is not None:
        return CLASS_OF_EFFECT[entry.effect]
    if detail.get("eventCategory") == "Data":
        return "data"
    if detail.get("readOnly") in (True, "true") or env.event_name.startswith(READ_PREFIXES):
        return "read"
    return "unknown"


def _unresolved(env: Envelope, reason: str, detail: str) -> Unresolved:
    return Unresolved(
        env.event_id, SOURCE, reason, detail, env.event_source, env.event_name, env.event_time
    )


def resolve_change(
    batch: ResolvedBatch,
    detail: Mapping[str, Any],
    env: Envelope,
    salt: bytes,
    catalog: Registry,
    entry: CatalogEntry,
) -> None:
    """The asset_changes rows and event-carried observations of one change record."""
    if env.event_time is None:
        raise Unresolvable("no_event_time", "a change record without a readable eventTime")
    found = targets(detail, entry, catalog)
    fragment, parts = _subdocument(detail, entry)
    if parts:  # a sub-document event changes its parent, never creates or deletes it
        found = [Target(t.asset_key, t.resource_type, "update", t.relation) for t in found]
    row = _RowMaker(env, entry, attribution(detail), detail, salt)
    batch.changes.extend(row.change(target) for target in found)
    parent = next((t for t in found if t.relation in ("target", "account")), None)
    for target in found:
        if target.relation == "target":
            batch.observations.extend(row.state(target))
    if parent is not None:
        for suffix, value in parts:
            key = f"{parent.asset_key}#{fragment}{suffix}"
            kind = f"{parent.resource_type}#{fragment}"
            part = Target(key, kind, "delete" if value is DELETED else "update", "part")
            batch.changes.append(row.change(part))
            batch.observations.append(row.observe(part, None if value is DELETED else value))


def _subdocument(detail: Mapping[str, Any], entry: CatalogEntry) -> tuple[str, list]:
    fragment, parts = subdocument_parts(detail, entry.event_source, entry.event_name)
    if not fragment and entry.operation != entry.event_name:
        fragment, parts = subdocument_parts(detail, entry.event_source, entry.operation)
    return fragment, parts


class _RowMaker:
    """Builds the rows of one record: shared attribution, request and response JSON."""

    def __init__(
        self,
        env: Envelope,
        entry: CatalogEntry,
        who: Attribution,
        detail: Mapping[str, Any],
        salt: bytes,
    ) -> None:
        self.env, self.entry, self.who, self.detail, self.salt = env, entry, who, detail, salt
        self.request = _json(detail.get("requestParameters"), salt)
        self.response = _json(detail.get("responseElements"), salt)
        # the columns all rows of the record share, in AssetChange's field order (positional
        # arguments: cheaper than 24 keywords; tests/test_aws_resolve_rows.py holds every
        # column to its value)
        self.shared = (
            who.principal, who.principal_type, who.source_ip, who.user_agent, who.invoked_by,
            self.request, self.response, who.principal_account_id, who.principal_id,
            who.session_issuer_arn, who.session_name, who.source_identity, who.access_key_id,
            who.mfa_authenticated,
        )  # fmt: skip
        self.places: dict[str, tuple[str | None, str | None]] = {}

    def placement(self, key: str) -> tuple[str | None, str | None]:
        """(account, region) of an asset: from its key, else from the event."""
        found = self.places.get(key)
        if found is None:
            service, region, account, _ = arn_fields(key.split("#", 1)[0])
            if not region and service == "s3":  # bucket ARNs have no region: the event's is it
                region = self.env.region or ""
            found = self.places[key] = (account or self.env.account, region or None)
        return found

    def change(self, target: Target) -> AssetChange:
        """The asset_changes row of one target."""
        account, region = self.placement(target.asset_key)
        env = self.env
        assert env.event_time is not None
        return AssetChange(
            env.event_id, target.asset_key, "aws", account, region, target.resource_type,
            target.action, self.entry.event_source, env.event_name or "", env.event_time,
            *self.shared, target.relation,
        )  # fmt: skip

    def state(self, target: Target) -> list[Observation]:
        """The observation a creation or deletion event carries for its target, if any."""
        if target.action == "delete":
            return [self.observe(target, None)]
        if target.action == "create":
            return [self.observe(target, creation_document(self.detail, target))]
        return []

    def observe(self, target: Target, config: Any) -> Observation:
        """An observation of ``target`` (``config`` None: deleted)."""
        account, region = self.placement(target.asset_key)
        assert self.env.event_time is not None
        return observation(
            asset_key=target.asset_key, cloud="aws", resource_type=target.resource_type,
            config=config if config is not None else {}, event_time=self.env.event_time,
            event_ids=(self.env.event_id,), salt=self.salt, account_id=account, region=region,
            name=_name(target.asset_key), is_deleted=config is None, principal=self.who.principal,
        )  # fmt: skip


def _name(asset_key: str) -> str:
    parent, _, fragment = asset_key.partition("#")
    name = resource_id(parent)
    return f"{name}#{fragment}" if fragment else name


def _json(value: Any, salt: bytes) -> str | None:
    """Canonical, redacted JSON of a request or response (None when CloudTrail has none)."""
    if value is None:
        return None
    return canonicalize(value, salt).json
