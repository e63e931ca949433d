"""The boto3 describer (the event path's Describer) against moto: every rung of the ladder,
not-found-after-create, and cloud errors as reasons."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest

from resolvers.aws.describe import Describer, DescribeRequest, DescribeResult, describe_all
from resolvers.aws.scan_faults import Fault, FaultInjector, denied, garbage, throttled
from resolvers.aws.scan_moto import shared_server
from resolvers.aws.types.describer import Boto3Describer, DescriberOptions
from resolvers.aws.types.session import AwsOptions, CallCounter, Sessions

pytestmark = pytest.mark.service
ACCOUNT, REGION = "123456789012", "us-east-1"


@dataclass
class Rig:
    """A describer on the reset moto server, its faults, calls and (recorded) sleeps."""

    describer: Boto3Describer
    sessions: Sessions
    faults: FaultInjector
    counter: CallCounter
    sleeps: list[float]

    def describe(self, key: str, kind: str, region: str = REGION) -> DescribeResult:
        """One describe in the default account."""
        return self.describer.describe(key, kind, ACCOUNT, region)


@pytest.fixture
def rig() -> Iterator[Rig]:
    """A Boto3Describer on the shared moto server (reset), with a tiny not-found delay."""
    server = shared_server()
    server.reset()
    faults, counter, sleeps = FaultInjector(), CallCounter(), []
    base = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    # three attempts: moto answers Cloud Control with a (retryable) 500 "not yet implemented"
    options = AwsOptions(
        endpoint_url=server.endpoint, client_hooks=(faults, counter), max_attempts=3
    )
    sessions = Sessions(options, base)
    describer = Boto3Describer(
        sessions, DescriberOptions(not_found_retries=2, not_found_delay=0.001), sleep=sleeps.append
    )
    yield Rig(describer, sessions, faults, counter, sleeps)


def test_it_implements_the_protocol(rig: Rig) -> None:
    """The resolver can hold it as a Describer."""
    assert isinstance(rig.describer, Describer)


def test_hand_written_rung_gives_the_scanner_document(rig: Rig) -> None:
    """A core type is described by its spec: the same document a scan stores."""
    sqs = rig.sessions.reader(ACCOUNT).client("sqs", REGION)
    sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "45"})
    key = f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders"
    result = rig.describe(key, "AWS::SQS::Queue")
    assert result.status == "found" and result.name == "orders" and result.region == REGION
    assert result.config is not None
    assert result.config["Attributes"]["VisibilityTimeout"] == "45"
    assert rig.sleeps == []


def test_not_found_right_after_a_create_is_asked_again(rig: Rig) -> None:
    """Not found, then found after the delay (eventual consistency): found; still not found
    after every retry: not found."""
    s3 = rig.sessions.reader(ACCOUNT).client("s3", REGION)
    rig.describer._sleep = lambda seconds: s3.create_bucket(Bucket="late-bucket")
    late = rig.describe("arn:aws:s3:::late-bucket", "AWS::S3::Bucket")
    assert late.status == "found" and late.config and late.config["Name"] == "late-bucket"
    rig.describer._sleep = rig.sleeps.append
    gone = rig.describe(f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/vpc-0123456789abcdef0",
                        "AWS::EC2::VPC")  # fmt: skip
    assert gone.status == "not_found"
    assert rig.sleeps == [0.001, 0.001]


def test_generated_rung_for_types_without_a_spec(rig: Rig) -> None:
    """A type with no hand-written spec is read with the catalog's generated describe call."""
    ec2 = rig.sessions.reader(ACCOUNT).client("ec2", REGION)
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    key = f"arn:aws:ec2:{REGION}:{ACCOUNT}:internet-gateway/{gateway}"
    found = rig.describe(key, "AWS::EC2::InternetGateway")
    assert found.status == "found" and found.config
    assert found.config["InternetGatewayId"] == gateway
    missing = rig.describe(
        key.replace(gateway, "igw-0123456789abcdef0"), "AWS::EC2::InternetGateway"
    )
    assert missing.status == "not_found"


def test_cloud_control_is_tried_and_its_failure_is_the_reason(rig: Rig) -> None:
    """A type with neither a spec nor a generated call goes to Cloud Control GetResource; moto
    does not implement it, so the result is failed with that reason (an unresolved event)."""
    key = f"arn:aws:ec2:{REGION}:{ACCOUNT}:dedicated-host/h-0123456789abcdef0"
    result = rig.describe(key, "AWS::EC2::Host")
    assert result.status == "failed"
    assert result.reason and result.reason.startswith("cloudcontrol GetResource failed")
    assert ("cloudcontrol", "GetResource") in rig.counter.calls


def test_an_unknown_type_needs_a_rescan(rig: Rig) -> None:
    """No rung applies: failed, 'needs rescan'."""
    result = rig.describe(f"arn:aws:foo:{REGION}:{ACCOUNT}:bar/x", "AWS::Foo::Bar")
    assert result.status == "failed" and result.reason and "needs rescan" in result.reason


def test_cloud_errors_are_reasons_not_exceptions(rig: Rig) -> None:
    """Throttling is retried; access denied and malformed answers are failed with a reason."""
    reader = rig.sessions.reader(ACCOUNT)
    reader.client("sns", REGION).create_topic(Name="alerts")
    reader.client("dynamodb", REGION).create_table(
        TableName="orders", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )  # fmt: skip
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders"
    rig.faults.faults[:] = [Fault("sns", "GetTopicAttributes", throttled, times=2)]
    assert rig.describe(topic, "AWS::SNS::Topic").status == "found"
    rig.faults.faults[:] = [Fault("sns", "GetTopicAttributes", denied)]
    refused = rig.describe(topic, "AWS::SNS::Topic")
    assert refused.status == "failed" and refused.reason and "access denied" in refused.reason
    rig.faults.faults[:] = [Fault("dynamodb", "DescribeTable", garbage)]
    broken = rig.describe(table, "AWS::DynamoDB::Table")
    assert broken.status == "failed" and broken.reason and "malformed response" in broken.reason


def test_describe_all_describes_each_asset_once(rig: Rig) -> None:
    """The resolver's batch helper with this describer: one describe per asset."""
    rig.sessions.reader(ACCOUNT).client("sqs", REGION).create_queue(QueueName="once")
    key = f"arn:aws:sqs:{REGION}:{ACCOUNT}:once"
    request = DescribeRequest(key, "AWS::SQS::Queue", ACCOUNT, REGION)
    results = describe_all(rig.describer, [request, request])
    assert results[key].status == "found"
    assert rig.counter.calls[("sqs", "GetQueueAttributes")] == 1
