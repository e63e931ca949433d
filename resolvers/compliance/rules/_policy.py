"""Facts about IAM policy documents, security group permissions and firewall rules.

Shared by the AWS and GCP rules so that "public", "world" and "admin port" mean one thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from resolvers.compliance.rules._docs import ec2_items, get, items, mappings, number, parsed

WORLD_V4 = "0.0.0.0/0"
WORLD_V6 = "::/0"
ADMIN_PORTS: tuple[int, ...] = (22, 3389)
DATABASE_PORTS: tuple[int, ...] = (1433, 1521, 3306, 5432, 5439, 6379, 9200, 11211, 27017)
# Condition keys that pin an Allow to known callers: such a statement is not public.
RESTRICTING_CONDITION_KEYS = frozenset(
    key.lower()
    for key in (
        "aws:SourceArn",
        "aws:SourceAccount",
        "aws:SourceOwner",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "aws:SourceIp",
        "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths",
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
        "aws:PrincipalServiceName",
        "aws:userid",
        "aws:username",
        "aws:SourceOrgID",
        "aws:SourceOrgPaths",
        "kms:CallerAccount",
        "kms:ViaService",
        "lambda:FunctionUrlAuthType",
        "s3:DataAccessPointAccount",
        "s3:DataAccessPointArn",
    )
)
PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
PUBLIC_ACL_GROUPS = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)


# -- IAM policy documents (AWS) ----------------------------------------------------------------
def statements(policy: Any) -> list[Mapping[str, Any]]:
    """The statements of a policy document (a dict, or JSON text), as a list of dicts."""
    return list(mappings(get(parsed(policy), "Statement")))


def _is_star(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any("*" in items(value) for value in principal.values())
    return False


def _restricted(statement: Mapping[str, Any]) -> bool:
    condition = statement.get("Condition")
    if not isinstance(condition, dict):
        return False
    keys = {key.lower() for block in condition.values() if isinstance(block, dict) for key in block}
    return bool(keys & RESTRICTING_CONDITION_KEYS)


def public_statements(policy: Any) -> list[Mapping[str, Any]]:
    """The Allow statements open to anyone (``Principal: *``, or ``NotPrincipal``), unpinned."""
    found = []
    for statement in statements(policy):
        if statement.get("Effect") != "Allow":
            continue
        anyone = _is_star(statement.get("Principal")) or "NotPrincipal" in statement
        if anyone and not _restricted(statement):
            found.append(statement)
    return found


def statement_ids(found: Iterable[Mapping[str, Any]]) -> list[str]:
    """Sids of statements (or their position) for evidence."""
    return [str(statement.get("Sid") or index) for index, statement in enumerate(found)]


def admin_statements(policy: Any) -> list[Mapping[str, Any]]:
    """Allow statements granting every action on every resource (``*`` / ``*:*``)."""
    found = []
    for statement in statements(policy):
        if statement.get("Effect") != "Allow":
            continue
        actions = items(statement.get("Action"))
        resources = items(statement.get("Resource"))
        if any(a in ("*", "*:*") for a in actions) and "*" in resources:
            found.append(statement)
    return found


def denies_insecure_transport(policy: Any) -> bool:
    """Whether a bucket policy denies requests made without TLS (aws:SecureTransport false)."""
    for statement in statements(policy):
        condition = statement.get("Condition")
        if statement.get("Effect") != "Deny" or not isinstance(condition, dict):
            continue
        for operator, block in condition.items():
            if not str(operator).lower().startswith("bool") or not isinstance(block, dict):
                continue
            for key, value in block.items():
                secure = {str(v).lower() for v in items(value)}
                if str(key).lower() == "aws:securetransport" and "false" in secure:
                    return True
    return False


# -- port ranges ------------------------------------------------------------------------------
def covers(low: int | None, high: int | None, ports: Iterable[int]) -> list[int]:
    """The ports within ``low..high`` (None or -1 bounds mean every port)."""
    if low is None or high is None or low < 0 or high < 0:
        return list(ports)
    return [port for port in ports if low <= port <= high]


# -- EC2 security groups (DescribeSecurityGroups and CloudTrail request shapes) ------------------
def _sg_sources(permission: Mapping[str, Any]) -> set[str]:
    v4 = {get(r, "CidrIp") or get(r, "cidrIp") for r in ec2_items(_either(permission, "IpRanges"))}
    v6 = {
        get(r, "CidrIpv6") or get(r, "cidrIpv6")
        for r in ec2_items(_either(permission, "Ipv6Ranges"))
    }
    if permission.get("cidrIp"):  # CloudTrail's flat form (one rule in the request itself)
        v4.add(permission["cidrIp"])
    if permission.get("cidrIpv6"):
        v6.add(permission["cidrIpv6"])
    return {source for source in v4 | v6 if isinstance(source, str)}


def _either(mapping: Mapping[str, Any], name: str) -> Any:
    """A key in boto3 spelling (IpRanges) or CloudTrail spelling (ipRanges)."""
    return mapping.get(name, mapping.get(name[0].lower() + name[1:]))


def sg_world_ports(
    permissions: Any, ports: Iterable[int], worlds: Iterable[str] = (WORLD_V4, WORLD_V6)
) -> list[dict[str, Any]]:
    """The permissions that open any of ``ports`` (all ports: every port) to a world CIDR."""
    wanted, world = list(ports), set(worlds)
    found = []
    for permission in mappings(permissions):
        protocol = str(_either(permission, "IpProtocol") or "").lower()
        if protocol not in ("-1", "tcp", "6", "all"):
            continue
        sources = _sg_sources(permission) & world
        if not sources:
            continue
        low, high = number(_either(permission, "FromPort")), number(_either(permission, "ToPort"))
        if protocol in ("-1", "all"):
            low = high = None
        hit = covers(low, high, wanted)
        if hit:
            found.append({"sources": sorted(sources), "ports": hit, "protocol": protocol})
    return found


# -- GCP firewalls ------------------------------------------------------------------------------
def firewall_world_ports(data: Mapping[str, Any], ports: Iterable[int]) -> list[int]:
    """The ports among ``ports`` an enabled ingress allow rule opens to 0.0.0.0/0 or ::/0."""
    if data.get("disabled") is True or (data.get("direction") or "INGRESS") != "INGRESS":
        return []
    if not set(items(data.get("sourceRanges"))) & {WORLD_V4, WORLD_V6}:
        return []
    wanted, opened = list(ports), set()
    for allowed in mappings(data.get("allowed")):
        protocol = str(allowed.get("IPProtocol") or allowed.get("ipProtocol") or "").lower()
        if protocol not in ("all", "tcp", "6"):
            continue
        ranges = items(allowed.get("ports"))
        if protocol == "all" or not ranges:
            opened.update(wanted)
            continue
        for text in ranges:
            low, _, high = str(text).partition("-")
            opened.update(covers(number(low), number(high or low), wanted))
    return sorted(opened)


def public_members(policy: Any) -> dict[str, list[str]]:
    """GCP IAM policy: role -> the public members (allUsers, allAuthenticatedUsers) bound to it."""
    found: dict[str, list[str]] = {}
    for binding in mappings(get(policy, "bindings")):
        public = sorted(set(items(binding.get("members"))) & PUBLIC_MEMBERS)
        if public:
            found[str(binding.get("role"))] = public
    return found
