"""A week of GCP Cloud Asset Inventory feed messages, built from the corpus's real CAI snapshots.

:func:`build_feed` reads the Cloud Asset Inventory export records of the shared corpus
(``gcp_policy_library_fixtures.cai_assets.jsonl``: real assets of some thirty types, without
times) and turns them into the feed a project would have delivered over the week ending ``now``:
TemporalAsset messages, camelCase as Pub/Sub delivers them, one JSON object per line.

The story the feed tells, in time order:

* the assets are created over the week, across the projects and types of the corpus;
* assets the corpus holds in several states (the same name in several fixtures) change config
  from one state to the next;
* a labelling campaign adds ``team`` and ``env`` labels, and a few assets are promoted from
  ``env=staging`` to ``env=prod`` later;
* a bucket is made public (uniform bucket-level access off, an ``allUsers`` ACL entry) and the
  change is reverted minutes later;
* a few assets are deleted (two of them in the last day), one is deleted and later re-created,
  and a handful are created in the last day.

Everything is seeded and relative to ``now``: the same arguments give the same bytes. No event
falls within an hour of ``now - 24h``, so "yesterday vs now" reads the same a little later too.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from resolvers.demo_snapshots import (
    Asset,
    Transform,
    load_snapshots,
    make_public,
    revert_public,
    set_labels,
)
from resolvers.timeutil import isoformat

WEEK = dt.timedelta(days=7)
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)
MAX_VARIANTS = 4  # corpus states used per asset (the first is the creation)
LABELLED_ASSETS = 16
PROMOTED_ASSETS = 4
LATE_CREATIONS = 6
PUBLIC_FOR = 7 * MINUTE
TEAMS = ("data-platform", "payments", "web", "ml-research")
# Types whose labels the feed carries in resource.data.labels (where the resolver reads them).
LABEL_TYPES = frozenset(
    {
        "storage.googleapis.com/Bucket",
        "compute.googleapis.com/Instance",
        "compute.googleapis.com/Disk",
        "compute.googleapis.com/Image",
        "compute.googleapis.com/Snapshot",
        "bigquery.googleapis.com/Dataset",
        "bigquery.googleapis.com/Table",
        "dataproc.googleapis.com/Cluster",
        "spanner.googleapis.com/Instance",
    }
)
DELETABLE_TYPES = (
    "compute.googleapis.com/Instance",
    "compute.googleapis.com/Disk",
    "compute.googleapis.com/Snapshot",
)
RECREATED_TYPE = "compute.googleapis.com/Firewall"
BUCKET_TYPE = "storage.googleapis.com/Bucket"


@dataclass(frozen=True, slots=True)
class FeedSummary:
    """What :func:`build_feed` wrote: counts, and the asset keys the story is about."""

    path: Path
    now: dt.datetime
    start: dt.datetime  # the first message's time
    messages: int
    assets: int
    asset_types: int
    projects: int
    creates: int
    updates: int
    deletes: int
    public_bucket: str  # made public, then reverted
    made_public_at: dt.datetime
    reverted_at: dt.datetime
    deleted: tuple[str, ...]  # deleted and not re-created, oldest deletion first
    deleted_last_day: tuple[str, ...]
    recreated: str  # deleted, then re-created in the last day
    created_last_day: tuple[str, ...]  # re-creation included
    labelled: tuple[str, ...]  # got team/env labels from the labelling campaign

    def highlights(self) -> list[str]:
        """A few lines for a person: what the feed holds and where to look."""
        return [
            f"{self.messages} feed messages from {isoformat(self.start)} to {isoformat(self.now)}:"
            f" {self.assets} assets of {self.asset_types} types in {self.projects} projects",
            f"{self.creates} creations, {self.updates} updates, {self.deletes} deletions",
            f"made public and reverted {PUBLIC_FOR.seconds // 60} minutes later: "
            f"{self.public_bucket}",
            f"deleted in the last day: {', '.join(self.deleted_last_day)}",
            f"deleted, then re-created in the last day: {self.recreated}",
        ]

    def queries(self) -> list[str]:
        """Commands to try on a lake built from this feed."""
        yesterday = isoformat(self.now - DAY)
        return [
            f"assetlake history '{self.public_bucket}'",
            f"assetlake inventory --as-of {yesterday}",
            "assetlake inventory --tag env=prod",
            "assetlake inventory --search 0.0.0.0/0",
            'assetlake sql "SELECT resource_type, count(*) AS assets FROM inventory '
            'GROUP BY 1 ORDER BY 2 DESC"',
        ]


@dataclass(slots=True)
class Timeline:
    """The states of one asset in time order: an Asset document, or None for a deletion."""

    key: str
    states: list[tuple[dt.datetime, Asset | None]] = field(default_factory=list)

    @property
    def last(self) -> Asset | None:
        """The latest state (None if the asset is deleted)."""
        return self.states[-1][1]

    @property
    def last_time(self) -> dt.datetime:
        """When the latest state began."""
        return self.states[-1][0]

    def apply(self, when: dt.datetime, transform: Transform) -> None:
        """A new state: ``transform`` of the latest one, at ``when``."""
        current = self.last
        if current is None:
            raise ValueError(f"{self.key}: cannot change a deleted asset")
        self.states.append((when, transform(orjson.loads(orjson.dumps(current)), when)))


# -- the story --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Cast:
    """The assets that play a part in the story beyond being created."""

    public_bucket: str
    deleted_early: str
    deleted_last_day: tuple[str, str]
    recreated: str
    late: tuple[str, ...]
    labelled: tuple[str, ...]
    promoted: tuple[str, ...]


def cast(snapshots: Mapping[str, list[Asset]], rng: random.Random) -> Cast:
    """Pick the assets of the story (deterministically, for a seeded ``rng``)."""
    # Only assets with resource data play a part (IAM-policy-only ones have nothing to label).
    single = [
        name
        for name, states in snapshots.items()
        if len(states) == 1 and isinstance(_data(states[0]), dict)
    ]
    buckets = [name for name in single if _is_locked_bucket(snapshots[name][0])]
    public_bucket = rng.choice(buckets or [n for n in single if _is_bucket(snapshots[n][0])])
    deletable = [n for n in single if snapshots[n][0]["assetType"] in DELETABLE_TYPES]
    deleted = rng.sample(deletable, 3)
    firewalls = [n for n in single if snapshots[n][0]["assetType"] == RECREATED_TYPE]
    recreated = rng.choice(firewalls)
    busy = {public_bucket, recreated, *deleted}
    labellable = [
        n for n in single if n not in busy and snapshots[n][0]["assetType"] in LABEL_TYPES
    ]
    labelled = sorted(rng.sample(labellable, LABELLED_ASSETS))
    rest = [n for n in snapshots if len(snapshots[n]) == 1 and n not in busy | set(labelled)]
    return Cast(
        public_bucket=public_bucket,
        deleted_early=deleted[0],
        deleted_last_day=(deleted[1], deleted[2]),
        recreated=recreated,
        late=tuple(sorted(rng.sample(rest, LATE_CREATIONS))),
        labelled=tuple(labelled),
        promoted=tuple(sorted(rng.sample(labelled, PROMOTED_ASSETS))),
    )


def _is_bucket(asset: Asset) -> bool:
    return asset["assetType"] == BUCKET_TYPE and isinstance(_data(asset), dict)


def _is_locked_bucket(asset: Asset) -> bool:
    """A bucket with uniform bucket-level access on: one that can be made public."""
    if not _is_bucket(asset):
        return False
    config = _data(asset).get("iamConfiguration") or {}
    return bool((config.get("uniformBucketLevelAccess") or {}).get("enabled"))


def _data(asset: Asset) -> Any:
    return (asset.get("resource") or {}).get("data")


class Clock:
    """Seeded instants in the week before ``now``, kept clear of ``now - 24h``."""

    def __init__(self, now: dt.datetime, rng: random.Random) -> None:
        self.now = now
        self.start = now - WEEK
        self.rng = rng

    def between(self, low: dt.datetime, high: dt.datetime) -> dt.datetime:
        """A random instant in [low, high], whole milliseconds, moved off the day boundary."""
        span = max((high - low).total_seconds(), 0.0)
        when = low + dt.timedelta(milliseconds=int(self.rng.uniform(0, span) * 1000))
        if abs(when - (self.now - DAY)) < HOUR:
            when -= 2 * HOUR
        return when

    def ago(self, days: float, spread_hours: float = 0.0) -> dt.datetime:
        """``days`` before now, plus up to ``spread_hours`` later."""
        low = self.now - dt.timedelta(days=days)
        return self.between(low, low + dt.timedelta(hours=spread_hours))

    def sorted_between(self, count: int, low: dt.datetime, high: dt.datetime) -> list[dt.datetime]:
        """``count`` distinct instants in [low, high], oldest first."""
        instants = sorted(self.between(low, high) for _ in range(count))
        for index in range(1, len(instants)):
            if instants[index] <= instants[index - 1]:
                instants[index] = instants[index - 1] + MINUTE
        return instants


def plan(snapshots: Mapping[str, list[Asset]], roles: Cast, clock: Clock) -> list[Timeline]:
    """Every asset's timeline: created, changed, deleted, re-created as the story says."""
    timelines = []
    for name, states in snapshots.items():
        timeline = Timeline(name, [(_created_at(name, states, roles, clock), states[0])])
        variants = states[1:MAX_VARIANTS]
        low = timeline.last_time + HOUR
        for when, variant in zip(
            clock.sorted_between(len(variants), low, clock.now - 2 * HOUR), variants, strict=True
        ):
            timeline.states.append((when, variant))
        _play_roles(timeline, roles, clock)
        timelines.append(timeline)
    return timelines


def _created_at(name: str, states: list[Asset], roles: Cast, clock: Clock) -> dt.datetime:
    if name in roles.late:
        return clock.between(clock.now - 20 * HOUR, clock.now - 15 * MINUTE)
    busy = {roles.public_bucket, roles.recreated, roles.deleted_early, *roles.labelled}
    if name in busy or len(states) > 1:
        return clock.between(clock.start, clock.start + DAY)
    if name in roles.deleted_last_day:
        return clock.between(clock.start, clock.now - 3 * DAY)
    return clock.between(clock.start, clock.now - 26 * HOUR)


def _play_roles(timeline: Timeline, roles: Cast, clock: Clock) -> None:
    """The story's changes to one asset, after its creation."""
    name = timeline.key
    if name == roles.public_bucket:
        made_public = clock.ago(2, spread_hours=6)
        timeline.apply(made_public, make_public)
        timeline.apply(made_public + PUBLIC_FOR, revert_public(timeline.states[-2][1] or {}))
    if name in roles.labelled:
        env = "staging" if name in roles.promoted else clock.rng.choice(("prod", "dev"))
        labels = {"team": clock.rng.choice(TEAMS), "env": env}
        timeline.apply(clock.ago(3, spread_hours=3), set_labels(labels))
    if name in roles.promoted:
        timeline.apply(clock.ago(1.5, spread_hours=4), set_labels({"env": "prod"}))
    if name == roles.deleted_early:
        timeline.states.append((clock.ago(4, spread_hours=8), None))
    if name in roles.deleted_last_day:
        timeline.states.append((clock.between(clock.now - 20 * HOUR, clock.now - HOUR), None))
    if name == roles.recreated:
        before = timeline.last
        timeline.states.append((clock.ago(3.2, spread_hours=4), None))
        recreated_at = clock.between(clock.now - 18 * HOUR, clock.now - 12 * HOUR)
        timeline.states.append((recreated_at, before))


# -- feed messages ----------------------------------------------------------------------------
def _timed(asset: Asset, when: dt.datetime) -> Asset:
    return {**asset, "updateTime": isoformat(when)}


def _stub(asset: Asset) -> Asset:
    """What a deletion message carries of the asset: its identity and place."""
    return {key: asset[key] for key in ("name", "assetType", "ancestors") if key in asset}


def feed_message(
    when: dt.datetime,
    state: Asset | None,
    prior: tuple[dt.datetime, Asset] | None,
    deleted_before: bool,
) -> dict[str, Any]:
    """One TemporalAsset: ``state`` (None: a deletion) at ``when``, after ``prior``."""
    message: dict[str, Any] = {}
    if state is None:
        if prior is None:
            raise ValueError("a deletion needs the asset that was deleted")
        message["asset"] = _stub(prior[1])
    else:
        message["asset"] = _timed(state, when)
    if prior is not None:
        message["priorAsset"] = _timed(prior[1], prior[0])
        message["priorAssetState"] = "PRESENT"
    else:
        message["priorAssetState"] = "DELETED" if deleted_before else "DOES_NOT_EXIST"
    message["window"] = {"startTime": isoformat(when)}
    message["deleted"] = state is None
    return message


def timeline_messages(timeline: Timeline) -> list[tuple[dt.datetime, dict[str, Any]]]:
    """The TemporalAsset messages of one asset's timeline, oldest first."""
    messages = []
    prior: tuple[dt.datetime, Asset] | None = None
    deleted_before = False
    for when, state in timeline.states:
        messages.append((when, feed_message(when, state, prior, deleted_before)))
        prior = None if state is None else (when, state)
        deleted_before = deleted_before or state is None
    return messages


def feed_messages(timelines: Iterable[Timeline]) -> list[dict[str, Any]]:
    """Every message of every timeline, in time order (asset name breaks ties)."""
    timed = [
        (when, timeline.key, message)
        for timeline in timelines
        for when, message in timeline_messages(timeline)
    ]
    timed.sort(key=lambda item: (item[0], item[1]))
    return [message for _, _, message in timed]


def write_jsonl(out: Path, messages: Iterable[Mapping[str, Any]]) -> None:
    """Messages as JSON lines, written to a temporary file first and then moved into place."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(b"".join(orjson.dumps(message) + b"\n" for message in messages))
    partial.replace(out)


# -- the entry point --------------------------------------------------------------------------
def build_feed(corpus_dir: Path, out: Path, now: dt.datetime, seed: int = 7) -> FeedSummary:
    """Write a week of GCP asset-feed messages ending at ``now`` to ``out`` (JSON lines).

    ``corpus_dir`` is the shared corpus folder (InputError if its CAI snapshots are missing);
    a naive ``now`` means UTC. The same arguments always write the same bytes.
    """
    now = now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)
    snapshots = load_snapshots(corpus_dir)
    rng = random.Random(seed)
    roles = cast(snapshots, rng)
    clock = Clock(now, rng)
    timelines = plan(snapshots, roles, clock)
    messages = feed_messages(timelines)
    write_jsonl(out, messages)
    return summarize(Path(out), now, timelines, messages, roles)


def summarize(
    out: Path,
    now: dt.datetime,
    timelines: list[Timeline],
    messages: list[dict[str, Any]],
    roles: Cast,
) -> FeedSummary:
    """The FeedSummary of a built feed."""
    first_states = [timeline.states[0][1] or {} for timeline in timelines]
    bucket = next(t for t in timelines if t.key == roles.public_bucket)
    made_public, reverted = bucket.states[-2][0], bucket.states[-1][0]
    return FeedSummary(
        path=out,
        now=now,
        start=min(timeline.states[0][0] for timeline in timelines),
        messages=len(messages),
        assets=len(timelines),
        asset_types=len({asset.get("assetType") for asset in first_states}),
        projects=len({project_of(asset) for asset in first_states} - {None}),
        creates=sum(message["priorAssetState"] != "PRESENT" for message in messages),
        updates=sum(message["priorAssetState"] == "PRESENT" for message in messages)
        - sum(message["deleted"] for message in messages),
        deletes=sum(message["deleted"] for message in messages),
        public_bucket=roles.public_bucket,
        made_public_at=made_public,
        reverted_at=reverted,
        deleted=(roles.deleted_early, *roles.deleted_last_day),
        deleted_last_day=roles.deleted_last_day,
        recreated=roles.recreated,
        created_last_day=tuple(sorted((*roles.late, roles.recreated))),
        labelled=roles.labelled,
    )


def project_of(asset: Mapping[str, Any]) -> str | None:
    """The project an asset belongs to: from its name, else its ancestors."""
    found = re.search(r"/projects/([^/]+)", str(asset.get("name", "")))
    if found:
        return found.group(1)
    for ancestor in asset.get("ancestors") or []:
        if str(ancestor).startswith("projects/"):
            return str(ancestor).split("/", 1)[1]
    return None
