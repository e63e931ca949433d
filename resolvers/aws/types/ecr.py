"""ECR repositories: the DescribeRepositories item plus ``Policy`` and the scanning settings.

The item carries its own ``imageScanningConfiguration``; the document repeats it under the
capitalised name the rules read too (docs/aws-config-shapes.md: either spelling is read).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from resolvers.aws.types.api import optional, parse_policy, require
from resolvers.aws.types.generic import items_spec
from resolvers.aws.types.spec import Reader, TypeSpec, calls, field_of


def add_policies(reader: Reader, region: str, repositories: list[dict[str, Any]]) -> None:
    """``Policy`` (parsed, null without one) and ``ImageScanningConfiguration`` of each."""
    client = reader.client("ecr", region)
    for repository in repositories:
        read = functools.partial(
            client.get_repository_policy, repositoryName=repository["repositoryName"]
        )
        answer = optional(read, "RepositoryPolicyNotFoundException")
        repository["Policy"] = parse_policy(answer.get("policyText")) if answer else None
        repository["ImageScanningConfiguration"] = repository.get("imageScanningConfiguration")


def _key(config: Mapping[str, Any], account: str, region: str) -> str:
    return str(require(config, "repositoryArn", "DescribeRepositories"))


REPOSITORY = items_spec(
    type_name="AWS::ECR::Repository",
    service="ecr",
    operation="DescribeRepositories",
    result_key="repositories",
    key=_key,
    id_param="repositoryNames",
    calls=calls("ecr", "DescribeRepositories", "GetRepositoryPolicy"),
    extra=add_policies,
    name=field_of("repositoryName"),
    description="an ECR repository with its policy and scanning configuration",
)

SPECS: tuple[TypeSpec, ...] = (REPOSITORY,)
