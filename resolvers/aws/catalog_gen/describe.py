"""Describe call of a resource type: the service's own read op that takes the type's id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botocore.model import ServiceModel

from resolvers.aws.catalog_gen.extractors import ARN, template_vars
from resolvers.aws.catalog_gen.naming import norm, pascal, stem
from resolvers.aws.catalog_gen.sources import input_shape, members, op_names, service_name

PATTERNS = (
    "Describe{}s", "Describe{}", "Get{}", "Get{}s", "Get{}Configuration", "Get{}Attributes",
    "Describe{}Attributes", "Head{}", "BatchGet{}s", "List{}s",
)  # fmt: skip


def describe_call(
    model: ServiceModel, nouns: Sequence[str], arn_template: str, aliases: Mapping[str, Any]
) -> dict[str, Any] | None:
    """``{service, operation, param, var, list}``: the op to call and where the id goes."""
    by_norm = {norm(name): name for name in op_names(model)}
    variables = template_vars(arn_template)
    for noun_text in nouns:
        for pattern in PATTERNS:
            name = by_norm.get(norm(pattern.format(pascal(noun_text))))
            if name is None:
                continue
            call = _bind(model, name, variables, aliases)
            if call is not None:
                return call
    return None


def _bind(
    model: ServiceModel, name: str, variables: Sequence[str], aliases: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Which input member of the op receives the id (the last variable, or an ARN)."""
    shape = input_shape(model.operation_model(name))
    fields = sorted(members(shape).items()) if shape is not None else []
    last = variables[-1] if variables else None
    for member, member_shape in fields:
        key = norm(member)
        wanted = {norm(a) for a in aliases.get(last, ())} if last else set()
        if last and (
            key == norm(last.removesuffix("WithPath"))
            or key in wanted
            or (not key.endswith("arn") and stem(member) == stem(last))
        ):
            return _call(model, name, member, last, member_shape.type_name == "list")
    for member, member_shape in fields:
        if norm(member).endswith(("arn", "arns")) or norm(member) in ("name", "id", "names", "ids"):
            var = ARN if norm(member).endswith(("arn", "arns")) else (last or ARN)
            return _call(model, name, member, var, member_shape.type_name == "list")
    return None


def _call(model: ServiceModel, op: str, param: str, var: str, is_list: bool) -> dict[str, Any]:
    call: dict[str, Any] = {"service": service_name(model), "operation": op, "param": param}
    call["var"] = var
    if is_list:
        call["list"] = True
    return call
