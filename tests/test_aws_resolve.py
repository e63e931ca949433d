"""The CloudTrail resolver: assets, actions, attribution, state, online describes, invariants.

Real records come from ../shared/corpus (by eventID); hand-written ones are shaped like them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from resolvers.aws.arns import account_arn, canonical_arn, iam_arn, secret_arn
from resolvers.aws.cloudtrail import unwrap
from resolvers.aws.ids import ec2_arn, ec2_type
from resolvers.aws.resolve import resolve_cloudtrail_record
from resolvers.model import ResolvedBatch

SALT = b"test-salt"
ACCOUNT = "111122223333"


def _corpus_records(corpus: Path) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for pattern in ("*.cloudtrail.jsonl", "*.eventbridge.jsonl"):
        for path in sorted(corpus.glob(pattern)):
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    yield line, json.loads(line)


@pytest.fixture(scope="module")
def corpus_lines(corpus: Path) -> list[tuple[str, Mapping[str, Any]]]:
    """Every CloudTrail and EventBridge record of the corpus, with its text."""
    return list(_corpus_records(corpus))


def by_id(lines: list[tuple[str, Mapping[str, Any]]], event_id: str) -> Mapping[str, Any]:
    """The corpus record with this eventID (the first, where fixtures reuse one)."""
    return next(record for _, record in lines if unwrap(record).get("eventID") == event_id)


def event(name: str, source: str = "ec2.amazonaws.com", **fields: Any) -> dict[str, Any]:
    """A hand-written CloudTrail record shaped like the real ones."""
    return {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": ACCOUNT,
            "arn": f"arn:aws:iam::{ACCOUNT}:user/alice", "accessKeyId": "AKIAEXAMPLE",
            "userName": "alice",
        },
        "eventTime": "2024-05-01T10:00:00Z", "eventSource": source, "eventName": name,
        "awsRegion": "eu-west-1", "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15",
        "requestID": "req-1", "eventID": f"ev-{name}", "readOnly": False,
        "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": ACCOUNT,
        **fields,
    }  # fmt: skip


def resolve(record: Mapping[str, Any]) -> ResolvedBatch:
    """Resolve one record offline."""
    return resolve_cloudtrail_record(record, orjson.dumps(record).decode(), "fallback", SALT)


def keys(batch: ResolvedBatch, relation: str | None = None) -> list[str]:
    """The asset keys of a batch's changes (of one relation)."""
    return [c.asset_key for c in batch.changes if relation in (None, c.relation)]


# -- canonical keys ---------------------------------------------------------------------------
IAM = f"arn:aws:iam::{ACCOUNT}"
EU = f"eu-west-1:{ACCOUNT}"


@pytest.mark.parametrize(
    ("arn", "canonical"),
    [
        (f"{IAM}:role/service-role/my-role", f"{IAM}:role/my-role"),
        (f"{IAM}:role/my-role", f"{IAM}:role/my-role"),
        ("arn:aws:iam::aws:policy/service-role/X", "arn:aws:iam::aws:policy/X"),
        (f"{IAM}:user/dev/team/bob", f"{IAM}:user/bob"),
        (f"{IAM}:root", f"{IAM}:root"),
        (f"arn:aws:secretsmanager:{EU}:secret:prod/db-AbC123",
         f"arn:aws:secretsmanager:{EU}:secret:prod/db"),
        (f"arn:aws:rds:{EU}:db:MyDatabase", f"arn:aws:rds:{EU}:db:mydatabase"),
        (f"arn:aws:lambda:{EU}:function:fn:$LATEST", f"arn:aws:lambda:{EU}:function:fn"),
        ("arn:aws:s3:::my-bucket", "arn:aws:s3:::my-bucket"),
        ("arn:aws:ec2:eu-west-1::snapshot/snap-1", "arn:aws:ec2:eu-west-1::snapshot/snap-1"),
        ("not-an-arn", "not-an-arn"),
    ],
)  # fmt: skip
def test_canonical_arn(arn: str, canonical: str) -> None:
    """Paths and random suffixes go; what AWS writes consistently stays as written."""
    assert canonical_arn(arn) == canonical
    if "secretsmanager" not in arn:  # a secret's canonical key is a name, not AWS's ARN
        assert canonical_arn(canonical) == canonical


def test_keys_built_from_names_equal_keys_from_arns() -> None:
    """A secret or an IAM role named by name or by ARN gets one key."""
    full = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:app/token-Xy12Zw"
    assert secret_arn(full, "eu-west-1", ACCOUNT) == secret_arn("app/token", "eu-west-1", ACCOUNT)
    assert secret_arn("db-passwd", "eu-west-1", ACCOUNT).endswith(":secret:db-passwd")
    assert iam_arn("role", "arn:aws:iam::111122223333:role/a/b/r", ACCOUNT) == iam_arn(
        "role", "r", ACCOUNT
    )
    assert account_arn("iam", ACCOUNT, "eu-west-1", False) == "arn:aws:iam::111122223333:root"
    assert account_arn("s3", ACCOUNT, "eu-west-1", False) == "arn:aws:s3::111122223333:account"
    assert account_arn("ec2", ACCOUNT, "eu-west-1", True) == (
        "arn:aws:ec2:eu-west-1:111122223333:account"
    )


EC2 = f"arn:aws:ec2:{EU}"


@pytest.mark.parametrize(
    ("resource_id", "type_name", "arn"),
    [
        ("i-0abc", "AWS::EC2::Instance", f"{EC2}:instance/i-0abc"),
        ("sg-1", "AWS::EC2::SecurityGroup", f"{EC2}:security-group/sg-1"),
        ("sgr-1", "AWS::EC2::SecurityGroupRule", f"{EC2}:security-group-rule/sgr-1"),
        ("vpc-1", "AWS::EC2::VPC", f"{EC2}:vpc/vpc-1"),
        ("vpce-1", "AWS::EC2::VPCEndpoint", f"{EC2}:vpc-endpoint/vpce-1"),
        ("vpce-svc-1", "AWS::EC2::VPCEndpointService", f"{EC2}:vpc-endpoint-service/vpce-svc-1"),
        ("snap-1", "AWS::EC2::Snapshot", "arn:aws:ec2:eu-west-1::snapshot/snap-1"),
        ("ami-1", "AWS::EC2::Image", "arn:aws:ec2:eu-west-1::image/ami-1"),
        ("tgw-attach-1", "AWS::EC2::TransitGatewayAttachment",
         f"{EC2}:transit-gateway-attachment/tgw-attach-1"),
        ("eni-1", "AWS::EC2::NetworkInterface", f"{EC2}:network-interface/eni-1"),
        ("zzz-1", None, None),
        ("i-", None, None),
    ],
)  # fmt: skip
def test_ec2_ids_by_prefix(resource_id: str, type_name: str | None, arn: str | None) -> None:
    """The longest prefix wins; unknown prefixes name nothing."""
    assert ec2_type(resource_id) == type_name
    assert ec2_arn(resource_id, "eu-west-1", ACCOUNT) == arn


def test_ec2_id_keys_match_catalog_templates() -> None:
    """A key built from an id equals the one the catalog's template builds for its type."""
    from resolvers.aws.catalog import registry
    from resolvers.aws.catalog_arn import fill, template_vars
    from resolvers.aws.ids import EC2_PREFIXES

    types = registry().types
    for prefix, (type_name, _, _) in EC2_PREFIXES.items():
        spec = types.get(type_name)
        if spec is None or not spec.arn_template:
            continue
        (var,) = template_vars(spec.arn_template)
        built = fill(spec.arn_template, {var: [f"{prefix}1"]}, ACCOUNT, "eu-west-1")
        assert built == [ec2_arn(f"{prefix}1", "eu-west-1", ACCOUNT)], type_name


# -- assets touched -------------------------------------------------------------------------
def test_run_and_terminate_fan_out_over_instance_items() -> None:
    """RunInstances creates every instance of its response; each gets its creation state."""
    items = [{"instanceId": f"i-0{n}", "instanceType": "t3.micro", "imageId": "ami-1"}
             for n in (1, 2)]  # fmt: skip
    run = event("RunInstances", responseElements={"instancesSet": {"items": items}},
                requestParameters={"instanceType": "t3.micro"})  # fmt: skip
    batch = resolve(run)
    assert keys(batch) == [f"{EC2}:instance/i-01", f"{EC2}:instance/i-02"]
    assert {c.action for c in batch.changes} == {"create"}
    configs = {o.asset_key: json.loads(o.config) for o in batch.observations}
    assert configs[f"{EC2}:instance/i-02"]["instanceId"] == "i-02"
    stop = event(
        "TerminateInstances",
        requestParameters={
            "instancesSet": {"items": [{"instanceId": "i-01"}, {"instanceId": "i-02"}]}
        },
    )
    batch = resolve(stop)
    assert [c.action for c in batch.changes] == ["delete", "delete"]
    assert all(o.is_deleted for o in batch.observations) and len(batch.observations) == 2


def test_create_tags_over_mixed_ids_by_prefix() -> None:
    """CreateTags names resources of any type by id; unknown prefixes are skipped."""
    ids = ["i-1", "sg-2", "vpc-3", "subnet-4", "vol-5", "snap-6", "ami-7", "acl-8", "rtb-9",
           "igw-10", "eni-11", "mystery-12"]  # fmt: skip
    tags = event(
        "CreateTags",
        requestParameters={
            "resourcesSet": {"items": [{"resourceId": i} for i in ids]},
            "tagSet": {"items": [{"key": "env", "value": "prod"}]},
        },
    )
    batch = resolve(tags)
    types = [c.resource_type for c in batch.changes]
    assert len(types) == 11 and "AWS::EC2::NetworkInterface" in types
    assert f"{EC2}:subnet/subnet-4" in keys(batch)
    assert {c.action for c in batch.changes} == {"update"}
    assert batch.observations == []  # a tag added is not a whole state


def test_attach_volume_updates_both_sides() -> None:
    """AttachVolume changes the volume and the instance."""
    batch = resolve(
        event(
            "AttachVolume",
            requestParameters={"volumeId": "vol-1", "instanceId": "i-1", "device": "/dev/sdf"},
        )
    )
    assert keys(batch, "target") == [f"{EC2}:volume/vol-1"]
    assert keys(batch, "related") == [f"{EC2}:instance/i-1"]


def test_attach_role_policy_updates_role_and_customer_policy() -> None:
    """The role and a customer-managed policy change; an AWS-managed one is nobody's asset."""
    policy = f"{IAM}:policy/team/deploy"
    batch = resolve(
        event(
            "AttachRolePolicy",
            "iam.amazonaws.com",
            requestParameters={"roleName": "builder", "policyArn": policy},
        )
    )
    assert keys(batch, "target") == [f"{IAM}:role/builder"]
    assert keys(batch, "related") == [f"{IAM}:policy/deploy"]
    part = f"{IAM}:role/builder#AttachedPolicies/{policy}"
    assert keys(batch, "part") == [part]
    assert [o.asset_key for o in batch.observations] == [part]
    managed = resolve(
        event(
            "AttachRolePolicy",
            "iam.amazonaws.com",
            requestParameters={
                "roleName": "builder",
                "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess",
            },
        )
    )
    assert keys(managed, "related") == []


def test_security_group_events(corpus_lines: list) -> None:
    """CreateSecurityGroup: the group and its VPC; AuthorizeSecurityGroupIngress: the group."""
    create = resolve(by_id(corpus_lines, "7475937c-a863-44ce-9878-81e8a268e966"))
    group = "arn:aws:ec2:us-east-1:123837392027:security-group/sg-04cfb7a4712d75b00"
    assert keys(create, "target") == [group]
    vpc = "arn:aws:ec2:us-east-1:123837392027:vpc/vpc-0e568b18707c87afa"
    assert keys(create, "related") == [vpc]
    ingress = resolve(by_id(corpus_lines, "7e96f0e7-4d78-423d-b3f5-391370685b30"))
    assert keys(ingress) == [group] and ingress.changes[0].action == "update"
    assert ingress.observations == []


def test_sub_resource_events_update_the_parent(corpus_lines: list) -> None:
    """PutBucketPolicy changes the bucket; the policy is observed whole under bucket#Policy."""
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*",
              "Action": "s3:*", "Resource": "arn:aws:s3:::logs"}]}  # fmt: skip
    put = resolve(
        event(
            "PutBucketPolicy",
            "s3.amazonaws.com",
            requestParameters={
                "bucketName": "logs",
                "Host": "logs.s3.amazonaws.com",
                "bucketPolicy": policy,
            },
        )
    )
    assert keys(put, "target") == ["arn:aws:s3:::logs"]
    assert put.changes[0].action == "update" and put.changes[0].region == "eu-west-1"
    (observed,) = put.observations
    assert observed.asset_key == "arn:aws:s3:::logs#Policy"
    assert observed.resource_type == "AWS::S3::Bucket#Policy"
    assert json.loads(observed.config) == policy
    deleted = resolve(by_id(corpus_lines, "b921a62d-9241-42a2-bb3c-6821e55c20cd"))
    assert deleted.changes[0].action == "update"  # the bucket stays
    assert [o.is_deleted for o in deleted.observations] == [True]


def test_secret_named_by_name_and_by_arn_is_one_asset() -> None:
    """CreateSecret's suffixed ARN and PutSecretValue's bare name give one key."""
    arn = f"arn:aws:secretsmanager:{EU}:secret:app/token-Ab12Cd"
    create = resolve(event("CreateSecret", "secretsmanager.amazonaws.com",
                           requestParameters={"name": "app/token"},
                           responseElements={"arn": arn, "name": "app/token"}))  # fmt: skip
    put = resolve(event("PutSecretValue", "secretsmanager.amazonaws.com",
                        requestParameters={"secretId": "app/token"}))  # fmt: skip
    assert keys(create) == keys(put) == [f"arn:aws:secretsmanager:{EU}:secret:app/token"]


def test_account_level_settings_resolve_to_the_account(corpus_lines: list) -> None:
    """An event with no resource (EnableSerialConsoleAccess) changes the account's settings."""
    enable = resolve(
        event(
            "EnableSerialConsoleAccess", requestParameters={"EnableSerialConsoleAccessRequest": ""}
        )
    )
    assert keys(enable, "account") == [f"{EC2}:account"]
    assert keys(enable, "part") == [f"{EC2}:account#SerialConsoleAccess"]
    block = resolve(
        event(
            "PutAccountPublicAccessBlock",
            "s3.amazonaws.com",
            requestParameters={"PublicAccessBlockConfiguration": {"BlockPublicAcls": True}},
        )
    )
    assert keys(block)[0] == f"arn:aws:s3::{ACCOUNT}:account"
    password = resolve(event("UpdateAccountPasswordPolicy", "iam.amazonaws.com",
                             requestParameters={"minimumPasswordLength": 14}))  # fmt: skip
    assert [(c.asset_key, c.resource_type) for c in password.changes] == [
        (f"{IAM}:password-policy", "AWS::IAM::AccountPasswordPolicy")
    ]
