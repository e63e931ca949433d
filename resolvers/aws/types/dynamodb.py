"""DynamoDB tables: DescribeTable's ``Table``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resolvers.aws.types.api import jsonable, require
from resolvers.aws.types.generic import ids_spec, listed_ids
from resolvers.aws.types.spec import Reader, TypeSpec, calls, field_of


def read_table(reader: Reader, account: str, region: str, name: str) -> dict[str, Any]:
    """One table by name."""
    answer = reader.client("dynamodb", region).describe_table(TableName=name)
    return jsonable(require(answer, "Table", "DescribeTable"))


def _key(config: Mapping[str, Any], account: str, region: str, identifier: str) -> str:
    return str(require(config, "TableArn", "DescribeTable"))


TABLE = ids_spec(
    type_name="AWS::DynamoDB::Table",
    service="dynamodb",
    list_ids=listed_ids("dynamodb", "ListTables", "TableNames"),
    read=read_table,
    key=_key,
    normalize=jsonable,
    calls=calls("dynamodb", "ListTables", "DescribeTable"),
    name=field_of("TableName"),
    description="a DynamoDB table",
)

SPECS: tuple[TypeSpec, ...] = (TABLE,)
