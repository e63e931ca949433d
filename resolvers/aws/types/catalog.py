"""The registry of AWS type specs: every module listed here, by hand, in one place.

No directory walking: adding a type is adding its spec to a module's ``SPECS`` (or a module to
:data:`MODULES`). :func:`registry` builds an immutable mapping, CloudFormation type name ->
:class:`TypeSpec`, once; two specs claiming one type name is an error.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType, ModuleType

from resolvers.aws.types import (
    awslambda,
    cloudfront,
    cloudtrail,
    config,
    dynamodb,
    ec2_compute,
    ec2_network,
    ecr,
    eks,
    elbv2,
    guardduty,
    iam,
    iam_account,
    kms,
    rds,
    s3,
    secretsmanager,
    sns,
    sqs,
)
from resolvers.aws.types.spec import ApiCall, TypeSpec

MODULES: tuple[ModuleType, ...] = (
    s3, ec2_compute, ec2_network, iam, iam_account, rds, awslambda, kms, cloudtrail, dynamodb,
    sns, sqs, ecr, eks, secretsmanager, elbv2, cloudfront, config, guardduty,
)  # fmt: skip


class DuplicateTypeError(ValueError):
    """Two specs claim one CloudFormation type name."""


def build(specs: Iterable[TypeSpec]) -> Mapping[str, TypeSpec]:
    """An immutable registry of specs by type name (raises on a duplicate)."""
    found: dict[str, TypeSpec] = {}
    for spec in specs:
        if spec.type_name in found:
            raise DuplicateTypeError(f"two specs for {spec.type_name}")
        found[spec.type_name] = spec
    return MappingProxyType(found)


def _specs(modules: Iterable[ModuleType]) -> Iterator[TypeSpec]:
    for module in modules:
        yield from module.SPECS


@functools.cache
def registry() -> Mapping[str, TypeSpec]:
    """Every registered spec, by CloudFormation type name (built once per process)."""
    return build(_specs(MODULES))


def spec_for(type_name: str) -> TypeSpec | None:
    """The spec of one type, or None when no hand-written spec covers it."""
    return registry().get(type_name)


def select(type_names: Iterable[str] | None = None) -> list[TypeSpec]:
    """The specs of some types (all when None); an unknown name is a ValueError."""
    every = registry()
    if type_names is None:
        return list(every.values())
    wanted = list(dict.fromkeys(type_names))
    unknown = [name for name in wanted if name not in every]
    if unknown:
        raise ValueError(f"no AWS scanner for {', '.join(unknown)} (see assetlake scan aws -h)")
    return [every[name] for name in wanted]


def all_calls(specs: Iterable[TypeSpec] | None = None) -> list[ApiCall]:
    """Every API call the specs declare (deduplicated, sorted)."""
    chosen = registry().values() if specs is None else specs
    return sorted({call for spec in chosen for call in spec.calls}, key=str)
