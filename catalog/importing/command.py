"""The shape every ``import_*`` and ``export_*`` management command shares.

``import_X PATH [--dry-run] [--format csv|xlsx] [--encoding ENC] [--user USERNAME]
[--no-progress] [--batch-size N]``: streams the file with a progress bar (stderr, only on a
terminal), validates every row, writes in batches inside one transaction and prints a summary.
On errors it prints the first ones, writes the full list next to the file
(``NAME.errors.csv``: row, column, value, message), writes nothing and exits non-zero.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.replica import replica_reads

from .reading import FORMATS, ImportFileError, open_path
from .runner import BATCH_SIZE, ErrorReport, ImportJob, ImportOutcome, RowError, run_import
from .writing import write_table


def error_report_path(path: Path) -> Path:
    """Where the error report of ``path`` goes: beside it, ``items.csv`` -> ``items.errors.csv``."""
    return path.with_name(f"{path.stem}.errors.csv")


class ImportCommand(BaseCommand):
    job_class: type[ImportJob] = ImportJob

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="The CSV or XLSX file to import.")
        parser.add_argument("--dry-run", action="store_true", help="Validate and count, then roll back.")
        parser.add_argument("--format", choices=FORMATS, help="csv or xlsx (default: from the file).")
        parser.add_argument("--encoding", help="Text encoding of a CSV (default: detected; e.g. utf-8, cp1252).")
        parser.add_argument("--user", help="Username recorded as the actor (history, movements); default: the system.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")
        parser.add_argument(
            "--batch-size", type=int, default=BATCH_SIZE, help=f"Rows per write (default {BATCH_SIZE})."
        )

    def job_kwargs(self, options: dict[str, Any]) -> dict[str, Any]:
        return {}

    def _actor(self, username: str | None) -> Any:
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        return user

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        actor = self._actor(options["user"])
        job = self.job_class(actor=actor, source_name=path.name, **self.job_kwargs(options))
        report = ErrorReport(error_report_path(path))
        started = time.perf_counter()
        try:
            table = open_path(path, fmt=options["format"], encoding=options["encoding"], known=job.columns)
        except ImportFileError as exc:
            report.add(RowError(None, "", "", str(exc)))
            report.close()
            outcome = ImportOutcome(label=job.label, errors=1, first_errors=report.first, report_path=report.path)
        else:
            with table:
                outcome = run_import(
                    job,
                    table,
                    dry_run=options["dry_run"],
                    report=report,
                    batch_size=options["batch_size"],
                    progress=not options["no_progress"] and sys.stderr.isatty(),
                )
        self._print(outcome, time.perf_counter() - started)

    def _print(self, outcome: ImportOutcome, seconds: float) -> None:
        for warning in outcome.warnings:
            self.stderr.write(self.style.WARNING(f"Warning: {warning}"))
        if outcome.errors:
            for error in outcome.first_errors:
                self.stderr.write(str(error))
            if outcome.errors > len(outcome.first_errors):
                self.stderr.write(f"... and {outcome.errors - len(outcome.first_errors)} more.")
            if outcome.description:
                self.stdout.write(outcome.summary())
            raise CommandError(f"{outcome.errors} error(s): nothing was written. Full report: {outcome.report_path}")
        rate = outcome.rows / seconds if seconds > 0 else 0
        self.stdout.write(self.style.SUCCESS(outcome.summary()) + f" ({seconds:.1f} s, {rate:,.0f} rows/s)")


class ExportCommand(BaseCommand):
    """``export_X PATH [--format csv|xlsx]``: the same columns the import reads, streamed."""

    columns: tuple[str, ...] = ()
    title = "export"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="The file to write (.csv or .xlsx).")
        parser.add_argument("--format", choices=FORMATS, help="csv or xlsx (default: from the file name).")

    def rows(self, options: dict[str, Any]) -> Iterator[list[str]]:
        raise NotImplementedError

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        fmt = options["format"] or ("xlsx" if path.suffix.lower() == ".xlsx" else "csv")
        with replica_reads():  # an export: read from the replica when there is one (common/replica.py)
            count = write_table(path, fmt, list(self.columns), self.rows(options), title=self.title)
        self.stdout.write(self.style.SUCCESS(f"{count} row(s) written to {path}."))
