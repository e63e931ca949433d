"""Lambda functions: GetFunction's ``Configuration`` plus resource policy and function URL.

Environment variable values are redacted downstream (``Variables`` is a redacted map); the
code location GetFunction also returns is a presigned URL that changes on every call and is
not part of the document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resolvers.aws.arns import canonical_arn
from resolvers.aws.types.api import jsonable, optional, parse_policy, require
from resolvers.aws.types.generic import ids_spec, listed_ids
from resolvers.aws.types.spec import Reader, TypeSpec, calls, field_of


def normalize_function(
    configuration: Mapping[str, Any], policy: Any, url_config: Any
) -> dict[str, Any]:
    """``Configuration`` plus ``Policy`` (parsed or null) and ``UrlConfig`` (or null)."""
    config = jsonable(configuration)
    config["Policy"] = parse_policy(policy)
    config["UrlConfig"] = url_config
    return config


def read_function(reader: Reader, account: str, region: str, name: str) -> dict[str, Any]:
    """One function by name or ARN."""
    client = reader.client("lambda", region)
    answer = client.get_function(FunctionName=name)
    configuration = require(answer, "Configuration", "GetFunction")
    policy = optional(lambda: client.get_policy(FunctionName=name), "ResourceNotFoundException")
    read_url = lambda: client.get_function_url_config(FunctionName=name)  # noqa: E731
    url = optional(read_url, "ResourceNotFoundException")
    url_config = jsonable(url) if url else None
    return normalize_function(configuration, (policy or {}).get("Policy"), url_config)


def _key(config: Mapping[str, Any], account: str, region: str, identifier: str) -> str:
    return canonical_arn(str(require(config, "FunctionArn", "GetFunction")))


FUNCTION = ids_spec(
    type_name="AWS::Lambda::Function",
    service="lambda",
    list_ids=listed_ids("lambda", "ListFunctions", "Functions", "FunctionName"),
    read=read_function,
    key=_key,
    normalize=normalize_function,
    calls=calls("lambda", "ListFunctions", "GetFunction", "GetPolicy", "GetFunctionUrlConfig"),
    identifier=lambda key: key.rsplit(":", 1)[-1],
    name=field_of("FunctionName"),
    description="a Lambda function with its resource policy and URL configuration",
)

SPECS: tuple[TypeSpec, ...] = (FUNCTION,)
