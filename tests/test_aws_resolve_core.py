"""Meta-test: every mutating operation of the core types resolves, with a sample event each.

The core types are those of issue 3 item 2. Their operations are walked from the catalog: every
``change`` entry of the type's service typed to it, plus the service's untyped ones named after
it (``PutBucketPublicAccessBlock``). Each must resolve to an asset of the type (or be listed
below as an account-level setting or another asset, with the reason); operations that change no
inventory are classified ``data``/``read`` in overrides.json and drop out of the walk.

The sample is a real corpus record where one exists (no errorCode); otherwise it is built the
way CloudTrail writes the operation's identifiers (the catalog's request/response paths) with
realistic values, and the expected key is built independently from the type's ARN template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from resolvers.aws.arns import canonical_arn
from resolvers.aws.catalog import CatalogEntry, classify, registry
from resolvers.aws.catalog_arn import alternatives, template_vars
from resolvers.aws.cloudtrail import unwrap
from resolvers.aws.resolve import resolve_cloudtrail_record

ACCOUNT, REGION = "111122223333", "eu-west-1"
CORE: dict[str, tuple[str, tuple[str, ...]]] = {  # type -> (botocore service, operation nouns)
    "AWS::S3::Bucket": ("s3", ("Bucket",)),
    "AWS::EC2::Instance": ("ec2", ("Instance", "Instances")),
    "AWS::EC2::SecurityGroup": ("ec2", ("SecurityGroup",)),
    "AWS::EC2::VPC": ("ec2", ("Vpc",)),
    "AWS::EC2::Subnet": ("ec2", ("Subnet",)),
    "AWS::EC2::NetworkAcl": ("ec2", ("NetworkAcl",)),
    "AWS::EC2::RouteTable": ("ec2", ("RouteTable", "Route")),
    "AWS::EC2::Volume": ("ec2", ("Volume",)),
    "AWS::EC2::Snapshot": ("ec2", ("Snapshot",)),
    "AWS::IAM::User": ("iam", ("User", "LoginProfile", "MFADevice", "AccessKey")),
    "AWS::IAM::Group": ("iam", ("Group",)),
    "AWS::IAM::Role": ("iam", ("Role",)),
    "AWS::IAM::ManagedPolicy": ("iam", ("Policy", "PolicyVersion")),
    "AWS::IAM::AccessKey": ("iam", ("AccessKey",)),
    "AWS::IAM::VirtualMFADevice": ("iam", ("MFADevice",)),
    "AWS::RDS::DBInstance": ("rds", ("DBInstance",)),
    "AWS::RDS::DBCluster": ("rds", ("DBCluster",)),
    "AWS::RDS::DBSnapshot": ("rds", ("DBSnapshot",)),
    "AWS::Lambda::Function": ("lambda", ("Function", "Permission")),
    "AWS::KMS::Key": ("kms", ("Key",)),
    "AWS::CloudTrail::Trail": ("cloudtrail", ("Trail", "Logging", "EventSelectors")),
    "AWS::DynamoDB::Table": ("dynamodb", ("Table",)),
    "AWS::SNS::Topic": ("sns", ("Topic", "Permission")),
    "AWS::SQS::Queue": ("sqs", ("Queue", "Permission")),
    "AWS::ECR::Repository": ("ecr", ("Repository",)),
    "AWS::EKS::Cluster": ("eks", ("Cluster",)),
    "AWS::SecretsManager::Secret": ("secretsmanager", ("Secret", "ResourcePolicy")),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": ("elbv2", ("LoadBalancer",)),
    "AWS::ElasticLoadBalancingV2::Listener": ("elbv2", ("Listener",)),
    "AWS::CloudFront::Distribution": ("cloudfront", ("Distribution",)),
    "AWS::Config::ConfigurationRecorder": ("config", ("ConfigurationRecorder",)),
    "AWS::GuardDuty::Detector": ("guardduty", ("Detector",)),
    "AWS::Organizations::Policy": ("organizations", ("Policy",)),
}  # fmt: skip
# Operations named after a core type that change account-level settings, not one asset.
ACCOUNT_LEVEL = {
    "ModifyInstanceMetadataDefaults", "RegisterInstanceEventNotificationAttributes",
    "DeregisterInstanceEventNotificationAttributes", "PurchaseScheduledInstances",
    "RunScheduledInstances", "ImportInstance", "ImportVolume", "EnableSnapshotBlockPublicAccess",
    "DisableSnapshotBlockPublicAccess", "ModifyAccountVpcEncryptionControl",
    "ModifyVpcBlockPublicAccessOptions", "CreateRepositoryCreationTemplate",
    "DeleteRepositoryCreationTemplate", "UpdateRepositoryCreationTemplate",
    "DeleteAccountPasswordPolicy", "UpdateAccountPasswordPolicy", "ConnectCustomKeyStore",
    "CreateCustomKeyStore", "DeleteCustomKeyStore", "DisconnectCustomKeyStore",
    "UpdateCustomKeyStore",
}  # fmt: skip
# Operations named after a core type whose asset is another one.
OTHER_TYPE = {"DisassociateRouteTable": "AWS::EC2::SubnetRouteTableAssociation"}


def core_operations() -> dict[tuple[str, str, str], tuple[CatalogEntry, str]]:
    """(eventSource, eventName, apiVersion) -> (entry, core type) for every core operation."""
    found: dict[tuple[str, str, str], tuple[CatalogEntry, str]] = {}
    for entry in registry():
        if entry.effect != "change":
            continue
        for type_name, (service, nouns) in CORE.items():
            named = any(re.search(rf"{n}(s|es)?([A-Z]|$)", entry.operation) for n in nouns)
            typed = entry.resource_type == type_name
            if entry.service == service and (typed or (entry.resource_type is None and named)):
                key = (entry.event_source, entry.event_name, entry.api_version or "")
                found.setdefault(key, (entry, type_name))
    return found


OPERATIONS = core_operations()


# -- samples ------------------------------------------------------------------------------------
def value_for(var: str) -> str:
    """A realistic identifier for an ARN template variable."""
    lowered = var.lower()
    prefixes = (("instanceid", "i-"), ("securitygroupid", "sg-"), ("groupid", "sg-"),
                ("vpcid", "vpc-"), ("subnetid", "subnet-"), ("nacl", "acl-"),
                ("networkaclid", "acl-"), ("routetableid", "rtb-"), ("volumeid", "vol-"),
                ("snapshotid", "snap-"))  # fmt: skip
    for suffix, prefix in prefixes:
        if lowered.endswith(suffix) or lowered == suffix:
            return f"{prefix}0123456789abcdef0"
    special = {"accesskeyid": "AKIAIOSFODNN7EXAMPLE",
               "keyid": "1234abcd-12ab-34cd-56ef-1234567890ab",
               "distributionid": "E2QWRUHAPOMQZL", "id": "E2QWRUHAPOMQZL",
               "detectorid": "12abc34d567e8fa901bc2d34e56789f0", "policyid": "p-examplepolicy1",
               "loadbalancerid": "50dc6c495c0c9188", "listenerid": "f2f7dc8efc522ab2"}  # fmt: skip
    for suffix, value in sorted(special.items(), key=lambda item: -len(item[0])):
        if lowered.endswith(suffix):
            return value
    if "bucket" in lowered:
        return "example-bucket"
    return "example-" + re.sub(r"(WithPath|WithoutLeadingSlash)$", "", var).lower()


def template_arn(type_name: str) -> str:
    """An ARN of a type built from its template and :func:`value_for` values."""
    template = alternatives(registry().types[type_name].arn_template)[0]
    values = {"Partition": "aws", "Region": REGION, "Account": ACCOUNT}
    values.update({var: value_for(var) for var in template_vars(template)})
    arn = re.sub(r"\$\{([A-Za-z0-9_]+)\}", lambda m: values[m.group(1)], template)
    return arn.replace("/p-p-", "/p-")  # SAR's template prefixes a policy id that has it


def _set(document: dict[str, Any], path: str, value: str) -> None:
    *parents, last = path.split(".")
    for part in parents:
        child: dict[str, Any] = {}
        if part.endswith("[]"):
            document[part[:-2]] = [child]
        else:
            child = document.setdefault(part, {})
        document = child
    document[last.removesuffix("[]")] = [value] if last.endswith("[]") else value


def built_sample(entry: CatalogEntry, type_name: str) -> dict[str, Any]:
    """A record naming the asset where CloudTrail does for this operation."""
    record: dict[str, Any] = {
        "eventVersion": "1.08", "eventTime": "2024-05-01T10:00:00Z",
        "userIdentity": {"type": "IAMUser", "accountId": ACCOUNT,
                         "arn": f"arn:aws:iam::{ACCOUNT}:user/alice"},
        "eventSource": entry.event_source, "eventName": entry.event_name, "awsRegion": REGION,
        "eventID": f"sample-{entry.event_name}", "recipientAccountId": ACCOUNT,
        "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15",
    }  # fmt: skip
    if entry.api_version:
        record["apiVersion"] = entry.api_version
    done: set[str] = set()
    for extractor in entry.extractors:
        simple = (
            re.fullmatch(r"[A-Za-z0-9_.\[\]-]+", extractor.path) and "[0]" not in extractor.path
        )
        if extractor.var in done or not simple or extractor.path.startswith("userIdentity"):
            continue
        arn_type = type_name if type_name in registry().types else entry.resource_type
        if extractor.var == "arn" and arn_type is not None:
            value = template_arn(arn_type)
        else:
            value = value_for(extractor.var)
        _set(record, extractor.path, value)
        done.add(extractor.var)
    return record


@pytest.fixture(scope="module")
def corpus_samples(corpus: Path) -> dict[tuple[str, str], Mapping[str, Any]]:
    """The first error-free corpus record of every (eventSource, eventName) that carries its
    parameters (some rule-test fixtures strip them)."""
    samples: dict[tuple[str, str], Mapping[str, Any]] = {}
    for pattern in ("*.cloudtrail.jsonl", "*.eventbridge.jsonl"):
        for path in sorted(corpus.glob(pattern)):
            for line in path.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                detail = unwrap(record)
                key = (detail.get("eventSource"), detail.get("eventName"))
                carries = detail.get("requestParameters") or detail.get("responseElements")
                if carries and not detail.get("errorCode") and key not in samples:
                    samples[key] = record  # type: ignore[index]
    return samples


# -- the meta-test ----------------------------------------------------------------------------
def test_the_walk_covers_every_core_type() -> None:
    """Hundreds of operations, every core type has some, and every type is a catalog type."""
    assert len(OPERATIONS) >= 400
    per_type = {type_name for _, type_name in OPERATIONS.values()}
    assert per_type == set(CORE)
    assert all(type_name in registry().types for type_name in CORE)


@pytest.mark.parametrize("key", sorted(OPERATIONS), ids=lambda k: f"{k[0].split('.')[0]}:{k[1]}")
def test_core_operation_resolves(
    key: tuple[str, str, str], corpus_samples: dict[tuple[str, str], Mapping[str, Any]]
) -> None:
    """The operation's sample resolves to an asset of its type (or the listed other asset)."""
    entry, type_name = OPERATIONS[key]
    real = corpus_samples.get((entry.event_source, entry.event_name))
    record = real if real is not None else built_sample(entry, type_name)
    assert classify(record) == "change"
    batch = resolve_cloudtrail_record(record, json.dumps(record), "fallback", b"salt")
    assert batch.changes, (batch.unresolved, record)
    main = [c for c in batch.changes if c.relation in ("target", "account")]
    if entry.event_name in ACCOUNT_LEVEL:
        assert [c.relation for c in main] == ["account"], main
        return
    expected = OTHER_TYPE.get(entry.event_name, type_name)
    assert expected in {c.resource_type for c in main}, main
    for change in main:
        assert change.asset_key.startswith("arn:aws") and "${" not in change.asset_key
        assert change.action in ("create", "update", "delete")
    if real is None and expected in registry().types and "arn" not in _vars(entry):
        assert canonical_arn(template_arn(expected)) in {c.asset_key for c in main}


def _vars(entry: CatalogEntry) -> set[str]:
    return {extractor.var for extractor in entry.extractors}


@pytest.mark.parametrize(
    ("source", "name", "action"),
    [
        ("s3.amazonaws.com", "CreateBucket", "create"),
        ("s3.amazonaws.com", "DeleteBucket", "delete"),
        ("s3.amazonaws.com", "DeleteBucketPolicy", "update"),
        ("ec2.amazonaws.com", "RunInstances", "create"),
        ("ec2.amazonaws.com", "TerminateInstances", "delete"),
        ("ec2.amazonaws.com", "CreateRoute", "update"),
        ("iam.amazonaws.com", "CreateRole", "create"),
        ("iam.amazonaws.com", "DeleteRolePolicy", "update"),
        ("iam.amazonaws.com", "CreateServiceLinkedRole", "create"),
        ("kms.amazonaws.com", "ScheduleKeyDeletion", "update"),
        ("lambda.amazonaws.com", "DeleteFunction20150331", "delete"),
        ("rds.amazonaws.com", "DeleteDBCluster", "delete"),
    ],
)  # fmt: skip
def test_actions(source: str, name: str, action: str) -> None:
    """Creations and deletions of the type itself; everything on a sub-resource updates it."""
    entry = registry().lookup(source, name)
    assert entry is not None and entry.action == action
