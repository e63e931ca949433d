"""EC2 rules: security groups, network ACLs, instances, volumes, snapshots, images, VPCs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resolvers.compliance.rules._docs import get, items, mappings, number
from resolvers.compliance.rules._policy import (
    ADMIN_PORTS,
    DATABASE_PORTS,
    WORLD_V4,
    WORLD_V6,
    covers,
    sg_world_ports,
)
from resolvers.compliance.spec import PASS, Verdict, VersionView, state_rule, verdict

SG = ("AWS::EC2::SecurityGroup",)


def _explicit(config: Mapping[str, Any], key: str) -> Any:
    """A boolean field that must be present to be judged (None when absent)."""
    value = config.get(key)
    return value if isinstance(value, bool) else None


@state_rule(
    id="aws-ec2-sg-admin-ports-open-ipv4",
    title="Security group allows ingress from 0.0.0.0/0 to SSH or RDP",
    severity="high",
    resource_types=SG,
    rationale="Remote administration ports open to the internet are scanned and brute-forced "
    "within minutes of exposure.",
    remediation="Remove the 0.0.0.0/0 rule for ports 22/3389; use SSM Session Manager, a VPN or "
    "a bastion restricted to known addresses.",
)
def sg_admin_open_v4(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when an ingress permission covers port 22 or 3389 (or all ports) from 0.0.0.0/0."""
    found = sg_world_ports(config.get("IpPermissions"), ADMIN_PORTS, (WORLD_V4,))
    return verdict(bool(found), permissions=found)


@state_rule(
    id="aws-ec2-sg-admin-ports-open-ipv6",
    title="Security group allows ingress from ::/0 to SSH or RDP",
    severity="high",
    resource_types=SG,
    rationale="The IPv6 internet reaches an instance as easily as the IPv4 one.",
    remediation="Remove the ::/0 rule for ports 22/3389.",
)
def sg_admin_open_v6(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when an ingress permission covers port 22 or 3389 (or all ports) from ::/0."""
    found = sg_world_ports(config.get("IpPermissions"), ADMIN_PORTS, (WORLD_V6,))
    return verdict(bool(found), permissions=found)


@state_rule(
    id="aws-ec2-sg-all-ports-open",
    title="Security group allows all traffic from the internet",
    severity="critical",
    resource_types=SG,
    rationale="An all-protocol or all-port rule from 0.0.0.0/0 or ::/0 exposes every service on "
    "every attached interface.",
    remediation="Replace the rule with the specific ports the service needs.",
)
def sg_all_ports_open(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when one ingress permission opens every port (protocol -1, or tcp 0/1-65535) to
    the world."""
    found = [
        hit
        for hit in sg_world_ports(config.get("IpPermissions"), (1, 65535))
        if hit["ports"] == [1, 65535]
    ]
    return verdict(bool(found), permissions=found)


@state_rule(
    id="aws-ec2-sg-database-ports-open",
    title="Security group allows ingress from the internet to database ports",
    severity="high",
    resource_types=SG,
    rationale="Databases and caches (MySQL, PostgreSQL, SQL Server, Oracle, Redis, MongoDB, "
    "Elasticsearch, Memcached) should never be reachable from the internet.",
    remediation="Allow database ports only from the application's security group.",
)
def sg_database_open(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when an ingress permission opens a well-known database port to the world."""
    found = sg_world_ports(config.get("IpPermissions"), DATABASE_PORTS)
    return verdict(bool(found), permissions=found)


@state_rule(
    id="aws-ec2-default-sg-not-restricted",
    title="Default security group does not restrict all traffic",
    severity="medium",
    resource_types=SG,
    rationale="Resources launched without a security group land in the default one; if it has "
    "rules, they get access nobody chose.",
    remediation="Remove every inbound and outbound rule from the default security group.",
)
def default_sg_open(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when the group named 'default' has any ingress or egress permission."""
    if config.get("GroupName") != "default":
        return PASS
    ingress = len(items(config.get("IpPermissions")))
    egress = len(items(config.get("IpPermissionsEgress")))
    return verdict(bool(ingress or egress), ingress_rules=ingress, egress_rules=egress)


def _nacl_world_ports(entries: Any, ports: tuple[int, ...]) -> list[int]:
    """Ports the first matching world-CIDR ingress entry (by rule number) allows."""
    ingress = [
        entry
        for entry in mappings(entries)
        if entry.get("Egress") is False
        and (entry.get("CidrBlock") == WORLD_V4 or entry.get("Ipv6CidrBlock") == WORLD_V6)
    ]
    ingress.sort(key=lambda entry: number(entry.get("RuleNumber")) or 0)
    allowed = []
    for port in ports:
        for entry in ingress:
            protocol = str(entry.get("Protocol"))
            if protocol not in ("-1", "6"):
                continue
            low, high = get(entry, "PortRange", "From"), get(entry, "PortRange", "To")
            if protocol == "6" and not covers(number(low), number(high), (port,)):
                continue
            if entry.get("RuleAction") == "allow":
                allowed.append(port)
            break
    return allowed


@state_rule(
    id="aws-ec2-nacl-admin-ports-open",
    title="Network ACL allows ingress from the internet to SSH or RDP",
    severity="medium",
    resource_types=("AWS::EC2::NetworkAcl",),
    rationale="A network ACL is the subnet-wide backstop; one that lets the internet reach "
    "administration ports leaves only security groups in the way.",
    remediation="Add a deny entry for 0.0.0.0/0 and ::/0 on ports 22 and 3389 ahead of any "
    "allow entry.",
)
def nacl_admin_open(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when, in rule-number order, the first world entry matching port 22 or 3389 is an
    allow."""
    ports = _nacl_world_ports(config.get("Entries"), ADMIN_PORTS)
    return verdict(bool(ports), ports=ports)


@state_rule(
    id="aws-ec2-volume-unencrypted",
    title="EBS volume is not encrypted",
    severity="medium",
    resource_types=("AWS::EC2::Volume",),
    rationale="Unencrypted volumes (and every snapshot taken of them) hold data in the clear.",
    remediation="Create an encrypted copy from a snapshot, swap it in, and turn on EBS "
    "encryption by default in every region.",
)
def volume_unencrypted(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when Encrypted is false."""
    return verdict(_explicit(config, "Encrypted") is False, encrypted=False)


@state_rule(
    id="aws-ec2-snapshot-unencrypted",
    title="EBS snapshot is not encrypted",
    severity="medium",
    resource_types=("AWS::EC2::Snapshot",),
    rationale="An unencrypted snapshot can be copied or shared with its data readable.",
    remediation="Copy the snapshot with encryption and delete the unencrypted one.",
)
def snapshot_unencrypted(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when Encrypted is false."""
    return verdict(_explicit(config, "Encrypted") is False, encrypted=False)


@state_rule(
    id="aws-ec2-snapshot-public",
    title="EBS snapshot is shared publicly",
    severity="critical",
    resource_types=("AWS::EC2::Snapshot",),
    rationale="Anyone can create a volume from a public snapshot and read its data.",
    remediation="Remove the 'all' group from the snapshot's create-volume permissions.",
)
def snapshot_public(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when CreateVolumePermissions grants Group 'all'."""
    public = any(p.get("Group") == "all" for p in mappings(config.get("CreateVolumePermissions")))
    return verdict(public, create_volume_permission="all")


@state_rule(
    id="aws-ec2-ami-public",
    title="AMI is public",
    severity="high",
    resource_types=("AWS::EC2::Image",),
    rationale="A public image can be launched by anyone, with whatever data and credentials "
    "were baked into it.",
    remediation="Make the image private (remove the 'all' launch permission).",
)
def ami_public(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when Public is true or LaunchPermissions grants Group 'all'."""
    shared = any(p.get("Group") == "all" for p in mappings(config.get("LaunchPermissions")))
    return verdict(config.get("Public") is True or shared, public=True)


@state_rule(
    id="aws-ec2-instance-imdsv1",
    title="EC2 instance allows IMDSv1",
    severity="medium",
    resource_types=("AWS::EC2::Instance",),
    rationale="IMDSv1 answers unauthenticated GET requests, so an SSRF flaw leaks the instance "
    "role's credentials; IMDSv2 requires a session token.",
    remediation="Set HttpTokens=required (modify-instance-metadata-options) and make IMDSv2 the "
    "account default.",
)
def instance_imdsv1(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when the metadata endpoint is enabled and HttpTokens is 'optional'."""
    options = config.get("MetadataOptions")
    if not isinstance(options, dict) or options.get("HttpEndpoint") == "disabled":
        return PASS
    return verdict(options.get("HttpTokens") == "optional", http_tokens="optional")


@state_rule(
    id="aws-ec2-instance-public-ip",
    title="EC2 instance has a public IP address",
    severity="low",
    resource_types=("AWS::EC2::Instance",),
    rationale="A public address makes the instance reachable from the internet wherever its "
    "security groups allow it.",
    remediation="Place instances in private subnets behind a load balancer or NAT.",
)
def instance_public_ip(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when PublicIpAddress is set."""
    address = config.get("PublicIpAddress")
    return verdict(bool(address), public_ip=address)


@state_rule(
    id="aws-ec2-instance-no-iam-role",
    title="EC2 instance has no IAM instance profile",
    severity="low",
    resource_types=("AWS::EC2::Instance",),
    rationale="Without an instance role, software on the instance needs long-lived access keys "
    "to call AWS.",
    remediation="Attach an instance profile with a least-privilege role; remove stored keys.",
)
def instance_no_role(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails for a non-terminated instance without IamInstanceProfile."""
    if get(config, "State", "Name") in ("terminated", "shutting-down") or not config:
        return PASS
    return verdict(not config.get("IamInstanceProfile"), instance_profile=None)


@state_rule(
    id="aws-ec2-vpc-flow-logs-off",
    title="VPC flow logging is not enabled",
    severity="medium",
    resource_types=("AWS::EC2::VPC",),
    rationale="Flow logs are the record of who talked to what in the network.",
    remediation="Create a flow log for the VPC (at least REJECT traffic) to CloudWatch Logs or S3.",
)
def vpc_flow_logs_off(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when the FlowLogs list is known and has no active flow log."""
    if "FlowLogs" not in config:
        return PASS
    active = [f for f in mappings(config.get("FlowLogs")) if f.get("FlowLogStatus") != "FAILED"]
    return verdict(not active, flow_logs=0)


@state_rule(
    id="aws-ec2-subnet-auto-public-ip",
    title="Subnet assigns public IP addresses on launch",
    severity="low",
    resource_types=("AWS::EC2::Subnet",),
    rationale="Every instance launched in the subnet becomes internet-addressable by default.",
    remediation="Turn off MapPublicIpOnLaunch; assign public addresses explicitly where needed.",
)
def subnet_auto_public_ip(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when MapPublicIpOnLaunch is true."""
    return verdict(config.get("MapPublicIpOnLaunch") is True, map_public_ip_on_launch=True)


RULES = (
    sg_admin_open_v4,
    sg_admin_open_v6,
    sg_all_ports_open,
    sg_database_open,
    default_sg_open,
    nacl_admin_open,
    volume_unencrypted,
    snapshot_unencrypted,
    snapshot_public,
    ami_public,
    instance_imdsv1,
    instance_public_ip,
    instance_no_role,
    vpc_flow_logs_off,
    subnet_auto_public_ip,
)
