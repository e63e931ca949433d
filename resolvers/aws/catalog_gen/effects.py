"""Effect class (change / read / data / auth) and action (create / update / delete) of an op."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from botocore.model import OperationModel

from resolvers.aws.catalog_gen.naming import CREATE_VERBS, DELETE_VERBS, READ_VERBS, verb
from resolvers.aws.catalog_gen.sources import input_shape, members, op_name

READ_LEVELS = ("Read", "List")


def lists_op(table: Mapping[str, Sequence[str]], service: str, operation: str) -> bool:
    """Whether a ``{service: [operation, ...]}`` override table names this operation."""
    names = table.get(service, ())
    return operation in names or "*" in names


def effect(op: OperationModel, service: str, level: str, overrides: Mapping[str, Any]) -> str:
    """read | change | data | auth: overrides first, then the IAM access level, then the verb."""
    name = op_name(op)
    for kind in ("auth", "data", "read", "change"):
        if lists_op(overrides.get(kind, {}), service, name):
            return kind
    if service in overrides.get("object_key_services", ()) and _has_object_key(op):
        return "data"
    if level:
        return "read" if level in READ_LEVELS else "change"
    return "read" if verb(name).startswith(READ_VERBS) else "change"


def _has_object_key(op: OperationModel) -> bool:
    """S3's rule: an operation with a required ``Key`` member acts on objects (data plane)."""
    shape = input_shape(op)
    required = cast(list[str], shape.required_members) if shape is not None else []
    return shape is not None and "Key" in members(shape) and "Key" in required


def action(operation: str, exact_target: bool) -> str:
    """create | update | delete: create/delete only when the op's noun is the target type."""
    if not exact_target:
        return "update"
    head = verb(operation)
    if head.startswith(CREATE_VERBS):
        return "create"
    if head.startswith(DELETE_VERBS):
        return "delete"
    return "update"
