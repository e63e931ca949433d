"""Example-based tests of the pure SCD2 engine (resolvers/lake/scd2.py).

Each test builds observations the way resolvers do (``resolvers.observe.observation``) and checks
a chain written out by hand: version numbers, boundaries, which event opened which version.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest

from resolvers.lake import scd2
from resolvers.model import Observation
from resolvers.observe import observation

KEY = "//storage.googleapis.com/audit-logs-bucket"
T0 = dt.datetime(2024, 3, 1, 9, 30, tzinfo=dt.UTC)
SALT = b"unit-test-salt"
CONFIGS: dict[str, dict[str, Any]] = {
    "A": {"versioning": {"enabled": False}, "labels": {"env": "dev"}},
    "B": {"versioning": {"enabled": True}, "labels": {"env": "dev"}},
    "C": {"versioning": {"enabled": True}, "labels": {"env": "prod"}},
}


def at(minutes: int) -> dt.datetime:
    """T0 plus some minutes."""
    return T0 + dt.timedelta(minutes=minutes)


def obs(minutes: int, state: str, event_id: str, principal: str | None = None) -> Observation:
    """An observation of the bucket: state ``A``/``B``/``C`` (a config) or ``deleted``."""
    deleted = state == "deleted"
    return observation(
        asset_key=KEY,
        cloud="gcp",
        resource_type="storage.googleapis.com/Bucket",
        config={} if deleted else CONFIGS[state],
        event_time=at(minutes),
        event_ids=[event_id],
        salt=SALT,
        is_deleted=deleted,
        principal=principal or f"user:{event_id}@example.com",
    )


def hash_of(state: str) -> str:
    """The config hash an observation of ``state`` carries."""
    return obs(0, state, "probe").config_hash


def shape(chain: Sequence[scd2.Version]) -> list[tuple[Any, ...]]:
    """(version, valid_from, valid_to, is_current, state, event ids) of each version."""
    states = {hash_of(name): name for name in CONFIGS}
    return [
        (
            v.version,
            v.valid_from,
            v.valid_to,
            v.is_current,
            "deleted" if v.is_deleted else states[v.config_hash],
            v.change_event_ids,
        )
        for v in chain
    ]


def apply(old: Sequence[scd2.Version], plan: scd2.ChainPlan) -> list[scd2.Version]:
    """A stored chain with a plan applied, as the lake does it (rows keyed by valid_from)."""
    rows = {v.valid_from: v for v in old if v.valid_from not in plan.deletes}
    rows.update({v.valid_from: v for v in plan.upserts})
    return sorted(rows.values(), key=lambda v: v.valid_from)


def test_versions_follow_state_changes_in_time_order() -> None:
    chain = scd2.rebuild_chain([obs(20, "C", "e3"), obs(0, "A", "e1"), obs(10, "B", "e2")])
    assert shape(chain) == [
        (1, at(0), at(10), False, "A", ("e1",)),
        (2, at(10), at(20), False, "B", ("e2",)),
        (3, at(20), None, True, "C", ("e3",)),
    ]
    assert [v.changed_by for v in chain] == [f"user:e{n}@example.com" for n in (1, 2, 3)]
    assert chain[0].config_hash != chain[1].config_hash


def test_repeat_of_current_state_adds_no_version() -> None:
    first = scd2.extend_chain(None, [obs(0, "A", "e1")])
    current = first[-1]
    later = [obs(5, "A", "e2"), obs(9, "A", "e3")]
    assert not scd2.needs_rebuild(current, later)
    chain = scd2.extend_chain(current, later)
    assert shape(chain) == [(1, at(0), None, True, "A", ("e1",))]
    assert chain[0].last_observed_at == at(9)
    plan = scd2.diff_chain([current], chain)
    assert plan.deletes == ()
    assert [v.last_observed_at for v in plan.upserts] == [at(9)]  # only the bookkeeping moves


def test_extend_closes_current_and_continues_numbering() -> None:
    current = scd2.rebuild_chain([obs(0, "A", "e1"), obs(10, "B", "e2")])[-1]
    chain = scd2.extend_chain(current, [obs(20, "C", "e3"), obs(30, "A", "e4")])
    assert shape(chain) == [
        (2, at(10), at(20), False, "B", ("e2",)),
        (3, at(20), at(30), False, "C", ("e3",)),
        (4, at(30), None, True, "A", ("e4",)),
    ]


def test_late_observation_splits_a_version_and_renumbers() -> None:
    logged = [obs(0, "A", "e1"), obs(8, "A", "e2"), obs(10, "B", "e3")]
    old = scd2.rebuild_chain(logged)
    assert shape(old) == [
        (1, at(0), at(10), False, "A", ("e1",)),
        (2, at(10), None, True, "B", ("e3",)),
    ]
    late = [obs(5, "C", "e9")]
    assert scd2.needs_rebuild(old[-1], late)
    new = scd2.rebuild_chain([*logged, *late])
    assert shape(new) == [
        (1, at(0), at(5), False, "A", ("e1",)),
        (2, at(5), at(8), False, "C", ("e9",)),
        (3, at(8), at(10), False, "A", ("e2",)),  # A was seen again after the late C
        (4, at(10), None, True, "B", ("e3",)),
    ]
    plan = scd2.diff_chain(old, new)
    assert plan.deletes == ()
    assert {v.valid_from for v in plan.upserts} == {at(0), at(5), at(8), at(10)}
    assert apply(old, plan) == new


def test_late_observation_makes_a_later_version_redundant() -> None:
    logged = [obs(0, "A", "e1"), obs(10, "B", "e2"), obs(20, "A", "e3")]
    old = scd2.rebuild_chain(logged)
    new = scd2.rebuild_chain([*logged, obs(5, "B", "e9")])
    assert shape(new) == [
        (1, at(0), at(5), False, "A", ("e1",)),
        (2, at(5), at(20), False, "B", ("e9",)),  # the version that began at 10 is merged in
        (3, at(20), None, True, "A", ("e3",)),
    ]
    assert new[1].last_observed_at == at(10)
    plan = scd2.diff_chain(old, new)
    assert plan.deletes == (at(10),)
    assert {v.valid_from for v in plan.upserts} == {at(0), at(5)}  # version 3 is unchanged
    assert apply(old, plan) == new


def test_late_observation_can_merge_two_versions_into_one() -> None:
    logged = [obs(0, "A", "e1"), obs(10, "B", "e2"), obs(20, "A", "e3")]
    new = scd2.rebuild_chain([*logged, obs(15, "A", "e9")])
    assert shape(new) == [
        (1, at(0), at(10), False, "A", ("e1",)),
        (2, at(10), at(15), False, "B", ("e2",)),
        (3, at(15), None, True, "A", ("e9",)),
    ]
    assert scd2.diff_chain(scd2.rebuild_chain(logged), new).deletes == (at(20),)


@pytest.mark.parametrize("order", [1, -1], ids=["deletion-last", "deletion-first"])
def test_same_instant_deletion_wins(order: int) -> None:
    tied = [obs(10, "B", "e2"), obs(10, "deleted", "e3"), obs(10, "C", "e4")][::order]
    chain = scd2.rebuild_chain([obs(0, "A", "e1"), *tied])
    assert shape(chain) == [
        (1, at(0), at(10), False, "A", ("e1",)),
        (2, at(10), None, True, "deleted", ("e3",)),  # only the event that saw the winner
    ]
    assert chain[1].changed_by == "user:e3@example.com"


def test_same_instant_live_states_resolve_the_same_way_in_any_order() -> None:
    tied = [obs(10, "B", "e2"), obs(10, "C", "e3")]
    forward = scd2.rebuild_chain([obs(0, "A", "e1"), *tied])
    backward = scd2.rebuild_chain([*tied[::-1], obs(0, "A", "e1")])
    assert forward == backward
    winner = max(("B", "C"), key=hash_of)  # the documented tie rule: the greater hash
    assert shape(forward)[1][4] == winner


def test_same_instant_same_state_cites_every_event() -> None:
    chain = scd2.rebuild_chain([obs(0, "A", "e1"), obs(0, "A", "e7"), obs(0, "A", "e4")])
    assert shape(chain) == [(1, at(0), None, True, "A", ("e1", "e4", "e7"))]
    assert chain[0].changed_by == "user:e7@example.com"  # the greatest event id


def test_deletion_then_re_creation() -> None:
    chain = scd2.rebuild_chain(
        [
            obs(0, "A", "e1"),
            obs(10, "deleted", "e2"),
            obs(12, "deleted", "e3"),  # a repeated deletion is no new version
            obs(20, "A", "e4"),  # re-created exactly as before
        ]
    )
    assert shape(chain) == [
        (1, at(0), at(10), False, "A", ("e1",)),
        (2, at(10), at(20), False, "deleted", ("e2",)),
        (3, at(20), None, True, "A", ("e4",)),
    ]
    assert chain[2].config == chain[0].config
    assert chain[1].last_observed_at == at(12)


def test_deletion_and_empty_live_config_are_different_states() -> None:
    empty = observation(
        asset_key=KEY,
        cloud="gcp",
        resource_type="storage.googleapis.com/Bucket",
        config={},
        event_time=at(0),
        event_ids=["e1"],
        salt=SALT,
    )
    chain = scd2.rebuild_chain([empty, obs(5, "deleted", "e2")])
    assert [v.is_deleted for v in chain] == [False, True]
    assert chain[0].config_hash == chain[1].config_hash


def test_needs_rebuild_only_for_observations_not_later_than_seen() -> None:
    current = scd2.rebuild_chain([obs(0, "A", "e1"), obs(10, "A", "e2")])[-1]
    assert not scd2.needs_rebuild(None, [obs(0, "A", "e0")])
    assert not scd2.needs_rebuild(current, [obs(11, "B", "e3")])
    assert scd2.needs_rebuild(current, [obs(10, "B", "e3")])  # a tie with the last instant
    assert scd2.needs_rebuild(current, [obs(11, "B", "e3"), obs(5, "B", "e4")])


def test_duplicates_are_ignored_and_unchanged_chain_gives_empty_plan() -> None:
    observations = [obs(0, "A", "e1"), obs(10, "B", "e2")]
    chain = scd2.rebuild_chain(observations)
    assert scd2.rebuild_chain([*observations, *observations]) == chain
    assert scd2.diff_chain(chain, scd2.rebuild_chain(observations[::-1])) == scd2.ChainPlan((), ())


def test_extend_equals_rebuild_when_everything_is_later() -> None:
    early = [obs(0, "A", "e1"), obs(10, "B", "e2")]
    late = [obs(20, "B", "e3"), obs(30, "deleted", "e4"), obs(30, "C", "e5"), obs(40, "A", "e6")]
    stored = scd2.rebuild_chain(early)
    extended = scd2.extend_chain(stored[-1], late)
    assert [*stored[:-1], *extended] == scd2.rebuild_chain([*early, *late])


def test_with_chain_is_replace_of_the_chain_fields() -> None:
    """_with_chain builds a Version positionally: every field must land where it belongs."""
    from dataclasses import fields, replace

    from resolvers.lake.scd2 import Version, _with_chain

    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    values: dict[str, object] = {}
    for n, field in enumerate(fields(Version)):  # a distinct value in every field
        kind = str(field.type)
        if "datetime" in kind:
            values[field.name] = start + dt.timedelta(hours=n)
        elif "bool" in kind:
            values[field.name] = n % 2 == 0
        elif "int" in kind:
            values[field.name] = n
        elif "tuple" in kind:
            values[field.name] = (f"e{n}",)
        else:
            values[field.name] = f"{field.name}-{n}"
    version = Version(**values)  # type: ignore[arg-type]
    later = start + dt.timedelta(days=9)
    assert _with_chain(
        version, valid_to=later, is_current=False, last_observed_at=later
    ) == replace(version, valid_to=later, is_current=False, last_observed_at=later)
