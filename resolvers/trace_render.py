"""Printing a trace (resolvers/trace.py): a readable report, or one JSON object."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson

from resolvers.render import iso
from resolvers.trace import STAGES


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return iso(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def trace_json(result: dict[str, Any]) -> str:
    """The trace as one JSON object (timestamps ISO 8601 UTC)."""
    return (
        orjson.dumps(
            result,
            default=_json_default,
            option=orjson.OPT_INDENT_2 | orjson.OPT_PASSTHROUGH_DATETIME,
        ).decode()
        + "\n"
    )


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, float):
        return f"{value:.3f}s"
    if isinstance(value, list):
        return ",".join(_text(v) for v in value) or "-"
    return str(value)


def _line(row: dict[str, Any], columns: tuple[str, ...]) -> str:
    return "  " + "  ".join(f"{c}={_text(row.get(c))}" for c in columns)


def render_trace(result: dict[str, Any], fmt: str = "table") -> str:
    """The trace as readable text (``table``) or one JSON object (``json``)."""
    if fmt == "json":
        return trace_json(result)
    lines = _event_lines(result) if result["kind"] == "event" else _asset_lines(result)
    return "\n".join(lines) + "\n"


def _section(title: str, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> list[str]:
    return [f"{title} ({len(rows)}):", *(_line(row, columns) for row in rows)]


def _event_lines(result: dict[str, Any]) -> list[str]:
    lines = [f"event {result['event_id']}"]
    for record in result["records"]:
        lines.append(
            _line(record, ("source", "event_time", "received_at", "classification", "batch_id"))
        )
        lines.append(_line(record, ("record_hash", "account_id", "region", "landed_version")))
        lines.append(_line(record, ("landed_at", "landed_by")))
        if record["run_url"]:
            lines.append(f"    landed by run {record['run_url']}")
        if record["resolved_by"]:
            lines.append(f"    resolved by the drain of consumer {record['resolved_by']}")
        lines.extend(
            "    covered by drain"
            + _line(d, ("consumer", "from_version", "to_version", "drained_at"))
            for d in record["drains"]
        )
    change_columns = ("asset_key", "action", "event_name", "principal", "recorded_at", "run_url")
    lines += _section("asset changes", result["changes"], change_columns)
    unresolved_columns = ("reason", "event_name", "recorded_at", "run_url", "detail")
    if result["unresolved"]:
        lines += _section("unresolved", result["unresolved"], unresolved_columns)
    version_columns = ("asset_key", "version", "valid_from", "is_deleted", "recorded_at")
    lines += _section("versions", result["versions"], version_columns)
    if result["no_version_reason"]:
        lines.append(f"  no version: {result['no_version_reason']}")
    finding_columns = ("effect", "rule_id", "severity", "asset_key", "status", "finding_id")
    lines += _section("findings", result["findings"], finding_columns)
    lines += _section("alerts", result["alerts"], ("kind", "sink", "status", "finding_id"))
    lines.append("stages: " + _line(result["stages"], tuple(result["stages"])).strip())
    return lines


def _asset_lines(result: dict[str, Any]) -> list[str]:
    lines = [f"asset {result['asset_key']}"]
    version_columns = ("version", "valid_from", "valid_to", "is_deleted", "changed_by")
    lines += _section("versions", result["versions"], (*version_columns, "change_source"))
    lines.append(
        f"change events ({len(result['events'])}; stages = event -> received / -> landed / "
        "-> resolved / -> committed; event -> version):"
    )
    for event in result["events"]:
        columns = ("event_id", "event_time", "event_name", "action", "received_at", "versions")
        stages = "/".join(_text(event["stages"][name]) for name in STAGES[:-1])
        lines.append(
            _line(event, (*columns, "findings"))
            + f"  stages={stages}; {_text(event['stages']['event_to_version_s'])}"
            + (f"  run={event['run_url']}" if event["run_url"] else "")
            + (f"  no version: {event['no_version_reason']}" if event["no_version_reason"] else "")
        )
    return lines
