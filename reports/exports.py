"""A report's rows as JSON values, CSV and XLSX: the same rows at every door.

- JSON: decimals as strings (exact, as the rest of the API), dates and times in ISO 8601;
- CSV (UTF-8 with BOM) and XLSX (numbers stay numbers, dates stay dates): a header of the
  column labels, one line per row, then a blank line and the totals that are plain figures;
  times are local to ``settings.TIME_ZONE`` without microseconds; text never runs as a
  formula (``catalog.importing.writing``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from catalog.importing.writing import table_bytes

from .framework import ReportResult

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: json_value(item) for key, item in value.items()}
    return value


def json_rows(result: ReportResult, rows: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    keys = [column.key for column in result.report.columns]
    return [{key: json_value(row.get(key)) for key in keys} for row in (result.rows if rows is None else rows)]


def _file_value(value: Any, fmt: str) -> Any:
    if isinstance(value, datetime):
        local = timezone.localtime(value).replace(microsecond=0, tzinfo=None)
        return local if fmt == "xlsx" else local.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value if fmt == "xlsx" else value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def text_value(value: Any) -> Any:
    """A value as the admin pages show it (local time to the minute, no offset)."""
    if isinstance(value, dict):
        return {key: text_value(item) for key, item in value.items()}
    if isinstance(value, Decimal):
        return f"{value:f}"
    return _file_value(value, "csv")


def file_name(result: ReportResult, fmt: str) -> str:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return f"{result.report.name}-{stamp}.{fmt}"


def report_file(result: ReportResult, fmt: str) -> bytes:
    """The CSV or XLSX of the report: its rows, then its plain totals."""
    columns = result.report.columns
    rows: list[list[Any]] = [[_file_value(row.get(c.key), fmt) for c in columns] for row in result.rows]
    plain = {k: v for k, v in result.totals.items() if not isinstance(v, dict) and v is not None}
    if plain:
        rows.append([])
        rows.extend([["Total: " + key.replace("_", " "), _file_value(value, fmt)] for key, value in plain.items()])
    return table_bytes(fmt, [c.label for c in columns], rows, title=result.report.title)
