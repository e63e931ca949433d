"""Compliance frameworks as data: one JSON file per framework, requirements mapped to rule ids.

A file holds ``id`` (the prefix of ``findings.frameworks`` tags, e.g. ``cis-aws-3.0``), the
benchmark's name and version, and its ``requirements``: ``id``, ``title``, ``section``,
``assessment`` ('automated' or 'manual', as the benchmark says) and ``rules``, the rule ids that
test it (empty where assetlake has no rule for it yet, so that coverage is visible).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import orjson

FOLDER = Path(__file__).parent
FRAMEWORKS: tuple[str, ...] = ("cis_aws_v3.0.json", "cis_gcp_v3.0.json")


@dataclass(frozen=True, slots=True)
class Requirement:
    """One requirement of a framework and the rules that test it."""

    id: str
    title: str
    section: str
    assessment: str
    rules: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Framework:
    """A benchmark: its id (tag prefix), name, version, cloud and requirements."""

    id: str
    name: str
    version: str
    cloud: str
    requirements: tuple[Requirement, ...]

    def covered(self) -> tuple[Requirement, ...]:
        """The requirements at least one rule tests."""
        return tuple(r for r in self.requirements if r.rules)


def load_framework(path: Path) -> Framework:
    """Read one framework file."""
    document = orjson.loads(path.read_bytes())
    requirements = tuple(
        Requirement(
            id=str(item["id"]),
            title=str(item["title"]),
            section=str(item.get("section", "")),
            assessment=str(item.get("assessment", "automated")),
            rules=tuple(item.get("rules", ())),
        )
        for item in document["requirements"]
    )
    ids = [r.id for r in requirements]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{path.name}: duplicate requirement ids")
    return Framework(
        id=document["id"],
        name=document["name"],
        version=document["version"],
        cloud=document["cloud"],
        requirements=requirements,
    )


def load_frameworks(names: Iterable[str]) -> tuple[Framework, ...]:
    """Read the framework files of this folder named ``names``."""
    return tuple(load_framework(FOLDER / name) for name in names)
