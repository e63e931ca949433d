"""The least-privilege IAM policy the AWS scanner and describer need, generated from the specs.

Every :class:`~resolvers.aws.types.spec.TypeSpec` declares the API calls it makes as data; the
read-only role's policy is their IAM actions, plus what the scan itself calls (region
discovery) and the describer's Cloud Control fallback. Nothing here is hand-maintained: a new
call in a spec is a new action in ``assetlake iam-policy``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from resolvers.aws.types.catalog import all_calls
from resolvers.aws.types.spec import ApiCall, TypeSpec

SCANNER_CALLS = (ApiCall("ec2", "DescribeRegions"),)
CLOUD_CONTROL_CALLS = (ApiCall("cloudcontrol", "GetResource"),)
ORGANIZATIONS_CALLS = (ApiCall("organizations", "ListAccounts"),)
VERSION = "2012-10-17"


def actions(
    specs: Iterable[TypeSpec] | None = None,
    *,
    cloud_control: bool = True,
    organizations: bool = False,
) -> list[str]:
    """The sorted IAM actions of the specs' calls and of the scan around them."""
    chosen = [*all_calls(specs), *SCANNER_CALLS]
    if cloud_control:
        chosen += CLOUD_CONTROL_CALLS
    if organizations:
        chosen += ORGANIZATIONS_CALLS
    return sorted({call.iam_action for call in chosen})


def read_only_policy(
    specs: Iterable[TypeSpec] | None = None,
    *,
    cloud_control: bool = True,
    organizations: bool = False,
) -> dict[str, Any]:
    """The policy document of the read-only role assetlake assumes in each account.

    It covers the core types (hand-written specs) and Cloud Control; the describer's generated
    calls for other types need their services' read actions too (AWS's ``ReadOnlyAccess``
    managed policy is the broad alternative)."""
    allowed = actions(specs, cloud_control=cloud_control, organizations=organizations)
    statement = {"Sid": "AssetlakeRead", "Effect": "Allow", "Action": allowed, "Resource": "*"}
    return {"Version": VERSION, "Statement": [statement]}


def assume_policy(role_name: str, partition: str = "aws") -> dict[str, Any]:
    """The policy of the principal that runs scans: assume the read-only role anywhere."""
    statement = {
        "Sid": "AssetlakeAssumeReadOnlyRole",
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Resource": f"arn:{partition}:iam::*:role/{role_name}",
    }
    return {"Version": VERSION, "Statement": [statement]}
