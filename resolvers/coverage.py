"""``assetlake coverage``: how the resolvers classify and resolve the records of event files.

Offline and read-only: every record goes through the same resolver as ``assetlake ingest``
(:func:`resolvers.resolution.resolve_record`), nothing is written and no cloud API is called. A
change record is *resolved* when it produced at least one asset_changes row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resolvers.ingest import Record, dominant_source, read_file, resolve_record
from resolvers.model import CLASSIFICATIONS

SALT = b"assetlake-coverage"  # nothing is stored: any salt will do
TOP = 20


@dataclass(slots=True)
class Coverage:
    """Counters over a set of records."""

    records: int = 0
    by_source: Counter[str] = field(default_factory=Counter)
    by_classification: Counter[str] = field(default_factory=Counter)
    changes: int = 0
    resolved: int = 0
    asset_changes: int = 0
    assets: set[str] = field(default_factory=set)
    unresolved_by_reason: Counter[str] = field(default_factory=Counter)
    unresolved_events: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def add(self, record: Record, default_source: str) -> None:
        """Resolve one record and count what it gave."""
        batch = resolve_record(record, SALT, default_source)
        self.records += 1
        for raw in batch.raw:
            self.by_source[raw.source] += 1
            self.by_classification[raw.classification] += 1
            if raw.classification == "change":
                self.changes += 1
                self.resolved += bool(batch.changes)
        self.asset_changes += len(batch.changes)
        self.assets.update(change.asset_key for change in batch.changes)
        for row in batch.unresolved:
            self.unresolved_by_reason[row.reason] += 1
            if not batch.changes:
                key = (row.event_source or "?", row.event_name or "?", row.reason)
                self.unresolved_events[key] += 1

    def report(self) -> dict[str, Any]:
        """The JSON object ``assetlake coverage --json`` prints."""
        share = self.resolved / self.changes if self.changes else 1.0
        unknown = self.by_classification["unknown"]
        return {
            "records": self.records,
            "by_source": dict(sorted(self.by_source.items())),
            "by_classification": {kind: self.by_classification[kind] for kind in CLASSIFICATIONS},
            "unknown_share": round(unknown / self.records, 6) if self.records else 0.0,
            "changes": self.changes,
            "resolved": self.resolved,
            "resolved_share": round(share, 6),
            "asset_changes": self.asset_changes,
            "assets": len(self.assets),
            "unresolved_by_reason": dict(sorted(self.unresolved_by_reason.items())),
            "top_unresolved": [
                {"event_source": s, "event_name": n, "reason": r, "count": c}
                for (s, n, r), c in sorted(
                    self.unresolved_events.items(), key=lambda item: (-item[1], item[0])
                )[:TOP]
            ],
        }


def coverage_of_records(records: Iterable[Record], default_source: str) -> dict[str, Any]:
    """The coverage report of records already read."""
    counters = Coverage()
    for record in records:
        counters.add(record, default_source)
    return counters.report()


def coverage(paths: Sequence[Path]) -> dict[str, Any]:
    """The coverage report of event files (every file is read before anything is counted)."""
    loaded = [read_file(path) for path in paths]
    counters = Coverage()
    for records in loaded:
        source = dominant_source(records)
        for record in records:
            counters.add(record, source)
    report = counters.report()
    report["files"] = len(loaded)
    return report


def render(report: dict[str, Any]) -> str:
    """A short human-readable summary of a coverage report."""
    classes = ", ".join(f"{k} {v}" for k, v in report["by_classification"].items())
    lines = [
        f"{report['records']} records: {classes}",
        f"{report['changes']} changes, {report['resolved']} resolved to an asset "
        f"({report['resolved_share']:.1%}), {report['assets']} assets, "
        f"unknown {report['unknown_share']:.2%}",
    ]
    if report["unresolved_by_reason"]:
        reasons = ", ".join(f"{k} {v}" for k, v in report["unresolved_by_reason"].items())
        lines.append(f"unresolved: {reasons}")
    for row in report["top_unresolved"]:
        lines.append(
            f"  {row['count']:>5}  {row['event_source']} {row['event_name']} ({row['reason']})"
        )
    return "\n".join(lines)
