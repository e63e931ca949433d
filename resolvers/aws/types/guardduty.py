"""GuardDuty detectors: GetDetector's answer plus ``DetectorId`` (at most one per region)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resolvers.aws.catalog_arn import partition
from resolvers.aws.types.api import jsonable, require
from resolvers.aws.types.generic import ids_spec, listed_ids
from resolvers.aws.types.spec import NOT_FOUND, NotFoundType, Reader, TypeSpec, calls, tag_map


def normalize_detector(answer: Mapping[str, Any], detector_id: str) -> dict[str, Any]:
    """GetDetector's answer (minus ResponseMetadata) plus ``DetectorId``."""
    config = jsonable(answer)
    config["DetectorId"] = detector_id
    return config


def read_detector(
    reader: Reader, account: str, region: str, detector_id: str
) -> dict[str, Any] | NotFoundType:
    """One detector by id (GuardDuty answers a detector of another account with a 400)."""
    client = reader.client("guardduty", region)
    known = set(listed_ids("guardduty", "ListDetectors", "DetectorIds")(reader, account, region))
    if detector_id not in known:
        return NOT_FOUND
    return normalize_detector(client.get_detector(DetectorId=detector_id), detector_id)


def _key(config: Mapping[str, Any], account: str, region: str, identifier: str) -> str:
    detector = require(config, "DetectorId", "GetDetector")
    return f"arn:{partition(region)}:guardduty:{region}:{account}:detector/{detector}"


DETECTOR = ids_spec(
    type_name="AWS::GuardDuty::Detector",
    service="guardduty",
    list_ids=listed_ids("guardduty", "ListDetectors", "DetectorIds"),
    read=read_detector,
    key=_key,
    normalize=normalize_detector,
    calls=calls("guardduty", "ListDetectors", "GetDetector"),
    name=lambda config: config.get("DetectorId"),
    tags=lambda config: tag_map(config.get("Tags")),
    description="a GuardDuty detector (status, finding publishing frequency, features)",
)

SPECS: tuple[TypeSpec, ...] = (DETECTOR,)
