"""Online state: one describe per asset per batch, found / not found / failed, never dropped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

from resolvers.aws.describe import (
    Describer,
    DescribeRequest,
    DescribeResult,
    OfflineDescriber,
    describe_all,
    is_offline,
)
from resolvers.aws.resolve import resolve_cloudtrail_record
from resolvers.aws.resolve_online import describe_batch
from resolvers.ingest import Record, ingest_records, resolve_records
from resolvers.lake.storage import Lake
from resolvers.lake.writer import LakeWriter
from resolvers.model import ResolvedBatch

SALT = b"salt"
ACCOUNT = "111122223333"
VOLUME = f"arn:aws:ec2:eu-west-1:{ACCOUNT}:volume/vol-1"
INSTANCE = f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-1"


class FakeDescriber:
    """Answers from a table and counts its calls (a stand-in for the boto3 describers)."""

    def __init__(self, answers: dict[str, DescribeResult]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, str, str]] = []

    def describe(
        self, asset_key: str, resource_type: str, account_id: str, region: str
    ) -> DescribeResult:
        """The table's answer; a key it does not know raises (a describer bug)."""
        self.calls.append((asset_key, resource_type, account_id, region))
        return self.answers[asset_key]


def event(name: str, event_id: str, time: str, **request: Any) -> dict[str, Any]:
    """A hand-written EC2 record."""
    return {
        "eventVersion": "1.08", "eventTime": time, "eventSource": "ec2.amazonaws.com",
        "eventName": name, "awsRegion": "eu-west-1", "eventID": event_id,
        "recipientAccountId": ACCOUNT, "requestParameters": request,
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/{event_id}",
                         "accountId": ACCOUNT},
    }  # fmt: skip


def batch_of(*records: dict[str, Any]) -> ResolvedBatch:
    """The offline resolution of some records, in one batch."""
    batch = ResolvedBatch()
    for record in records:
        batch.extend(resolve_cloudtrail_record(record, json.dumps(record), "fallback", SALT))
    return batch


def test_the_protocol() -> None:
    """The fake and the offline describer satisfy the protocol; exceptions become failures."""
    fake = FakeDescriber({})
    assert isinstance(fake, Describer) and isinstance(OfflineDescriber(), Describer)
    assert is_offline(OfflineDescriber()) and is_offline(None) and not is_offline(fake)
    request = DescribeRequest(VOLUME, "AWS::EC2::Volume", ACCOUNT, "eu-west-1")
    (result,) = describe_all(fake, [request, request]).values()
    assert result.status == "failed" and "KeyError" in (result.reason or "")
    assert len(fake.calls) == 1


def test_one_describe_per_asset_per_batch() -> None:
    """Three events on a volume and an instance: two describes, one observation each."""
    volume = {"VolumeId": "vol-1", "Size": 20, "Encrypted": True}
    fake = FakeDescriber({
        VOLUME: DescribeResult.found(volume, name="vol-1", tags={"env": "prod"}),
        INSTANCE: DescribeResult.found({"InstanceId": "i-1", "State": "running"}),
    })  # fmt: skip
    batch = batch_of(
        event("AttachVolume", "a", "2024-05-01T10:00:00Z", volumeId="vol-1", instanceId="i-1"),
        event("DetachVolume", "b", "2024-05-01T10:05:00Z", volumeId="vol-1", instanceId="i-1"),
        event("ModifyVolume", "c", "2024-05-01T10:09:00Z", volumeId="vol-1", size=20),
    )
    describe_batch(batch, fake, SALT)
    assert sorted(call[0] for call in fake.calls) == [INSTANCE, VOLUME]
    observed = {o.asset_key: o for o in batch.observations}
    assert json.loads(observed[VOLUME].config) == volume
    assert observed[VOLUME].event_ids == ("a", "b", "c")
    assert observed[VOLUME].event_time.minute == 9  # the latest change in the batch
    assert observed[VOLUME].principal == f"arn:aws:iam::{ACCOUNT}:user/c"
    assert json.loads(observed[VOLUME].tags) == {"env": "prod"}
    assert fake.calls[0][2:] == (ACCOUNT, "eu-west-1")


def test_not_found_after_create_is_not_a_deletion() -> None:
    """A volume not found right after its creation keeps its event state and is retried."""
    create = event("CreateVolume", "c1", "2024-05-01T10:00:00Z", size=8)
    create["responseElements"] = {"volumeId": "vol-1", "size": 8, "status": "creating"}
    batch = batch_of(create)
    describe_batch(batch, FakeDescriber({VOLUME: DescribeResult.not_found()}), SALT)
    assert [o.is_deleted for o in batch.observations] == [False]
    assert [u.reason for u in batch.unresolved] == ["describe_not_found"]


def test_not_found_after_delete_is_the_deletion() -> None:
    """A deleted volume that is not found: one deleted observation, nothing unresolved."""
    batch = batch_of(event("DeleteVolume", "d1", "2024-05-01T10:00:00Z", volumeId="vol-1"))
    describe_batch(batch, FakeDescriber({VOLUME: DescribeResult.not_found()}), SALT)
    assert [o.is_deleted for o in batch.observations] == [True]
    assert batch.unresolved == []


def test_failed_describe_is_unresolved_with_its_reason_and_keeps_the_change() -> None:
    """A throttled describe: the change stays in asset_changes, the reason in unresolved."""
    batch = batch_of(event("ModifyVolume", "m1", "2024-05-01T10:00:00Z", volumeId="vol-1"))
    describe_batch(batch, FakeDescriber({VOLUME: DescribeResult.failed("Throttling")}), SALT)
    assert [c.asset_key for c in batch.changes] == [VOLUME]
    (row,) = batch.unresolved
    assert (row.reason, row.event_id, row.event_name) == ("describe_failed", "m1", "ModifyVolume")
    assert "Throttling" in row.detail


def test_described_state_replaces_sub_documents() -> None:
    """Online, the bucket's describe carries the policy: no separate bucket#Policy version."""
    put = {
        "eventVersion": "1.08", "eventTime": "2024-05-01T10:00:00Z",
        "eventSource": "s3.amazonaws.com", "eventName": "PutBucketPolicy",
        "awsRegion": "eu-west-1", "eventID": "p1", "recipientAccountId": ACCOUNT,
        "requestParameters": {"bucketName": "logs", "bucketPolicy": {"Statement": []}},
    }  # fmt: skip
    batch = batch_of(put)
    assert [o.asset_key for o in batch.observations] == ["arn:aws:s3:::logs#Policy"]
    found = DescribeResult.found({"Policy": {"Statement": []}}, region="eu-west-1")
    describe_batch(batch, FakeDescriber({"arn:aws:s3:::logs": found}), SALT)
    assert [o.asset_key for o in batch.observations] == ["arn:aws:s3:::logs"]


def test_offline_describer_changes_nothing() -> None:
    """--offline: the batch is exactly the offline resolution."""
    batch = batch_of(event("DeleteVolume", "d1", "2024-05-01T10:00:00Z", volumeId="vol-1"))
    before = (list(batch.observations), list(batch.unresolved))
    describe_batch(batch, OfflineDescriber(), SALT)
    assert (batch.observations, batch.unresolved) == before


def test_ingest_passes_the_describer_through(tmp_path: Path) -> None:
    """resolve_records and ingest_records take the describer; rows land with the new columns."""
    record = event("ModifyVolume", "m1", "2024-05-01T10:00:00Z", volumeId="vol-1")
    records = [Record(orjson.dumps(record).decode(), record, "test:1")]
    fake = FakeDescriber({VOLUME: DescribeResult.found({"VolumeId": "vol-1"})})
    assert len(resolve_records(records, SALT, "aws_cloudtrail", fake).observations) == 1
    lake = Lake(str(tmp_path / "lake")).create()
    (result,) = ingest_records(LakeWriter(lake), records, "aws_cloudtrail", describer=fake)
    assert (result.asset_changes, result.versions_written) == (1, 1)
    row = lake.scan("asset_changes").collect().row(0, named=True)
    assert row["relation"] == "target" and row["principal_account_id"] == ACCOUNT
