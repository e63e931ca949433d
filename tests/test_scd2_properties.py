"""Property tests of the lake invariants (CONTRACT.md, 1-5) against the real write path.

GCP asset feed messages (the source whose state comes from the records alone) are generated for
a few assets and states: updates, deletions, re-creations, several messages at one instant,
volatile fields (``etag``) that differ without changing the state, one instant written in
several textual forms, records that cannot be resolved. They are split into batches at random,
shuffled, repeated and committed with ``LakeWriter`` into real Delta tables; the tables are
checked after every batch, and at the end compared with a single commit of everything and with
a reference model written here (a plain fold over the messages sorted by time).

A second, pure property test drives ``resolvers.lake.scd2`` the way the writer does (extend or
rebuild, then apply the diff) with many more examples, since it needs no Delta table.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import groupby, pairwise
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from deltalake import DeltaTable
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from resolvers.canonical import canonicalize
from resolvers.gcp.asset_feed import SOURCE as ASSET_FEED
from resolvers.ingest import Record, ingest_records
from resolvers.lake import layout, scd2
from resolvers.lake.storage import Lake
from resolvers.lake.tables import ASSET_VERSIONS, ASSET_VERSIONS_TAIL, TABLES
from resolvers.lake.writer import FOLD_AT_TAIL_ROWS, LakeWriter
from resolvers.model import Observation, ResolvedBatch
from resolvers.observe import observation

settings.register_profile(
    "lake",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile("lake-thorough", parent=settings.get_profile("lake"), max_examples=300)
settings.register_profile(
    "pure", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# ASSETLAKE_PROPERTY_PROFILE=lake-thorough for a long local run; CI keeps the modest default.
LAKE_PROFILE = settings.get_profile(os.environ.get("ASSETLAKE_PROPERTY_PROFILE", "lake"))

BASE_TIME = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
TICK = dt.timedelta(milliseconds=250)
PARENT = "//cloudresourcemanager.googleapis.com/projects/318576589455"
ALPHA = "//storage.googleapis.com/alpha-bucket"
ASSETS: dict[str, str] = {
    ALPHA: "storage.googleapis.com/Bucket",
    "//storage.googleapis.com/beta-bucket": "storage.googleapis.com/Bucket",
    "//compute.googleapis.com/projects/p1/global/firewalls/gamma": (
        "compute.googleapis.com/Firewall"
    ),
}
STATES = (0, 1, 2)  # live configurations; None stands for a deletion
GARBAGE = "{this line is not JSON"

# One instant, written the ways feeds write it (nanosecond digits are truncated to microseconds).
TIME_FORMATS: tuple[Callable[[dt.datetime], str], ...] = (
    lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z",
    lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "999Z",
    lambda t: t.isoformat(),
)


# -- feed messages -------------------------------------------------------------------------------
@dataclass(frozen=True)
class FeedEvent:
    """One generated feed message: which asset, when, which state, and how it is spelled."""

    key: str
    tick: int
    state: int | None  # None: the asset was deleted
    etag: int  # a volatile field: changes the message, never the state
    time_format: int
    snake_case: bool

    @property
    def time(self) -> dt.datetime:
        """The instant of the message."""
        return BASE_TIME + self.tick * TICK


def asset_data(key: str, state: int, etag: int) -> dict[str, Any]:
    """The ``resource.data`` of one asset in one state."""
    return {
        "name": key.rsplit("/", 1)[-1],
        "labels": {"tier": f"t{state}", "owner": "platform"},
        "versioning": {"enabled": state % 2 == 0},
        "retention": {"days": 7 * state},
        "etag": f"CA{etag}=",
    }


def content(event: FeedEvent) -> dict[str, Any]:
    """The configuration the lake should hold for a live message (the asset's content)."""
    state = 0 if event.state is None else event.state
    data = asset_data(event.key, state, event.etag)
    return {"resource": {"version": "v1", "parent": PARENT, "data": data}}


def feed_message(event: FeedEvent) -> dict[str, Any]:
    """A TemporalAsset message, camelCase as Pub/Sub delivers it or snake_case as exported."""
    asset = {"name": event.key, "assetType": ASSETS[event.key], **content(event)}
    message: dict[str, Any] = {
        "asset": asset,
        "window": {"startTime": TIME_FORMATS[event.time_format](event.time)},
        "priorAssetState": "PRESENT",
    }
    if event.state is None:
        message["deleted"] = True
    if event.snake_case:
        asset["asset_type"] = asset.pop("assetType")
        message["window"] = {"start_time": message["window"]["startTime"]}
        message["prior_asset_state"] = message.pop("priorAssetState")
    return message


def payload_of(event: FeedEvent) -> str:
    """The message as one JSON line."""
    return orjson.dumps(feed_message(event)).decode()


NO_TIME_PAYLOAD = orjson.dumps(
    {"asset": {"name": "//storage.googleapis.com/no-time", "assetType": "x/Y"}, "window": {}}
).decode()


def records_of(payloads: Iterable[str]) -> list[Record]:
    """Received records, as ``assetlake ingest`` reads JSON lines."""
    records = []
    for payload in payloads:
        try:
            value = orjson.loads(payload)
        except orjson.JSONDecodeError:
            value = None
        records.append(Record(payload, value, "generated.jsonl"))
    return records


def commit_payloads(writer: LakeWriter, payloads: Sequence[str]) -> None:
    """Resolve and commit the payloads as one batch, as ``assetlake ingest`` does."""
    ingest_records(writer, records_of(payloads), ASSET_FEED, batch_size=max(1, len(payloads)))


# -- reading and checking tables ----------------------------------------------------------------
def rows(lake: Lake, name: str) -> list[dict[str, Any]]:
    """Every row of one table as readers see it, in a stable order."""
    return sorted(layout.read_table(lake, name).collect().to_dicts(), key=repr)


def table_versions(lake: Lake) -> dict[str, int]:
    """The Delta version of every table of the lake."""
    return {spec.name: lake.table(spec.name).version() for spec in TABLES}


def snapshot(lake: Lake, at: dict[str, int] | None = None) -> dict[str, list[dict[str, Any]]]:
    """The content of every table as readers see it (now, or at the Delta versions ``at``).

    The asset_versions tail is layout, not content: it is seen through asset_versions.
    """

    def scan(name: str) -> pl.LazyFrame:
        if at is None:
            return lake.scan(name)
        options = lake.storage_options
        return pl.scan_delta(DeltaTable(lake.table_uri(name), at[name], options))

    contents = {}
    for spec in TABLES:
        if spec == ASSET_VERSIONS_TAIL:
            continue
        frame = scan(spec.name)
        if spec == ASSET_VERSIONS:
            frame = layout.resolve(frame, scan(ASSET_VERSIONS_TAIL.name))
        contents[spec.name] = sorted(frame.collect().to_dicts(), key=repr)
    return contents


def check_no_change(lake: Lake, recommit: Callable[[], None], what: str) -> None:
    """Invariant 3: ``recommit`` leaves every table as it was (no new rows, no changed rows).

    Where no table got a new Delta version nothing can have changed; otherwise the contents
    before (read by time travel) and after are compared.
    """
    before = table_versions(lake)
    recommit()
    if table_versions(lake) != before:
        assert snapshot(lake) == snapshot(lake, at=before), f"re-committing {what} changed the lake"


def chains_of(versions: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """asset_versions rows grouped by asset, each chain in valid_from order."""
    chains: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in versions:
        chains[row["asset_key"]].append(row)
    return {key: sorted(chain, key=lambda r: r["valid_from"]) for key, chain in chains.items()}


def check_chains(versions: Iterable[dict[str, Any]]) -> None:
    """Invariants 1 and 2 on asset_versions rows."""
    for key, chain in chains_of(versions).items():
        starts = [row["valid_from"] for row in chain]
        assert len(set(starts)) == len(starts), f"{key}: two versions start at one instant"
        assert [row["version"] for row in chain] == list(range(1, len(chain) + 1)), key
        for older, newer in pairwise(chain):
            assert older["valid_to"] == newer["valid_from"], f"{key}: gap or overlap"
            assert older["valid_from"] < older["valid_to"], f"{key}: empty version"
            assert not older["is_current"], f"{key}: a closed version is current"
            old_state = (older["config_hash"], older["is_deleted"])
            assert old_state != (newer["config_hash"], newer["is_deleted"]), f"{key}: repeat"
        assert chain[-1]["valid_to"] is None, f"{key}: last version closed"
        assert chain[-1]["is_current"], f"{key}: last version not current"


def without(table: Iterable[dict[str, Any]], *columns: str) -> list[dict[str, Any]]:
    """Rows minus load-time columns, in a stable order."""
    return sorted(({k: v for k, v in r.items() if k not in columns} for r in table), key=repr)


def event_ids_by_payload(lake: Lake) -> dict[str, str]:
    """raw_events: the event id given to each received payload (non-JSON text is stored quoted)."""
    found = {}
    for row in rows(lake, "raw_events"):
        found[row["payload"]] = row["event_id"]
        if row["payload"].startswith('"'):
            found[orjson.loads(row["payload"])] = row["event_id"]
    return found


def check_nothing_lost(
    lake: Lake,
    payloads: Iterable[str],
    events: dict[str, FeedEvent],
    versions: Iterable[dict[str, Any]],
) -> None:
    """Invariant 5: every record landed; every change in asset_changes or unresolved_events."""
    ids = event_ids_by_payload(lake)
    changes = {row["event_id"]: row for row in rows(lake, "asset_changes")}
    unresolved = {row["event_id"]: row["reason"] for row in rows(lake, "unresolved_events")}
    for payload in set(payloads):
        assert payload in ids, f"record lost from raw_events: {payload[:80]}"
        event_id = ids[payload]
        event = events.get(payload)
        if event is None:
            expected = "malformed" if payload == GARBAGE else "no_event_time"
            assert unresolved.get(event_id) == expected, payload[:80]
            continue
        change = changes.get(event_id)
        assert change is not None, f"change lost: {payload[:80]}"
        assert (change["asset_key"], change["event_time"]) == (event.key, event.time)
        assert change["action"] == ("delete" if event.state is None else "update")
    version_ids = {i for row in versions for i in row["change_event_ids"]}
    assert version_ids <= changes.keys(), "a version cites an event missing from asset_changes"


# -- the reference model ------------------------------------------------------------------------
def reference_versions(
    events: Iterable[FeedEvent], event_ids: dict[FeedEvent, str], salt: bytes
) -> list[dict[str, Any]]:
    """The expected asset_versions, by a plain fold over the messages sorted by time.

    At one instant a deletion beats any live state, and between live states the greater config
    hash wins (the engine's documented tie rule); the version cites every message at that
    instant that saw the winning state. The volatile ``etag`` is left out of the compared config.
    """

    def rank(event: FeedEvent) -> tuple[bool, str]:
        config = {} if event.state is None else content(event)
        return (event.state is None, canonicalize(config, salt).hash)

    expected: list[dict[str, Any]] = []
    ordered = sorted(set(events), key=lambda e: (e.key, e.time))
    for key, of_asset in groupby(ordered, key=lambda e: e.key):
        chain: list[dict[str, Any]] = []
        for instant, group in groupby(of_asset, key=lambda e: e.time):
            at_instant = list(group)
            best = max(rank(e) for e in at_instant)
            winners = [e for e in at_instant if rank(e) == best]
            state = winners[0].state
            if chain and chain[-1]["_state"] == state:
                chain[-1]["last_observed_at"] = instant
                continue
            if chain:
                chain[-1].update(valid_to=instant, is_current=False)
            chain.append(
                {
                    "asset_key": key,
                    "resource_type": ASSETS[key],
                    "version": len(chain) + 1,
                    "valid_from": instant,
                    "valid_to": None,
                    "is_current": True,
                    "is_deleted": state is None,
                    "config": None if state is None else comparable(content(winners[0])),
                    "tags": None if state is None else asset_data(key, state, 0)["labels"],
                    "change_event_ids": sorted({event_ids[e] for e in winners}),
                    "last_observed_at": instant,
                    "_state": state,
                }
            )
        expected.extend({k: v for k, v in row.items() if k != "_state"} for row in chain)
    return sorted(expected, key=repr)


def comparable(config: dict[str, Any]) -> dict[str, Any]:
    """A live config without its volatile etag."""
    data = {k: v for k, v in config["resource"]["data"].items() if k != "etag"}
    return {**config, "resource": {**config["resource"], "data": data}}


def engine_versions(versions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """asset_versions rows projected onto what the reference model computes."""
    projected = []
    for row in versions:
        config = orjson.loads(row["config"])
        projected.append(
            {
                "asset_key": row["asset_key"],
                "resource_type": row["resource_type"],
                "version": row["version"],
                "valid_from": row["valid_from"],
                "valid_to": row["valid_to"],
                "is_current": row["is_current"],
                "is_deleted": row["is_deleted"],
                "config": None if row["is_deleted"] else comparable(config),
                "tags": None if row["is_deleted"] else orjson.loads(row["tags"]),
                "change_event_ids": sorted(row["change_event_ids"]),
                "last_observed_at": row["last_observed_at"],
            }
        )
    return sorted(projected, key=repr)


# -- scenarios ----------------------------------------------------------------------------------
@dataclass
class Scenario:
    """Generated messages and the order in which batches of them are committed."""

    events: list[FeedEvent]
    payloads: list[str]  # every distinct record: the messages, then any unresolvable ones
    batches: list[list[int]]  # indexes into payloads; a record may appear more than once
    steps: list[int]  # batch indexes in commit order; a repeated index re-commits that batch
    restarts: list[bool]  # per step: whether a new writer (a new process) commits it
    fold_at: int  # the writers fold the tail into asset_versions once it has this many rows
    by_payload: dict[str, FeedEvent] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_payload = {payload_of(e): e for e in self.events}

    def batch(self, index: int) -> list[str]:
        """The payloads of one batch, in delivery order."""
        return [self.payloads[i] for i in self.batches[index]]


feed_events = st.builds(
    FeedEvent,
    key=st.sampled_from(sorted(ASSETS)),
    tick=st.integers(0, 5),
    state=st.sampled_from([*STATES, None]),
    etag=st.integers(0, 1),
    time_format=st.integers(0, len(TIME_FORMATS) - 1),
    snake_case=st.booleans(),
)


@st.composite
def scenarios(draw: st.DrawFn, max_events: int = 9) -> Scenario:
    """Messages, a random split into batches, a random order, repeated records and batches."""
    events = draw(st.lists(feed_events, min_size=1, max_size=max_events))
    bad = draw(st.lists(st.sampled_from([GARBAGE, NO_TIME_PAYLOAD]), max_size=1))
    payloads = list(dict.fromkeys([*map(payload_of, events), *bad]))
    order = draw(st.permutations(range(len(payloads))))
    cut_points = st.sets(st.integers(1, max(1, len(order) - 1)), max_size=3)
    cuts = sorted(draw(cut_points)) if len(order) > 1 else []
    batches = [list(order[a:b]) for a, b in pairwise([0, *cuts, len(order)])]
    for batch in batches:  # the same record delivered twice, in one batch or across batches
        batch.extend(draw(st.lists(st.sampled_from(range(len(payloads))), max_size=1)))
    steps: list[int] = []
    for index in range(len(batches)):
        steps.append(index)
        if draw(st.booleans()):
            steps.append(draw(st.integers(0, index)))
    restarts = draw(st.lists(st.booleans(), min_size=len(steps), max_size=len(steps)))
    fold_at = draw(st.sampled_from([1, 4, FOLD_AT_TAIL_ROWS, FOLD_AT_TAIL_ROWS]))
    return Scenario(events, payloads, batches, steps, restarts, fold_at)


def new_lake(root: str, name: str) -> Lake:
    """A new lake in a temporary folder."""
    return Lake(str(Path(root) / name)).create()


def handmade(*batches: Sequence[FeedEvent], fold_at: int = 1) -> Scenario:
    """A scenario committing ``batches`` in order, then the first again.

    The one-batch comparison lists the messages in the reverse order of their arrival, so that
    anything depending on the order of records shows.
    """
    events = list(dict.fromkeys(event for batch in batches for event in batch))[::-1]
    payloads = [payload_of(event) for event in events]
    position = {payload: index for index, payload in enumerate(payloads)}
    indexes = [[position[payload_of(event)] for event in batch] for batch in batches]
    steps = [*range(len(batches)), 0]
    return Scenario(events, payloads, indexes, steps, [False] * len(steps), fold_at)


def alpha(tick: int, state: int | None, etag: int = 0, time_format: int = 0) -> FeedEvent:
    """A message about the first asset."""
    return FeedEvent(ALPHA, tick, state, etag, time_format, snake_case=False)


# -- the properties -----------------------------------------------------------------------------
@pytest.mark.slow
@LAKE_PROFILE
@given(scenarios())
# one instant, one state, two messages differing in a volatile field only, arriving late
@example(handmade([alpha(1, 0, etag=0)], [alpha(1, 0, etag=1)]))
# a deletion and a live state at one instant, in either order, then one in between
@example(handmade([alpha(0, 0), alpha(2, None)], [alpha(2, 1)], [alpha(1, 2)]))
@example(handmade([alpha(2, 1)], [alpha(2, None, time_format=2)]))
# a late message makes a later version redundant (merged away); another splits a version
@example(handmade([alpha(0, 0), alpha(4, 1)], [alpha(2, 1)]))
@example(handmade([alpha(0, 0), alpha(4, 1)], [alpha(2, 1)], fold_at=FOLD_AT_TAIL_ROWS))
@example(handmade([alpha(0, 0), alpha(4, 1)], [alpha(2, 1)], [alpha(3, 0)]))
# deletion, then re-creation with the configuration from before the deletion
@example(handmade([alpha(0, 0)], [alpha(1, None)], [alpha(2, 0)], [alpha(2, 0, time_format=3)]))
def test_invariants_hold_after_every_batch(scenario: Scenario) -> None:
    """Invariants 1-5 after every batch, whatever the split, order and repetition."""
    with tempfile.TemporaryDirectory() as root:
        lake = new_lake(root, "incremental")
        writer = LakeWriter(lake, scenario.fold_at)
        committed: set[int] = set()
        delivered: list[str] = []
        for index, restart in zip(scenario.steps, scenario.restarts, strict=True):
            writer = LakeWriter(lake, scenario.fold_at) if restart else writer
            batch = scenario.batch(index)
            if index in committed:
                check_no_change(lake, partial(commit_payloads, writer, batch), f"batch {index}")
                continue
            commit_payloads(writer, batch)
            committed.add(index)
            delivered.extend(batch)
            versions = rows(lake, "asset_versions")
            check_chains(versions)
            check_nothing_lost(lake, delivered, scenario.by_payload, versions)

        for index in range(len(scenario.batches)):  # invariant 3: each batch, after all others
            check_no_change(lake, partial(commit_payloads, writer, scenario.batch(index)), "all")
        before = snapshot(lake)

        single = new_lake(root, "single")  # invariant 4: the same records in one batch
        commit_payloads(LakeWriter(single), scenario.payloads)
        for name, load_times in LOAD_TIMES.items():
            batched, at_once = before[name], rows(single, name)
            assert without(batched, *load_times) == without(at_once, *load_times), name

        ids = event_ids_by_payload(lake)
        event_ids = {event: ids[payload_of(event)] for event in scenario.events}
        expected = reference_versions(scenario.events, event_ids, lake.salt)
        assert engine_versions(before["asset_versions"]) == expected

        writer.fold()  # folding the tail changes the layout, never the content
        assert rows(lake, "asset_versions") == before["asset_versions"]
        assert (
            sorted(lake.scan("asset_versions").collect().to_dicts(), key=repr)
            == (before["asset_versions"])
        ), "after a fold the Delta table asset_versions is not exact on its own"


# Columns that record when or in which batch a row was loaded: the only ones allowed to differ.
LINEAGE = ("received_at", "landed_at", "resolved_at", "batch_id")
LOAD_TIMES: dict[str, tuple[str, ...]] = {
    "raw_events": ("received_at", "landed_at", "batch_id"),
    "asset_changes": ("recorded_at", *LINEAGE),
    "unresolved_events": ("recorded_at", *LINEAGE),
    "asset_versions": ("recorded_at",),
}


# -- the engine alone, driven as the writer drives it -------------------------------------------
@st.composite
def observation_batches(draw: st.DrawFn) -> list[list[Observation]]:
    """Observations of two assets (ties, deletions, repeats) split into ordered batches."""
    specs = st.tuples(st.sampled_from("ab"), st.integers(0, 6), st.sampled_from([0, 1, 2, None]))
    drawn = draw(st.lists(specs, min_size=1, max_size=14))
    observations = [
        observation(
            asset_key=f"//storage.googleapis.com/{key}",
            cloud="gcp",
            resource_type="storage.googleapis.com/Bucket",
            config={} if state is None else {"state": state, "etag": number % 2},
            event_time=BASE_TIME + tick * TICK,
            event_ids=[f"e{number:02d}"],
            salt=b"pure",
            is_deleted=state is None,
            principal=f"user-{number}",
        )
        for number, (key, tick, state) in enumerate(drawn)
    ]
    observations += draw(st.lists(st.sampled_from(observations), max_size=3))  # repeats
    shuffled = draw(st.permutations(observations))
    cuts = sorted(draw(st.sets(st.integers(1, len(shuffled)), max_size=4)))
    return [list(shuffled[a:b]) for a, b in pairwise([0, *cuts, len(shuffled)]) if a < b]


def apply_batch(
    table: dict[str, dict[dt.datetime, scd2.Version]],
    log: dict[str, list[Observation]],
    batch: Sequence[Observation],
) -> None:
    """What LakeWriter does with one batch, on in-memory chains: extend or rebuild, then diff."""
    by_key: dict[str, list[Observation]] = defaultdict(list)
    for obs in batch:
        by_key[obs.asset_key].append(obs)
    for key, fresh in by_key.items():
        chain = table.setdefault(key, {})
        current = next((v for v in chain.values() if v.is_current), None)
        if scd2.needs_rebuild(current, fresh):
            old, new = list(chain.values()), scd2.rebuild_chain([*log[key], *fresh])
        else:
            old, new = ([current] if current else []), scd2.extend_chain(current, fresh)
        plan = scd2.diff_chain(old, new)
        for start in plan.deletes:
            del chain[start]
        chain.update({version.valid_from: version for version in plan.upserts})
        log[key].extend(fresh)


@settings(settings.get_profile("pure"))
@given(observation_batches())
def test_engine_applied_batch_by_batch_equals_one_rebuild(batches: list[list[Observation]]) -> None:
    """Extend/rebuild plus diff, batch after batch, gives the chain of all observations at once."""
    table: dict[str, dict[dt.datetime, scd2.Version]] = {}
    log: dict[str, list[Observation]] = defaultdict(list)
    for batch in batches:
        apply_batch(table, log, batch)
        for key, chain in table.items():
            check_chains({**scd2_row(v), "asset_key": key} for v in chain.values())
    everything = [obs for batch in batches for obs in batch]
    for key, chain in table.items():
        rebuilt = scd2.rebuild_chain(o for o in everything if o.asset_key == key)
        assert sorted(chain.values(), key=lambda v: v.valid_from) == rebuilt


def scd2_row(version: scd2.Version) -> dict[str, Any]:
    """A Version as the asset_versions row fields the chain checks read."""
    return {
        "valid_from": version.valid_from,
        "valid_to": version.valid_to,
        "version": version.version,
        "is_current": version.is_current,
        "is_deleted": version.is_deleted,
        "config_hash": version.config_hash,
    }


# -- one event id, two states at one instant ------------------------------------------------------
def test_colliding_event_ids_do_not_make_history_depend_on_order(tmp_path: Path) -> None:
    """Two records with one event id but different content (raw_events keys on the record hash
    for exactly this case) see two states of an asset at one instant; a late observation then
    forces a rebuild from the observation log. The result must not depend on record order."""

    def seen(minute: int, state: int) -> Observation:
        return observation(
            asset_key="arn:aws:s3:::audit-logs",
            cloud="aws",
            resource_type="AWS::S3::Bucket",
            config={"versioning": state},
            event_time=BASE_TIME + dt.timedelta(minutes=minute),
            event_ids=["0f3c0b2a-1111-4c4c-9e9e-d00dfeedbeef" if minute else "e-late"],
            salt=b"collision",
        )

    results = []
    for name, order in (("forward", 1), ("backward", -1)):
        lake = new_lake(str(tmp_path), name)
        writer = LakeWriter(lake)
        writer.commit(ResolvedBatch(observations=[seen(5, 1), seen(5, 2)][::order]), "tied")
        writer.commit(ResolvedBatch(observations=[seen(0, 0)]), "late")
        results.append(without(rows(lake, "asset_versions"), "recorded_at"))
    assert results[0] == results[1]
