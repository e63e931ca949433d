"""Online state: one describe per AWS asset per batch replaces what the events carried.

After a batch is resolved offline (:mod:`resolvers.aws.resolve`), every AWS asset its changes
touched is described once (:func:`resolvers.aws.describe.describe_all`):

* found: one observation of the described state at the time of the asset's latest change in
  the batch, with every contributing event id and the latest change's principal; the
  event-carried observations of that asset and of its sub-documents (``KEY#...``) are dropped;
* not found: a deletion in the batch stands (the event already carries it); after a create or
  an update it is not a deletion (eventual consistency): the event-carried state stays and
  every contributing event gets an unresolved row ``describe_not_found`` (retried later);
* failed: the event-carried state stays and every contributing event gets an unresolved row
  ``describe_failed`` with the describer's reason (retried later, never dropped).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from resolvers.aws.cloudtrail import SOURCE
from resolvers.aws.describe import (
    Describer,
    DescribeRequest,
    DescribeResult,
    describe_all,
    is_offline,
)
from resolvers.model import AssetChange, Observation, ResolvedBatch, Unresolved
from resolvers.observe import observation

DESCRIBED_RELATIONS = ("target", "related", "account")


@dataclass(slots=True)
class _Asset:
    """The changes of one asset in a batch."""

    changes: list[AssetChange] = field(default_factory=list)

    @property
    def latest(self) -> AssetChange:
        """The asset's latest change (ties broken by event id, so the choice is stable)."""
        return max(self.changes, key=lambda c: (c.event_time, c.event_id))

    @property
    def event_ids(self) -> tuple[str, ...]:
        """Every event id that contributed."""
        return tuple(sorted({c.event_id for c in self.changes}))


def describe_batch(batch: ResolvedBatch, describer: Describer | None, salt: bytes) -> None:
    """Ask ``describer`` for the state of every AWS asset the batch changed (in place)."""
    if is_offline(describer) or not batch.changes:
        return
    assert describer is not None
    assets = _assets(batch.changes)
    if not assets:
        return
    regions = {raw.event_id: raw.region for raw in batch.raw}
    requests = [_request(key, asset, regions) for key, asset in sorted(assets.items())]
    results = describe_all(describer, requests)
    _apply(batch, assets, results, salt)


def _assets(changes: Iterable[AssetChange]) -> dict[str, _Asset]:
    assets: dict[str, _Asset] = defaultdict(_Asset)
    for change in changes:
        if change.cloud == "aws" and change.relation in DESCRIBED_RELATIONS:
            assets[change.asset_key].changes.append(change)
    return dict(assets)


def _request(key: str, asset: _Asset, regions: dict[str, str | None]) -> DescribeRequest:
    latest = asset.latest
    region = latest.region or regions.get(latest.event_id) or "us-east-1"
    return DescribeRequest(key, latest.resource_type, latest.account_id or "", region)


def _apply(
    batch: ResolvedBatch,
    assets: dict[str, _Asset],
    results: dict[str, DescribeResult],
    salt: bytes,
) -> None:
    found = {key for key, result in results.items() if result.status == "found"}
    kept = [o for o in batch.observations if _parent(o.asset_key) not in found]
    problems: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key, result in sorted(results.items()):
        asset = assets[key]
        if result.status == "found":
            kept.append(_described(key, asset, result, salt))
        elif result.status == "not_found" and asset.latest.action == "delete":
            if not any(o.asset_key == key and o.is_deleted for o in kept):
                kept.append(_deleted(key, asset, salt))
        else:
            reason = "describe_not_found" if result.status == "not_found" else "describe_failed"
            for event_id in asset.event_ids:
                problems[(event_id, reason)].append(f"{key}: {result.reason or result.status}")
    batch.observations = kept
    batch.unresolved.extend(_unresolved(batch, problems))


def _parent(asset_key: str) -> str:
    return asset_key.split("#", 1)[0]


def _described(key: str, asset: _Asset, result: DescribeResult, salt: bytes) -> Observation:
    latest = asset.latest
    return observation(
        asset_key=key, cloud="aws", resource_type=latest.resource_type,
        config=dict(result.config or {}), event_time=latest.event_time,
        event_ids=asset.event_ids, salt=salt, account_id=latest.account_id,
        region=result.region or latest.region, name=result.name or _name(key),
        tags=result.tags, principal=latest.principal,
    )  # fmt: skip


def _deleted(key: str, asset: _Asset, salt: bytes) -> Observation:
    latest = asset.latest
    return observation(
        asset_key=key, cloud="aws", resource_type=latest.resource_type, config={},
        event_time=latest.event_time, event_ids=asset.event_ids, salt=salt,
        account_id=latest.account_id, region=latest.region, name=_name(key), is_deleted=True,
        principal=latest.principal,
    )  # fmt: skip


def _name(key: str) -> str:
    return key.split(":", 5)[-1].rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def _unresolved(
    batch: ResolvedBatch, problems: dict[tuple[str, str], list[str]]
) -> list[Unresolved]:
    events = {c.event_id: c for c in batch.changes}
    rows = []
    for (event_id, reason), details in sorted(problems.items()):
        change = events[event_id]
        text = "; ".join(details)[:2000]
        row = Unresolved(event_id, SOURCE, reason, text, change.event_source, change.event_name)
        rows.append(replace(row, event_time=change.event_time))
    return rows
