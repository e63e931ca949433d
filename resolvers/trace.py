"""The journey of one record through the pipeline, or of every change of one asset.

:func:`trace` takes an event id or an asset key. For an event: each raw_events row under that
id (colliding ids with different content are separate rows), the raw_events version it was
landed in (from the change data feed, when its files are still there), the drains that covered
it, the asset changes it produced, the versions it contributed to or why it wrote none, the
findings it opened or resolved, the alerts of those findings, and the seconds spent in each
stage. For an asset: its versions and a short journey of each of its change events.

The result is a plain dict (JSON-ready but for datetimes); resolvers/trace_render.py prints it.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import duckdb
import pyarrow as pa
from deltalake.exceptions import DeltaError

from resolvers.lake.layout import sql_text
from resolvers.lake.storage import Lake
from resolvers.lake.tables import RAW_EVENTS
from resolvers.query import QueryError, connect

# where `make dev` serves the Dagster UI; ASSETLAKE_DAGSTER_URL points at another one
DAGSTER_URL = "http://127.0.0.1:3000"
NO_CHANGE_CLASSES = {
    "read": "a read: it changes no asset",
    "data": "a data-plane event: it changes no asset's configuration",
    "error": "a failed call (error code): it changed nothing",
    "unknown": "an event of unknown kind: not resolved to any asset",
}

RAW_QUERY = """
SELECT event_id, source, cloud, account_id, region, event_time, received_at, landed_at,
       landed_by, classification, batch_id, record_hash, run_id
FROM raw_events WHERE event_id = $id ORDER BY received_at, record_hash
"""
CHANGES_QUERY = """
SELECT asset_key, action, event_source, event_name, principal, principal_type, batch_id,
       run_id, received_at, landed_at, resolved_at, recorded_at
FROM asset_changes WHERE event_id = $id ORDER BY asset_key
"""
VERSIONS_QUERY = """
SELECT asset_key, version, valid_from, valid_to, is_deleted, change_source, recorded_at
FROM asset_versions WHERE list_contains(change_event_ids, $id) ORDER BY asset_key, version
"""
UNRESOLVED_QUERY = """
SELECT event_source, event_name, reason, detail, batch_id, run_id, received_at, landed_at,
       resolved_at, recorded_at
FROM unresolved_events WHERE event_id = $id ORDER BY reason
"""
OBSERVED_QUERY = """
SELECT count(*) FROM asset_observations WHERE list_contains(event_ids, $id)
"""
FINDINGS_QUERY = """
SELECT finding_id, rule_id, severity, asset_key, status, opened_at, resolved_at,
       CASE WHEN opened_by_event_id = $id THEN 'opened' ELSE 'resolved' END AS effect
FROM findings WHERE opened_by_event_id = $id OR resolved_by_event_id = $id
ORDER BY opened_at, finding_id
"""
ALERTS_QUERY = """
SELECT alert_id, sink, finding_id, kind, status, attempts, created_at, sent_at
FROM alerts WHERE list_contains($ids, finding_id) ORDER BY created_at, alert_id
"""
DRAINS_QUERY = """
SELECT consumer, from_version, to_version, records, drained_at FROM drain_progress
WHERE $version BETWEEN from_version AND to_version ORDER BY drained_at
"""
ASSET_VERSIONS_QUERY = """
SELECT version, valid_from, valid_to, is_deleted, changed_by, change_source, change_event_ids,
       recorded_at
FROM asset_versions WHERE asset_key = $key ORDER BY valid_from
"""
ASSET_EVENTS_QUERY = """
WITH ids AS (
    SELECT event_id FROM asset_changes WHERE asset_key = $key
    UNION SELECT unnest(change_event_ids) FROM asset_versions WHERE asset_key = $key
)
SELECT ids.event_id,
       (SELECT min(event_time) FROM raw_events r WHERE r.event_id = ids.event_id) AS event_time,
       coalesce(c.received_at,
                (SELECT min(received_at) FROM raw_events r WHERE r.event_id = ids.event_id))
           AS received_at,
       coalesce(c.landed_at,
                (SELECT min(coalesce(landed_at, received_at)) FROM raw_events r
                  WHERE r.event_id = ids.event_id)) AS landed_at,
       (SELECT any_value(source) FROM raw_events r WHERE r.event_id = ids.event_id) AS source,
       c.action, c.event_name, c.principal, c.run_id, c.resolved_at,
       c.recorded_at AS change_recorded_at,
       (SELECT list(v.version ORDER BY v.version) FROM asset_versions v
         WHERE v.asset_key = $key AND list_contains(v.change_event_ids, ids.event_id))
           AS versions,
       (SELECT min(v.recorded_at) FROM asset_versions v
         WHERE v.asset_key = $key AND list_contains(v.change_event_ids, ids.event_id))
           AS version_recorded_at,
       (SELECT count(*) FROM findings f WHERE f.asset_key = $key
         AND ids.event_id IN (f.opened_by_event_id, f.resolved_by_event_id)) AS findings,
       (SELECT count(*) FROM asset_observations o WHERE o.asset_key = $key
         AND list_contains(o.event_ids, ids.event_id)) AS observed
FROM ids LEFT JOIN asset_changes c ON c.event_id = ids.event_id AND c.asset_key = $key
ORDER BY event_time NULLS LAST, ids.event_id
"""


def trace(lake: Lake, target: str) -> dict[str, Any]:
    """The journey of event ``target``, or of every change of asset ``target``.

    QueryError when the lake knows neither an event nor an asset of that name.
    """
    con = connect(lake)
    if _count(con, "SELECT count(*) FROM asset_versions WHERE asset_key = $id", target) or (
        _count(con, "SELECT count(*) FROM asset_changes WHERE asset_key = $id", target)
    ):
        return trace_asset(con, target)
    known = sum(
        _count(con, f"SELECT count(*) FROM {table} WHERE event_id = $id", target)
        for table in ("raw_events", "asset_changes", "unresolved_events")
    )
    if not known:
        raise QueryError(f"no event or asset {target!r} in the lake")
    return trace_event(con, target, _landed_versions(lake, target))


def _count(con: duckdb.DuckDBPyConnection, query: str, value: str) -> int:
    row = con.execute(query, {"id": value}).fetchone()
    return int(row[0]) if row else 0


def _rows(con: duckdb.DuckDBPyConnection, query: str, **params: Any) -> list[dict[str, Any]]:
    try:
        return con.execute(query, params).fetch_arrow_table().to_pylist()
    except duckdb.Error as exc:
        raise QueryError(str(exc).splitlines()[0]) from exc


def _landed_versions(lake: Lake, event_id: str) -> dict[str, int]:
    """record_hash -> the raw_events version that landed it, from the change data feed.

    Empty where the feed cannot tell (files of early versions vacuumed, an older table).
    """
    literal = sql_text(event_id)
    try:
        reader = lake.table(RAW_EVENTS.name).load_cdf(
            starting_version=0,
            columns=["event_id", "record_hash", "_change_type", "_commit_version"],
            predicate=f"event_id = {literal}",
            allow_out_of_range=True,
        )
        rows = pa.table(reader.read_all()).to_pylist()
    except (DeltaError, OSError, pa.ArrowException, ValueError):
        return {}
    landed: dict[str, int] = {}
    for row in rows:
        if row["_change_type"] == "insert" and row["event_id"] == event_id:
            version = int(row["_commit_version"])
            landed[row["record_hash"]] = min(version, landed.get(row["record_hash"], version))
    return landed


def trace_event(
    con: duckdb.DuckDBPyConnection, event_id: str, landed: dict[str, int] | None = None
) -> dict[str, Any]:
    """The journey of one event id (see the module docstring)."""
    landed = landed or {}
    records = _rows(con, RAW_QUERY, id=event_id)
    for record in records:
        version = landed.get(record["record_hash"])
        record["landed_version"] = version
        record["drains"] = [] if version is None else _rows(con, DRAINS_QUERY, version=version)
    changes = _rows(con, CHANGES_QUERY, id=event_id)
    versions = _rows(con, VERSIONS_QUERY, id=event_id)
    unresolved = _rows(con, UNRESOLVED_QUERY, id=event_id)
    for row in [*records, *changes, *unresolved]:
        row["run_url"] = run_url(row["run_id"])
    _mark_resolving_drain(records, _first([*changes, *unresolved, *versions], "recorded_at"))
    findings = _rows(con, FINDINGS_QUERY, id=event_id)
    ids = [f["finding_id"] for f in findings]
    alerts = _rows(con, ALERTS_QUERY, ids=ids) if ids else []
    observed = _count(con, OBSERVED_QUERY, event_id)
    return {
        "kind": "event",
        "event_id": event_id,
        "records": records,
        "changes": changes,
        "versions": versions,
        "no_version_reason": None
        if versions
        else _no_version_reason(records, changes, unresolved, observed),
        "unresolved": unresolved,
        "findings": findings,
        "alerts": alerts,
        "stages": _stages(records, [*changes, *unresolved], versions),
    }


def _mark_resolving_drain(records: list[dict[str, Any]], derived: dt.datetime | None) -> None:
    """``resolved_by``: the first drain covering a record that ended after its rows were
    recorded (other consumers covering the version may filter on other sources)."""
    for record in records:
        after = [d for d in record["drains"] if derived is not None and d["drained_at"] >= derived]
        record["resolved_by"] = after[0]["consumer"] if after else None


def run_url(run_id: str | None) -> str | None:
    """The Dagster UI address of a run (None for rows written outside a run)."""
    if not run_id:
        return None
    base = os.environ.get("ASSETLAKE_DAGSTER_URL") or DAGSTER_URL
    return f"{base.rstrip('/')}/runs/{run_id}"


def _no_version_reason(
    records: list[dict[str, Any]],
    changes: list[dict[str, Any]],
    unresolved: list[dict[str, Any]],
    observed: int,
) -> str:
    """Why an event wrote no version."""
    if unresolved:
        return "; ".join(f"unresolved ({u['reason']}): {u['detail']}" for u in unresolved)
    classes = {r["classification"] for r in records}
    if not changes and classes and classes <= set(NO_CHANGE_CLASSES):
        return "; ".join(NO_CHANGE_CLASSES[c] for c in sorted(classes))
    if observed:
        return "a repeat of the state already current: no new version"
    if changes:
        return "the change carries no state of the asset (offline, or nothing to describe)"
    return "not resolved yet: no drain has processed it"


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()


def _first(rows: list[dict[str, Any]], column: str) -> dt.datetime | None:
    values = [row[column] for row in rows if row.get(column) is not None]
    return min(values) if values else None


STAGES = ("event_to_received_s", "received_to_landed_s", "landed_to_resolved_s",
          "resolved_to_committed_s", "event_to_version_s")  # fmt: skip


def _stage_seconds(
    event_time: dt.datetime | None,
    received: dt.datetime | None,
    landed: dt.datetime | None,
    resolved: dt.datetime | None,
    committed: dt.datetime | None,
    version: dt.datetime | None,
) -> dict[str, float | None]:
    """Seconds spent in each stage (None where a stage has not happened or is not known).

    A one-step ingest resolves records before the commit that lands them: its landing and
    resolution are not consecutive stages, so landed -> resolved is None there.
    """
    one_step = resolved is not None and landed is not None and resolved < landed
    return dict(
        zip(
            STAGES,
            (
                _seconds(event_time, received),
                _seconds(received, landed),
                None if one_step else _seconds(landed, resolved),
                _seconds(resolved, committed),
                _seconds(event_time, version),
            ),
            strict=True,
        )
    )


def _stages(
    records: list[dict[str, Any]], derived: list[dict[str, Any]], versions: list[dict[str, Any]]
) -> dict[str, float | None]:
    """Seconds from the event to its receipt, its landing, its resolution, the commit of its
    changes (or unresolved rows), and from the event to the version it wrote."""
    return _stage_seconds(
        _first(records, "event_time"),
        _first(derived, "received_at") or _first(records, "received_at"),
        _first(derived, "landed_at") or _first(records, "landed_at"),
        _first(derived, "resolved_at"),
        _first(derived, "recorded_at"),
        _first(versions, "recorded_at"),
    )


def trace_asset(con: duckdb.DuckDBPyConnection, asset_key: str) -> dict[str, Any]:
    """The versions of one asset and a short journey of each of its change events."""
    events = _rows(con, ASSET_EVENTS_QUERY, key=asset_key)
    for event in events:
        observed = event.pop("observed")
        event["no_version_reason"] = (
            None
            if event["versions"]
            else _no_version_reason([], [event] if event["action"] else [], [], observed)
        )
        event["run_url"] = run_url(event["run_id"])
        event["stages"] = _stage_seconds(
            event["event_time"],
            event["received_at"],
            event["landed_at"],
            event["resolved_at"],
            event["change_recorded_at"],
            event["version_recorded_at"],
        )
    return {
        "kind": "asset",
        "asset_key": asset_key,
        "versions": _rows(con, ASSET_VERSIONS_QUERY, key=asset_key),
        "events": events,
    }
