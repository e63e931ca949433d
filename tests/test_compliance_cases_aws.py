"""AWS state-rule cases: AWS Config items of the corpus where they hold the resource, else
boto3-shaped documents as the describers of docs/aws-config-shapes.md store them."""

from __future__ import annotations

import copy
from typing import Any

from test_compliance_cases import Case, _lines, doc, s3_item, setitem

WORLD = [{"CidrIp": "0.0.0.0/0"}]
OFFICE = [{"CidrIp": "203.0.113.0/24", "Description": "office"}]


def _sg(name: str, permissions: list[dict[str, Any]], egress: list | None = None) -> Case:
    return doc(
        {
            "GroupName": name,
            "GroupId": "sg-0a1b2c3d4e5f60718",
            "OwnerId": "111122223333",
            "VpcId": "vpc-0123456789abcdef0",
            "Description": name,
            "IpPermissions": permissions,
            "IpPermissionsEgress": egress if egress is not None else [],
        }
    )


def _tcp(port: int, ranges: list, v6: list | None = None) -> dict[str, Any]:
    return {
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port,
        "IpRanges": ranges,
        "Ipv6Ranges": v6 or [],
        "PrefixListIds": [],
        "UserIdGroupPairs": [],
    }


def _nacl(action: str) -> Case:
    def entry(number: int, rule: str, egress: bool = False, **extra: Any) -> dict:
        base = {"RuleNumber": number, "Protocol": "6", "RuleAction": rule, "Egress": egress}
        return {**base, "CidrBlock": "0.0.0.0/0", **extra}

    return doc(
        {
            "NetworkAclId": "acl-0abc",
            "VpcId": "vpc-0123456789abcdef0",
            "IsDefault": False,
            "Entries": [
                entry(90, action, PortRange={"From": 22, "To": 22}),
                entry(91, action, PortRange={"From": 3389, "To": 3389}),
                entry(100, "allow", PortRange={"From": 0, "To": 65535}),
                entry(32767, "deny", Protocol="-1"),
            ],
        }
    )


INSTANCE = {
    "InstanceId": "i-0abc1234def567890",
    "InstanceType": "t3.micro",
    "State": {"Code": 16, "Name": "running"},
    "PrivateIpAddress": "10.0.1.12",
    "IamInstanceProfile": {"Arn": "arn:aws:iam::111122223333:instance-profile/app"},
    "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
    "UserData": "<redacted>",
}
USER = {
    "UserName": "alice",
    "UserId": "AIDAEXAMPLE",
    "Arn": "arn:aws:iam::111122223333:user/alice",
    "CreateDate": "2026-06-01T09:00:00+00:00",
    "LoginProfile": {"UserName": "alice", "CreateDate": "2026-06-01T09:00:00+00:00"},
    "PasswordLastUsed": "2026-11-28T08:00:00+00:00",
    "MFADevices": [{"SerialNumber": "arn:aws:iam::111122223333:mfa/alice"}],
    "AccessKeys": [
        {
            "AccessKeyId": "AKIAEXAMPLE1",
            "Status": "Active",
            "CreateDate": "2026-10-01T00:00:00+00:00",
            "LastUsedDate": "2026-11-29T00:00:00+00:00",
        }
    ],
    "AttachedPolicies": [],
    "InlinePolicies": {},
    "Groups": [{"GroupName": "developers"}],
}
ADMIN = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
TRUST_EC2 = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
KEY = {
    "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
    "Arn": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "KeyManager": "CUSTOMER",
    "KeySpec": "SYMMETRIC_DEFAULT",
    "KeyState": "Enabled",
    "Origin": "AWS_KMS",
    "KeyRotationEnabled": True,
    "Policy": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    },
}
TRAIL = {
    "Name": "main",
    "TrailARN": "arn:aws:cloudtrail:us-east-1:111122223333:trail/main",
    "S3BucketName": "org-trail-logs",
    "IsMultiRegionTrail": True,
    "LogFileValidationEnabled": True,
    "KmsKeyId": KEY["Arn"],
    "HomeRegion": "us-east-1",
    "Status": {"IsLogging": True, "LatestDeliveryTime": "2026-11-30T00:00:00+00:00"},
    "EventSelectors": {"EventSelectors": [{"ReadWriteType": "All"}]},
}


def _with(base: dict, **changes: Any) -> Case:
    document = copy.deepcopy(base)
    document.update(changes)
    return doc(document)


def _policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _panther_bucket_policy() -> dict:
    """The public policy of a real PutBucketPolicy record (Panther's test, line 267)."""
    return _lines("panther_analysis_rule_tests.cloudtrail.jsonl")[266]["requestParameters"][
        "bucketPolicy"
    ]


SECURE = _policy(
    {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
)
BLOCK_ALL = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
AWS_CASES: dict[str, tuple[Case, Case]] = {
    # AWS Config S3 items (Cloud Custodian's tests): 11 storage-dev, 12 testing-99 (AllUsers
    # READ), 8 c7n-fire-logs (versioning off)
    "aws-s3-bucket-public-policy": (
        s3_item(11),
        s3_item(11, lambda d: d.update(Policy=_panther_bucket_policy())),
    ),
    "aws-s3-bucket-public-acl": (s3_item(11), s3_item(12)),
    "aws-s3-bucket-public-access-block-off": (
        s3_item(11, setitem("PublicAccessBlockConfiguration", value=BLOCK_ALL)),
        s3_item(11),
    ),
    "aws-s3-bucket-default-encryption-off": (
        s3_item(
            11,
            setitem(
                "ServerSideEncryptionConfiguration",
                value={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
            ),
        ),
        s3_item(11, setitem("ServerSideEncryptionConfiguration", value=None)),
    ),
    "aws-s3-bucket-secure-transport-not-enforced": (
        s3_item(11, setitem("Policy", value=SECURE)),
        s3_item(11),
    ),
    "aws-s3-bucket-mfa-delete-off": (
        s3_item(11, setitem("Versioning", "MFADelete", value="Enabled")),
        s3_item(11),
    ),
    "aws-s3-bucket-versioning-off": (s3_item(11), s3_item(8)),
    "aws-s3-bucket-access-logging-off": (
        s3_item(11, setitem("Logging", value={"LoggingEnabled": {"TargetBucket": "logs"}})),
        s3_item(11),
    ),
    # security groups
    "aws-ec2-sg-admin-ports-open-ipv4": (
        _sg("web", [_tcp(443, WORLD)]),
        _sg("ssh", [_tcp(22, WORLD)]),
    ),
    "aws-ec2-sg-admin-ports-open-ipv6": (
        _sg("bastion", [_tcp(22, OFFICE)]),
        _sg("rdp", [_tcp(3389, [], [{"CidrIpv6": "::/0"}])]),
    ),
    "aws-ec2-sg-all-ports-open": (
        _sg("web", [_tcp(443, WORLD)]),
        _sg("open", [{"IpProtocol": "-1", "IpRanges": WORLD, "Ipv6Ranges": []}]),
    ),
    "aws-ec2-sg-database-ports-open": (
        _sg("db", [_tcp(5432, OFFICE)]),
        _sg("db", [_tcp(5432, WORLD)]),
    ),
    "aws-ec2-default-sg-not-restricted": (
        _sg("default", []),
        _sg("default", [{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-0a1b"}]}]),
    ),
    "aws-ec2-nacl-admin-ports-open": (_nacl("deny"), _nacl("allow")),
    "aws-ec2-volume-unencrypted": (
        doc({"VolumeId": "vol-1", "Encrypted": True, "KmsKeyId": KEY["Arn"], "Size": 8}),
        doc({"VolumeId": "vol-2", "Encrypted": False, "Size": 8}),
    ),
    "aws-ec2-snapshot-unencrypted": (
        doc({"SnapshotId": "snap-1", "Encrypted": True, "CreateVolumePermissions": []}),
        doc({"SnapshotId": "snap-2", "Encrypted": False, "CreateVolumePermissions": []}),
    ),
    "aws-ec2-snapshot-public": (
        doc({"SnapshotId": "snap-1", "CreateVolumePermissions": [{"UserId": "444455556666"}]}),
        doc({"SnapshotId": "snap-2", "CreateVolumePermissions": [{"Group": "all"}]}),
    ),
    "aws-ec2-ami-public": (
        doc({"ImageId": "ami-1", "Public": False, "LaunchPermissions": []}),
        doc({"ImageId": "ami-2", "Public": True, "LaunchPermissions": [{"Group": "all"}]}),
    ),
    "aws-ec2-instance-imdsv1": (
        doc(INSTANCE),
        _with(INSTANCE, MetadataOptions={"HttpTokens": "optional", "HttpEndpoint": "enabled"}),
    ),
    "aws-ec2-instance-public-ip": (doc(INSTANCE), _with(INSTANCE, PublicIpAddress="54.12.3.4")),
    "aws-ec2-instance-no-iam-role": (doc(INSTANCE), _with(INSTANCE, IamInstanceProfile=None)),
    "aws-ec2-vpc-flow-logs-off": (
        doc({"VpcId": "vpc-1", "FlowLogs": [{"FlowLogId": "fl-1", "FlowLogStatus": "ACTIVE"}]}),
        doc({"VpcId": "vpc-1", "FlowLogs": []}),
    ),
    "aws-ec2-subnet-auto-public-ip": (
        doc({"SubnetId": "subnet-1", "MapPublicIpOnLaunch": False}),
        doc({"SubnetId": "subnet-2", "MapPublicIpOnLaunch": True}),
    ),
    # IAM
    "aws-iam-user-console-without-mfa": (doc(USER), _with(USER, MFADevices=[])),
    "aws-iam-user-access-key-not-rotated": (
        doc(USER),
        _with(USER, AccessKeys=[{**USER["AccessKeys"][0], "CreateDate": "2025-10-26T00:00:00Z"}]),
    ),
    "aws-iam-user-credentials-unused": (
        doc(USER),
        _with(USER, AccessKeys=[{**USER["AccessKeys"][0], "LastUsedDate": "2026-08-01T00:00:00Z"}]),
    ),
    "aws-iam-user-two-active-keys": (
        doc(USER),
        _with(
            USER,
            AccessKeys=[*USER["AccessKeys"], {**USER["AccessKeys"][0], "AccessKeyId": "AKIA2"}],
        ),
    ),
    "aws-iam-user-initial-access-key": (
        doc(USER),
        _with(
            USER,
            AccessKeys=[
                {
                    "AccessKeyId": "AKIAINIT",
                    "Status": "Active",
                    "CreateDate": "2026-06-01T09:00:05+00:00",
                    "LastUsedDate": None,
                }
            ],
        ),
    ),
    "aws-iam-user-direct-policies": (
        doc(USER),
        _with(USER, AttachedPolicies=[{"PolicyName": "FullAdminStar", "PolicyArn": "arn:x"}]),
    ),
    "aws-iam-inline-admin-policy": (doc(USER), _with(USER, InlinePolicies={"everything": ADMIN})),
    "aws-iam-managed-policy-admin": (
        doc(
            {
                "PolicyName": "ReadLogs",
                "AttachmentCount": 3,
                "DefaultVersionDocument": _policy(
                    {"Effect": "Allow", "Action": "logs:Get*", "Resource": "*"}
                ),
            }
        ),
        doc({"PolicyName": "FullAdminStar", "AttachmentCount": 1, "DefaultVersionDocument": ADMIN}),
    ),
    "aws-iam-role-public-trust": (
        doc({"RoleName": "app", "AssumeRolePolicyDocument": TRUST_EC2}),
        doc(
            {
                "RoleName": "open",
                "AssumeRolePolicyDocument": _policy(
                    {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
                ),
            }
        ),
    ),
    "aws-iam-root-access-keys": (
        doc({"SummaryMap": {"AccountAccessKeysPresent": 0, "AccountMFAEnabled": 1}}),
        doc({"SummaryMap": {"AccountAccessKeysPresent": 1, "AccountMFAEnabled": 1}}),
    ),
    "aws-iam-root-mfa-off": (
        doc({"SummaryMap": {"AccountAccessKeysPresent": 0, "AccountMFAEnabled": 1}}),
        doc({"SummaryMap": {"AccountAccessKeysPresent": 0, "AccountMFAEnabled": 0}}),
    ),
    "aws-iam-password-policy-short": (
        doc({"PasswordPolicy": {"MinimumPasswordLength": 14, "PasswordReusePrevention": 24}}),
        doc({"PasswordPolicy": None}),
    ),
    "aws-iam-password-policy-reuse": (
        doc({"PasswordPolicy": {"MinimumPasswordLength": 14, "PasswordReusePrevention": 24}}),
        doc({"PasswordPolicy": {"MinimumPasswordLength": 14, "PasswordReusePrevention": 5}}),
    ),
    # detection and keys
    "aws-cloudtrail-not-logging": (doc(TRAIL), _with(TRAIL, Status={"IsLogging": False})),
    "aws-cloudtrail-not-multi-region": (doc(TRAIL), _with(TRAIL, IsMultiRegionTrail=False)),
    "aws-cloudtrail-log-validation-off": (doc(TRAIL), _with(TRAIL, LogFileValidationEnabled=False)),
    "aws-cloudtrail-not-kms-encrypted": (
        doc(TRAIL),
        doc({k: v for k, v in TRAIL.items() if k != "KmsKeyId"}),
    ),
    "aws-guardduty-detector-disabled": (
        doc(
            {
                "DetectorId": "12abc34d",
                "Status": "ENABLED",
                "FindingPublishingFrequency": "SIX_HOURS",
            }
        ),
        doc({"DetectorId": "12abc34d", "Status": "DISABLED"}),
    ),
    "aws-config-recorder-off": (
        doc(
            {
                "name": "default",
                "recordingGroup": {"allSupported": True},
                "Status": {"recording": True},
            }
        ),
        doc(
            {
                "name": "default",
                "recordingGroup": {"allSupported": True},
                "Status": {"recording": False},
            }
        ),
    ),
    "aws-config-recorder-partial": (
        doc({"name": "default", "recordingGroup": {"allSupported": True}}),
        doc({"name": "default", "recordingGroup": {"allSupported": False, "resourceTypes": []}}),
    ),
    "aws-kms-key-rotation-off": (doc(KEY), _with(KEY, KeyRotationEnabled=False)),
    "aws-kms-key-pending-deletion": (
        doc(KEY),
        _with(KEY, KeyState="PendingDeletion", DeletionDate="2026-12-30T00:00:00Z"),
    ),
    "aws-kms-key-public-policy": (
        doc(KEY),
        _with(
            KEY,
            Policy=_policy(
                {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}
            ),
        ),
    ),
}
