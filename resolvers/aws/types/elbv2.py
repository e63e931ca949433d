"""ELBv2 load balancers and their listeners: the DescribeLoadBalancers / DescribeListeners item.

Listeners are listed per load balancer (DescribeListeners needs one); a listener ARN names its
load balancer, so one listener is described directly by ARN.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from resolvers.aws.types.api import is_gone, jsonable, paginate, require
from resolvers.aws.types.generic import items_spec
from resolvers.aws.types.spec import (
    NOT_FOUND,
    Listed,
    NotFoundType,
    Reader,
    TypeSpec,
    calls,
    field_of,
)


def _arn(field: str, operation: str):
    def key(config: Mapping[str, Any], account: str, region: str) -> str:
        return str(require(config, field, operation))

    return key


LOAD_BALANCER = items_spec(
    type_name="AWS::ElasticLoadBalancingV2::LoadBalancer",
    service="elbv2",
    operation="DescribeLoadBalancers",
    result_key="LoadBalancers",
    key=_arn("LoadBalancerArn", "DescribeLoadBalancers"),
    id_param="LoadBalancerArns",
    calls=calls("elbv2", "DescribeLoadBalancers"),
    identifier=lambda key: key,
    name=field_of("LoadBalancerName"),
    description="an application, network or gateway load balancer",
)

_listener_key = _arn("ListenerArn", "DescribeListeners")


def list_listeners(reader: Reader, account: str, region: str) -> Iterator[Listed]:
    """Every listener of every load balancer in the region."""
    client = reader.client("elbv2", region)
    for balancer in paginate(client, "DescribeLoadBalancers", "LoadBalancers"):
        arn = require(balancer, "LoadBalancerArn", "DescribeLoadBalancers")
        for item in paginate(client, "DescribeListeners", "Listeners", LoadBalancerArn=arn):
            config = jsonable(item)
            yield Listed(_listener_key(config, account, region), config, region)


def describe_listener(
    reader: Reader, account: str, region: str, identifier: str
) -> Listed | NotFoundType:
    """One listener by ARN."""
    client = reader.client("elbv2", region)
    try:
        items = client.describe_listeners(ListenerArns=[identifier]).get("Listeners") or []
    except ClientError as error:
        if is_gone(error):
            return NOT_FOUND
        raise
    if not items:
        return NOT_FOUND
    config = jsonable(items[0])
    return Listed(_listener_key(config, account, region), config, region)


LISTENER = TypeSpec(
    type_name="AWS::ElasticLoadBalancingV2::Listener",
    service="elbv2",
    scope="regional",
    list=list_listeners,
    describe=describe_listener,
    identifier=lambda key: key,
    normalize=jsonable,
    calls=calls("elbv2", "DescribeLoadBalancers", "DescribeListeners"),
    name=lambda config: f"{config.get('Protocol')}:{config.get('Port')}",
    description="a load balancer listener (protocol, port, TLS policy, default actions)",
)

SPECS: tuple[TypeSpec, ...] = (LOAD_BALANCER, LISTENER)
