"""The demo GCP asset feed built from the corpus's CAI snapshots (resolvers.demo_data)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import orjson
import pytest

from resolvers.demo_data import build_feed
from resolvers.errors import InputError
from resolvers.gcp.asset_feed import resolve_feed_record
from resolvers.timeutil import parse_time

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
MESSAGE_KEYS = {"asset", "priorAsset", "priorAssetState", "window", "deleted"}
SNAKE_KEYS = {
    "asset_type",
    "iam_policy",
    "discovery_document_uri",
    "discovery_name",
    "ancestry_path",
}


def read_messages(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of a feed file."""
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def messages_of(messages: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """The messages about one asset, in feed order."""
    return [m for m in messages if (m["asset"].get("name") or m["priorAsset"]["name"]) == key]


def is_public(asset: dict[str, Any]) -> bool:
    """Whether a bucket Asset grants allUsers access through its ACL."""
    acl = asset["resource"]["data"].get("acl") or []
    return any(entry.get("entity") == "allUsers" for entry in acl)


@pytest.fixture(scope="module")
def feed(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, list[dict]]:
    """One built feed: its summary and its messages."""
    summary = build_feed(corpus, tmp_path_factory.mktemp("feed") / "feed.jsonl", NOW)
    return summary, read_messages(summary.path)


def test_same_arguments_write_the_same_bytes(corpus: Path, tmp_path: Path) -> None:
    first = build_feed(corpus, tmp_path / "a.jsonl", NOW)
    second = build_feed(corpus, tmp_path / "b.jsonl", NOW)
    other = build_feed(corpus, tmp_path / "c.jsonl", NOW, seed=8)
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.path.read_bytes() != other.path.read_bytes()
    assert (first.public_bucket, first.deleted) == (second.public_bucket, second.deleted)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6, 8, 9])
def test_every_seed_tells_the_whole_story(corpus: Path, tmp_path: Path, seed: int) -> None:
    summary = build_feed(corpus, tmp_path / "feed.jsonl", NOW, seed=seed)
    assert summary.deletes == 4 and len(summary.created_last_day) == 7
    assert summary.made_public_at < summary.reverted_at < NOW - dt.timedelta(days=1)


def test_messages_are_camel_case_temporal_assets_in_time_order(feed: tuple) -> None:
    summary, messages = feed
    assert summary.messages == len(messages) > summary.assets >= 250
    assert summary.asset_types >= 25 and summary.projects >= 5
    times = [parse_time(m["window"]["startTime"]) for m in messages]
    assert times == sorted(times)
    assert NOW - dt.timedelta(days=7) <= times[0] and times[-1] <= NOW
    for message in messages:
        assert set(message) <= MESSAGE_KEYS and {"asset", "window", "deleted"} <= set(message)
        assert message["priorAssetState"] in ("PRESENT", "DOES_NOT_EXIST", "DELETED")
        asset = message["asset"]
        assert asset["name"].startswith("//") and "assetType" in asset
        assert not SNAKE_KEYS & (set(asset) | set(asset.get("resource", {})))
        assert (message["priorAssetState"] == "PRESENT") == ("priorAsset" in message)


def test_the_story_counts(feed: tuple) -> None:
    summary, messages = feed
    assert summary.creates == sum(m["priorAssetState"] != "PRESENT" for m in messages)
    assert summary.deletes == sum(m["deleted"] for m in messages) == 4
    assert summary.updates >= 30
    assert summary.creates + summary.updates + summary.deletes == summary.messages
    assert set(summary.deleted_last_day) < set(summary.deleted)


def test_a_bucket_is_made_public_and_reverted_minutes_later(feed: tuple) -> None:
    summary, messages = feed
    bucket = messages_of(messages, summary.public_bucket)
    public = [index for index, m in enumerate(bucket) if is_public(m["asset"])]
    assert len(public) == 1, "exactly one state of the bucket is public"
    made_public, reverted = bucket[public[0]], bucket[public[0] + 1]
    access = made_public["asset"]["resource"]["data"]["iamConfiguration"]
    assert access["uniformBucketLevelAccess"]["enabled"] is False
    assert not is_public(made_public["priorAsset"])
    assert reverted["priorAssetState"] == "PRESENT" and is_public(reverted["priorAsset"])
    restored = reverted["asset"]["resource"]["data"]["iamConfiguration"]
    assert restored == bucket[0]["asset"]["resource"]["data"]["iamConfiguration"]
    took = parse_time(reverted["window"]["startTime"]) - parse_time(
        made_public["window"]["startTime"]
    )
    assert dt.timedelta(0) < took < dt.timedelta(minutes=15)
    assert (summary.made_public_at, summary.reverted_at) == tuple(
        parse_time(m["window"]["startTime"]) for m in (made_public, reverted)
    )


def test_deletions_and_one_re_creation(feed: tuple) -> None:
    summary, messages = feed
    for key in summary.deleted:
        last = messages_of(messages, key)[-1]
        assert last["deleted"] is True and last["priorAsset"]["name"] == key
        assert "resource" not in last["asset"] and "resource" in last["priorAsset"]
    for key in summary.deleted_last_day:
        deleted_at = parse_time(messages_of(messages, key)[-1]["window"]["startTime"])
        assert NOW - dt.timedelta(days=1) < deleted_at
    states = [
        (m["deleted"], m["priorAssetState"]) for m in messages_of(messages, summary.recreated)
    ]
    assert states == [(False, "DOES_NOT_EXIST"), (True, "PRESENT"), (False, "DELETED")]
    assert summary.recreated in summary.created_last_day
    for key in summary.created_last_day:
        created_at = parse_time(messages_of(messages, key)[-1]["window"]["startTime"])
        assert NOW - dt.timedelta(days=1) < created_at
    assert f"assetlake history '{summary.public_bucket}'" in summary.queries()


def test_every_message_resolves(feed: tuple) -> None:
    _, messages = feed
    for message in messages:
        batch = resolve_feed_record(message, orjson.dumps(message).decode(), b"salt")
        assert not batch.unresolved and len(batch.changes) == 1


def test_a_missing_corpus_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="corpus is missing"):
        build_feed(tmp_path / "no-corpus", tmp_path / "feed.jsonl", NOW)
    assert not (tmp_path / "feed.jsonl").exists()
