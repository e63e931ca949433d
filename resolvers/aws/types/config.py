"""AWS Config configuration recorders: the recorder item plus its ``Status``.

Keys are ``arn:aws:config:REGION:ACCOUNT:configuration-recorder/NAME``: the ARN AWS writes ends
with a recorder id that no CloudTrail event carries, so the key stops at the name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from resolvers.aws.catalog_arn import partition
from resolvers.aws.types.api import jsonable, require
from resolvers.aws.types.spec import (
    NOT_FOUND,
    Listed,
    NotFoundType,
    Reader,
    TypeSpec,
    calls,
    field_of,
)


def recorder_key(name: str, account: str, region: str) -> str:
    """The key of a recorder (no recorder id: events name recorders by name)."""
    return f"arn:{partition(region)}:config:{region}:{account}:configuration-recorder/{name}"


def normalize_recorder(item: Mapping[str, Any], status: Any) -> dict[str, Any]:
    """The DescribeConfigurationRecorders item plus ``Status`` (its status item or null)."""
    config = jsonable(item)
    config["Status"] = jsonable(status)
    return config


def _recorders(reader: Reader, account: str, region: str, names: list[str]) -> Iterator[Listed]:
    client = reader.client("config", region)
    params = {"ConfigurationRecorderNames": names} if names else {}
    items = require(
        client.describe_configuration_recorders(**params),
        "ConfigurationRecorders", "DescribeConfigurationRecorders",
    )  # fmt: skip
    if not items:
        return
    statuses = client.describe_configuration_recorder_status(**params)
    by_name = {s.get("name"): s for s in statuses.get("ConfigurationRecordersStatus") or []}
    for item in items:
        name = str(require(item, "name", "DescribeConfigurationRecorders"))
        config = normalize_recorder(item, by_name.get(name))
        yield Listed(recorder_key(name, account, region), config, region)


def list_recorders(reader: Reader, account: str, region: str) -> Iterator[Listed]:
    """The region's recorders (at most one, unless service-linked ones exist)."""
    yield from _recorders(reader, account, region, [])


def describe_recorder(
    reader: Reader, account: str, region: str, identifier: str
) -> Listed | NotFoundType:
    """One recorder by name."""
    found = [
        r for r in list_recorders(reader, account, region) if r.config.get("name") == identifier
    ]
    return found[0] if found else NOT_FOUND


RECORDER = TypeSpec(
    type_name="AWS::Config::ConfigurationRecorder",
    service="config",
    scope="regional",
    list=list_recorders,
    describe=describe_recorder,
    identifier=lambda key: key.rsplit("/", 1)[-1],
    normalize=normalize_recorder,
    calls=calls("config", "DescribeConfigurationRecorders", "DescribeConfigurationRecorderStatus"),
    name=field_of("name"),
    description="an AWS Config configuration recorder and its recording status",
)

SPECS: tuple[TypeSpec, ...] = (RECORDER,)
