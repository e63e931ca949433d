"""AWS state-rule cases for data and application services (RDS from AWS Config items)."""

from __future__ import annotations

from test_compliance_cases import Case, doc, rds_item, setitem

PUBLIC = {"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*"}
PINNED = {**PUBLIC, "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:1:t"}}}


def _policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


TARGET_GROUP = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/w/1"
FUNCTION = {
    "FunctionName": "thumbnailer",
    "FunctionArn": "arn:aws:lambda:us-east-1:111122223333:function:thumbnailer",
    "Runtime": "python3.12",
    "Role": "arn:aws:iam::111122223333:role/lambda-exec-role",
    "Environment": {"Variables": {"DB_PASSWORD": "<redacted>"}},
    "Policy": None,
    "UrlConfig": None,
}
SNAPSHOT_ATTRIBUTES = {"DBSnapshotIdentifier": "nightly", "DBSnapshotAttributes": []}
AWS_DATA_CASES: dict[str, tuple[Case, Case]] = {
    # AWS Config items: 7 c7n-data-index (unencrypted, public, minor upgrades on),
    # 6 database-1 aurora cluster (encrypted)
    "aws-rds-instance-unencrypted": (
        rds_item(7, setitem("StorageEncrypted", value=True)),
        rds_item(7),
    ),
    "aws-rds-instance-public": (
        rds_item(7, setitem("PubliclyAccessible", value=False)),
        rds_item(7),
    ),
    "aws-rds-instance-minor-upgrade-off": (
        rds_item(7),
        rds_item(7, setitem("AutoMinorVersionUpgrade", value=False)),
    ),
    "aws-rds-cluster-unencrypted": (
        rds_item(6),
        rds_item(6, setitem("StorageEncrypted", value=False)),
    ),
    "aws-rds-snapshot-public": (
        doc(
            {
                "DBSnapshotIdentifier": "nightly",
                "Encrypted": True,
                "SnapshotAttributes": [
                    {"AttributeName": "restore", "AttributeValues": ["444455556666"]}
                ],
            }
        ),
        doc(
            {
                "DBSnapshotIdentifier": "nightly",
                "Encrypted": True,
                "SnapshotAttributes": [{"AttributeName": "restore", "AttributeValues": ["all"]}],
            }
        ),
    ),
    "aws-rds-snapshot-unencrypted": (
        doc({"DBSnapshotIdentifier": "nightly", "Encrypted": True}),
        doc({"DBSnapshotIdentifier": "nightly", "Encrypted": False}),
    ),
    "aws-lambda-public-url": (
        doc({**FUNCTION, "UrlConfig": {"AuthType": "AWS_IAM", "FunctionUrl": "https://x/"}}),
        doc({**FUNCTION, "UrlConfig": {"AuthType": "NONE", "FunctionUrl": "https://x/"}}),
    ),
    "aws-lambda-public-policy": (
        doc({**FUNCTION, "Policy": _policy({**PINNED, "Action": "lambda:InvokeFunction"})}),
        doc({**FUNCTION, "Policy": _policy({**PUBLIC, "Action": "lambda:InvokeFunction"})}),
    ),
    "aws-lambda-deprecated-runtime": (doc(FUNCTION), doc({**FUNCTION, "Runtime": "python3.7"})),
    "aws-sns-topic-public": (
        doc({"Attributes": {"TopicArn": "arn:aws:sns:us-east-1:1:t", "Policy": _policy(PINNED)}}),
        doc({"Attributes": {"TopicArn": "arn:aws:sns:us-east-1:1:t", "Policy": _policy(PUBLIC)}}),
    ),
    "aws-sqs-queue-public": (
        doc({"Attributes": {"QueueArn": "arn:aws:sqs:us-east-1:1:q", "Policy": _policy(PINNED)}}),
        doc({"Attributes": {"QueueArn": "arn:aws:sqs:us-east-1:1:q", "Policy": _policy(PUBLIC)}}),
    ),
    "aws-ecr-repository-public": (
        doc({"repositoryName": "app", "Policy": None}),
        doc(
            {"repositoryName": "app", "Policy": _policy({**PUBLIC, "Action": "ecr:BatchGetImage"})}
        ),
    ),
    "aws-ecr-scan-on-push-off": (
        doc({"repositoryName": "app", "imageScanningConfiguration": {"scanOnPush": True}}),
        doc({"repositoryName": "app", "imageScanningConfiguration": {"scanOnPush": False}}),
    ),
    "aws-eks-endpoint-public": (
        doc(
            {
                "name": "prod",
                "resourcesVpcConfig": {
                    "endpointPublicAccess": True,
                    "endpointPrivateAccess": True,
                    "publicAccessCidrs": ["203.0.113.0/24"],
                },
            }
        ),
        doc(
            {
                "name": "prod",
                "resourcesVpcConfig": {
                    "endpointPublicAccess": True,
                    "publicAccessCidrs": ["0.0.0.0/0"],
                },
            }
        ),
    ),
    "aws-secretsmanager-rotation-off": (
        doc(
            {
                "ARN": "arn:aws:secretsmanager:us-east-1:1:secret:db-AbCdEf",
                "Name": "db",
                "RotationEnabled": True,
                "RotationRules": {"AutomaticallyAfterDays": 30},
            }
        ),
        doc({"ARN": "arn:aws:secretsmanager:us-east-1:1:secret:db-AbCdEf", "Name": "db"}),
    ),
    "aws-elbv2-listener-http": (
        doc(
            {
                "Protocol": "HTTP",
                "Port": 80,
                "DefaultActions": [
                    {
                        "Type": "redirect",
                        "RedirectConfig": {
                            "Protocol": "HTTPS",
                            "Port": "443",
                            "StatusCode": "HTTP_301",
                        },
                    }
                ],
            }
        ),
        doc(
            {
                "Protocol": "HTTP",
                "Port": 80,
                "DefaultActions": [
                    {
                        "Type": "forward",
                        "TargetGroupArn": TARGET_GROUP,
                    }
                ],
            }
        ),
    ),
    "aws-cloudfront-viewer-http": (
        doc(
            {
                "DefaultCacheBehavior": {"ViewerProtocolPolicy": "redirect-to-https"},
                "CacheBehaviors": {"Quantity": 0},
            }
        ),
        doc(
            {
                "DefaultCacheBehavior": {"ViewerProtocolPolicy": "redirect-to-https"},
                "CacheBehaviors": {
                    "Quantity": 1,
                    "Items": [{"PathPattern": "/legacy/*", "ViewerProtocolPolicy": "allow-all"}],
                },
            }
        ),
    ),
}
