"""The rule registry: the rule modules, listed explicitly, built once into an immutable registry.

Adding a rule module means adding it to :data:`MODULES`; nothing is discovered by walking
folders. Building raises on duplicate rule ids, on a ``fixed_by`` naming no state rule, and on
a framework requirement naming no rule.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from types import MappingProxyType, ModuleType

from resolvers.compliance.frameworks import FRAMEWORKS, Framework, load_frameworks
from resolvers.compliance.rules import (
    aws_data,
    aws_ec2,
    aws_events,
    aws_events_logging,
    aws_iam,
    aws_logging,
    aws_s3,
    gcp_compute,
    gcp_data,
    gcp_events,
    gcp_iam,
)
from resolvers.compliance.spec import Rule

MODULES: tuple[ModuleType, ...] = (
    aws_s3,
    aws_ec2,
    aws_iam,
    aws_logging,
    aws_data,
    aws_events,
    aws_events_logging,
    gcp_compute,
    gcp_data,
    gcp_iam,
    gcp_events,
)


class RegistryError(ValueError):
    """The rules or frameworks do not form a consistent registry."""


class Registry:
    """Rules by id, by resource type and by kind, plus their framework requirements."""

    def __init__(self, rules: tuple[Rule, ...], frameworks: tuple[Framework, ...] = ()) -> None:
        by_id: dict[str, Rule] = {}
        for rule in rules:
            if rule.id in by_id:
                raise RegistryError(f"duplicate rule id {rule.id!r}")
            by_id[rule.id] = rule
        self.rules: Mapping[str, Rule] = MappingProxyType(by_id)
        self.frameworks: tuple[Framework, ...] = frameworks
        self._check_references()
        self.requirements: Mapping[str, tuple[str, ...]] = MappingProxyType(self._requirements())
        state: dict[str, list[Rule]] = {}
        for rule in rules:
            if rule.kind == "state":
                for type_name in rule.resource_types:
                    state.setdefault(type_name, []).append(rule)
        self.state_rules_by_type: Mapping[str, tuple[Rule, ...]] = MappingProxyType(
            {type_name: tuple(found) for type_name, found in state.items()}
        )
        self.event_rules: tuple[Rule, ...] = tuple(r for r in rules if r.kind == "event")

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules.values())

    def __getitem__(self, rule_id: str) -> Rule:
        return self.rules[rule_id]

    def _check_references(self) -> None:
        for rule in self.rules.values():
            for fixer in rule.fixed_by:
                if fixer not in self.rules or self.rules[fixer].kind != "state":
                    raise RegistryError(f"{rule.id}: fixed_by names no state rule {fixer!r}")
        for framework in self.frameworks:
            for requirement in framework.requirements:
                missing = [r for r in requirement.rules if r not in self.rules]
                if missing:
                    raise RegistryError(
                        f"{framework.id}:{requirement.id} maps unknown rules {missing}"
                    )

    def _requirements(self) -> dict[str, tuple[str, ...]]:
        tags: dict[str, list[str]] = {rule_id: [] for rule_id in self.rules}
        for framework in self.frameworks:
            for requirement in framework.requirements:
                for rule_id in requirement.rules:
                    tags[rule_id].append(f"{framework.id}:{requirement.id}")
        return {rule_id: tuple(found) for rule_id, found in tags.items()}

    def frameworks_of(self, rule_id: str) -> tuple[str, ...]:
        """``framework:requirement`` tags of one rule (findings.frameworks)."""
        return self.requirements.get(rule_id, ())

    def framework(self, framework_id: str) -> Framework:
        """A framework by id; KeyError if there is none."""
        for framework in self.frameworks:
            if framework.id == framework_id:
                return framework
        raise KeyError(framework_id)

    @property
    def state_types(self) -> frozenset[str]:
        """Resource types some state rule judges."""
        return frozenset(self.state_rules_by_type)

    @property
    def clock_types(self) -> frozenset[str]:
        """Resource types judged by a clock-dependent rule."""
        return frozenset(t for r in self.rules.values() if r.clock for t in r.resource_types)


def all_rules() -> tuple[Rule, ...]:
    """Every rule of every module in MODULES, in order."""
    return tuple(rule for module in MODULES for rule in module.RULES)


@functools.cache
def registry() -> Registry:
    """The registry of every rule and framework, built once per process."""
    return Registry(all_rules(), load_frameworks(FRAMEWORKS))
