"""Secrets Manager secrets: DescribeSecret's answer (never the secret value).

Keys drop the random suffix AWS appends to a secret's ARN (events name secrets by name).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resolvers.aws.arns import canonical_arn
from resolvers.aws.types.api import jsonable, require
from resolvers.aws.types.generic import ids_spec, listed_ids
from resolvers.aws.types.spec import Reader, TypeSpec, calls, field_of, tag_map


def read_secret(reader: Reader, account: str, region: str, secret_id: str) -> dict[str, Any]:
    """One secret by name or ARN."""
    answer = reader.client("secretsmanager", region).describe_secret(SecretId=secret_id)
    require(answer, "ARN", "DescribeSecret")
    return jsonable(answer)


def _key(config: Mapping[str, Any], account: str, region: str, identifier: str) -> str:
    return canonical_arn(str(require(config, "ARN", "DescribeSecret")))


SECRET = ids_spec(
    type_name="AWS::SecretsManager::Secret",
    service="secretsmanager",
    list_ids=listed_ids("secretsmanager", "ListSecrets", "SecretList", "ARN"),
    read=read_secret,
    key=_key,
    normalize=jsonable,
    calls=calls("secretsmanager", "ListSecrets", "DescribeSecret"),
    identifier=lambda key: key.split(":secret:", 1)[-1],
    name=field_of("Name"),
    tags=lambda config: tag_map(config.get("Tags")),
    description="a Secrets Manager secret's metadata (rotation, KMS key, replication)",
)

SPECS: tuple[TypeSpec, ...] = (SECRET,)
