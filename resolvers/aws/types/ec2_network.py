"""EC2 network types: security group, VPC, subnet, network ACL, route table.

Each document is the item the Describe call returns for one resource (docs/aws-config-shapes.md);
the VPC adds its flow logs. One paginated Describe lists a region; the same call narrowed to one
id describes one resource, so a scan and an event see the same shape.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

from resolvers.aws.ids import ec2_arn
from resolvers.aws.types.api import jsonable, paginate, require
from resolvers.aws.types.generic import ExtraFn, items_spec
from resolvers.aws.types.spec import ApiCall, Reader, TypeSpec, calls, tag_map


def last_segment(asset_key: str) -> str:
    """The resource id at the end of an EC2 ARN (``...:vpc/vpc-0abc`` -> ``vpc-0abc``)."""
    return asset_key.rsplit("/", 1)[-1]


def ec2_tags(config: Mapping[str, Any]) -> dict[str, str]:
    """The tags of an EC2 item (``Tags: [{Key, Value}]``)."""
    return tag_map(config.get("Tags"))


def ec2_name(config: Mapping[str, Any]) -> str | None:
    """An EC2 resource's ``Name`` tag."""
    return ec2_tags(config).get("Name") or None


def simple_spec(
    type_name: str,
    operation: str,
    result_key: str,
    id_field: str,
    ids_param: str,
    *,
    extra: ExtraFn | None = None,
    extra_calls: tuple[ApiCall, ...] = (),
    name: Callable[[Mapping[str, Any]], str | None] = ec2_name,
    list_params: Mapping[str, Any] | None = None,
    owned: Callable[[Mapping[str, Any], str], bool] = lambda item, account: True,
    description: str = "",
) -> TypeSpec:
    """A spec for an EC2 type whose Describe call both lists a region and reads one id.

    ``extra(reader, region, items)`` adds the documented extra keys to a page of items in
    place (flow logs of VPCs, attributes of snapshots); ``owned`` keeps only items the account
    owns (DescribeSnapshots with ``self`` also returns public ones in emulators).
    """

    def key(config: Mapping[str, Any], account: str, region: str) -> str:
        return str(ec2_arn(str(require(config, id_field, operation)), region, account))

    return items_spec(
        type_name=type_name, service="ec2", operation=operation, result_key=result_key,
        key=key, id_param=ids_param, calls=(*calls("ec2", operation), *extra_calls),
        list_params=list_params, extra=extra, keep=owned, identifier=last_segment, name=name,
        tags=ec2_tags, description=description,
    )  # fmt: skip


def add_flow_logs(reader: Reader, region: str, vpcs: list[dict[str, Any]]) -> None:
    """``FlowLogs``: the DescribeFlowLogs items of each VPC (``[]`` when it has none)."""
    client = reader.client("ec2", region)
    ids = [vpc["VpcId"] for vpc in vpcs]
    found: dict[str, list[Any]] = defaultdict(list)
    for start in range(0, len(ids), 100):
        flt = [{"Name": "resource-id", "Values": ids[start : start + 100]}]
        for log in paginate(client, "DescribeFlowLogs", "FlowLogs", Filter=flt):
            found[str(log.get("ResourceId"))].append(jsonable(log))
    for vpc in vpcs:
        vpc["FlowLogs"] = found.get(vpc["VpcId"], [])


def _group_name(config: Mapping[str, Any]) -> str | None:
    return config.get("GroupName") or None


SECURITY_GROUP = simple_spec(
    "AWS::EC2::SecurityGroup", "DescribeSecurityGroups", "SecurityGroups", "GroupId", "GroupIds",
    name=_group_name, description="an EC2 security group and its rules",
)  # fmt: skip
VPC = simple_spec(
    "AWS::EC2::VPC", "DescribeVpcs", "Vpcs", "VpcId", "VpcIds",
    extra=add_flow_logs, extra_calls=calls("ec2", "DescribeFlowLogs"),
    description="a VPC and its flow logs",
)  # fmt: skip
SUBNET = simple_spec(
    "AWS::EC2::Subnet", "DescribeSubnets", "Subnets", "SubnetId", "SubnetIds",
    description="a VPC subnet",
)  # fmt: skip
NETWORK_ACL = simple_spec(
    "AWS::EC2::NetworkAcl", "DescribeNetworkAcls", "NetworkAcls", "NetworkAclId",
    "NetworkAclIds", description="a network ACL and its entries",
)  # fmt: skip
ROUTE_TABLE = simple_spec(
    "AWS::EC2::RouteTable", "DescribeRouteTables", "RouteTables", "RouteTableId",
    "RouteTableIds", description="a route table",
)  # fmt: skip

SPECS: tuple[TypeSpec, ...] = (SECURITY_GROUP, VPC, SUBNET, NETWORK_ACL, ROUTE_TABLE)
