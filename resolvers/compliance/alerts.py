"""Alerts: each finding's opening and its resolution, sent once to each sink.

The ``alerts`` table is an outbox. Evaluation queues one row per (alert, sink) before it commits
the findings; the row's key is a hash of (finding_id, kind), so an evaluation that runs again
queues nothing new. :func:`dispatch` then sends the pending rows and records each outcome; a
sink that fails leaves its rows pending with a later ``next_attempt_at`` (doubling, at most an
hour), and after ``max_attempts`` they are marked 'failed' (visible with ``assetlake sql``).
Nothing a sink does can raise out of :func:`dispatch`: the pipeline is never blocked by it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson
import polars as pl
import pyarrow as pa
from deltalake import CommitProperties

from resolvers.compliance.catalog import Registry, registry
from resolvers.compliance.intervals import Finding
from resolvers.compliance.sinks import AlertConfig, DeliveryError, SinkConfig, deliver
from resolvers.lake.storage import Lake
from resolvers.lake.tables import ALERTS
from resolvers.timeutil import isoformat

__all__ = ["AlertConfig", "DispatchResult", "dispatch", "queue_alerts"]
log = logging.getLogger(__name__)
MAX_RETRY_DELAY = dt.timedelta(hours=1)
BREAKER = 3  # consecutive failures after which a sink is left alone until the next dispatch
PROPS = CommitProperties(custom_metadata={"assetlake.operation": "alerts"}, max_commit_retries=8)


@dataclass(frozen=True, slots=True)
class DispatchResult:
    """What one dispatch did."""

    sent: int = 0
    failed: int = 0  # attempts that failed (the alerts stay pending unless out of attempts)
    gave_up: int = 0  # alerts marked 'failed' for good
    pending: int = 0  # due alerts left for later (a sink's breaker tripped)


def alert_id(finding_id: str, kind: str) -> str:
    """The alert's id: one opening and one resolution per finding."""
    return hashlib.sha256(f"{finding_id}\x1f{kind}".encode()).hexdigest()[:32]


def payload(finding: Finding, kind: str, reg: Registry) -> str:
    """The JSON document an alert sends."""
    rule = reg.rules.get(finding.rule_id)
    body = {field.name: getattr(finding, field.name) for field in dataclasses.fields(finding)}
    body["evidence"] = orjson.loads(finding.evidence or "{}")
    body["frameworks"] = list(finding.frameworks)
    for name in ("opened_at", "resolved_at"):
        body[name] = isoformat(body[name])
    occurred = finding.opened_at if kind == "opened" else finding.resolved_at
    document = {
        "type": f"finding.{kind}",
        "alert_id": alert_id(finding.finding_id, kind),
        "occurred_at": isoformat(occurred),
        "finding": body,
        "rule": {
            "title": rule.title if rule else finding.rule_id,
            "remediation": rule.remediation if rule else None,
        },
    }
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS).decode()


def _rows(findings: Iterable[Finding], config: AlertConfig, now: dt.datetime, reg: Registry):
    for finding in findings:
        kinds = [("opened", finding.opened_at)]
        if finding.status == "resolved" and finding.resolved_at is not None:
            kinds.append(("resolved", finding.resolved_at))
        for kind, occurred in kinds:
            text = payload(finding, kind, reg)
            old = config.max_age is not None and occurred < now - config.max_age
            for sink in config.sinks:
                if sink.accepts(finding.severity):
                    yield {
                        "alert_id": alert_id(finding.finding_id, kind),
                        "sink": sink.name,
                        "finding_id": finding.finding_id,
                        "kind": kind,
                        "rule_id": finding.rule_id,
                        "severity": finding.severity,
                        "asset_key": finding.asset_key,
                        "occurred_at": occurred,
                        "payload": text,
                        "status": "skipped" if old else "pending",
                        "attempts": 0,
                        "created_at": now,
                    }


def queue_alerts(
    lake: Lake,
    findings: Sequence[Finding],
    config: AlertConfig,
    now: dt.datetime,
    reg: Registry | None = None,
) -> int:
    """Queue the alerts of new or changed findings (already queued ones are left alone)."""
    rows = list(_rows(findings, config, now, reg or registry()))
    if not rows:
        return 0
    source = pa.Table.from_pylist(rows, schema=ALERTS.schema)
    metrics = (
        lake.table(ALERTS.name)
        .merge(
            source,
            predicate="t.alert_id = s.alert_id AND t.sink = s.sink",
            source_alias="s",
            target_alias="t",
            commit_properties=PROPS,
        )
        .when_not_matched_insert_all()
        .execute()
    )
    return int(metrics.get("num_target_rows_inserted", 0))


def _due(lake: Lake, config: AlertConfig, now: dt.datetime) -> list[dict]:
    names = [sink.name for sink in config.sinks]
    due = (pl.col("next_attempt_at").is_null()) | (pl.col("next_attempt_at") <= now)
    frame = (
        lake.scan(ALERTS.name)
        .filter((pl.col("status") == "pending") & pl.col("sink").is_in(names) & due)
        .sort("occurred_at", "alert_id")
        .collect()
    )
    return frame.to_dicts()


def _attempt(row: dict, sink: SinkConfig, config: AlertConfig, now: dt.datetime) -> dict:
    """Deliver one row; the row's new delivery state."""
    attempts = int(row["attempts"] or 0) + 1
    update = {"alert_id": row["alert_id"], "sink": row["sink"], "attempts": attempts}
    update["last_attempt_at"] = now
    try:
        deliver(sink, row["alert_id"], row["payload"])
    except Exception as exc:  # a sink must never break the pipeline
        reason = str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}"
        delay = min(config.retry_after * 2 ** (attempts - 1), MAX_RETRY_DELAY)
        update |= {"status": "failed" if attempts >= config.max_attempts else "pending"}
        update |= {"next_attempt_at": now + delay, "last_error": reason[:500], "sent_at": None}
        return update
    return update | {"status": "sent", "sent_at": now, "next_attempt_at": None, "last_error": None}


def dispatch(lake: Lake, config: AlertConfig, now: dt.datetime) -> DispatchResult:
    """Send the due pending alerts; record what happened. Never raises for a sink's failure."""
    try:
        rows = _due(lake, config, now)
    except Exception:
        log.exception("alerts: cannot read the outbox")
        return DispatchResult()
    updates, streak, skipped = [], dict.fromkeys((s.name for s in config.sinks), 0), 0
    for row in rows:
        sink = config.sink(row["sink"])
        if sink is None or streak[sink.name] >= BREAKER:
            skipped += 1
            continue
        update = _attempt(row, sink, config, now)
        streak[sink.name] = 0 if update["status"] == "sent" else streak[sink.name] + 1
        if update["status"] != "sent":
            log.warning(
                "alerts: %s to %s failed: %s", row["alert_id"], sink.name, update["last_error"]
            )
        updates.append(update)
    _record(lake, updates)
    return DispatchResult(
        sent=sum(u["status"] == "sent" for u in updates),
        failed=sum(u["status"] != "sent" for u in updates),
        gave_up=sum(u["status"] == "failed" for u in updates),
        pending=skipped,
    )


def _record(lake: Lake, updates: list[dict]) -> None:
    if not updates:
        return
    columns = ("attempts", "status", "last_attempt_at", "next_attempt_at", "sent_at", "last_error")
    schema = pa.schema([ALERTS.schema.field(n) for n in ("alert_id", "sink", *columns)])
    source = pa.Table.from_pylist(updates, schema=schema)
    try:
        (
            lake.table(ALERTS.name)
            .merge(
                source,
                predicate="t.alert_id = s.alert_id AND t.sink = s.sink",
                source_alias="s",
                target_alias="t",
                commit_properties=PROPS,
            )
            .when_matched_update({c: f"s.{c}" for c in columns})
            .execute()
        )
    except Exception:  # the alerts were sent; a lost record only means a resend later
        log.exception("alerts: cannot record %d deliveries", len(updates))
