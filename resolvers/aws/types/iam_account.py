"""IAM customer managed policies and the account-level IAM settings (global: listed once).

* ``AWS::IAM::ManagedPolicy``: GetPolicy ``Policy`` plus ``DefaultVersionDocument`` (parsed).
  Keys drop the IAM path (canonical ARN), so describing one by key looks the real ARN up by
  name when the path is not ``/``.
* ``AWS::IAM::AccountSummary`` (key ``arn:aws:iam::ACCOUNT:root``): ``{"SummaryMap": ...}``.
* ``AWS::IAM::AccountPasswordPolicy`` (key ``arn:aws:iam::ACCOUNT:password-policy``):
  ``{"PasswordPolicy": ... | null}``, null when the account has none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from resolvers.aws.arns import canonical_arn
from resolvers.aws.catalog_arn import partition
from resolvers.aws.types.api import (
    is_gone,
    jsonable,
    optional,
    paginate,
    parse_policy,
    read_item,
    require,
)
from resolvers.aws.types.iam import iam_name
from resolvers.aws.types.spec import (
    GLOBAL_REGION,
    NOT_FOUND,
    Listed,
    NotFoundType,
    Reader,
    TypeSpec,
    Unreadable,
    calls,
    field_of,
    tag_map,
)


def normalize_policy(policy: Mapping[str, Any], document: Any) -> dict[str, Any]:
    """GetPolicy's ``Policy`` plus its default version's parsed document."""
    config = jsonable(policy)
    config["DefaultVersionDocument"] = parse_policy(document)
    return config


def read_policy(client: Any, arn: str) -> dict[str, Any]:
    """One managed policy by its real ARN (with path)."""
    policy = require(client.get_policy(PolicyArn=arn), "Policy", "GetPolicy")
    version = require(policy, "DefaultVersionId", "GetPolicy")
    answer = client.get_policy_version(PolicyArn=arn, VersionId=version)
    document = require(answer, "PolicyVersion", "GetPolicyVersion").get("Document")
    return normalize_policy(policy, document)


def _policy_listed(client: Any, arn: str) -> Listed | NotFoundType:
    try:
        config = read_policy(client, arn)
    except ClientError as error:
        if is_gone(error):
            return NOT_FOUND
        raise
    return Listed(canonical_arn(str(config["Arn"])), config, GLOBAL_REGION)


def list_policies(reader: Reader, account: str, region: str) -> Iterator[Listed | Unreadable]:
    """Every customer managed policy of the account."""
    client = reader.client("iam", GLOBAL_REGION)
    for policy in paginate(client, "ListPolicies", "Policies", Scope="Local"):
        arn = str(require(policy, "Arn", "ListPolicies"))
        found = read_item(arn, lambda: _policy_listed(client, arn))  # noqa: B023
        if not isinstance(found, NotFoundType):
            yield found


def describe_policy(
    reader: Reader, account: str, region: str, identifier: str
) -> Listed | NotFoundType:
    """One managed policy by canonical ARN (or name); a path is looked up by name."""
    client = reader.client("iam", GLOBAL_REGION)
    name = iam_name(identifier)
    arn = f"arn:{partition(region)}:iam::{account}:policy/{name}"
    found = _policy_listed(client, arn)
    if isinstance(found, Listed):
        return found
    for policy in paginate(client, "ListPolicies", "Policies", Scope="Local"):
        if policy.get("PolicyName") == name:
            return _policy_listed(client, str(policy["Arn"]))
    return NOT_FOUND


MANAGED_POLICY = TypeSpec(
    type_name="AWS::IAM::ManagedPolicy",
    service="iam",
    scope="global",
    list=list_policies,
    describe=describe_policy,
    identifier=lambda key: key,
    normalize=normalize_policy,
    calls=calls("iam", "ListPolicies", "GetPolicy", "GetPolicyVersion"),
    name=field_of("PolicyName"),
    tags=lambda config: tag_map(config.get("Tags")),
    description="a customer managed IAM policy and its default version's document",
)


def account_key(account: str, resource: str, region: str = GLOBAL_REGION) -> str:
    """The key of an account-level IAM setting (``root``, ``password-policy``)."""
    return f"arn:{partition(region)}:iam::{account}:{resource}"


def summary(client: Any) -> dict[str, Any]:
    """``{"SummaryMap": ...}`` from GetAccountSummary."""
    answer = client.get_account_summary()
    return {"SummaryMap": jsonable(require(answer, "SummaryMap", "GetAccountSummary"))}


def password_policy(client: Any) -> dict[str, Any]:
    """``{"PasswordPolicy": ... | null}`` from GetAccountPasswordPolicy."""
    answer = optional(client.get_account_password_policy, "NoSuchEntity")
    return {"PasswordPolicy": jsonable(answer.get("PasswordPolicy")) if answer else None}


def account_spec(
    type_name: str,
    resource: str,
    read: Callable[[Any], dict[str, Any]],
    operation: str,
    description: str,
) -> TypeSpec:
    """A spec for a one-per-account IAM setting: list yields it once, describe reads it."""

    def describe(reader: Reader, account: str, region: str, identifier: str) -> Listed:
        """The account's setting (always present: a missing policy is a null document)."""
        config = read(reader.client("iam", GLOBAL_REGION))
        return Listed(account_key(account, resource, region), config, GLOBAL_REGION)

    def list_all(reader: Reader, account: str, region: str) -> Iterator[Listed]:
        """The one setting of the account."""
        yield describe(reader, account, region, account)

    return TypeSpec(
        type_name=type_name,
        service="iam",
        scope="global",
        list=list_all,
        describe=describe,
        identifier=lambda key: key.split(":")[4],
        normalize=lambda document: jsonable(document),
        calls=calls("iam", operation),
        name=lambda config: resource,
        description=description,
    )


ACCOUNT_SUMMARY = account_spec(
    "AWS::IAM::AccountSummary", "root", summary, "GetAccountSummary",
    "the account's IAM summary (root MFA, root access keys, entity counts)",
)  # fmt: skip
PASSWORD_POLICY = account_spec(
    "AWS::IAM::AccountPasswordPolicy", "password-policy", password_policy,
    "GetAccountPasswordPolicy", "the account's IAM password policy (null: none)",
)  # fmt: skip

SPECS: tuple[TypeSpec, ...] = (MANAGED_POLICY, ACCOUNT_SUMMARY, PASSWORD_POLICY)
