"""Reading messy spreadsheet files one row at a time: CSV (any of UTF-8 with or without BOM,
UTF-16 with BOM, Windows-1252 or Latin-1; `,` `;` or tab delimited) and XLSX.

``open_table`` looks at the file (format, encoding, delimiter, header row) and refuses what is
not a table at all (empty, binary, an old ``.xls``) with an ``ImportFileError`` that says so in
words. ``Table.rows()`` then streams ``(row_number, cells)``: row numbers are the ones a
spreadsheet shows (the header is usually row 1; blank rows count but are not returned).
``clean_cell`` strips a cell's surrounding spaces and takes off the ``'`` that an export put
before ``= + - @`` to neutralise a formula. Memory stays bounded: one row at a time.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

FORMATS = ("csv", "xlsx")
DELIMITERS = (",", ";", "\t")
FORMULA_PREFIXES = ("=", "+", "-", "@")
# Windows-1252 leaves these five bytes undefined; a file that has them is Latin-1.
_CP1252_UNDEFINED = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
_HEAD_BYTES = 64 * 1024
_SCAN_CHUNK = 1024 * 1024

# (magic bytes, what the file probably is) for the files people pick by mistake.
_BINARY_MAGIC = (
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) or other Office 97 file: save it as .xlsx or CSV"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
)


class ImportFileError(Exception):
    """The file as a whole cannot be imported (empty, binary, unreadable, wrong columns).
    ``str()`` is the message for people."""


def header_key(name: object) -> str:
    """How headers are matched: case-insensitively, ignoring spaces, underscores and hyphens
    (``Shelf Life Days``, ``shelf_life_days`` and ``SHELF-LIFE-DAYS`` are one column)."""
    text = str(name or "").replace("\ufeff", "").casefold()
    return re.sub(r"[\s_\-]+", "", text)


def clean_cell(value: str) -> str:
    """A cell as imported: surrounding whitespace off, an export's formula guard (``'=``) off."""
    value = value.strip()
    if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_PREFIXES:
        return value[1:]
    return value


def neutralise_cell(value: object) -> object:
    """A cell as exported: text that a spreadsheet would run as a formula (starting with
    ``= + - @``, or a tab or carriage return before one) gets a leading ``'`` so it stays text."""
    if isinstance(value, str) and value and (value[0] in FORMULA_PREFIXES or value[0] in "\t\r"):
        return "'" + value
    return value


def xlsx_cell_text(value: object) -> str:
    """An XLSX cell's value as the text a CSV would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def detect_format(head: bytes, name: str = "", given: str | None = None) -> str:
    """``csv`` or ``xlsx``: as given, else by content (a zip is a workbook), else by name."""
    if given:
        given = given.lower().lstrip(".")
        if given not in FORMATS:
            raise ImportFileError(f"Unknown format {given!r}: use csv or xlsx.")
        return given
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    return "xlsx" if name.lower().endswith((".xlsx", ".xlsm")) else "csv"


def refuse_binary(head: bytes, name: str = "") -> None:
    """Raise ImportFileError when ``head`` (the first bytes) is not text."""
    label = f"{name} " if name else "The file "
    for magic, what in _BINARY_MAGIC:
        if head.startswith(magic):
            raise ImportFileError(f"{label}is not a CSV or XLSX table: it looks like {what}.")
    if head.startswith(b"PK\x03\x04"):
        raise ImportFileError(f"{label}is a zip archive, not a CSV file: if it is a workbook, import it as XLSX.")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return
    sample = head[:8192]
    controls = sum(1 for byte in sample if byte < 32 and byte not in (9, 10, 12, 13))
    if b"\x00" in sample or (sample and controls / len(sample) > 0.05):
        raise ImportFileError(
            f"{label}is not a text file (it holds binary data): export the spreadsheet as CSV or XLSX and import that."
        )


def detect_encoding(stream: BinaryIO) -> str:
    """The text encoding of a seekable binary stream, read to the end and rewound: a BOM says
    UTF-8 or UTF-16; otherwise UTF-8 if every byte decodes, else Windows-1252 (Latin-1 when
    the file uses the bytes Windows-1252 leaves undefined)."""
    start = stream.tell()
    head = stream.read(4)
    stream.seek(start)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8, latin1 = True, False
    while chunk := stream.read(_SCAN_CHUNK):
        if utf8:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                utf8 = False
        if not utf8 and _CP1252_UNDEFINED.search(chunk):
            latin1 = True
            break
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    stream.seek(start)
    if utf8:
        return "utf-8"
    return "latin-1" if latin1 else "cp1252"


def _check_encoding(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError as exc:
        raise ImportFileError(f"Unknown encoding {encoding!r} (for example utf-8, cp1252, latin-1).") from exc


def choose_delimiter(lines: list[str], known: Iterable[str]) -> str:
    """The delimiter under which the first non-blank line reads as the most known column names
    (then: as the most columns); a comma when nothing tells."""
    known_keys = {header_key(k) for k in known}
    first = next((line for line in lines if line.strip()), "")
    best, best_score = ",", (-1, -1)
    for delimiter in DELIMITERS:
        try:
            cells = next(csv.reader([first], delimiter=delimiter), [])
        except csv.Error:
            continue
        score = (sum(1 for c in cells if header_key(c) in known_keys), len(cells))
        if score > best_score:
            best, best_score = delimiter, score
    return best


class Table:
    """A table being read: ``headers`` (cells of the header row, cleaned), ``header_row``
    (its row number), ``format``, ``encoding`` and ``delimiter``, then ``rows()``: the
    non-empty rows as (row number, raw cells); clean the cells you use with ``clean_cell``."""

    format: str
    encoding: str | None = None
    delimiter: str | None = None
    headers: list[str]
    header_row: int

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        raise NotImplementedError

    def position(self) -> tuple[int, int | None]:
        """(done, total) for a progress bar: bytes for CSV, rows for XLSX."""
        return 0, None

    def close(self) -> None:
        pass

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def description(self) -> str:
        if self.format == "csv":
            names = {",": "comma", ";": "semicolon", "\t": "tab"}
            return f"CSV, {self.encoding}, {names.get(self.delimiter or ',', self.delimiter)}-separated"
        return "XLSX"


class CsvTable(Table):
    format = "csv"

    def __init__(self, stream: BinaryIO, *, encoding: str | None, known: Iterable[str], size: int | None) -> None:
        self._binary = stream
        self._size = size
        self.encoding = _check_encoding(encoding) if encoding else detect_encoding(stream)
        self._text = io.TextIOWrapper(stream, encoding=self.encoding, errors="strict", newline="")
        head: list[str] = []
        read = 0
        try:
            while read < _HEAD_BYTES:
                line = self._text.readline()
                if not line:
                    break
                head.append(line)
                read += len(line)
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                f"The file is not valid {self.encoding} text ({exc.reason} at byte {exc.start} of a block): "
                "give its encoding with --encoding (for example cp1252)."
            ) from exc
        self.delimiter = choose_delimiter(head, known)
        self._lines = self._chain(head)
        self._reader = csv.reader(self._lines, delimiter=self.delimiter, strict=True)
        self._record = 0
        self.headers, self.header_row = self._first_record()

    def _chain(self, head: list[str]) -> Iterator[str]:
        yield from head
        try:
            yield from self._text
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                f"Row {self._record + 1}: the file stops being valid {self.encoding} text here "
                f"({exc.reason}): give its encoding with --encoding (for example cp1252)."
            ) from exc

    def _next_record(self) -> list[str] | None:
        try:
            record = next(self._reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise ImportFileError(
                    f'Row {self._record + 1}: a quoted cell is never closed (a " without its closing ").'
                ) from exc
            raise ImportFileError(f"Row {self._record + 1}: the CSV cannot be read ({exc}).") from exc
        self._record += 1
        return record

    def _first_record(self) -> tuple[list[str], int]:
        while (record := self._next_record()) is not None:
            cells = [clean_cell(c) for c in record]
            if any(cells):
                return cells, self._record
        raise ImportFileError("The file is empty: it has no header row and no data.")

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        while (record := self._next_record()) is not None:
            if any(record):
                yield self._record, record

    def position(self) -> tuple[int, int | None]:
        try:
            return self._binary.tell(), self._size
        except (OSError, ValueError):
            return 0, self._size

    def close(self) -> None:
        if not self._text.closed:
            self._text.detach()  # the caller owns the binary stream


class XlsxTable(Table):
    format = "xlsx"

    def __init__(self, stream: BinaryIO) -> None:
        import zipfile

        import openpyxl

        try:
            self._book = openpyxl.load_workbook(stream, read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
            raise ImportFileError(f"The file is not a readable XLSX workbook ({exc}).") from exc
        sheet = self._book.active
        if sheet is None:
            raise ImportFileError("The workbook has no worksheet.")
        self._total = sheet.max_row
        self._iter = sheet.iter_rows(values_only=True)
        self._record = 0
        self.headers, self.header_row = self._first_record()

    def _next_record(self) -> list[str] | None:
        row = next(self._iter, None)
        if row is None:
            return None
        self._record += 1
        return [xlsx_cell_text(v) for v in row]

    def _first_record(self) -> tuple[list[str], int]:
        while (record := self._next_record()) is not None:
            cells = [clean_cell(c) for c in record]
            if any(cells):
                while cells and not cells[-1]:
                    cells.pop()
                return cells, self._record
        raise ImportFileError("The workbook is empty: its first sheet has no header row and no data.")

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        while (cells := self._next_record()) is not None:
            if any(cells):
                yield self._record, cells

    def position(self) -> tuple[int, int | None]:
        return self._record, self._total

    def close(self) -> None:
        self._book.close()


def open_table(
    stream: BinaryIO,
    *,
    name: str = "",
    fmt: str | None = None,
    encoding: str | None = None,
    known: Iterable[str] = (),
    size: int | None = None,
) -> Table:
    """Open a seekable binary stream as a Table (ImportFileError when it is not one)."""
    start = stream.tell()
    head = stream.read(_HEAD_BYTES)
    stream.seek(start)
    if not head.strip():
        raise ImportFileError("The file is empty: it has no header row and no data.")
    fmt = detect_format(head, name, fmt)
    if fmt == "xlsx":
        if not head.startswith(b"PK\x03\x04"):
            refuse_binary(head, name)
            raise ImportFileError("The file is not an XLSX workbook (it looks like text): import it as CSV.")
        return XlsxTable(stream)
    refuse_binary(head, name)
    return CsvTable(stream, encoding=encoding, known=known, size=size)


def open_path(path: Path, **kwargs: object) -> Table:
    """``open_table`` on a file by path (the file stays open until the table is closed)."""
    if not path.exists():
        raise ImportFileError(f"No file {path}.")
    if path.is_dir():
        raise ImportFileError(f"{path} is a folder, not a file.")
    stream = path.open("rb")
    try:
        table = open_table(stream, name=path.name, size=path.stat().st_size, **kwargs)
    except BaseException:
        stream.close()
        raise
    original_close = table.close

    def close() -> None:
        original_close()
        stream.close()

    table.close = close  # type: ignore[method-assign]
    return table
