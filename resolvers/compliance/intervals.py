"""Findings as intervals: pure functions of an asset's version chain and of judged events.

State findings. For each state rule, consecutive failing versions of one asset make one
finding: ``opened_at`` is the ``valid_from`` of the first failing version (or, for a
clock-dependent rule, the later instant from which the version fails) and
``opened_by_event_id`` the last of its ``change_event_ids`` (they are sorted, all at one
instant; the last is the event ``changed_by`` names). ``resolved_at`` is the ``valid_from`` of
the first version after it that passes or is a deletion, ``resolved_by_event_id`` likewise; a
finding that reaches the current version is open. Nothing here depends on the order or the
batching of the writes that produced the chain, so evaluating again gives the same rows.

Event findings. Every act an event rule fails opens its own finding at the event's time. It is
resolved by the first of: a later event the same rule passes (the reversal) on the same asset
(or, for ``scope="region"``, in the same account and region); the first later version of the
asset that every applicable ``fixed_by`` state rule passes; a later deletion of the asset
(unless deleting is the act, ``deletion_resolves=False``). Otherwise it stays open.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from resolvers.compliance.catalog import Registry
from resolvers.compliance.spec import EMPTY, Rule, Verdict, VersionView
from resolvers.timeutil import isoformat

log = logging.getLogger(__name__)


class ChainVersion(NamedTuple):
    """The columns of an asset_versions row that evaluation reads (a named tuple: a million
    of them are made per full evaluation, and tuples are the cheapest to make)."""

    asset_key: str
    resource_type: str
    account_id: str | None
    region: str | None
    name: str | None
    version: int
    valid_from: dt.datetime
    valid_to: dt.datetime | None
    is_deleted: bool
    change_event_ids: tuple[str, ...]
    config: str

    @property
    def event_id(self) -> str | None:
        """The event that made this version (the last of its change_event_ids)."""
        return self.change_event_ids[-1] if self.change_event_ids else None

    def view(self) -> VersionView:
        """What a state rule may read of the row."""
        return VersionView(
            self.asset_key, self.resource_type, self.account_id, self.region, self.name
        )


@dataclass(frozen=True, slots=True)
class Judged:
    """One event as one event rule judged it: an opening (failed) or a reversal."""

    rule_id: str
    match_key: str
    asset_key: str
    resource_type: str | None
    account_id: str | None
    event_id: str
    event_time: dt.datetime
    failed: bool
    evidence: Mapping[str, Any] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True)
class Finding:
    """One row of the findings table."""

    finding_id: str
    rule_id: str
    severity: str
    asset_key: str
    resource_type: str | None
    account_id: str | None
    status: str
    opened_at: dt.datetime
    resolved_at: dt.datetime | None
    opened_by_event_id: str | None
    resolved_by_event_id: str | None
    evidence: str
    frameworks: tuple[str, ...]


@dataclass(slots=True)
class Outcome:
    """Findings computed for a set of assets, when the next clock rule falls due, and errors."""

    findings: list[Finding] = field(default_factory=list)
    due: dt.datetime | None = None
    rule_errors: int = 0

    def add_due(self, when: dt.datetime) -> None:
        """Remember the earliest future instant at which some verdict changes."""
        self.due = when if self.due is None else min(self.due, when)


def finding_id(rule_id: str, asset_key: str, opened_at: dt.datetime) -> str:
    """Deterministic id: the same interval always has the same id."""
    text = f"{rule_id}\x1f{asset_key}\x1f{isoformat(opened_at)}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def canonical(evidence: Mapping[str, Any]) -> str:
    """Evidence as canonical JSON (sorted keys)."""
    return orjson.dumps(dict(evidence), option=orjson.OPT_SORT_KEYS, default=str).decode()


class Judge:
    """Runs state rules on versions, parsing each config once and counting rule errors."""

    def __init__(self, registry: Registry, outcome: Outcome) -> None:
        self.registry = registry
        self.outcome = outcome
        self._seen: dict[int, tuple[Mapping[str, Any], VersionView]] = {}

    def inputs(self, version: ChainVersion) -> tuple[Mapping[str, Any], VersionView]:
        """The parsed config ({} when not a JSON object) and row view of a version, once."""
        key = id(version)
        cached = self._seen.get(key)
        if cached is None:
            try:
                value = orjson.loads(version.config) if version.config else {}
            except orjson.JSONDecodeError:
                value = {}
            cached = (value if isinstance(value, dict) else {}, version.view())
            self._seen[key] = cached
        return cached

    def verdict(self, rule: Rule, version: ChainVersion) -> Verdict | None:
        """The rule's verdict on a live version; None for a deletion or another type."""
        if version.is_deleted or version.resource_type not in rule.resource_types:
            return None
        config, view = self.inputs(version)
        try:
            return rule.check(config, view)
        except Exception:  # a rule must never stop the evaluation of the others
            self.outcome.rule_errors += 1
            log.exception("rule %s failed on %s v%s", rule.id, version.asset_key, version.version)
            return None

    def forget(self) -> None:
        """Drop parsed configs (call between chains)."""
        self._seen.clear()


# -- state findings -------------------------------------------------------------------------
def _fail_from(
    verdict: Verdict | None, version: ChainVersion, now: dt.datetime
) -> dt.datetime | None:
    """From when within the version the rule fails (None: it passes throughout, for now)."""
    if verdict is None or not verdict.failed:
        return None
    start = version.valid_from if verdict.since is None else max(version.valid_from, verdict.since)
    if version.valid_to is not None and start >= version.valid_to:
        return None
    return None if start > now else start


def _state_finding(
    rule: Rule,
    registry: Registry,
    opened: tuple[dt.datetime, str | None, dict[str, Any]],
    first: ChainVersion,
    end: ChainVersion | None,
) -> Finding:
    opened_at, opened_by, evidence = opened
    return Finding(
        finding_id=finding_id(rule.id, first.asset_key, opened_at),
        rule_id=rule.id,
        severity=rule.severity,
        asset_key=first.asset_key,
        resource_type=first.resource_type,
        account_id=first.account_id,
        status="open" if end is None else "resolved",
        opened_at=opened_at,
        resolved_at=None if end is None else end.valid_from,
        opened_by_event_id=opened_by,
        resolved_by_event_id=None if end is None else end.event_id,
        evidence=canonical(evidence),
        frameworks=registry.frameworks_of(rule.id),
    )


def _rule_intervals(
    rule: Rule, chain: Sequence[ChainVersion], judge: Judge, now: dt.datetime
) -> list[Finding]:
    found: list[Finding] = []
    opened: tuple[dt.datetime, str | None, dict[str, Any]] | None = None
    first: ChainVersion | None = None
    for version in chain:
        verdict = judge.verdict(rule, version)
        start = _fail_from(verdict, version, now)
        since = verdict.since if verdict is not None and verdict.failed else None
        if since is not None and version.valid_to is None and since > now:
            judge.outcome.add_due(since)
        if opened is not None and first is not None and start != version.valid_from:
            found.append(_state_finding(rule, judge.registry, opened, first, version))
            opened = None
        if start is not None and opened is None and verdict is not None:
            by = version.event_id if start == version.valid_from else None
            evidence = {"version": version.version, **verdict.evidence}
            if start != version.valid_from:
                evidence["failing_since"] = isoformat(start)
            opened, first = (start, by, evidence), version
    if opened is not None and first is not None:
        found.append(_state_finding(rule, judge.registry, opened, first, None))
    return found


def state_findings(chain: Sequence[ChainVersion], judge: Judge, now: dt.datetime) -> list[Finding]:
    """Every state-rule finding of one asset's chain (versions in valid_from order)."""
    types = {version.resource_type for version in chain}
    rules = {r.id: r for t in types for r in judge.registry.state_rules_by_type.get(t, ())}
    found = [f for rule in rules.values() for f in _rule_intervals(rule, chain, judge, now)]
    judge.forget()
    return found


# -- event findings -------------------------------------------------------------------------
def _fixed_at(
    rule: Rule, chain: Sequence[ChainVersion], after: dt.datetime, judge: Judge
) -> ChainVersion | None:
    """The first version after ``after`` showing the act undone (fixed_by rules pass, or a
    deletion where deletion resolves)."""
    for version in chain:
        if version.valid_from <= after:
            continue
        if version.is_deleted:
            if rule.deletion_resolves:
                return version
            continue
        fixers = [
            judge.registry[f]
            for f in rule.fixed_by
            if version.resource_type in judge.registry[f].resource_types
        ]
        verdicts = [judge.verdict(fixer, version) for fixer in fixers]
        if fixers and not any(v is not None and v.failed for v in verdicts):
            return version
    return None


def _event_finding(
    rule: Rule,
    opening: Judged,
    end: tuple[dt.datetime, str | None, str] | None,
    registry: Registry,
) -> Finding:
    evidence = {**opening.evidence}
    if end is not None:
        evidence["resolved_by"] = end[2]
    return Finding(
        finding_id=finding_id(rule.id, opening.asset_key, opening.event_time),
        rule_id=rule.id,
        severity=rule.severity,
        asset_key=opening.asset_key,
        resource_type=opening.resource_type,
        account_id=opening.account_id,
        status="open" if end is None else "resolved",
        opened_at=opening.event_time,
        resolved_at=None if end is None else end[0],
        opened_by_event_id=opening.event_id,
        resolved_by_event_id=None if end is None else end[1],
        evidence=canonical(evidence),
        frameworks=registry.frameworks_of(rule.id),
    )


def _resolution(
    rule: Rule,
    opening: Judged,
    reversals: Sequence[Judged],
    chains: Mapping[str, Sequence[ChainVersion]],
    judge: Judge,
) -> tuple[dt.datetime, str | None, str] | None:
    reversal = next((r for r in reversals if r.event_time > opening.event_time), None)
    fixed = _fixed_at(rule, chains.get(opening.asset_key, ()), opening.event_time, judge)
    candidates = []
    if reversal is not None:
        candidates.append((reversal.event_time, reversal.event_id, "event"))
    if fixed is not None:
        candidates.append((fixed.valid_from, fixed.event_id, "state"))
    return min(candidates, key=lambda c: c[0]) if candidates else None


def event_findings(
    judged: Iterable[Judged], chains: Mapping[str, Sequence[ChainVersion]], judge: Judge
) -> list[Finding]:
    """Every event-rule finding implied by the judged events (one per failing act)."""
    groups: dict[tuple[str, str], dict[str, Judged]] = defaultdict(dict)
    for item in judged:
        groups[(item.rule_id, item.match_key)].setdefault(item.event_id + str(item.failed), item)
    found: dict[str, Finding] = {}
    for (rule_id, _), items in groups.items():
        rule = judge.registry[rule_id]
        ordered = sorted(items.values(), key=lambda j: (j.event_time, j.event_id))
        reversals = [j for j in ordered if not j.failed]
        for opening in (j for j in ordered if j.failed):
            end = _resolution(rule, opening, reversals, chains, judge)
            finding = _event_finding(rule, opening, end, judge.registry)
            found.setdefault(finding.finding_id, finding)
    judge.forget()
    return list(found.values())
