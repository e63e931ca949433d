"""The demo's CloudTrail records: shaped as CloudTrail writes them, and the resolver agrees.

Calls are built from botocore's own service models with the parameters a caller passes and the
answer botocore parses (no server needed); each record then goes through the CloudTrail
resolver, which must name the asset the call changed.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import botocore.session
import pytest

from resolvers.aws.resolve import resolve_cloudtrail_record
from resolvers.demo_trail import Principal, SimClock, cloudtrail_record, eventbridge
from resolvers.demo_trail_shapes import HIDDEN, Call, lower_camel

WHEN = dt.datetime(2026, 3, 1, 10, 30, 5, tzinfo=dt.UTC)
ALICE = Principal(
    "alice",
    {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "userName": "alice",
     "arn": "arn:aws:iam::123456789012:user/people/alice", "accountId": "123456789012",
     "accessKeyId": "AKIAEXAMPLE"},
    "aws-cli/2.22.10", "198.51.100.7",
)  # fmt: skip
_MODELS = botocore.session.get_session()


def record(
    service: str, operation: str, params: dict[str, Any], parsed: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The EventBridge event of one call made by alice at WHEN."""
    model = _MODELS.get_service_model(service).operation_model(operation)
    call = Call(model, params, parsed or {}, WHEN, "us-east-1")
    return eventbridge(cloudtrail_record(call, ALICE, "123456789012"))


def asset_keys(event: dict[str, Any]) -> set[str]:
    """The asset keys the resolver finds in an event."""
    batch = resolve_cloudtrail_record(event, json.dumps(event), "fallback")
    assert not batch.unresolved, batch.unresolved
    return {change.asset_key for change in batch.changes}


def test_lower_camel_is_cloudtrail_s_first_letter_rule() -> None:
    assert lower_camel("DBInstanceIdentifier") == "dBInstanceIdentifier"
    assert lower_camel("UserName") == "userName"


def test_an_ec2_launch_has_its_items_and_sets() -> None:
    params = {
        "ImageId": "ami-1", "InstanceType": "t3.small", "MinCount": 1, "MaxCount": 1,
        "SecurityGroupIds": ["sg-1"],
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]}
        ],
    }  # fmt: skip
    parsed = {
        "ReservationId": "r-1", "OwnerId": "123456789012", "Groups": [],
        "Instances": [{"InstanceId": "i-1", "ImageId": "ami-1", "LaunchTime": WHEN,
                       "State": {"Code": 0, "Name": "pending"}}],
        "ResponseMetadata": {"RequestId": "request-id"},
    }  # fmt: skip
    event = record("ec2", "RunInstances", params, parsed)
    detail = event["detail"]
    request, response = detail["requestParameters"], detail["responseElements"]
    assert request["instancesSet"] == {
        "items": [{"imageId": "ami-1", "minCount": 1, "maxCount": 1}]
    }
    assert request["groupSet"] == {"items": [{"groupId": "sg-1"}]}
    assert request["tagSpecificationSet"]["items"][0]["tags"] == [{"key": "Name", "value": "web"}]
    item = response["instancesSet"]["items"][0]
    assert item["instanceState"] == {"code": 0, "name": "pending"} and response["groupSet"] == {}
    assert isinstance(item["launchTime"], int) and len(response["requestId"]) == 36
    assert asset_keys(event) == {"arn:aws:ec2:us-east-1:123456789012:instance/i-1"}


def test_a_security_group_rule_is_in_ip_permissions_items() -> None:
    permission = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                  "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}  # fmt: skip
    event = record("ec2", "AuthorizeSecurityGroupIngress", {"GroupId": "sg-1",
                   "IpPermissions": [permission]}, {"Return": True})  # fmt: skip
    request = event["detail"]["requestParameters"]
    assert request["ipPermissions"]["items"][0]["ipRanges"] == {"items": [{"cidrIp": "0.0.0.0/0"}]}
    assert event["detail"]["responseElements"]["_return"] is True
    assert asset_keys(event) == {"arn:aws:ec2:us-east-1:123456789012:security-group/sg-1"}


def test_a_bucket_policy_is_parsed_and_s3_names_its_bucket_and_host() -> None:
    policy = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]}
    event = record("s3", "PutBucketPolicy", {"Bucket": "b", "Policy": json.dumps(policy)})
    detail = event["detail"]
    assert detail["requestParameters"] == {
        "bucketName": "b", "bucketPolicy": policy, "Host": "b.s3.amazonaws.com", "policy": ""
    }  # fmt: skip
    assert detail["responseElements"] is None and event["source"] == "aws.s3"
    assert "arn:aws:s3:::b" in asset_keys(event)


def test_a_public_access_block_has_cloudtrail_s_event_name_and_xml_body() -> None:
    block = dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
    )
    event = record(
        "s3", "PutPublicAccessBlock", {"Bucket": "b", "PublicAccessBlockConfiguration": block}
    )
    detail = event["detail"]
    assert detail["eventName"] == "PutBucketPublicAccessBlock"
    body = detail["requestParameters"]["PublicAccessBlockConfiguration"]
    assert body == {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/", **block}
    assert detail["requestParameters"]["publicAccessBlock"] == ""


def test_secrets_are_hidden_in_requests_and_left_out_of_answers() -> None:
    event = record("rds", "CreateDBInstance", {
        "DBInstanceIdentifier": "db", "DBInstanceClass": "db.t3.micro", "Engine": "postgres",
        "MasterUsername": "u", "MasterUserPassword": "secret", "StorageEncrypted": False,
    }, {"DBInstance": {"DBInstanceIdentifier": "db",
                       "DBInstanceArn": "arn:aws:rds:us-east-1:123456789012:db:db"}})  # fmt: skip
    detail = event["detail"]
    assert detail["requestParameters"]["masterUserPassword"] == HIDDEN
    assert detail["responseElements"]["dBInstanceArn"].endswith(":db:db")  # flattened
    assert asset_keys(event) == {"arn:aws:rds:us-east-1:123456789012:db:db"}
    key = record("iam", "CreateAccessKey", {"UserName": "svc"}, {"AccessKey": {
        "UserName": "svc", "AccessKeyId": "AKIA1", "Status": "Active",
        "SecretAccessKey": "s3cr3t", "CreateDate": WHEN}})  # fmt: skip
    answer = key["detail"]["responseElements"]["accessKey"]
    assert "secretAccessKey" not in answer and answer["accessKeyId"] == "AKIA1"


def test_a_failed_call_has_its_error_and_no_answer() -> None:
    parsed = {"Error": {"Code": "DeleteConflict", "Message": "must detach policies first"}}
    detail = record("iam", "DeleteUser", {"UserName": "svc"}, parsed)["detail"]
    assert detail["errorCode"] == "DeleteConflict" and detail["responseElements"] is None
    assert detail["readOnly"] is False and detail["eventTime"] == "2026-03-01T10:30:05Z"


def test_lambda_events_have_their_dated_names() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    event = record("lambda", "CreateFunction", {"FunctionName": "f", "Role": "r",
                   "Code": {"ZipFile": b"zip"}, "Environment": {"Variables": {"K": "v"}}},
                   {"FunctionName": "f", "FunctionArn": arn})  # fmt: skip
    detail = event["detail"]
    assert detail["eventName"] == "CreateFunction20150331"
    assert detail["requestParameters"]["code"] == {}
    assert detail["requestParameters"]["environment"] == {"variables": HIDDEN}
    assert asset_keys(event) == {arn}


def test_the_clock_moves_forward_and_never_past_now() -> None:
    now = WHEN + dt.timedelta(hours=1)
    clock = SimClock(WHEN, now=lambda: now)
    times = [clock.tick() for _ in range(20)]
    assert times == sorted(times) and len(set(times)) == len(times)
    clock.pause(minutes=120)
    assert clock.tick() == now - dt.timedelta(seconds=2)


@pytest.mark.parametrize("console", [True, False])
def test_a_console_session_is_marked(console: bool) -> None:
    who = Principal("x", dict(ALICE.identity), "AWS Internal", "203.0.113.1", console=console)
    model = _MODELS.get_service_model("iam").operation_model("CreateUser")
    detail = cloudtrail_record(Call(model, {"UserName": "u"}, {}, WHEN, "us-east-1"), who, "1")
    assert ("sessionCredentialFromConsole" in detail) is console
