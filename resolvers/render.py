"""Query results as text: a readable table for people, CSV and JSON for scripts.

``table``: aligned columns, numbers right-aligned, long cells cut with an ellipsis, a row count
line (at most :data:`TABLE_ROW_LIMIT` rows are shown). ``csv``: a header and one line a row.
``json``: one array of objects. Timestamps are ISO 8601 in UTC (``2026-01-31T12:00:00Z``) in
every format; lists and objects are JSON text in CSV and nested values in JSON.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
from collections.abc import Sequence
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

FORMATS = ("table", "csv", "json")
MAX_CELL_WIDTH = 60
MAX_LINE_WIDTH = 200
TABLE_ROW_LIMIT = 1000
INDENT = "    "


def render(
    table: pa.Table,
    fmt: str = "table",
    columns: Sequence[str] | None = None,
    noun: str = "row",
    json_columns: Sequence[str] = (),
) -> str:
    """``table`` as text in format ``fmt``; ``columns`` narrows the table format only.

    ``json_columns`` hold JSON documents as text: the json format nests them as values.
    """
    if fmt == "csv":
        return render_csv(table)
    if fmt == "json":
        return render_json(table, json_columns)
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}")
    return render_table(table.select(list(columns)) if columns else table, noun)


def iso(value: dt.datetime) -> str:
    """ISO 8601 in UTC with a Z (microseconds only when there are any); naive means UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"


def cell(value: Any) -> str:
    """One value as table text (not yet cut to width)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return iso(value).replace("T", " ")
    if isinstance(value, list):
        return ", ".join(cell(item) for item in value)
    if isinstance(value, dict):
        return orjson.dumps(value, default=_json_default).decode()
    if isinstance(value, bytes):
        return value.hex()
    return " ".join(str(value).split()) if isinstance(value, str) else str(value)


def cut(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the last one an ellipsis when cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def aligned_lines(table: pa.Table, width: int = MAX_CELL_WIDTH) -> list[str]:
    """A header, a rule and one aligned line per row of ``table``."""
    names = table.column_names
    numeric = [_is_numeric(field.type) for field in table.schema]
    rows = [[cut(cell(v), width) for v in row.values()] for row in table.to_pylist()]
    widths = [max([len(name), *(len(row[i]) for row in rows)]) for i, name in enumerate(names)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            text.rjust(w) if right else text.ljust(w)
            for text, w, right in zip(cells, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return [line(names), line(["-" * w for w in widths]), *(line(row) for row in rows)]


def count_line(shown: int, total: int, noun: str) -> str:
    """``3 rows``, ``1 row``, or ``1000 of 5000 rows shown (...)``."""
    plural = noun if total == 1 else noun + "s"
    if shown == total:
        return f"{total} {plural}"
    return f"{shown} of {total} {plural} shown (--format csv or json gives them all)"


def render_table(table: pa.Table, noun: str = "row") -> str:
    """Aligned columns and a row count line."""
    shown = table.slice(0, TABLE_ROW_LIMIT)
    lines = aligned_lines(shown) if table.num_columns else []
    return "\n".join([*lines, count_line(shown.num_rows, table.num_rows, noun)]) + "\n"


def render_csv(table: pa.Table) -> str:
    """A header line and one CSV line per row (written column by column by Arrow)."""
    table = with_iso_times(table)
    columns = [
        column if _csv_native(column.type) else _python_text(column) for column in table.columns
    ]
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(table.column_names)
    sink = io.BytesIO()
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")  # null: empty
    pacsv.write_csv(pa.Table.from_arrays(columns, names=table.column_names), sink, options)
    return header.getvalue() + sink.getvalue().decode()


def with_iso_times(table: pa.Table) -> pa.Table:
    """``table`` with every timestamp column as ISO 8601 UTC text (computed by Arrow)."""
    columns = [
        _iso_column(column) if pa.types.is_timestamp(column.type) else column
        for column in table.columns
    ]
    return pa.Table.from_arrays(columns, names=table.column_names)


def _iso_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    kind = column.type
    if kind.tz:  # the same instants, written in UTC
        column = column.cast(pa.timestamp(kind.unit, "UTC"))
    text = pc.strftime(column, format="%Y-%m-%dT%H:%M:%S")  # pyright: ignore[reportAttributeAccessIssue]
    text = pc.replace_substring_regex(text, pattern=r"\.0+$", replacement="")  # pyright: ignore[reportAttributeAccessIssue]
    return pc.binary_join_element_wise(text, pa.scalar("Z"), pa.scalar(""))  # pyright: ignore[reportAttributeAccessIssue]


def _csv_native(kind: pa.DataType) -> bool:
    return (
        _is_numeric(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_date(kind)
        or pa.types.is_null(kind)
    )


def _python_text(column: pa.ChunkedArray) -> pa.Array:
    """Values Arrow's CSV writer does not take (lists, structs, binary...) as text."""
    return pa.array([_csv_value(value) for value in column.to_pylist()], pa.string())


def _csv_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, list | dict):
        return orjson.dumps(value, default=_json_default).decode()
    return value.hex() if isinstance(value, bytes) else str(value)


def render_json(table: pa.Table, json_columns: Sequence[str] = ()) -> str:
    """One JSON array of objects, one object per row."""
    rows = with_iso_times(table).to_pylist()
    for name in set(json_columns) & set(table.column_names):
        for row in rows:
            row[name] = _parsed(row[name])
    options = orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC
    return orjson.dumps(rows, default=_json_default, option=options).decode() + "\n"


def _parsed(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):  # a tzinfo orjson does not know
        return iso(value)
    if isinstance(value, decimal.Decimal):
        if value == value.to_integral_value() and abs(value) < 2**63:
            return int(value)
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return str(value)  # an int beyond 64 bits, an interval...: its text


def _is_numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


def render_history(history: pa.Table, fmt: str = "table") -> str:
    """An asset's history: in the table format, each version followed by what it changed."""
    if fmt != "table":
        return render(history, fmt, json_columns=("tags", "config"))
    columns = ["version", "valid_from", "valid_to", "changed_by", "change_source", "event_names"]
    lines = aligned_lines(history.select(columns))
    out = lines[:2]
    for line, changes in zip(lines[2:], history.column("changes").to_pylist(), strict=True):
        out.append(line)
        out.extend(cut(INDENT + change, MAX_LINE_WIDTH) for change in changes or [])
    out.append(count_line(history.num_rows, history.num_rows, "version"))
    return "\n".join(out) + "\n"
