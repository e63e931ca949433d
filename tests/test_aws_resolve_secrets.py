"""Which name of a secret a Secrets Manager event is keyed by: any secret ARN first (it carries
the region and account), else the first bare name, in the order of the rules' paths."""

from __future__ import annotations

from typing import Any

from resolvers.aws.resolve import resolve_cloudtrail_record

ACCOUNT = "111122223333"
EU = f"eu-west-1:{ACCOUNT}"


def _keys(name: str, **fields: Any) -> list[str]:
    record = {
        "eventVersion": "1.08", "eventTime": "2024-05-01T10:00:00Z",
        "eventSource": "secretsmanager.amazonaws.com", "eventName": name,
        "awsRegion": "eu-west-1", "eventID": f"ev-{name}", "recipientAccountId": ACCOUNT,
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/alice"},
        **fields,
    }  # fmt: skip
    batch = resolve_cloudtrail_record(record, "{}", salt=b"s")
    assert not batch.unresolved, batch.unresolved
    return [change.asset_key for change in batch.changes]


def test_a_secret_arn_on_a_later_path_wins_over_an_earlier_name() -> None:
    keys = _keys(
        "PutSecretValue",
        requestParameters={"secretId": "app/token"},
        resources=[
            {"ARN": f"arn:aws:kms:{EU}:key/k-1"},
            {"ARN": f"arn:aws:secretsmanager:{EU}:secret:app/other-Ab12Cd"},
        ],
    )
    assert keys == [f"arn:aws:secretsmanager:{EU}:secret:app/other"]


def test_the_first_bare_name_when_no_secret_arn() -> None:
    keys = _keys(
        "PutSecretValue",
        requestParameters={"secretId": "app/token", "name": "app/second"},
        resources=[{"ARN": f"arn:aws:kms:{EU}:key/k-1"}],
    )
    assert keys == [f"arn:aws:secretsmanager:{EU}:secret:app/token"]
