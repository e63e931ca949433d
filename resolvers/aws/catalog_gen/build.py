"""Joins botocore x IAM SAR x CFN registry (+ overrides) into catalog entries and types."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.model import OperationModel, ServiceModel

from resolvers.aws.catalog_gen import sources
from resolvers.aws.catalog_gen.describe import describe_call
from resolvers.aws.catalog_gen.effects import action, effect
from resolvers.aws.catalog_gen.extractors import extractors
from resolvers.aws.catalog_gen.naming import event_source, iam_prefix, norm
from resolvers.aws.catalog_gen.sources import metadata, op_name, service_name
from resolvers.aws.catalog_gen.targets import Target, TypeMapper, choose


@dataclass
class Joined:
    """Everything generation produced: entries keyed by (source, name, api), types by name."""

    entries: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    types: dict[str, dict[str, Any]] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)


class Builder:
    """Builds the catalog from the three installed model sets and the overrides."""

    def __init__(self, overrides: Mapping[str, Any]) -> None:
        self.overrides = overrides
        self.iam = sources.iam_services()
        self.cfn = sources.cfn_types()
        self.mapper = TypeMapper(self.cfn, overrides)
        self.joined = Joined()
        self._candidates: dict[tuple[str, str], list[tuple[ServiceModel, dict[str, Any]]]]
        self._candidates = defaultdict(list)

    def run(self) -> Joined:
        """Generate every operation's entry, settle shared eventSources, collect the types."""
        for model in sources.botocore_services():
            self._service(model)
        for (src, name), options in sorted(self._candidates.items()):
            self._settle(src, name, options)
        return self.joined

    def _service(self, model: ServiceModel) -> None:
        src = event_source(model, self.overrides.get("event_sources", {}))
        prefix = iam_prefix(model, self.iam, self.overrides.get("iam_prefixes", {}))
        namespaces = self.mapper.namespaces(model, prefix)
        for op in sources.operations(model):
            entry = self._entry(model, op, src, prefix, namespaces)
            self._candidates[(src, op_name(op))].append((model, entry))

    def _entry(
        self, model: ServiceModel, op: OperationModel, src: str, prefix: str, namespaces: list[str]
    ) -> dict[str, Any]:
        iam = self.iam.get(prefix)
        record = iam.actions.get(op_name(op).lower()) if iam else None
        level = str(record.get("accessLevel", "")).split(",")[0] if record else ""
        entry: dict[str, Any] = {"source": src, "name": op_name(op), "service": service_name(model)}
        entry["effect"] = effect(op, service_name(model), level, self.overrides)
        if record:
            entry["iam"] = f"{prefix}:{record['name']}"
            entry["level"] = str(record.get("accessLevel", ""))
        if entry["effect"] == "change":
            action_types = record.get("resourceTypes", []) if record else []
            target = choose(self.mapper, iam, op_name(op), action_types, namespaces)
            self._target(entry, model, op, target)
        entry["prov"] = "generated"
        return entry

    def _target(
        self, entry: dict[str, Any], model: ServiceModel, op: OperationModel, target: Target | None
    ) -> None:
        type_stems: set[str] = set()
        if target is not None:
            type_stems = {norm(target.type_name.rsplit("::", 1)[-1]), norm(target.sar_key)}
            entry["type"] = target.type_name
            entry["action"] = action(op_name(op), target.exact)
            self._register_type(model, target)
        template = target.arn_template if target else ""
        aliases = self.overrides.get("var_aliases", {})
        exact = bool(target and target.exact)
        ids = extractors(op, service_name(model), template, type_stems, exact, aliases)
        if ids:
            entry["ids"] = ids
        if target is not None and target.how == "fallback" and _generic_arn(ids):
            del entry["type"]  # the ARN in the event names the type
            entry["action"] = "update"
            entry["ids"] = [pair for pair in ids if pair[0] == "arn"]

    def _register_type(self, model: ServiceModel, target: Target) -> None:
        if target.type_name in self.joined.types:
            return
        spec: dict[str, Any] = {"type": target.type_name, "arn": target.arn_template}
        spec["cfn"] = target.cfn
        short = target.type_name.rsplit("::", 1)[-1]
        aliases = self.overrides.get("var_aliases", {})
        call = describe_call(model, [short, target.sar_key], target.arn_template, aliases)
        if call:
            spec["describe"] = call
        cfn = self.cfn.get(target.type_name)
        if cfn is not None and "read" in cfn.handlers:
            spec["cloud_control"] = list(cfn.primary_identifier)
        self.joined.types[target.type_name] = spec

    def _settle(
        self, src: str, name: str, options: list[tuple[ServiceModel, dict[str, Any]]]
    ) -> None:
        """One entry per (eventSource, name); a shared eventSource keeps the others' entries as
        alternatives keyed by apiVersion (ELB vs ELBv2), or drops them on the same apiVersion."""
        priority = list(self.overrides.get("shared_sources", {}).get(src, []))
        options.sort(key=lambda o: (_rank(priority, service_name(o[0])), service_name(o[0])))
        primary_model, primary = options[0]
        self.joined.entries[(src, name, "")] = primary
        seen = {metadata(primary_model)["apiVersion"]}
        for model, entry in options[1:]:
            api = metadata(model)["apiVersion"]
            if api in seen:
                self.joined.dropped.append(f"{src} {name} ({service_name(model)})")
                continue
            seen.add(api)
            entry["api"] = api
            self.joined.entries[(src, name, api)] = entry


def _generic_arn(ids: list[list[str]]) -> bool:
    """Whether an op takes a resource ARN of any type (``TagResource``'s ``resourceArn``)."""
    return any(var == "arn" and path.startswith("requestParameters.") for var, path in ids)


def _rank(priority: list[str], service: str) -> int:
    return priority.index(service) if service in priority else len(priority)
