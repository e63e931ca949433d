"""IAM principals: users, roles and groups, with their policies (global: listed once).

Documents per docs/aws-config-shapes.md: the Get call's entity plus ``AttachedPolicies`` and
``InlinePolicies`` (name -> parsed document); users add access keys (with ``LastUsedDate``),
MFA devices, login profile and groups. Keys are canonical ARNs (no IAM path).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from resolvers.aws.arns import canonical_arn
from resolvers.aws.types.api import (
    is_gone,
    jsonable,
    optional,
    paginate,
    parse_policy,
    read_item,
    require,
)
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


def iam_name(asset_key: str) -> str:
    """The entity name at the end of an IAM ARN (``...:role/app`` -> ``app``)."""
    return asset_key.rsplit("/", 1)[-1]


def _inline(client: Any, kind: str, name: str) -> dict[str, Any]:
    """``InlinePolicies`` of a user, role or group: policy name -> parsed document."""
    param = f"{kind}Name"
    getter = getattr(client, f"get_{kind.lower()}_policy")
    found = {}
    for policy in paginate(client, f"List{kind}Policies", "PolicyNames", **{param: name}):
        answer = getter(**{param: name, "PolicyName": policy})
        found[policy] = parse_policy(answer.get("PolicyDocument"))
    return found


def _attached(client: Any, kind: str, name: str) -> list[Any]:
    op = f"ListAttached{kind}Policies"
    return jsonable(list(paginate(client, op, "AttachedPolicies", **{f"{kind}Name": name})))


def _access_keys(client: Any, user: str) -> list[dict[str, Any]]:
    keys = []
    for key in paginate(client, "ListAccessKeys", "AccessKeyMetadata", UserName=user):
        item = jsonable(key)
        used = client.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
        item["LastUsedDate"] = jsonable((used.get("AccessKeyLastUsed") or {}).get("LastUsedDate"))
        keys.append(item)
    return keys


def _login_profile(client: Any, user: str) -> Any:
    answer = optional(lambda: client.get_login_profile(UserName=user), "NoSuchEntity")
    return jsonable(answer.get("LoginProfile")) if answer else None


def normalize_entity(entity: Mapping[str, Any], parts: Mapping[str, Any]) -> dict[str, Any]:
    """The Get call's entity (trust policy parsed) plus the documented extra keys."""
    config = jsonable(entity)
    if "AssumeRolePolicyDocument" in config:
        config["AssumeRolePolicyDocument"] = parse_policy(config["AssumeRolePolicyDocument"])
    config.update(parts)
    return config


def read_user(client: Any, name: str) -> dict[str, Any]:
    """One user: GetUser plus keys, MFA devices, login profile, policies and groups."""
    user = require(client.get_user(UserName=name), "User", "GetUser")
    parts = {
        "AccessKeys": _access_keys(client, name),
        "MFADevices": jsonable(
            list(paginate(client, "ListMFADevices", "MFADevices", UserName=name))
        ),
        "LoginProfile": _login_profile(client, name),
        "AttachedPolicies": _attached(client, "User", name),
        "InlinePolicies": _inline(client, "User", name),
        "Groups": jsonable(list(paginate(client, "ListGroupsForUser", "Groups", UserName=name))),
    }
    return normalize_entity(user, parts)


def read_role(client: Any, name: str) -> dict[str, Any]:
    """One role: GetRole plus its attached and inline policies."""
    role = require(client.get_role(RoleName=name), "Role", "GetRole")
    parts = {
        "AttachedPolicies": _attached(client, "Role", name),
        "InlinePolicies": _inline(client, "Role", name),
    }
    return normalize_entity(role, parts)


def read_group(client: Any, name: str) -> dict[str, Any]:
    """One group: GetGroup's ``Group`` plus its attached and inline policies."""
    group = require(client.get_group(GroupName=name, MaxItems=1), "Group", "GetGroup")
    parts = {
        "AttachedPolicies": _attached(client, "Group", name),
        "InlinePolicies": _inline(client, "Group", name),
    }
    return normalize_entity(group, parts)


def principal_spec(
    type_name: str,
    kind: str,
    read: Callable[[Any, str], dict[str, Any]],
    calls_made: tuple[Any, ...],
    description: str,
) -> TypeSpec:
    """The spec of users, roles or groups: ``List{kind}s`` then ``read`` per entity."""
    name_field = f"{kind}Name"

    def list_all(reader: Reader, account: str, region: str) -> Iterator[Listed | Unreadable]:
        """Every entity of the account."""
        client = reader.client("iam", GLOBAL_REGION)
        for entity in paginate(client, f"List{kind}s", f"{kind}s"):
            name = str(require(entity, name_field, f"List{kind}s"))
            found = read_item(name, lambda: _read(reader, name))  # noqa: B023
            if not isinstance(found, NotFoundType):
                yield found

    def describe(
        reader: Reader, account: str, region: str, identifier: str
    ) -> Listed | NotFoundType:
        """One entity by name."""
        return _read(reader, identifier)

    def _read(reader: Reader, name: str) -> Listed | NotFoundType:
        client = reader.client("iam", GLOBAL_REGION)
        try:
            config = read(client, name)
        except ClientError as error:
            if is_gone(error):
                return NOT_FOUND
            raise
        arn = canonical_arn(str(require(config, "Arn", f"Get{kind}")))
        return Listed(arn, config, GLOBAL_REGION)

    return TypeSpec(
        type_name=type_name,
        service="iam",
        scope="global",
        list=list_all,
        describe=describe,
        identifier=iam_name,
        normalize=normalize_entity,
        calls=calls_made,
        name=field_of(name_field),
        tags=lambda config: tag_map(config.get("Tags")),
        description=description,
    )


USER = principal_spec(
    "AWS::IAM::User", "User", read_user,
    calls(
        "iam", "ListUsers", "GetUser", "ListAccessKeys", "GetAccessKeyLastUsed",
        "ListMFADevices", "GetLoginProfile", "ListAttachedUserPolicies", "ListUserPolicies",
        "GetUserPolicy", "ListGroupsForUser",
    ),
    "an IAM user with its keys, MFA devices, login profile, policies and groups",
)  # fmt: skip
ROLE = principal_spec(
    "AWS::IAM::Role", "Role", read_role,
    calls(
        "iam", "ListRoles", "GetRole", "ListAttachedRolePolicies", "ListRolePolicies",
        "GetRolePolicy",
    ),
    "an IAM role with its trust policy and permission policies",
)  # fmt: skip
GROUP = principal_spec(
    "AWS::IAM::Group", "Group", read_group,
    calls(
        "iam", "ListGroups", "GetGroup", "ListAttachedGroupPolicies", "ListGroupPolicies",
        "GetGroupPolicy",
    ),
    "an IAM group with its policies",
)  # fmt: skip

SPECS: tuple[TypeSpec, ...] = (USER, ROLE, GROUP)
