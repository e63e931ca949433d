"""The lake on ``s3://bucket/prefix``: a real moto server (conftest's ``moto_s3``), real Delta
tables written by delta-rs through its S3 object store, the marker through s3fs.

The same feed messages committed to S3 and to a local folder must give the same tables; a batch
committed twice, or a command run twice, changes nothing; what is not a lake is never written.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import orjson
import pytest
from test_asset_feed import (
    POLICY_TYPES,
    RESOURCE_TYPES,
    feed_sequence,
    ingest,
    lake_contents,
    one_error_line,
    read,
    snapshot_of,
    write_lines,
)
from test_lake_storage import create_in_processes
from test_scd2_properties import check_chains, check_no_change, commit_payloads

from resolvers.lake.storage import MARKER, Lake, s3_storage_options
from resolvers.lake.tables import TABLES
from resolvers.lake.writer import LakeWriter

if TYPE_CHECKING:
    from conftest import MotoS3

TYPES = [RESOURCE_TYPES[0], RESOURCE_TYPES[1], POLICY_TYPES[0]]


def s3_prefix(server: MotoS3) -> str:
    """A fresh prefix in the test bucket: every test gets a lake of its own."""
    return f"s3://{server.bucket}/{uuid.uuid4().hex[:12]}/lake"


def keys_under(server: MotoS3, uri: str) -> list[str]:
    """Every object key under ``uri`` in the bucket."""
    prefix = uri.removeprefix(f"s3://{server.bucket}/") + "/"
    client = boto3.client("s3", endpoint_url=server.endpoint)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=server.bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def batches_from_corpus(corpus: Path) -> list[list[str]]:
    """Two batches of feed messages (three assets): creations and updates, then the rest."""
    sequences = [feed_sequence(snapshot_of(corpus, t), first_step=i) for i, t in enumerate(TYPES)]
    payloads = [[orjson.dumps(m).decode() for m in sequence] for sequence in sequences]
    return [[p for s in payloads for p in s[:3]], [p for s in payloads for p in s[3:]]]


def versions_without_load_time(lake: Lake) -> list[dict[str, Any]]:
    """asset_versions as readers see it, minus the commit time."""
    rows = [
        {k: v for k, v in r.items() if k != "recorded_at"} for r in read(lake, "asset_versions")
    ]
    return sorted(rows, key=repr)


# -- storage options (no server needed) --------------------------------------------------------
MOTO_LIKE = {
    "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "eu-west-1",
}


def test_options_for_an_http_endpoint_such_as_moto() -> None:
    options = s3_storage_options(MOTO_LIKE)
    assert options == {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "AWS_ALLOW_HTTP": "true",
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
        "AWS_CONDITIONAL_PUT": "etag",
    }


def test_options_for_real_s3_leave_credentials_to_the_default_chain() -> None:
    options = s3_storage_options({"AWS_DEFAULT_REGION": "ap-southeast-2"})
    assert options == {"AWS_REGION": "ap-southeast-2", "AWS_CONDITIONAL_PUT": "etag"}
    session = {**MOTO_LIKE, "AWS_SESSION_TOKEN": "token"}
    del session["AWS_ENDPOINT_URL"]
    options = s3_storage_options(session)
    assert options["AWS_SESSION_TOKEN"] == "token"
    assert "AWS_ALLOW_HTTP" not in options and "AWS_ENDPOINT_URL" not in options


@pytest.mark.parametrize("profile_region", ["eu-central-1", None])
def test_region_comes_from_the_profile_or_is_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, profile_region: str | None
) -> None:
    """A region set only in ~/.aws/config is used; with none anywhere, none is guessed."""
    config = tmp_path / "aws-config"
    config.write_text(
        "[profile lakes]\n" + (f"region = {profile_region}\n" if profile_region else "")
    )
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "lakes")
    options = s3_storage_options()
    assert options.get("AWS_REGION") == profile_region
    assert "AWS_REGION" not in s3_storage_options({})  # an explicit mapping is all there is


def test_options_prefer_the_s3_specific_endpoint_and_allow_no_conditional_put() -> None:
    env = {
        **MOTO_LIKE,
        "AWS_ENDPOINT_URL_S3": "https://minio.internal:9000",
        "ASSETLAKE_S3_CONDITIONAL_PUT": "",
    }
    options = s3_storage_options(env)
    assert options["AWS_ENDPOINT_URL"] == "https://minio.internal:9000"
    assert options["AWS_ALLOW_HTTP"] == "false"
    assert "AWS_CONDITIONAL_PUT" not in options


# -- the lake on S3 ----------------------------------------------------------------------------
@pytest.mark.service
def test_s3_lake_commits_idempotently_and_matches_a_local_lake(
    s3_env: MotoS3, corpus: Path, tmp_path: Path
) -> None:
    uri = s3_prefix(s3_env)
    lake = Lake(uri).create()
    assert lake.is_s3 and lake.storage_options is not None
    assert f"{uri.removeprefix(f's3://{s3_env.bucket}/')}/{MARKER}" in keys_under(s3_env, uri)
    batches = batches_from_corpus(corpus)
    writer = LakeWriter(lake)
    for batch in batches:
        commit_payloads(writer, batch)
        check_chains(read(lake, "asset_versions"))
    landed = {row["payload"] for row in read(lake, "raw_events")}
    assert landed == {p for batch in batches for p in batch}  # invariant 5
    assert len(read(lake, "asset_versions")) == 4 * len(TYPES)

    for batch in batches:  # invariant 3, with a writer of this process and a new one
        check_no_change(lake, lambda b=batch: commit_payloads(writer, b), "a batch on S3")
        check_no_change(lake, lambda b=batch: commit_payloads(LakeWriter(Lake(uri)), b), "again")

    local = Lake(str(tmp_path / "local")).create()
    local_writer = LakeWriter(local)
    for batch in batches:
        commit_payloads(local_writer, batch)
    assert versions_without_load_time(lake) == versions_without_load_time(local)

    before = read(lake, "asset_versions")
    writer.fold()  # the MERGE of the tail into asset_versions, on S3
    assert read(lake, "asset_versions") == before
    reopened = Lake(uri)  # a new process: marker and tables read back from the bucket
    assert reopened.salt == lake.salt
    assert sorted(reopened.scan("asset_versions").collect().to_dicts(), key=repr) == before


@pytest.mark.service
def test_ingest_command_into_s3_twice(s3_env: MotoS3, corpus: Path, tmp_path: Path) -> None:
    uri = s3_prefix(s3_env)
    messages = [m for t in TYPES for m in feed_sequence(snapshot_of(corpus, t))]
    feed = write_lines(tmp_path / "feed.jsonl", messages)
    first = ingest(uri, feed)
    assert first.exit_code == 0, first.output
    keys = keys_under(s3_env, uri)
    assert any(key.endswith(f"/{MARKER}") for key in keys)
    assert any("/asset_versions/_delta_log/" in key for key in keys)

    lake = Lake(uri)
    tables = ("raw_events", "asset_changes", "asset_versions", "unresolved_events")
    before = {name: read(lake, name) for name in tables}
    check_chains(before["asset_versions"])
    assert len(before["raw_events"]) == len(messages)

    second = ingest(uri, feed)
    assert second.exit_code == 0, second.output
    assert "0 new raw events, 0 asset changes, 0 versions written" in second.stdout
    assert {name: read(Lake(uri), name) for name in tables} == before

    local = tmp_path / "local"
    assert ingest(local, feed).exit_code == 0
    assert lake_contents(Lake(uri), [feed]) == lake_contents(Lake(str(local)), [feed])


@pytest.mark.service
def test_prefix_holding_other_objects_is_not_touched(
    s3_env: MotoS3, corpus: Path, tmp_path: Path
) -> None:
    uri = s3_prefix(s3_env)
    key = uri.removeprefix(f"s3://{s3_env.bucket}/") + "/exports/q3.csv"
    client = boto3.client("s3", endpoint_url=s3_env.endpoint)
    client.put_object(Bucket=s3_env.bucket, Key=key, Body=b"quarter,total\nQ3,42\n")
    feed = write_lines(tmp_path / "feed.jsonl", feed_sequence(snapshot_of(corpus, TYPES[2])))
    line = one_error_line(ingest(uri, feed))
    assert "not an assetlake lake" in line and uri in line
    assert keys_under(s3_env, uri) == [key]
    body = client.get_object(Bucket=s3_env.bucket, Key=key)["Body"].read()
    assert body == b"quarter,total\nQ3,42\n"


@pytest.mark.service
def test_missing_bucket_is_one_clear_error(s3_env: MotoS3, corpus: Path, tmp_path: Path) -> None:
    feed = write_lines(tmp_path / "feed.jsonl", feed_sequence(snapshot_of(corpus, TYPES[2])))
    line = one_error_line(ingest("s3://no-such-assetlake-bucket/lake", feed))
    assert "no-such-assetlake-bucket" in line and "does not exist" in line


@pytest.mark.service
def test_concurrent_writers_on_s3_lose_nothing(
    s3_env: MotoS3, corpus: Path, tmp_path: Path
) -> None:
    """Two processes' writers commit at once to the same tables and the same assets: of two
    racing commits one conditional put on S3 wins and the other's files are committed after it
    (resolvers/lake/append.py), and the writer re-checks the chains another writer touched
    meanwhile, so every record and every chain survives."""
    uri = s3_prefix(s3_env)
    Lake(uri).create()
    messages = [m for t in TYPES[:2] for m in feed_sequence(snapshot_of(corpus, t))]
    every = [orjson.dumps(m).decode() for m in messages]
    payloads = [every[0::2], every[1::2]]  # each writer sees part of each asset's history
    failures: list[BaseException] = []
    start = threading.Barrier(len(payloads))

    def run(mine: Sequence[str]) -> None:
        try:
            writer = LakeWriter(Lake(uri))
            start.wait()
            for index in range(0, len(mine), 2):
                commit_payloads(writer, mine[index : index + 2])
        except BaseException as exc:  # reported in the main thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(mine,)) for mine in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    lake = Lake(uri)
    assert {row["payload"] for row in read(lake, "raw_events")} == {
        p for mine in payloads for p in mine
    }
    check_chains(read(lake, "asset_versions"))

    local = Lake(str(tmp_path / "local")).create()
    commit_payloads(LakeWriter(local), [p for mine in payloads for p in mine])
    assert versions_without_load_time(lake) == versions_without_load_time(local)


@pytest.mark.service
def test_an_exclusive_put_on_s3_takes_a_retry_of_itself_for_its_own(s3_env: MotoS3) -> None:
    """A commit's log entry is put with If-None-Match: a second put of other bytes is refused,
    while a put the client retried after it landed (a lost answer) finds its own bytes."""
    lake = Lake(s3_prefix(s3_env)).create()
    assert lake.exclusive_puts
    path = "raw_events/_delta_log/00000000000000000099.json"
    assert lake.put_exclusive(path, b'{"commitInfo":{"n":1}}\n')
    assert lake.put_exclusive(path, b'{"commitInfo":{"n":1}}\n')  # the same bytes: its own
    assert not lake.put_exclusive(path, b'{"commitInfo":{"n":2}}\n')
    assert lake.fs.cat_file(f"{lake.uri}/{path}") == b'{"commitInfo":{"n":1}}\n'


@pytest.mark.service
def test_processes_creating_one_s3_lake_at_once_agree_on_it(s3_env: MotoS3) -> None:
    """As on a folder (test_lake_storage): the marker is a conditional put, so the creators of
    one new lake on S3 end up with one marker, one salt and every table."""
    uris = [s3_prefix(s3_env) for _ in range(2)]
    for uri, salts in zip(uris, create_in_processes(uris), strict=True):
        assert len(set(salts)) == 1, salts
        assert Lake(uri).marker["redaction_salt"] == salts[0]
        prefix = uri.removeprefix(f"s3://{s3_env.bucket}/")
        keys = keys_under(s3_env, uri)
        assert f"{prefix}/{MARKER}" in keys
        for spec in TABLES:
            assert f"{prefix}/{spec.name}/_delta_log/00000000000000000000.json" in keys
