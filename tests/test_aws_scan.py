"""The AWS scan against moto in server mode: merge into history, faults, scoped deletion, races.

Faults are injected with botocore ``before-send`` hooks (resolvers.aws.scan_moto.FaultInjector):
throttling, access denied, malformed answers, and a scan killed in the middle of a scope.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import polars as pl
import pytest

from resolvers.aws.scan import AwsScanResult, Progress, scan_aws
from resolvers.aws.scan_faults import (
    Fault,
    FaultInjector,
    ScanKilled,
    denied,
    garbage,
    kill,
    throttled,
)
from resolvers.aws.scan_moto import seed_core, shared_server
from resolvers.aws.scan_plan import ScanOptions
from resolvers.aws.types.catalog import registry
from resolvers.aws.types.session import AccountReader, AwsOptions, CallCounter, Sessions
from resolvers.lake.layout import read_table
from resolvers.lake.storage import Lake
from resolvers.lake.writer import LakeWriter
from resolvers.model import ResolvedBatch
from resolvers.observe import observation
from resolvers.timeutil import utcnow

pytestmark = pytest.mark.service
ACCOUNT = "123456789012"
QUEUE, TOPIC = "AWS::SQS::Queue", "AWS::SNS::Topic"
VOLATILE_TYPES = {"AWS::RDS::DBInstance", "AWS::RDS::DBCluster", "AWS::CloudTrail::Trail"}


@dataclass
class Moto:
    """The reset shared moto server and a session on it."""

    endpoint: str
    base: boto3.Session
    last_second: dt.datetime | None = None

    def reader(self, account: str = ACCOUNT) -> AccountReader:
        """Clients of one account (another account through the read-only role)."""
        return Sessions(AwsOptions(endpoint_url=self.endpoint), self.base).reader(account)

    def scan(self, lake: Lake, *faults: Fault, **options: Any) -> AwsScanResult:
        """One scan of ``lake``, with faults injected into every client it makes.

        Scans in one wall-clock second share a read time (and a later one then deletes nothing
        an earlier one saw): each scan here starts in a second of its own.
        """
        while utcnow().replace(microsecond=0) == self.last_second:
            time.sleep(0.05)
        self.last_second = utcnow().replace(microsecond=0)
        hooks = (*options.pop("hooks", ()), FaultInjector(*faults))
        progress = options.pop("progress", None)
        options.setdefault("regions", ("us-east-1",))
        return scan_aws(
            lake, ScanOptions(endpoint_url=self.endpoint, **options),
            AwsOptions(client_hooks=hooks), self.base, progress,
        )  # fmt: skip


@pytest.fixture
def moto() -> Iterator[Moto]:
    """The shared moto server, reset before each test."""
    server = shared_server()
    server.reset()
    yield Moto(server.endpoint, boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ))  # fmt: skip


def versions(lake: Lake) -> pl.DataFrame:
    """Every version row, in chain order."""
    return read_table(lake, "asset_versions").collect().sort("asset_key", "valid_from")


def current(lake: Lake) -> dict[str, dict[str, Any]]:
    """The current version of each asset."""
    rows = versions(lake).filter(pl.col("is_current")).to_dicts()
    return {row["asset_key"]: row for row in rows}


def live(lake: Lake, resource_type: str | None = None) -> set[str]:
    """Keys of current, not deleted assets (of one type)."""
    return {
        key for key, row in current(lake).items()
        if not row["is_deleted"] and resource_type in (None, row["resource_type"])
    }  # fmt: skip


def reports(lake: Lake, scan_id: str) -> pl.DataFrame:
    """The scan_reports rows of one scan."""
    return read_table(lake, "scan_reports").filter(pl.col("scan_id") == scan_id).collect()


def queues_and_topics(reader: AccountReader, *regions: str) -> None:
    """One queue and one topic per region."""
    for region in regions:
        reader.client("sqs", region).create_queue(QueueName=f"q-{region}")
        reader.client("sns", region).create_topic(Name=f"t-{region}")


# -- merging into history -----------------------------------------------------------------------
def test_full_scan_onboards_every_core_type_and_a_rescan_changes_nothing(
    moto: Moto, lake: Lake
) -> None:
    """Every core type lands as scan versions at the read time; the drift report counts them
    as new; a second scan finds them unchanged (but for fields AWS changes on every read)."""
    seed_core(moto.reader())
    first = moto.scan(lake)
    assert not first.errors
    rows = versions(lake)
    assert set(rows["resource_type"]) == set(registry())
    assert set(rows["change_source"]) == {"scan"}
    assert set(rows["valid_from"]) == {first.report.read_time}
    assert first.report.read_time < first.report.started_at.replace(microsecond=0)
    buckets = rows.filter(pl.col("resource_type") == "AWS::S3::Bucket")
    assert dict(zip(buckets["name"], buckets["region"], strict=True))[f"locked-{ACCOUNT}"] == (
        "eu-west-1"
    )
    drift = reports(lake, first.report.scan_id)
    assert set(drift["status"]) == {"complete"}
    assert drift["new_assets"].sum() == rows.height == first.assets
    second = moto.scan(lake)
    drift = reports(lake, second.report.scan_id)
    assert drift["new_assets"].sum() == 0 and drift["deleted_assets"].sum() == 0
    changed = set(drift.filter(pl.col("changed_assets") > 0)["resource_type"])
    assert changed <= VOLATILE_TYPES  # LatestRestorableTime, trail delivery times
    assert (
        versions(lake)
        .filter(pl.col("version") > 1)["resource_type"]
        .is_in(list(VOLATILE_TYPES))
        .all()
    )


def test_scan_reads_other_accounts_through_the_role_and_the_organization(
    moto: Moto, lake: Lake
) -> None:
    """--organizations adds the organization's accounts; each is read through the role."""
    org = moto.base.client("organizations", endpoint_url=moto.endpoint)
    org.create_organization(FeatureSet="ALL")
    member = org.create_account(AccountName="member", Email="m@example.com")
    member_id = member["CreateAccountStatus"]["AccountId"]
    moto.reader(member_id).client("sqs", "us-east-1").create_queue(QueueName="member-queue")
    moto.reader().client("sqs", "us-east-1").create_queue(QueueName="own-queue")
    result = moto.scan(lake, types=(QUEUE,), organizations=True, accounts=(ACCOUNT,))
    assert live(lake, QUEUE) == {
        f"arn:aws:sqs:us-east-1:{member_id}:member-queue",
        f"arn:aws:sqs:us-east-1:{ACCOUNT}:own-queue",
    }
    assert {o.task.account for o in result.outcomes} >= {ACCOUNT, member_id}


# -- faults -------------------------------------------------------------------------------------
def test_throttling_is_retried_with_backoff(moto: Moto, lake: Lake) -> None:
    """Throttled calls are retried (adaptive mode) and the scan completes."""
    queues_and_topics(moto.reader(), "us-east-1")
    counter = CallCounter()
    faults = (
        Fault("sqs", "ListQueues", throttled, times=2),
        Fault("sqs", "GetQueueAttributes", throttled, times=1),
        Fault("sns", "ListTopics", throttled, times=1),
    )
    result = moto.scan(lake, *faults, types=(QUEUE, TOPIC), hooks=(counter,))
    assert not result.errors
    assert live(lake) == {
        f"arn:aws:sqs:us-east-1:{ACCOUNT}:q-us-east-1",
        f"arn:aws:sns:us-east-1:{ACCOUNT}:t-us-east-1",
    }
    assert all(fault.seen == fault.times for fault in faults)
    assert counter.total_attempts == counter.total_calls + 4


def test_denied_scopes_are_reported_and_delete_nothing(moto: Moto, lake: Lake) -> None:
    """AccessDenied on a service (SQS everywhere) and on a region (SNS in eu-west-1): those
    scopes are reported as denied and keep their assets; the scopes that completed delete."""
    reader, regions = moto.reader(), ("us-east-1", "eu-west-1")
    queues_and_topics(reader, *regions)
    moto.scan(lake, types=(QUEUE, TOPIC), regions=regions)
    assert len(live(lake)) == 4
    for region in regions:  # everything is deleted in AWS
        sqs = reader.client("sqs", region)
        sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=f"q-{region}")["QueueUrl"])
        sns = reader.client("sns", region)
        sns.delete_topic(TopicArn=f"arn:aws:sns:{region}:{ACCOUNT}:t-{region}")
    faults = (
        Fault("sqs", "ListQueues", denied),
        Fault("sns", "ListTopics", denied, region="eu-west-1"),
    )
    result = moto.scan(lake, *faults, types=(QUEUE, TOPIC), regions=regions)
    assert live(lake) == {
        f"arn:aws:sqs:us-east-1:{ACCOUNT}:q-us-east-1",
        f"arn:aws:sqs:eu-west-1:{ACCOUNT}:q-eu-west-1",
        f"arn:aws:sns:eu-west-1:{ACCOUNT}:t-eu-west-1",
    }
    drift = reports(lake, result.report.scan_id)
    denied_rows = drift.filter(pl.col("status") == "denied")
    assert set(denied_rows["scope"]) == {
        f"{ACCOUNT}/us-east-1/{QUEUE}", f"{ACCOUNT}/eu-west-1/{QUEUE}",
        f"{ACCOUNT}/eu-west-1/{TOPIC}",
    }  # fmt: skip
    assert all("AccessDenied" in error for error in denied_rows["error"])
    assert drift.filter(pl.col("status") == "complete")["deleted_assets"].sum() == 1
    moto.scan(lake, types=(QUEUE, TOPIC), regions=regions)
    assert live(lake) == set()


def test_a_scan_killed_halfway_deletes_nothing_and_the_next_completes_it(
    moto: Moto, lake: Lake
) -> None:
    """Deletions wait for the whole scan: killed in the middle of a scope (after other scopes
    finished), nothing is deleted; the next scan deletes and adds what changed."""
    reader = moto.reader()
    queues_and_topics(reader, "us-east-1")
    reader.client("sqs", "us-east-1").create_queue(QueueName="second")
    moto.scan(lake, types=(QUEUE, TOPIC))
    reader.client("sns", "us-east-1").delete_topic(
        TopicArn=f"arn:aws:sns:us-east-1:{ACCOUNT}:t-us-east-1"
    )
    reader.client("sns", "us-east-1").create_topic(Name="new-topic")
    before = versions(lake)
    with pytest.raises(ScanKilled):
        moto.scan(
            lake, Fault("sqs", "GetQueueAttributes", kill, times=1), types=(TOPIC, QUEUE),
            max_per_account=1,
        )  # fmt: skip
    after = versions(lake)
    assert not after["is_deleted"].any()
    assert set(after["asset_key"]) - set(before["asset_key"]) <= {
        f"arn:aws:sns:us-east-1:{ACCOUNT}:new-topic"
    }
    moto.scan(lake, types=(QUEUE, TOPIC))
    assert live(lake, TOPIC) == {f"arn:aws:sns:us-east-1:{ACCOUNT}:new-topic"}
    assert len(live(lake, QUEUE)) == 2


def test_malformed_answers_are_unresolved_with_a_reason(moto: Moto, lake: Lake) -> None:
    """A listing that cannot be parsed fails its scope; an asset whose read cannot be parsed is
    unreadable: both are unresolved_events rows with the reason, and neither scope deletes."""
    reader = moto.reader()
    queues_and_topics(reader, "us-east-1")
    reader.client("sqs", "us-east-1").create_queue(QueueName="doomed")
    moto.scan(lake, types=(QUEUE, TOPIC))
    sqs = reader.client("sqs", "us-east-1")
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName="doomed")["QueueUrl"])
    reader.client("sns", "us-east-1").delete_topic(
        TopicArn=f"arn:aws:sns:us-east-1:{ACCOUNT}:t-us-east-1"
    )
    faults = (Fault("sns", "ListTopics", garbage), Fault("sqs", "GetQueueAttributes", garbage))
    result = moto.scan(lake, *faults, types=(QUEUE, TOPIC))
    assert len(live(lake)) == 3  # nothing deleted
    unresolved = read_table(lake, "unresolved_events").collect()
    reasons = dict(zip(unresolved["reason"], unresolved["detail"], strict=False))
    assert "malformed response" in reasons["scan_failed"]
    assert "malformed response" in reasons["scan_unreadable"]
    assert set(unresolved["source"]) == {"aws_scan"}
    assert any("malformed response" in line for line in result.errors)


# -- races with the event streams ---------------------------------------------------------------
def test_an_event_newer_than_the_read_time_is_never_overwritten(moto: Moto, lake: Lake) -> None:
    """Events land while the scan runs: a change to an asset the scan also reads (older state
    in AWS when the scan read it), and the creation of an asset the scan's listing missed. The
    event's state stays current and the created asset is not deleted."""
    reader = moto.reader()
    queues_and_topics(reader, "us-east-1")
    queue_key = f"arn:aws:sqs:us-east-1:{ACCOUNT}:q-us-east-1"
    created_key = f"arn:aws:sns:us-east-1:{ACCOUNT}:made-by-an-event"
    moto.scan(lake, types=(QUEUE, TOPIC))
    landed: list[dt.datetime] = []

    def land_events(progress: Progress) -> None:
        if landed:
            return
        at = utcnow()
        landed.append(at)
        events = [
            _event(lake, queue_key, QUEUE, {"Attributes": {"changed": "by an event"}}, at, "e1"),
            _event(lake, created_key, TOPIC, {"Attributes": {"TopicArn": created_key}}, at, "e2"),
        ]
        LakeWriter(lake).commit(ResolvedBatch(observations=events), "events-during-scan")

    result = moto.scan(lake, types=(QUEUE, TOPIC), progress=land_events)
    assert landed and result.report.read_time < landed[0]
    now = current(lake)
    assert now[queue_key]["change_source"] == "event"
    assert now[queue_key]["change_event_ids"] == ["e1"]
    assert not now[created_key]["is_deleted"]
    chain = versions(lake).filter(pl.col("asset_key") == queue_key)
    assert chain["valid_from"].to_list()[-1] == landed[0]


def _event(
    lake: Lake, key: str, kind: str, config: dict[str, Any], at: dt.datetime, event_id: str
) -> Any:
    return observation(
        asset_key=key, cloud="aws", resource_type=kind, config=config, event_time=at,
        event_ids=(event_id,), salt=lake.salt, account_id=ACCOUNT, region="us-east-1",
        principal="arn:aws:iam::123456789012:user/alice",
    )  # fmt: skip


def test_an_account_whose_role_cannot_be_assumed_is_denied_once(moto: Moto, lake: Lake) -> None:
    """AssumeRole refused: every scope of that account is denied (STS asked once), the other
    account is scanned."""
    moto.reader().client("sqs", "us-east-1").create_queue(QueueName="own")
    counter = CallCounter()
    result = moto.scan(
        lake, Fault("sts", "AssumeRole", denied), types=(QUEUE, TOPIC),
        accounts=(ACCOUNT, "111111111111"), hooks=(counter,),
    )  # fmt: skip
    statuses = {(o.task.account, o.status) for o in result.outcomes}
    assert statuses == {(ACCOUNT, "complete"), ("111111111111", "denied")}
    assert counter.calls[("sts", "AssumeRole")] == 1
    assert live(lake) == {f"arn:aws:sqs:us-east-1:{ACCOUNT}:own"}
