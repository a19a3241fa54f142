"""Writing export files: CSV (UTF-8 with BOM, so spreadsheets read the accents right) and
XLSX (openpyxl's streaming writer), row by row. Every text cell goes through
``neutralise_cell``: a spreadsheet never runs an exported cell as a formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from .reading import neutralise_cell


def _cells(row: Iterable[object]) -> list[object]:
    return [neutralise_cell("" if value is None else value) for value in row]


def write_csv(stream: BinaryIO, headers: list[str], rows: Iterable[Iterable[object]]) -> int:
    """Write a CSV to a binary stream; returns the number of data rows."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    writer = csv.writer(text)
    writer.writerow(headers)
    count = 0
    for row in rows:
        writer.writerow(_cells(row))
        count += 1
    text.flush()
    text.detach()
    return count


def write_xlsx(stream: BinaryIO, headers: list[str], rows: Iterable[Iterable[object]], title: str = "Sheet1") -> int:
    """Write a one-sheet workbook to a binary stream; returns the number of data rows."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31])
    sheet.append(headers)
    count = 0
    for row in rows:
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in _cells(row)])
        count += 1
    book.save(stream)
    return count


def write_table(path: Path, fmt: str, headers: list[str], rows: Iterable[Iterable[object]], title: str = "") -> int:
    with path.open("wb") as stream:
        if fmt == "xlsx":
            return write_xlsx(stream, headers, rows, title=title or path.stem)
        return write_csv(stream, headers, rows)


def table_bytes(fmt: str, headers: list[str], rows: Iterable[Iterable[object]], title: str = "Sheet1") -> bytes:
    buffer = io.BytesIO()
    if fmt == "xlsx":
        write_xlsx(buffer, headers, rows, title=title)
    else:
        write_csv(buffer, headers, rows)
    return buffer.getvalue()
