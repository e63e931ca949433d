"""The rules on what the real AWS describers store: a seeded moto account, scanned with
``scan_aws``, evaluated. Checks the describers and the rules agree on docs/aws-config-shapes.md
(the misconfigurations the seed makes are found, the locked-down ones are not)."""

from __future__ import annotations

import boto3
import polars as pl
import pytest

from resolvers.aws.scan import scan_aws
from resolvers.aws.scan_moto import seed_core, shared_server
from resolvers.aws.scan_plan import ScanOptions
from resolvers.aws.types.session import AwsOptions, Sessions
from resolvers.compliance.evaluate import evaluate
from resolvers.compliance.sinks import AlertConfig
from resolvers.lake.storage import Lake

pytestmark = pytest.mark.service
ACCOUNT = "123456789012"
# (rule, the end of the asset key) the seed's misconfigurations must produce
EXPECTED = {
    ("aws-s3-bucket-public-policy", f":::open-{ACCOUNT}"),
    ("aws-s3-bucket-public-access-block-off", f":::open-{ACCOUNT}"),
    ("aws-iam-user-console-without-mfa", "/alice"),
    ("aws-iam-inline-admin-policy", "/alice"),
    ("aws-iam-user-direct-policies", "/alice"),
    ("aws-iam-managed-policy-admin", ":policy/FullAdminStar"),
    ("aws-iam-password-policy-reuse", f"{ACCOUNT}:password-policy"),
    ("aws-ec2-sg-admin-ports-open-ipv4", "ssh-open"),
    ("aws-ec2-snapshot-public", ""),
    ("aws-ec2-volume-unencrypted", ""),
    ("aws-rds-instance-public", ":db:orders-db"),
    ("aws-cloudtrail-not-multi-region", ":trail/main-trail"),
    ("aws-cloudtrail-log-validation-off", ":trail/main-trail"),
    ("aws-elbv2-listener-http", ""),
    ("aws-cloudfront-viewer-http", ""),
    ("aws-secretsmanager-rotation-off", ":secret:db-password"),
}
LOCKED = f"arn:aws:s3:::locked-{ACCOUNT}"


def test_seeded_misconfigurations_are_found(lake: Lake) -> None:
    server = shared_server()
    server.reset()
    base = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    seeded = seed_core(Sessions(AwsOptions(endpoint_url=server.endpoint), base).reader(ACCOUNT))
    options = ScanOptions(endpoint_url=server.endpoint, regions=("us-east-1",))
    scan_aws(lake, options, AwsOptions(), base, None)
    result = evaluate(lake, alerts=AlertConfig(sinks=()))
    assert result.rule_errors == 0 and result.assets > 30
    found = lake.scan("findings").select("rule_id", "asset_key", "status").collect()
    names = {seeded["group"]: "ssh-open"}
    pairs = {(rule, names.get(key.rsplit("/", 1)[-1], key)) for rule, key, _ in found.iter_rows()}
    missing = [
        (rule, end)
        for rule, end in EXPECTED
        if not any(r == rule and k.endswith(end) for r, k in pairs)
    ]
    assert not missing, f"not found: {missing}"
    locked = found.filter(pl.col("asset_key") == LOCKED)["rule_id"].to_list()
    assert not {"aws-s3-bucket-public-policy", "aws-s3-bucket-public-access-block-off"} & set(
        locked
    )
    assert "aws-s3-bucket-versioning-off" not in locked
    assert set(found["status"]) == {"open"}
