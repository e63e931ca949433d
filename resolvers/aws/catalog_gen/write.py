"""Serialisation of the catalog: one entry per line, fixed key order, a hashed header.

The first line is the header (inputs' versions, counts, and ``body_sha256`` of everything
after that line), so a fast test can tell a hand-edited or stale file without regenerating.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

from resolvers.aws.catalog_gen.build import Joined

FORMAT = 1
EVENT_FIELDS = ("name", "api", "service", "effect", "type", "action", "ids", "level", "prov")
EVENT_FIELDS_TAIL = ("samples",)
TYPE_FIELDS = ("type", "cfn", "arn", "describe", "cloud_control")


def _line(obj: Mapping[str, Any], order: tuple[str, ...]) -> str:
    ordered = {key: obj[key] for key in order if key in obj}
    return json.dumps(ordered, separators=(",", ":"), sort_keys=False, ensure_ascii=False)


def body(joined: Joined, primary: Mapping[str, str]) -> str:
    """Everything after the header line: the types, then the events grouped by eventSource."""
    lines = ['"types":[']
    types = [_line(joined.types[name], TYPE_FIELDS) for name in sorted(joined.types)]
    lines.append(",\n".join(types))
    lines.append('],\n"sources":[')
    groups = []
    by_source: dict[str, list[dict[str, Any]]] = {}
    for (src, _, _), entry in sorted(joined.entries.items()):
        by_source.setdefault(src, []).append(entry)
    for src, entries in by_source.items():
        service = primary.get(src) or entries[0]["service"]
        head = json.dumps({"source": src, "service": service}, separators=(",", ":"))
        events = [
            _line(_event(entry, service), EVENT_FIELDS + EVENT_FIELDS_TAIL) for entry in entries
        ]
        groups.append(head[:-1] + ',"events":[\n' + ",\n".join(events) + "\n]}")
    lines.append(",\n".join(groups))
    lines.append("]}")
    return "\n".join(lines) + "\n"


def _event(entry: Mapping[str, Any], service: str) -> dict[str, Any]:
    event = {k: v for k, v in entry.items() if k != "source"}
    if event.get("service") == service:
        del event["service"]
    if event.get("prov") == "generated":
        del event["prov"]
    return event


def document(joined: Joined, primary: Mapping[str, str], inputs: Mapping[str, str]) -> str:
    """The whole file: header line (with the body's hash) and body."""
    text = body(joined, primary)
    header = {
        "catalog": "assetlake AWS CloudTrail event catalog",
        "format": FORMAT,
        "generator": "make catalog (python -m resolvers.aws.catalog_gen)",
        "inputs": dict(sorted(inputs.items())),
        "counts": counts(joined),
        "body_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
    }
    return '{"header":' + json.dumps(header, separators=(",", ":"), sort_keys=True) + ",\n" + text


def counts(joined: Joined) -> dict[str, Any]:
    """Figures a reviewer reads in the diff: entries per effect, provenance, coverage."""
    entries = list(joined.entries.values())
    effects = Counter(e["effect"] for e in entries)
    provenance = Counter(e.get("prov", "generated") for e in entries)
    return {
        "entries": len(entries),
        "sources": len({e["source"] for e in entries}),
        "types": len(joined.types),
        "effects": dict(sorted(effects.items())),
        "provenance": dict(sorted(provenance.items())),
        **coverage(joined),
    }


def coverage(joined: Joined) -> dict[str, int]:
    """Change entries: with a target type, with identity, with identity and a describe path."""
    from resolvers.aws.catalog_arn import fillable

    changes = [e for e in joined.entries.values() if e["effect"] == "change"]
    typed = identity = described = 0
    for entry in changes:
        spec = joined.types.get(entry.get("type", ""))
        variables = {var for var, _ in entry.get("ids", ())}
        has_id = "arn" in variables or bool(
            spec and spec.get("arn") and fillable(spec["arn"], variables)
        )
        typed += spec is not None
        identity += has_id
        described += has_id and bool(spec and (spec.get("describe") or spec.get("cloud_control")))
    return {
        "change_entries": len(changes),
        "change_with_type": typed,
        "change_with_identity": identity,
        "change_with_identity_and_describe": described,
    }
