"""Curated overrides (``resolvers/aws/overrides.json``) applied on top of the generated join.

Keys used before the join (naming and classification): ``event_sources``, ``iam_prefixes``,
``shared_sources``, ``cfn_namespaces``, ``type_aliases``, ``var_aliases``,
``object_key_services``, ``data``, ``auth``, ``read``, ``change``. Keys applied after it:
``types`` (type specs merged over generated ones), ``patches`` (``"source name"`` -> fields
replaced in an entry) and ``entries`` (events no SDK model has, e.g. console sign-in). Every
entry an override touches gets provenance ``override``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from resolvers.aws.catalog_gen.build import Joined

OVERRIDES_PATH = Path(__file__).resolve().parents[1] / "overrides.json"
ENTRY_FIELDS = frozenset(
    {"source", "name", "api", "service", "effect", "type", "action", "ids", "level"}
)


def load_overrides(path: Path = OVERRIDES_PATH) -> tuple[dict[str, Any], str]:
    """The overrides document and the sha256 of its bytes (recorded in the header)."""
    raw = path.read_bytes()
    return json.loads(raw), hashlib.sha256(raw).hexdigest()


def apply(joined: Joined, overrides: Mapping[str, Any]) -> None:
    """Merge type specs, patch entries and add custom entries, marking them ``override``."""
    for name, spec in sorted(overrides.get("types", {}).items()):
        merged = dict(joined.types.get(name, {"type": name}))
        merged.update(spec)
        joined.types[name] = merged
    for key, fields in sorted(overrides.get("patches", {}).items()):
        entry = joined.entries.get(_key(key))
        if entry is None:
            raise KeyError(f"override patches an unknown entry: {key}")
        _check_fields(key, fields)
        entry.update(fields)
        for dropped in [k for k, v in fields.items() if v is None]:
            del entry[dropped]
        entry["prov"] = "override"
    for fields in overrides.get("entries", ()):
        _check_fields(f"{fields.get('source')} {fields.get('name')}", fields)
        key = (fields["source"], fields["name"], fields.get("api", ""))
        if key in joined.entries:
            raise KeyError(f"override entry duplicates a generated one: {key}")
        joined.entries[key] = {**fields, "prov": "override"}


def _key(text: str) -> tuple[str, str, str]:
    parts = text.split()
    return (parts[0], parts[1], parts[2] if len(parts) > 2 else "")


def _check_fields(key: str, fields: Mapping[str, Any]) -> None:
    unknown = set(fields) - ENTRY_FIELDS
    if unknown:
        raise KeyError(f"override {key}: unknown fields {sorted(unknown)}")
