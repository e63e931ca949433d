"""CloudFront distributions: GetDistributionConfig's ``DistributionConfig`` (global)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from resolvers.aws.catalog_arn import partition
from resolvers.aws.types.api import jsonable, require
from resolvers.aws.types.generic import ids_spec
from resolvers.aws.types.spec import GLOBAL_REGION, Reader, TypeSpec, calls


def list_ids(reader: Reader, account: str, region: str) -> Iterator[str]:
    """The ids of every distribution (ListDistributions pages a ``DistributionList``)."""
    client = reader.client("cloudfront", GLOBAL_REGION)
    for page in client.get_paginator("list_distributions").paginate():
        listing = require(page, "DistributionList", "ListDistributions")
        for item in listing.get("Items") or []:
            yield str(require(item, "Id", "ListDistributions"))


def read_distribution(reader: Reader, account: str, region: str, dist_id: str) -> dict[str, Any]:
    """One distribution's configuration."""
    answer = reader.client("cloudfront", GLOBAL_REGION).get_distribution_config(Id=dist_id)
    return jsonable(require(answer, "DistributionConfig", "GetDistributionConfig"))


def _key(config: Mapping[str, Any], account: str, region: str, identifier: str) -> str:
    return f"arn:{partition(region)}:cloudfront::{account}:distribution/{identifier}"


DISTRIBUTION = ids_spec(
    type_name="AWS::CloudFront::Distribution",
    service="cloudfront",
    scope="global",
    list_ids=list_ids,
    read=read_distribution,
    key=_key,
    normalize=jsonable,
    calls=calls("cloudfront", "ListDistributions", "GetDistributionConfig"),
    name=lambda config: config.get("Comment") or None,
    description="a CloudFront distribution's configuration",
)

SPECS: tuple[TypeSpec, ...] = (DISTRIBUTION,)
