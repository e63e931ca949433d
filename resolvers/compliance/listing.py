"""The rule registry as a table (``assetlake rules``)."""

from __future__ import annotations

import pyarrow as pa

from resolvers.compliance.catalog import Registry, registry
from resolvers.errors import InputError

RULE_COLUMNS = ("rule_id", "severity", "kind", "resource_types", "frameworks", "title")
SCHEMA = pa.schema(
    [
        ("rule_id", pa.string()),
        ("severity", pa.string()),
        ("kind", pa.string()),
        ("cloud", pa.string()),
        ("resource_types", pa.list_(pa.string())),
        ("frameworks", pa.list_(pa.string())),
        ("title", pa.string()),
        ("rationale", pa.string()),
        ("remediation", pa.string()),
    ]
)


def rules_table(framework: str | None = None, rules: Registry | None = None) -> pa.Table:
    """Every rule (or those ``framework`` maps), with its framework requirements."""
    reg = rules or registry()
    if framework is not None and framework not in {f.id for f in reg.frameworks}:
        known = ", ".join(f.id for f in reg.frameworks)
        raise InputError(f"no framework {framework!r} (one of {known})")
    rows = []
    for rule in reg:
        tags = list(reg.frameworks_of(rule.id))
        if framework is not None:
            tags = [tag for tag in tags if tag.startswith(framework + ":")]
            if not tags:
                continue
        rows.append(
            {
                "rule_id": rule.id,
                "severity": rule.severity,
                "kind": rule.kind,
                "cloud": rule.cloud,
                "resource_types": list(rule.resource_types),
                "frameworks": tags,
                "title": rule.title,
                "rationale": rule.rationale,
                "remediation": rule.remediation,
            }
        )
    return pa.Table.from_pylist(rows, schema=SCHEMA)
