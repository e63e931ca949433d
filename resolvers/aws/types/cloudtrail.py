"""CloudTrail trails: the DescribeTrails item plus ``Status`` and ``EventSelectors``.

A multi-region trail shows up in every region as a shadow; it is listed only in its home
region (``includeShadowTrails=False``) and always read there (the region in its ARN).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from resolvers.aws.types.api import is_gone, jsonable, require
from resolvers.aws.types.spec import (
    NOT_FOUND,
    Listed,
    NotFoundType,
    Reader,
    TypeSpec,
    calls,
    field_of,
)


def normalize_trail(item: Mapping[str, Any], status: Any, selectors: Any) -> dict[str, Any]:
    """The trail item plus its status and event selectors (each minus ResponseMetadata)."""
    config = jsonable(item)
    config["Status"] = jsonable(status)
    config["EventSelectors"] = jsonable(selectors)
    return config


def _listed(reader: Reader, item: Mapping[str, Any]) -> Listed:
    arn = str(require(item, "TrailARN", "DescribeTrails"))
    home = str(item.get("HomeRegion") or arn.split(":")[3])
    client = reader.client("cloudtrail", home)
    status = client.get_trail_status(Name=arn)
    selectors = client.get_event_selectors(TrailName=arn)
    return Listed(arn, normalize_trail(item, status, selectors), home)


def list_trails(reader: Reader, account: str, region: str) -> Iterator[Listed]:
    """The trails whose home is this region."""
    answer = reader.client("cloudtrail", region).describe_trails(includeShadowTrails=False)
    for item in require(answer, "trailList", "DescribeTrails"):
        if item.get("HomeRegion", region) == region:
            yield _listed(reader, item)


def describe_trail(
    reader: Reader, account: str, region: str, identifier: str
) -> Listed | NotFoundType:
    """One trail by ARN (read in its home region) or by name (read in ``region``)."""
    home = identifier.split(":")[3] if identifier.startswith("arn:") else region
    client = reader.client("cloudtrail", home)
    try:
        answer = client.describe_trails(trailNameList=[identifier], includeShadowTrails=False)
        items = [
            item for item in answer.get("trailList") or []
            if identifier in (item.get("TrailARN"), item.get("Name"))
        ]  # fmt: skip
        return _listed(reader, items[0]) if items else NOT_FOUND
    except ClientError as error:
        if is_gone(error):
            return NOT_FOUND
        raise


TRAIL = TypeSpec(
    type_name="AWS::CloudTrail::Trail",
    service="cloudtrail",
    scope="regional",
    list=list_trails,
    describe=describe_trail,
    identifier=lambda key: key,
    normalize=normalize_trail,
    calls=calls("cloudtrail", "DescribeTrails", "GetTrailStatus", "GetEventSelectors"),
    name=field_of("Name"),
    description="a CloudTrail trail with its logging status and event selectors",
)

SPECS: tuple[TypeSpec, ...] = (TRAIL,)
