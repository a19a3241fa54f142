"""The streaming import: read a table row by row, validate every row, write in batches inside
one transaction, and write nothing at all when any row is wrong (or on a dry run).

A job (``ImportJob`` subclass: items, categories, locations, opening balances) knows its
columns, turns one raw row into a validated spec or a list of ``RowError`` (``parse``: the
same function the admin's resource calls) and writes a batch of specs (``flush``). The runner
owns the transaction, the batching, the progress bar and the error report. After the first
error it stops writing but goes on validating, so one run names every problem; then it rolls
back. Memory is bounded by the batch size plus what a job keeps to find duplicates across the
file (one small entry per row).
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from django.db import DatabaseError, transaction

from catalog.hygiene import printable, text_problem

from .reading import ImportFileError, Table, clean_cell, header_key, neutralise_cell

FIRST_ERRORS = 20
BATCH_SIZE = 2000


class RowError(NamedTuple):
    """One problem: the row (as a spreadsheet numbers it; None for the file as a whole), the
    column, the offending value and what is wrong, in plain words."""

    row: int | None
    column: str
    value: str
    message: str

    def __str__(self) -> str:
        where = f"Row {self.row}" if self.row is not None else "File"
        if self.column:
            where += f", column {self.column}"
        if self.value:
            where += f" ({self.value!r})"
        return f"{where}: {self.message}"


def row_text_errors(raw: dict[str, str], *, row: int) -> list[RowError]:
    """The input-hygiene rule (``catalog.hygiene``) on every cell of a row: a NUL character or
    a lone surrogate is an error naming the row and the column (the value shown escaped). Every
    import checks it before its parser (the command in ``run_import``, the admin in
    ``ServiceResource.raw``), so no such text reaches a query or the database; lengths are
    each parser's, against its columns."""
    errors = []
    for column, value in raw.items():
        problem = text_problem(value)
        if problem is not None:
            errors.append(RowError(row, column, printable(value)[:60], f"The cell {problem}."))
    return errors


@dataclass
class Counts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.new} new, {self.updated} updated, {self.unchanged} unchanged"


class ImportJob:
    """One kind of import. Subclasses set ``label``, ``columns`` (canonical names, the order
    the export writes), ``required`` (columns the header must have) and implement ``parse``
    and ``flush``."""

    label = "rows"
    columns: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    # False: the runner puts each ``flush`` in a savepoint (a refused batch rolls back alone).
    # True: the job keeps its writes in savepoints of its own, and may leave one in flight
    # when ``flush`` returns (a savepoint of the runner's, released then, would end it).
    own_savepoints = False

    def __init__(self, *, actor: Any = None, source_name: str = "") -> None:
        self.actor = actor
        self.source_name = source_name
        self.counts = Counts()
        self.present: set[str] = set()

    @property
    def change_reason(self) -> str:
        return f"Imported from {self.source_name}" if self.source_name else "Imported"

    def start(self, present: set[str]) -> list[RowError]:
        """Called once with the columns the file has; header-level problems."""
        self.present = present
        return []

    def parse(self, raw: dict[str, str], row: int) -> Any:
        """A validated spec, or a non-empty list of RowError."""
        raise NotImplementedError

    def flush(self, specs: list[Any], *, write: bool) -> list[RowError]:
        """Check the batch against the database and, if ``write``, write it; count it."""
        raise NotImplementedError

    def settle(self) -> list[RowError]:
        """Wait for a write the job left in flight (see ``own_savepoints``); its refusal. The
        runner calls it last, whatever happened, so no write outlives the transaction."""
        return []

    def finish(self, *, write: bool) -> list[RowError]:
        return []


def map_headers(
    headers: list[str], columns: Iterable[str], required: Iterable[str]
) -> tuple[list[tuple[str, int]], list[str], list[RowError]]:
    """Match header cells to columns (``header_key``): the (column, position) pairs, warnings
    for unknown columns, and errors for missing or repeated ones."""
    by_key = {header_key(c): c for c in columns}
    positions: dict[str, int] = {}
    warnings: list[str] = []
    errors: list[RowError] = []
    for index, header in enumerate(headers):
        if not header:
            continue
        column = by_key.get(header_key(header))
        if column is None:
            warnings.append(f"Column {header!r} is not known and is ignored.")
        elif column in positions:
            errors.append(
                RowError(
                    None,
                    column,
                    header,
                    f"Two columns are {column!r} (columns {positions[column] + 1} and {index + 1}): keep one.",
                )
            )
        else:
            positions[column] = index
    for column in required:
        if column not in positions:
            found = ", ".join(h for h in headers if h) or "none"
            errors.append(RowError(None, column, "", f"The file has no {column!r} column (its columns: {found})."))
    return list(positions.items()), warnings, errors


class ErrorReport:
    """Every error of a run: counted, the first ones kept for printing, all of them streamed to
    a CSV (row, column, value, message) when ``path`` is given."""

    def __init__(self, path: Path | None = None, keep: int = FIRST_ERRORS) -> None:
        self.path = path
        self.keep = keep
        self.count = 0
        self.first: list[RowError] = []
        self._file = None
        self._writer = None

    def add(self, error: RowError) -> None:
        self.count += 1
        if len(self.first) < self.keep:
            self.first.append(error)
        if self.path is not None:
            if self._writer is None:
                try:
                    self._file = self.path.open("w", encoding="utf-8-sig", newline="")
                except OSError:  # no folder to write it to (the file named does not exist either)
                    self.path = None
                    return
                self._writer = csv.writer(self._file)
                self._writer.writerow(["row", "column", "value", "message"])
            self._writer.writerow(
                [
                    "" if error.row is None else error.row,
                    error.column,
                    neutralise_cell(error.value),
                    neutralise_cell(error.message),
                ]
            )

    def extend(self, errors: Iterable[RowError]) -> None:
        for error in errors:
            self.add(error)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass
class ImportOutcome:
    label: str
    rows: int = 0
    counts: Counts = field(default_factory=Counts)
    errors: int = 0
    first_errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False
    written: bool = False
    report_path: Path | None = None
    description: str = ""

    @property
    def ok(self) -> bool:
        return self.errors == 0

    def summary(self) -> str:
        head = f"{self.label.capitalize()}: {self.rows} row(s) read ({self.description}); {self.counts}"
        if self.errors:
            return f"{head}; {self.errors} error(s). Nothing was written."
        if self.dry_run:
            return f"{head}. Dry run: nothing was written."
        return f"{head}. Written."


def raw_row(cells: list[str], positions: list[tuple[str, int]]) -> dict[str, str] | None:
    """The cleaned cells of the known columns (column -> text), None for a row with none."""
    size = len(cells)
    values = [cells[index].strip() if index < size else "" for _, index in positions]
    if not any(values):
        return None
    joined = "\x00".join(values)  # one look in C for a cell an export guarded with "'"
    if "'" in joined and ("\x00'" in joined or joined[0] == "'"):
        values = [clean_cell(value) if value[:1] == "'" else value for value in values]
    return dict(zip([column for column, _ in positions], values, strict=True))


def _progress(table: Table, enabled: bool) -> Any:
    done, total = table.position()
    if not enabled:
        return None
    from tqdm import tqdm

    if table.format == "csv":
        return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr, leave=False)
    return tqdm(total=total, unit="row", file=sys.stderr, leave=False)


class _Flow:
    """One run: the job, the error report and whether it was written."""

    def __init__(self, job: ImportJob, report: ErrorReport, dry_run: bool) -> None:
        self.job, self.report, self.dry_run = job, report, dry_run
        self.written = False

    def add(self, errors: Iterable[RowError]) -> None:
        self.report.extend(errors)

    @property
    def failed(self) -> bool:
        return self.report.count > 0

    def flush(self, batch: list[Any]) -> None:
        """Check (and, while no error was found, write) one batch, in a savepoint unless the
        job keeps its own (``ImportJob.own_savepoints``)."""
        try:
            if self.job.own_savepoints:
                self.add(self.job.flush(batch, write=not self.failed))
            else:
                with transaction.atomic():
                    self.add(self.job.flush(batch, write=not self.failed))
        except DatabaseError as exc:
            self.add([RowError(None, "", "", f"The database refused rows {batch[0].row}-{batch[-1].row}: {exc}")])

    def database_side(self, present: set[str], batches: Iterable[list[Any]]) -> None:
        """The transaction: every batch, then commit only if no row failed and not a dry run."""
        with transaction.atomic():
            try:
                self.add(self.job.start(present))
                for batch in batches:
                    self.flush(batch)
                self.add(self.job.finish(write=not self.failed))
            finally:
                self.job.settle()  # whatever happened, no write may still run when the transaction ends
            self.written = not self.failed and not self.dry_run
            if not self.written:
                transaction.set_rollback(True)


def run_import(
    job: ImportJob,
    table: Table,
    *,
    dry_run: bool = False,
    report: ErrorReport | None = None,
    batch_size: int = BATCH_SIZE,
    progress: bool = False,
) -> ImportOutcome:
    """Import ``table`` with ``job`` in one transaction: all rows or none (see the module)."""
    report = report or ErrorReport()
    outcome = ImportOutcome(label=job.label, dry_run=dry_run, description=table.description)
    positions, outcome.warnings, header_errors = map_headers(table.headers, job.columns, job.required)
    report.extend(header_errors)
    flow = _Flow(job, report, dry_run)
    bar = _progress(table, progress)

    def batches() -> Iterator[list[Any]]:
        """Parse the rows (errors go to the report), yield full batches; bounded memory."""
        batch: list[Any] = []
        last_position = 0
        try:
            for row, cells in table.rows():
                raw = raw_row(cells, positions)
                if raw is None:
                    continue
                outcome.rows += 1
                if hygiene := row_text_errors(raw, row=row):
                    flow.add(hygiene)
                    continue
                parsed = job.parse(raw, row)
                if isinstance(parsed, list):
                    flow.add(parsed)
                    continue
                batch.append(parsed)
                if len(batch) >= batch_size:
                    yield batch
                    batch = []
                    if bar is not None:
                        done, _ = table.position()
                        bar.update(max(0, done - last_position))
                        last_position = done
        except ImportFileError as exc:
            flow.add([RowError(None, "", "", str(exc))])
        if outcome.rows == 0 and not flow.failed:
            flow.add([RowError(None, "", "", "The file has a header row but no data rows: nothing to import.")])
        if batch:
            yield batch

    try:
        if not header_errors:
            flow.database_side({column for column, _ in positions}, batches())
    finally:
        if bar is not None:
            bar.close()
        report.close()
    outcome.written = flow.written
    outcome.counts = job.counts
    outcome.errors = report.count
    outcome.first_errors = report.first
    outcome.report_path = report.path if report.count else None
    return outcome
