"""EKS clusters: DescribeCluster's ``cluster``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resolvers.aws.types.api import jsonable, require
from resolvers.aws.types.generic import ids_spec, listed_ids
from resolvers.aws.types.spec import Reader, TypeSpec, calls, field_of, tag_map


def read_cluster(reader: Reader, account: str, region: str, name: str) -> dict[str, Any]:
    """One cluster by name."""
    answer = reader.client("eks", region).describe_cluster(name=name)
    return jsonable(require(answer, "cluster", "DescribeCluster"))


def _key(config: Mapping[str, Any], account: str, region: str, identifier: str) -> str:
    return str(require(config, "arn", "DescribeCluster"))


CLUSTER = ids_spec(
    type_name="AWS::EKS::Cluster",
    service="eks",
    list_ids=listed_ids("eks", "ListClusters", "clusters"),
    read=read_cluster,
    key=_key,
    normalize=jsonable,
    calls=calls("eks", "ListClusters", "DescribeCluster"),
    name=field_of("name"),
    tags=lambda config: tag_map(config.get("tags")),
    description="an EKS cluster (endpoint access, logging, encryption, version)",
)

SPECS: tuple[TypeSpec, ...] = (CLUSTER,)
