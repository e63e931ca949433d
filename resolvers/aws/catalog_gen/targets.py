"""Target resource type of an operation: SAR resource type -> CloudFormation type name."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.model import ServiceModel

from resolvers.aws.catalog_gen.naming import norm, noun, noun_core, pascal, singular
from resolvers.aws.catalog_gen.sources import CfnType, IamService, metadata, service_name

GENERIC_NOUNS = frozenset({"resource", "resources", "tags", "tag", "tagsforresource"})


@dataclass(frozen=True)
class Target:
    """The resource type an operation changes, and whether the op's noun names it exactly."""

    sar_key: str
    type_name: str
    cfn: bool
    arn_template: str
    exact: bool
    how: str  # 'noun' (the op names the type), 'parent' (a type its noun starts with), 'fallback'


class TypeMapper:
    """Maps (IAM prefix, SAR resource type) to a CloudFormation type name, synthesising one
    (``AWS::<Namespace>::<PascalName>``, marked non-CFN) where the registry has none."""

    def __init__(self, cfn: Mapping[str, CfnType], overrides: Mapping[str, Any]) -> None:
        self.cfn = cfn
        self.aliases: Mapping[str, Mapping[str, str]] = overrides.get("type_aliases", {})
        self.type_nouns: Mapping[str, Sequence[str]] = overrides.get("type_nouns", {})
        self.ns_overrides: Mapping[str, Sequence[str]] = overrides.get("cfn_namespaces", {})
        self.by_namespace: dict[str, dict[str, str]] = defaultdict(dict)
        self.namespace_by_norm: dict[str, str] = {}
        for name in cfn:
            _, namespace, short = name.split("::")
            self.by_namespace[namespace][norm(short)] = name
            self.namespace_by_norm[norm(namespace)] = namespace

    def namespaces(self, model: ServiceModel, prefix: str) -> list[str]:
        """The CFN namespaces that may hold a service's types (override, else by name)."""
        name = service_name(model)
        if name in self.ns_overrides:
            return list(self.ns_overrides[name])
        md = metadata(model)
        names = (prefix, md["endpointPrefix"], md.get("serviceId", ""), name)
        found = [self.namespace_by_norm.get(norm(n)) for n in names if n]
        return sorted({n for n in found if n})

    def type_name(self, prefix: str, sar_key: str, namespaces: Sequence[str]) -> tuple[str, bool]:
        """The type name for a SAR resource type, and whether it is a real CFN type."""
        alias = self.aliases.get(prefix, {}).get(sar_key)
        if alias:
            return alias, alias in self.cfn
        key = norm(sar_key)
        for namespace in namespaces:
            shorts = self.by_namespace.get(namespace, {})
            found = shorts.get(key) or shorts.get(singular(key))
            if found:
                return found, True
        namespace = namespaces[0] if namespaces else pascal(prefix)
        return f"AWS::{namespace}::{pascal(sar_key)}", False


def _names(mapper: TypeMapper, prefix: str, key: str, namespaces: Sequence[str]) -> set[str]:
    """The normalised names a SAR type answers to (its key and its type's short name)."""
    type_name, _ = mapper.type_name(prefix, key, namespaces)
    extra = {norm(n) for n in mapper.type_nouns.get(type_name, ())}
    return {norm(key), norm(type_name.rsplit("::", 1)[-1]), *extra}


def choose(
    mapper: TypeMapper,
    iam: IamService | None,
    operation: str,
    action_types: Iterable[Mapping[str, Any]],
    namespaces: Sequence[str],
) -> Target | None:
    """The target type: the op's noun names it exactly, else a parent it starts with, else the
    first required SAR resource type of the action."""
    if iam is None:
        return None
    declared = [t["name"] for t in action_types if t["name"] in iam.resource_types]
    pool = declared or sorted(iam.resource_types)
    op_noun = "" if noun(operation) in GENERIC_NOUNS else noun(operation)
    nouns = {op_noun, singular(op_noun), noun_core(operation), singular(noun_core(operation))}
    nouns.discard("")
    for key in sorted(set(pool) | set(iam.resource_types)):
        if nouns & _names(mapper, iam.prefix, key, namespaces):
            return _target(mapper, iam, key, namespaces, "noun")
    best: tuple[int, str] | None = None
    for key in pool:
        names = _names(mapper, iam.prefix, key, namespaces)
        for name in names:
            if op_noun.startswith(name) and (best is None or len(name) > best[0]):
                best = (len(name), key)
    if best is not None:
        return _target(mapper, iam, best[1], namespaces, "parent")
    required = [t["name"] for t in action_types if t.get("required") and t["name"] in declared]
    fallback = required[:1] or declared[:1]
    return _target(mapper, iam, fallback[0], namespaces, "fallback") if fallback else None


def _target(
    mapper: TypeMapper, iam: IamService, key: str, namespaces: Sequence[str], how: str
) -> Target:
    type_name, is_cfn = mapper.type_name(iam.prefix, key, namespaces)
    arn = str(iam.resource_types[key].get("arn", ""))
    return Target(key, type_name, is_cfn, arn, exact=how == "noun", how=how)
