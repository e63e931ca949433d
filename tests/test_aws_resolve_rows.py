"""asset_changes rows are built positionally (resolvers/aws/resolve.py): every column gets its own
value, whatever the order of AssetChange's fields."""

from __future__ import annotations

import datetime as dt
from typing import Any

from resolvers.aws.resolve import resolve_cloudtrail_record
from resolvers.aws.resolve_attribution import attribution
from resolvers.canonical import canonicalize

SALT = b"test-salt"
ACCOUNT = "111122223333"
ISSUER = "arn:aws:iam::444455556666"


def _record() -> dict[str, Any]:
    """An assumed-role CreateSecurityGroup (a target and a related VPC), every column distinct."""
    return {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole", "principalId": "AROAEXAMPLE:alice", "accountId": "444455556666",
            "arn": "arn:aws:sts::444455556666:assumed-role/Admin/alice",
            "accessKeyId": "ASIAEXAMPLE", "invokedBy": "cloudformation.amazonaws.com",
            "sessionContext": {
                "sessionIssuer": {"arn": f"{ISSUER}:role/Admin"},
                "attributes": {"mfaAuthenticated": "true"}, "sourceIdentity": "alice-id",
            },
        },
        "eventTime": "2024-05-01T10:00:00Z", "eventSource": "ec2.amazonaws.com",
        "eventName": "CreateSecurityGroup", "awsRegion": "eu-west-1",
        "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15", "eventID": "ev-rows",
        "requestParameters": {"groupName": "web", "vpcId": "vpc-0abc"},
        "responseElements": {"groupId": "sg-0def", "_return": True},
        "recipientAccountId": ACCOUNT,
    }  # fmt: skip


def test_every_column_of_a_change_row_holds_its_own_value() -> None:
    record = _record()
    batch = resolve_cloudtrail_record(record, "{}", salt=SALT)
    assert not batch.unresolved, batch.unresolved
    assert [c.relation for c in batch.changes] == ["target", "related"]
    who = attribution(record)
    for change in batch.changes:
        assert (change.event_id, change.cloud, change.account_id) == ("ev-rows", "aws", ACCOUNT)
        assert change.region == "eu-west-1"
        assert change.event_source == "ec2.amazonaws.com"
        assert change.event_name == "CreateSecurityGroup"
        assert change.event_time == dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)
        assert change.request == canonicalize(record["requestParameters"], SALT).json
        assert change.response == canonicalize(record["responseElements"], SALT).json
        assert change.principal == who.principal == record["userIdentity"]["arn"]
        assert change.principal_type == who.principal_type == "AssumedRole"
        assert change.source_ip == who.source_ip == "198.51.100.7"
        assert change.user_agent == who.user_agent == "aws-cli/2.15"
        assert change.invoked_by == who.invoked_by == "cloudformation.amazonaws.com"
        assert change.principal_account_id == who.principal_account_id == "444455556666"
        assert change.principal_id == who.principal_id == "AROAEXAMPLE:alice"
        assert change.session_issuer == who.session_issuer_arn == f"{ISSUER}:role/Admin"
        assert change.session_name == who.session_name == "alice"
        assert change.source_identity == who.source_identity == "alice-id"
        assert change.access_key_id == who.access_key_id == "ASIAEXAMPLE"
        assert change.mfa_authenticated is who.mfa_authenticated is True
    target, related = batch.changes
    assert target.asset_key.endswith(":security-group/sg-0def")
    assert (target.resource_type, target.action) == ("AWS::EC2::SecurityGroup", "create")
    assert related.asset_key.endswith(":vpc/vpc-0abc")
    assert (related.resource_type, related.action) == ("AWS::EC2::VPC", "update")
