"""KMS keys: DescribeKey's ``KeyMetadata`` plus ``KeyRotationEnabled`` and the key ``Policy``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resolvers.aws.types.api import jsonable, parse_policy, require
from resolvers.aws.types.generic import ids_spec, listed_ids
from resolvers.aws.types.spec import Reader, TypeSpec, calls

# Key states in which rotation status and policy cannot be read
UNREADABLE_STATES = frozenset({"PendingDeletion", "PendingReplicaDeletion", "Unavailable"})


def normalize_key(metadata: Mapping[str, Any], rotation: Any, policy: Any) -> dict[str, Any]:
    """``KeyMetadata`` plus ``KeyRotationEnabled`` and the parsed ``Policy``."""
    config = jsonable(metadata)
    config["KeyRotationEnabled"] = rotation
    config["Policy"] = parse_policy(policy)
    return config


def read_key(reader: Reader, account: str, region: str, key_id: str) -> dict[str, Any]:
    """One key by id or ARN (a key pending deletion keeps its metadata only)."""
    client = reader.client("kms", region)
    metadata = require(client.describe_key(KeyId=key_id), "KeyMetadata", "DescribeKey")
    if metadata.get("KeyState") in UNREADABLE_STATES:
        return jsonable(metadata)
    rotation = client.get_key_rotation_status(KeyId=key_id).get("KeyRotationEnabled")
    policy = client.get_key_policy(KeyId=key_id, PolicyName="default").get("Policy")
    return normalize_key(metadata, rotation, policy)


def _key(config: Mapping[str, Any], account: str, region: str, identifier: str) -> str:
    return str(require(config, "Arn", "DescribeKey"))


def _name(config: Mapping[str, Any]) -> str | None:
    return config.get("Description") or config.get("KeyId")


KEY = ids_spec(
    type_name="AWS::KMS::Key",
    service="kms",
    list_ids=listed_ids("kms", "ListKeys", "Keys", "KeyId"),
    read=read_key,
    key=_key,
    normalize=normalize_key,
    calls=calls("kms", "ListKeys", "DescribeKey", "GetKeyRotationStatus", "GetKeyPolicy"),
    name=_name,
    description="a KMS key with its rotation status and key policy",
)

SPECS: tuple[TypeSpec, ...] = (KEY,)
