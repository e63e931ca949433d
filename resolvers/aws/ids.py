"""EC2 resource ids by prefix: ``i-`` is an instance, ``sg-`` a security group, ...

Generic EC2 operations (CreateTags, DeleteTags) name resources of any type by id alone; the id
prefix tells the type. Longer prefixes win (``vpce-svc-`` before ``vpce-`` before ``vpc-``).
ARNs follow the IAM Service Authorization Reference templates, so a key built from an id here
equals the key the catalog builds for the same resource from its own template.
"""

from __future__ import annotations

import functools

from resolvers.aws.catalog import registry
from resolvers.aws.catalog_arn import fill, partition, template_vars

# prefix -> (CloudFormation type, ARN resource type, ARN has an account field)
EC2_PREFIXES: dict[str, tuple[str, str, bool]] = {
    "i-": ("AWS::EC2::Instance", "instance", True),
    "sg-": ("AWS::EC2::SecurityGroup", "security-group", True),
    "sgr-": ("AWS::EC2::SecurityGroupRule", "security-group-rule", True),
    "vpc-": ("AWS::EC2::VPC", "vpc", True),
    "subnet-": ("AWS::EC2::Subnet", "subnet", True),
    "vol-": ("AWS::EC2::Volume", "volume", True),
    "snap-": ("AWS::EC2::Snapshot", "snapshot", False),
    "ami-": ("AWS::EC2::Image", "image", False),
    "acl-": ("AWS::EC2::NetworkAcl", "network-acl", True),
    "rtb-": ("AWS::EC2::RouteTable", "route-table", True),
    "igw-": ("AWS::EC2::InternetGateway", "internet-gateway", True),
    "eigw-": ("AWS::EC2::EgressOnlyInternetGateway", "egress-only-internet-gateway", True),
    "eni-": ("AWS::EC2::NetworkInterface", "network-interface", True),
    "nat-": ("AWS::EC2::NatGateway", "natgateway", True),
    "eipalloc-": ("AWS::EC2::EIP", "elastic-ip", True),
    "dopt-": ("AWS::EC2::DHCPOptions", "dhcp-options", True),
    "pcx-": ("AWS::EC2::VPCPeeringConnection", "vpc-peering-connection", True),
    "vpce-": ("AWS::EC2::VPCEndpoint", "vpc-endpoint", True),
    "vpce-svc-": ("AWS::EC2::VPCEndpointService", "vpc-endpoint-service", True),
    "vgw-": ("AWS::EC2::VPNGateway", "vpn-gateway", True),
    "cgw-": ("AWS::EC2::CustomerGateway", "customer-gateway", True),
    "vpn-": ("AWS::EC2::VPNConnection", "vpn-connection", True),
    "tgw-": ("AWS::EC2::TransitGateway", "transit-gateway", True),
    "tgw-attach-": ("AWS::EC2::TransitGatewayAttachment", "transit-gateway-attachment", True),
    "tgw-rtb-": ("AWS::EC2::TransitGatewayRouteTable", "transit-gateway-route-table", True),
    "lt-": ("AWS::EC2::LaunchTemplate", "launch-template", True),
    "fl-": ("AWS::EC2::FlowLog", "vpc-flow-log", True),
    "key-": ("AWS::EC2::KeyPair", "key-pair", True),
    "pl-": ("AWS::EC2::PrefixList", "prefix-list", True),
    "h-": ("AWS::EC2::Host", "dedicated-host", True),
    "cr-": ("AWS::EC2::CapacityReservation", "capacity-reservation", True),
    "fleet-": ("AWS::EC2::EC2Fleet", "fleet", True),
    "sir-": ("AWS::EC2::SpotInstanceRequest", "spot-instances-request", True),
    "ipam-": ("AWS::EC2::IPAM", "ipam", True),
    "ipam-pool-": ("AWS::EC2::IPAMPool", "ipam-pool", True),
    "rtbassoc-": (
        "AWS::EC2::SubnetRouteTableAssociation", "route-table-association", True
    ),
    "aclassoc-": (
        "AWS::EC2::SubnetNetworkAclAssociation", "network-acl-association", True
    ),
    "eipassoc-": ("AWS::EC2::EIPAssociation", "elastic-ip-association", True),
}  # fmt: skip


def ec2_prefix(resource_id: str) -> str | None:
    """The longest known prefix of an EC2 id, or None.

    Every prefix ends with a dash: the candidates are the id up to each of its dashes (but the
    last character), longest first.
    """
    end = resource_id.rfind("-", 0, len(resource_id) - 1)
    while end >= 0:
        prefix = resource_id[: end + 1]
        if prefix in EC2_PREFIXES:
            return prefix
        end = resource_id.rfind("-", 0, end)
    return None


def ec2_type(resource_id: str) -> str | None:
    """The CloudFormation type of an EC2 id (``sg-0abc`` -> ``AWS::EC2::SecurityGroup``)."""
    prefix = ec2_prefix(resource_id)
    return EC2_PREFIXES[prefix][0] if prefix else None


def ec2_arn(resource_id: str, region: str | None, account: str | None) -> str | None:
    """The ARN of an EC2 resource named by id alone, or None for an unknown prefix.

    The catalog's ARN template for the type is used where it has one (so both paths agree);
    the table's resource type and account rule otherwise.
    """
    prefix = ec2_prefix(resource_id)
    if prefix is None:
        return None
    type_name, kind, owned = EC2_PREFIXES[prefix]
    template = _template(type_name)
    if template is not None:
        filled = fill(template[0], {template[1]: [resource_id]}, account, region)
        if filled:
            return filled[0]
    owner = (account or "") if owned else ""
    return f"arn:{partition(region)}:ec2:{region or ''}:{owner}:{kind}/{resource_id}"


@functools.cache
def _template(type_name: str) -> tuple[str, str] | None:
    """(ARN template, its one variable) of an EC2 type in the catalog (once per type)."""
    spec = registry().types.get(type_name)
    if spec is not None and len(template_vars(spec.arn_template)) == 1:
        (var,) = template_vars(spec.arn_template)
        return spec.arn_template, var
    return None
