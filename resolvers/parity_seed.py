"""The account ``make parity`` seeds on moto, and its answer key (resolvers/parity.py): each
seeded misconfiguration, the resource that carries it, and the Prowler check ids and assetlake
rule ids expected to catch it."""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass(frozen=True)
class Problem:
    """One seeded misconfiguration: where it is, and what should catch it."""

    title: str
    markers: tuple[str, ...]  # substrings of the seeded resource's ARN / key / name
    prowler: tuple[str, ...]  # Prowler check ids that should FAIL on it
    assetlake: tuple[str, ...]  # assetlake rule ids that should open a finding on it


def problems(seeded: Mapping[str, Any]) -> list[Problem]:
    """The answer key: every seeded problem, its resource and the ids expected to catch it."""
    acct = ACCOUNT
    return [
        Problem(
            f"S3 bucket public by policy (`open-{acct}`)",
            (f":::open-{acct}",),
            ("s3_bucket_public_access", "s3_bucket_policy_public_write_access"),
            ("aws-s3-bucket-public-policy",),
        ),
        Problem(
            f"S3 bucket public by ACL (`parity-acl-{acct}`)",
            (f":::parity-acl-{acct}",),
            ("s3_bucket_public_access", "s3_bucket_public_list_acl", "s3_bucket_public_write_acl"),
            ("aws-s3-bucket-public-acl",),
        ),
        Problem(
            f"S3 bucket without default encryption (`parity-plain-{acct}`)",
            (f":::parity-plain-{acct}",),
            ("s3_bucket_default_encryption", "s3_bucket_kms_encryption"),
            ("aws-s3-bucket-default-encryption-off",),
        ),
        Problem(
            f"S3 bucket without public access block (`parity-nopab-{acct}`)",
            (f":::parity-nopab-{acct}",),
            ("s3_bucket_level_public_access_block",),
            ("aws-s3-bucket-public-access-block-off",),
        ),
        Problem(
            "Security group open to 0.0.0.0/0 on 22 (`ssh-open`)",
            (str(seeded["group"]),),
            (
                "ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_22",
                "ec2_securitygroup_allow_ingress_from_internet_to_all_ports",
                "ec2_securitygroup_allow_ingress_from_internet_to_any_port",
            ),
            ("aws-ec2-sg-admin-ports-open-ipv4", "aws-ec2-sg-all-ports-open"),
        ),
        Problem(
            "IAM user with console password and no MFA (`alice`)",
            (":user/people/alice", ":user/alice", "/alice"),
            ("iam_user_mfa_enabled_console_access",),
            ("aws-iam-user-console-without-mfa",),
        ),
        Problem(
            "Access key created with a console user (`alice`)",
            (":user/people/alice", ":user/alice", "/alice"),
            (
                "iam_user_no_setup_initial_access_key",
                "iam_rotate_access_key_90_days",
                "iam_user_accesskey_unused",
            ),
            (
                "aws-iam-user-initial-access-key",
                "aws-iam-user-access-key-not-rotated",
                "aws-iam-user-credentials-unused",
            ),
        ),
        Problem(
            "Customer managed policy allowing `*` on `*` (`FullAdminStar`)",
            (":policy/FullAdminStar",),
            (
                "iam_customer_attached_policy_no_administrative_privileges",
                "iam_customer_unattached_policy_no_administrative_privileges",
                "iam_policy_allows_privilege_escalation",
            ),
            ("aws-iam-managed-policy-admin",),
        ),
        Problem(
            "RDS instance with unencrypted storage (`orders-db`)",
            (":db:orders-db",),
            ("rds_instance_storage_encrypted",),
            ("aws-rds-instance-unencrypted",),
        ),
        Problem(
            "RDS instance publicly accessible (`orders-db`)",
            (":db:orders-db",),
            ("rds_instance_no_public_access",),
            ("aws-rds-instance-public",),
        ),
        Problem(
            "KMS customer key without rotation (`alias/parity-legacy`)",
            (str(seeded["legacy_key"]),),
            ("kms_cmk_rotation_enabled",),
            ("aws-kms-key-rotation-off",),
        ),
        Problem(
            "CloudTrail trail not multi-region (`main-trail`)",
            (":trail/main-trail",),
            ("cloudtrail_multi_region_enabled",),
            ("aws-cloudtrail-not-multi-region",),
        ),
        Problem(
            "CloudTrail trail without log file validation (`main-trail`)",
            (":trail/main-trail",),
            ("cloudtrail_log_file_validation_enabled",),
            ("aws-cloudtrail-log-validation-off",),
        ),
        Problem(
            "Lambda with secrets in environment variables (`thumbnailer`, `parity-report`)",
            (":function:thumbnailer", ":function:parity-report"),
            ("awslambda_function_no_secrets_in_variables",),
            (),
        ),
    ]


def seed(endpoint: str) -> dict[str, Any]:
    """:func:`seed_core`, plus the problems it lacks (its own buckets each carry several at
    once): one bucket public by ACL only, one unencrypted only, one without a public access
    block only, a KMS key without rotation, and a Lambda with an AWS key in its environment.
    The SSH-open group is attached to the instance and orders-db gets a group open on 5432:
    Prowler skips unused security groups, and calls a database public only when its security
    groups let the internet in and its subnets route to an internet gateway (added too)."""
    import boto3

    from resolvers.aws.scan_moto import SSH_OPEN, _zip, seed_core
    from resolvers.aws.types.session import AwsOptions, Sessions

    base = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    reader = Sessions(AwsOptions(endpoint_url=endpoint), base).reader(ACCOUNT)
    seeded = seed_core(reader, REGION)
    s3 = reader.client("s3", REGION)
    full_block = {
        k: True
        for k in (
            "BlockPublicAcls",
            "IgnorePublicAcls",
            "BlockPublicPolicy",
            "RestrictPublicBuckets",
        )
    }
    sse = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    acl, plain, nopab = (f"parity-{n}-{ACCOUNT}" for n in ("acl", "plain", "nopab"))
    for bucket in (acl, plain, nopab):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_ownership_controls(
        Bucket=acl, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]}
    )
    s3.put_bucket_acl(Bucket=acl, ACL="public-read")
    s3.put_bucket_encryption(Bucket=acl, ServerSideEncryptionConfiguration=sse)
    s3.put_public_access_block(Bucket=plain, PublicAccessBlockConfiguration=full_block)
    s3.put_bucket_encryption(Bucket=nopab, ServerSideEncryptionConfiguration=sse)
    kms = reader.client("kms", REGION)
    legacy = kms.create_key(Description="legacy app key")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/parity-legacy", TargetKeyId=legacy)
    ec2 = reader.client("ec2", REGION)
    ec2.modify_instance_attribute(InstanceId=seeded["instance"], Groups=[seeded["group"]])
    vpc = ec2.describe_security_groups(GroupIds=[seeded["group"]])["SecurityGroups"][0]["VpcId"]
    db_group = ec2.create_security_group(GroupName="db-open", Description="db", VpcId=vpc)
    ec2.authorize_security_group_ingress(
        GroupId=db_group["GroupId"],
        IpPermissions=[{**SSH_OPEN, "FromPort": 5432, "ToPort": 5432}],
    )
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
    ec2.create_route(
        RouteTableId=tables["RouteTables"][0]["RouteTableId"],
        DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway,
    )  # fmt: skip
    rds = reader.client("rds", REGION)
    rds.create_db_subnet_group(
        DBSubnetGroupName="public-db", DBSubnetGroupDescription="public",
        SubnetIds=list(seeded["subnets"]),
    )  # fmt: skip
    rds.modify_db_instance(
        DBInstanceIdentifier="orders-db", VpcSecurityGroupIds=[db_group["GroupId"]],
        DBSubnetGroupName="public-db", ApplyImmediately=True,
    )  # fmt: skip
    reader.client("lambda", REGION).create_function(
        FunctionName="parity-report", Runtime="python3.12", Role=seeded["role_arn"],
        Handler="handler.handler", Code={"ZipFile": _zip()},
        Environment={"Variables": fake_aws_keys()},
    )  # fmt: skip
    return {**seeded, "legacy_key": legacy}


def fake_aws_keys() -> dict[str, str]:
    """A random, AWS-shaped (invalid) key pair, made at run time so no secret-looking string
    is committed; scanners skip the documented ``...EXAMPLE`` pair, so it cannot be used."""
    upper = string.ascii_uppercase + "234567"
    secret = string.ascii_letters + string.digits + "/+"
    return {
        "AWS_ACCESS_KEY_ID": "AKIA" + "".join(secrets.choice(upper) for _ in range(16)),
        "AWS_SECRET_ACCESS_KEY": "".join(secrets.choice(secret) for _ in range(40)),
    }
