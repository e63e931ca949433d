"""Evaluation: recompute the findings of the assets that changed, and replace theirs.

    from resolvers.compliance.evaluate import evaluate
    result = evaluate(lake)                       # incremental, from the watermarks
    result = evaluate(lake, commit.touched_keys)  # exactly these assets (watermarks unmoved)
    result = evaluate(lake, full=True)            # everything (first run, rule changes)

Findings are a pure function of each asset's version chain and of the change events of its
rules (intervals.py), so an evaluation recomputes the findings of a set of assets from scratch
and replaces those assets' rows: upserts by ``finding_id`` and deletes of the rows that no
longer exist, in one MERGE, committed together with the new watermarks (lakeio.py). Running it
again, or on the same changes split differently, writes nothing new.

Scope of one incremental evaluation: state findings of the assets with new version rows (and,
when a clock-dependent verdict falls due, of every asset of those types); event findings of
those assets and of the assets named by new change events; for account-wide event rules
(region scope, or findings on another asset than the event's), every finding of those rules in
the accounts concerned.

Event findings opened from raw records (events the resolver did not turn into asset_changes
rows, such as ConsoleLogin) cannot be re-read from asset_changes: their own rows are their log.
A re-evaluation re-reads their openings, and the reversals that resolved them, from the
findings table.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import polars as pl

from resolvers.compliance import lakeio
from resolvers.compliance.alerts import AlertConfig, DispatchResult, dispatch, queue_alerts
from resolvers.compliance.catalog import Registry, registry
from resolvers.compliance.events import EventIndex, account_wide, judge_events, region_key
from resolvers.compliance.intervals import (
    ChainVersion,
    Finding,
    Judge,
    Judged,
    Outcome,
    event_findings,
    state_findings,
)
from resolvers.errors import LakeError
from resolvers.lake.storage import Lake
from resolvers.timeutil import to_micros, utcnow


@dataclass(frozen=True, slots=True)
class EvaluationResult:
    """What one evaluation did."""

    mode: str  # 'incremental' | 'keys' | 'full'
    assets: int  # assets whose chains were evaluated
    versions: int  # versions judged by state rules
    events: int  # events judged by event rules (new and history)
    findings: int  # findings in the recomputed scope
    written: int  # findings rows inserted or changed
    deleted: int  # stale findings rows deleted
    alerts_queued: int
    alerts: DispatchResult | None
    rule_errors: int
    seconds: float


@dataclass(slots=True)
class Scope:
    """What one evaluation recomputes (None: everything)."""

    state_keys: set[str] | None
    history_keys: set[str] | None
    accounts: set[str] | None
    marks: lakeio.Watermarks
    new: list[Judged] = field(default_factory=list)


def evaluate(
    lake: Lake,
    touched_asset_keys: Collection[str] | None = None,
    *,
    full: bool = False,
    now: dt.datetime | None = None,
    rules: Registry | None = None,
    alerts: AlertConfig | None = None,
    send: bool = True,
    margin: dt.timedelta = lakeio.MARGIN,
) -> EvaluationResult:
    """Recompute and replace findings; queue (and, with ``send``, deliver) their alerts.

    ``margin``: how far before the watermarks to read again (see lakeio), ``now``: the instant
    clock-dependent rules are judged at, ``alerts``: the sinks (default AlertConfig.load()).
    """
    started = time.perf_counter()
    if not lake.exists():
        raise LakeError(f"{lake.uri}: no assetlake lake here (run `assetlake ingest` first)")
    lake.create()  # tables added since the lake was made (alerts) are created, never replaced
    reg, now = rules or registry(), now or utcnow()
    index = EventIndex(reg)
    marks = lakeio.read_watermarks(lake)
    mode = (
        "full"
        if full or (touched_asset_keys is None and marks.versions is None)
        else ("keys" if touched_asset_keys is not None else "incremental")
    )
    scope = _scope(lake, mode, touched_asset_keys, marks, index, now, margin)
    _add_accounts(lake, scope, reg)
    history = _history(lake, scope, index)
    existing = _in_scope(
        lakeio.existing_findings(lake, _keys_of(scope, history), scope.accounts), scope, reg
    )
    judged = [*history, *scope.new, *_raw_log(existing, reg)]  # asset_changes rows first
    outcome, assets, versions = _compute(lake, reg, scope, judged, now)
    upserts, deletes = _diff(outcome.findings, existing)
    scope.marks = dataclasses.replace(scope.marks, due=_due(outcome, marks, mode, now))
    config = alerts or AlertConfig.load()
    queued = queue_alerts(lake, upserts, config, now, reg)
    if upserts or deletes or scope.marks != marks:
        lakeio.write_findings(lake, lakeio.findings_table(upserts), deletes, scope.marks)
    sent = dispatch(lake, config, now) if send else None
    return EvaluationResult(
        mode=mode,
        assets=assets,
        versions=versions,
        events=len(judged),
        findings=len(outcome.findings),
        written=len(upserts),
        deleted=len(deletes),
        alerts_queued=queued,
        alerts=sent,
        rule_errors=outcome.rule_errors,
        seconds=time.perf_counter() - started,
    )


# -- scope ------------------------------------------------------------------------------------
def _scope(
    lake: Lake,
    mode: str,
    keys: Collection[str] | None,
    marks: lakeio.Watermarks,
    index: EventIndex,
    now: dt.datetime,
    margin: dt.timedelta,
) -> Scope:
    if mode == "full":
        changed, v_stamp = lakeio.touched_assets(lake, None)
        _, c_stamp = lakeio.new_change_events(lake, None, ())
        raw, r_stamp = lakeio.new_raw_events(lake, None, index.names)
        new = list(judge_events(raw, index, "raw"))
        marks = dataclasses.replace(
            marks, versions=v_stamp or 0, changes=c_stamp or 0, raw=r_stamp or 0
        )
        return Scope(None, None, None, marks, new)
    if mode == "keys":
        wanted = set(keys or ())
        return Scope(wanted, set(wanted), set(), marks)
    changed, v_stamp = lakeio.touched_assets(lake, lakeio.since(marks.versions, margin))
    if marks.due and to_micros(now) >= marks.due:
        changed |= lakeio.asset_keys_of_types(lake, index.registry.clock_types, current_only=True)
    changes, c_stamp = lakeio.new_change_events(
        lake, lakeio.since(marks.changes, margin), index.names
    )
    raw, r_stamp = lakeio.new_raw_events(lake, lakeio.since(marks.raw, margin), index.names)
    new = [*judge_events(changes, index, "changes"), *judge_events(raw, index, "raw")]
    marks = dataclasses.replace(
        marks,
        versions=lakeio.latest(marks.versions, v_stamp),
        changes=lakeio.latest(marks.changes, c_stamp),
        raw=lakeio.latest(marks.raw, r_stamp),
    )
    history_keys = changed | {j.asset_key for j in new}
    accounts = {
        j.account_id for j in new if j.account_id and account_wide(index.registry[j.rule_id])
    }
    return Scope(changed, history_keys, accounts, marks, new)


def _types(reg: Registry) -> set[str]:
    return set(reg.state_types) | {t for r in reg.event_rules for t in r.resource_types}


def _add_accounts(lake: Lake, scope: Scope, reg: Registry) -> None:
    """Touched assets of a type an account-wide rule targets bring their account in scope (a
    state fix on the root user resolves a root-key finding)."""
    if scope.accounts is None or not scope.state_keys:
        return
    targets = {t for r in reg.event_rules if account_wide(r) for t in r.resource_types}
    scope.accounts |= lakeio.accounts_of(lake, scope.state_keys, targets)


def _history(lake: Lake, scope: Scope, index: EventIndex) -> list[Judged]:
    events = lakeio.change_history(
        lake, scope.history_keys, index.names, scope.accounts, index.account_wide_names
    )
    return list(judge_events(events, index, "changes"))


def _keys_of(scope: Scope, history: Iterable[Judged]) -> set[str] | None:
    if scope.history_keys is None:
        return None
    return scope.history_keys | {j.asset_key for j in history}


def _in_scope(existing: pl.DataFrame, scope: Scope, reg: Registry) -> pl.DataFrame:
    """The existing rows this evaluation recomputes (and so replaces)."""
    if scope.state_keys is None or existing.is_empty():
        return existing
    keep = []
    for row in existing.select("rule_id", "asset_key", "account_id").iter_rows():
        rule = reg.rules.get(row[0])
        if rule is None or rule.kind == "state":
            keep.append(row[1] in scope.state_keys)
        elif account_wide(rule):
            keep.append(row[2] in (scope.accounts or ()))
        else:
            keep.append(row[1] in (scope.history_keys or ()))
    return existing.filter(pl.Series(keep, dtype=pl.Boolean))


def _raw_log(existing: pl.DataFrame, reg: Registry) -> list[Judged]:
    """Openings (and their event reversals) of findings that came from raw records."""
    found: list[Judged] = []
    event_rules = [r.id for r in reg.event_rules]
    candidates = existing.filter(
        pl.col("rule_id").is_in(event_rules) & pl.col("evidence").str.contains('"source":"raw"')
    )
    for row in candidates.iter_rows(named=True):
        rule, evidence = reg[row["rule_id"]], orjson.loads(row["evidence"] or "{}")
        if evidence.get("source") != "raw":
            continue
        match = row["asset_key"]
        if rule.scope == "region":
            match = region_key(row["account_id"], evidence.get("region"))
        opening = Judged(
            rule_id=rule.id,
            match_key=match,
            asset_key=row["asset_key"],
            resource_type=row["resource_type"],
            account_id=row["account_id"],
            event_id=row["opened_by_event_id"],
            event_time=row["opened_at"],
            failed=True,
            evidence={k: v for k, v in evidence.items() if k != "resolved_by"},
        )
        found.append(opening)
        if evidence.get("resolved_by") == "event" and row["resolved_by_event_id"]:
            found.append(
                dataclasses.replace(
                    opening,
                    event_id=row["resolved_by_event_id"],
                    event_time=row["resolved_at"],
                    failed=False,
                    evidence={},
                )
            )
    return found


# -- computing and diffing --------------------------------------------------------------------
FULL_RANGE_ROWS = 250_000  # versions read at a time by a full evaluation (bounds memory)


def _state_chains(
    lake: Lake, reg: Registry, scope: Scope
) -> Iterator[Mapping[str, list[ChainVersion]]]:
    types = set(reg.state_types)
    if scope.state_keys is None:
        for key_range in lakeio.key_ranges(lake, types, FULL_RANGE_ROWS):
            yield lakeio.load_chains(lake, None, types, key_range)
    elif scope.state_keys:
        yield lakeio.load_chains(lake, scope.state_keys, types)


def _compute(
    lake: Lake, reg: Registry, scope: Scope, judged: list[Judged], now: dt.datetime
) -> tuple[Outcome, int, int]:
    """All findings of the scope, and how many assets and versions state rules judged."""
    outcome, assets, versions = Outcome(), 0, 0
    judge = Judge(reg, outcome)
    for chains in _state_chains(lake, reg, scope):
        for chain in chains.values():
            outcome.findings.extend(state_findings(chain, judge, now))
        assets, versions = assets + len(chains), versions + sum(map(len, chains.values()))
    keys = {j.asset_key for j in judged}
    chains = lakeio.load_chains(lake, keys, _types(reg)) if keys else {}
    outcome.findings.extend(event_findings(judged, chains, judge))
    return outcome, assets, versions


def state_findings_of_frame(
    frame: pl.DataFrame, now: dt.datetime | None = None, rules: Registry | None = None
) -> Outcome:
    """State findings of asset_versions rows held in memory (sorted by asset_key, valid_from):
    the rule evaluation alone, without the lake (what ``rules_versions_per_s`` measures)."""
    outcome, now = Outcome(), now or utcnow()
    judge = Judge(rules or registry(), outcome)
    for chain in lakeio.chains_from_frame(frame).values():
        outcome.findings.extend(state_findings(chain, judge, now))
    return outcome


def _comparable(values: Mapping[str, Any]) -> tuple[Any, ...]:
    frameworks = tuple(values["frameworks"] or ())
    return tuple(frameworks if c == "frameworks" else values[c] for c in lakeio.FINDING_COLUMNS)


def _diff(findings: list[Finding], existing: pl.DataFrame) -> tuple[list[Finding], list[str]]:
    """Findings to write (new or changed) and ids of existing rows to delete."""
    old = {row["finding_id"]: _comparable(row) for row in existing.iter_rows(named=True)}
    upserts = [f for f in findings if old.get(f.finding_id) != _comparable(_fields(f))]
    fresh = {f.finding_id for f in findings}
    return upserts, sorted(set(old) - fresh)


def _fields(finding: Finding) -> Mapping[str, Any]:
    return {name: getattr(finding, name) for name in lakeio.FINDING_COLUMNS}


def _due(outcome: Outcome, marks: lakeio.Watermarks, mode: str, now: dt.datetime) -> int:
    """The next instant (micros) a clock-dependent verdict changes; 0 when none is known.

    A still-pending earlier due time is kept unless this evaluation re-judged every asset of
    the clock-dependent types (a full run, or an incremental one after the due time).
    """
    new = to_micros(outcome.due) if outcome.due is not None else 0
    keep = marks.due
    if mode == "full" or (mode == "incremental" and keep and keep <= to_micros(now)):
        keep = 0
    return min(v for v in (new, keep) if v) if (new or keep) else 0
