"""Meta-tests walking the rule registry and the framework files (Custodian's PolicyMetaLint
habit): real type and event names, complete metadata, consistent references."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import orjson
import pytest

from resolvers.aws import catalog as aws_catalog
from resolvers.compliance.catalog import MODULES, Registry, RegistryError, all_rules, registry
from resolvers.compliance.frameworks import FOLDER, FRAMEWORKS, load_framework
from resolvers.compliance.spec import SEVERITIES, Rule

ROOT = Path(__file__).resolve().parents[1]
CAI_FIXTURES = ROOT.parent / "shared" / "corpus" / "gcp_policy_library_fixtures.cai_assets.jsonl"
# Types assetlake itself names (account-level documents with no CloudFormation type).
SYNTHETIC_AWS_TYPES = {"AWS::IAM::AccountSummary", "AWS::IAM::AccountPasswordPolicy"}
RULE_ID = re.compile(r"^(aws|gcp)-[a-z0-9]+(-[a-z0-9]+)+$")
RULES = list(registry())


def _gcp_types() -> set[str]:
    lines = CAI_FIXTURES.read_text().splitlines()
    return {orjson.loads(line)["asset_type"] for line in lines}


def test_rule_counts() -> None:
    kinds = {(r.cloud, r.kind) for r in RULES}
    assert len([r for r in RULES if r.cloud == "aws"]) >= 40
    assert len([r for r in RULES if r.cloud == "gcp"]) >= 15
    assert kinds == {("aws", "state"), ("aws", "event"), ("gcp", "state"), ("gcp", "event")}


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_metadata(rule: Rule) -> None:
    assert RULE_ID.match(rule.id) and rule.id.startswith(rule.cloud + "-")
    assert rule.severity in SEVERITIES
    assert rule.title and rule.rationale and rule.remediation
    assert rule.description, "every rule function has a docstring saying what it checks"
    assert rule.resource_types and rule.kind in ("state", "event")
    assert all(t.startswith("AWS::") == (rule.cloud == "aws") for t in rule.resource_types)


def test_resource_types_are_real() -> None:
    aws = set(aws_catalog.registry().types) | SYNTHETIC_AWS_TYPES
    gcp = _gcp_types()
    for rule in RULES:
        known = aws if rule.cloud == "aws" else gcp
        unknown = [t for t in rule.resource_types if t not in known]
        assert not unknown, f"{rule.id}: unknown resource types {unknown}"


def test_aws_events_are_in_the_event_catalog() -> None:
    for rule in (r for r in RULES if r.kind == "event" and r.cloud == "aws"):
        for spec in rule.events:
            source, name = spec.split(":", 1)
            assert aws_catalog.lookup(source, name) is not None, f"{rule.id}: {spec}"


def test_event_specs_and_fixers() -> None:
    for rule in (r for r in RULES if r.kind == "event"):
        assert rule.events and all(":" in spec for spec in rule.events)
        for fixer_id in rule.fixed_by:
            fixer = registry()[fixer_id]
            assert fixer.kind == "state" and set(fixer.resource_types) & set(rule.resource_types)
    assert all(not r.events and not r.fixed_by for r in RULES if r.kind == "state")


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_modules_list_every_rule(module: ModuleType) -> None:
    defined = {id(v) for v in vars(module).values() if isinstance(v, Rule)}
    assert defined == {id(rule) for rule in module.RULES}, "a rule is defined but not listed"


def test_duplicate_ids_are_refused() -> None:
    rules = all_rules()
    with pytest.raises(RegistryError, match="duplicate rule id"):
        Registry((*rules, rules[0]))


def test_dangling_references_are_refused() -> None:
    frameworks = registry().frameworks
    event = next(r for r in all_rules() if r.fixed_by)
    with pytest.raises(RegistryError, match="fixed_by"):
        Registry(tuple(r for r in all_rules() if r.id != event.fixed_by[0]))
    with pytest.raises(RegistryError, match="maps unknown rules"):
        Registry(
            tuple(r for r in all_rules() if r.id != "aws-iam-password-policy-short"), frameworks
        )


def test_registry_is_immutable() -> None:
    with pytest.raises(TypeError):
        registry().rules["x"] = RULES[0]  # type: ignore[index]


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_framework_files(name: str) -> None:
    framework = load_framework(FOLDER / name)
    assert re.match(r"^cis-(aws|gcp)-3\.0$", framework.id) and framework.version == "3.0.0"
    rules = registry().rules
    for requirement in framework.requirements:
        assert re.match(r"^\d+(\.\d+)+$", requirement.id) and requirement.title
        for rule_id in requirement.rules:
            assert rules[rule_id].cloud == framework.cloud, f"{requirement.id}: {rule_id}"
    assert len(framework.covered()) >= 25


def test_findings_frameworks_tags() -> None:
    assert registry().frameworks_of("aws-iam-root-access-keys") == ("cis-aws-3.0:1.4",)
    assert "cis-gcp-3.0:5.1" in registry().frameworks_of("gcp-storage-bucket-public-iam")
    tagged = {tag for rule in RULES for tag in registry().frameworks_of(rule.id)}
    assert all(re.match(r"^cis-(aws|gcp)-3\.0:\d+(\.\d+)+$", tag) for tag in tagged)


def test_config_shapes_document_every_aws_type() -> None:
    text = (ROOT / "docs" / "aws-config-shapes.md").read_text()
    types = {t for r in RULES if r.cloud == "aws" for t in r.resource_types}
    missing = sorted(t for t in types if f"`{t}`" not in text)
    assert not missing, f"docs/aws-config-shapes.md does not describe {missing}"
