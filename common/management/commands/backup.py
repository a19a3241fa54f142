"""``python manage.py backup [--output DIR] [--keep N]`` and ``backup --verify PATH``
(docs/operations.md, "Backups")."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from common import backups
from common.backups import BackupError, backup_create, backup_verify


class Command(BaseCommand):
    help = (
        "Back up the database (pg_dump custom format on PostgreSQL, the online backup API on SQLite) "
        "with a manifest of row counts and checksums; or, with --verify PATH, restore a backup into a "
        "scratch database and check it (row counts, reconciliation): exit 1 on any difference."
    )

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument(
            "--output", type=Path, help=f"Folder of the backups (default BACKUP_DIR: {settings.BACKUP_DIR})."
        )
        parser.add_argument(
            "--keep", type=int, default=settings.BACKUP_KEEP, help="Backups kept there (default BACKUP_KEEP)."
        )
        parser.add_argument("--verify", type=Path, metavar="PATH", help="Check this backup instead of taking one.")

    def handle(self, *args, output: Path | None, keep: int, verify: Path | None, **options) -> None:
        database = backups.site_database()
        if verify is not None:
            problems = backup_verify(verify, server=database)
            if problems:
                for problem in problems:
                    self.stderr.write(problem)
                raise CommandError(f"{verify} failed verification: {len(problems)} problem(s).")
            self.stdout.write(self.style.SUCCESS(f"{verify} restores, its row counts match and its books balance."))
            return
        if keep < 1:
            raise CommandError("--keep must be 1 or more: the backup just taken is always kept.")
        try:
            path = backup_create(output_dir=output or settings.BACKUP_DIR, database=database, keep=keep)
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS(f"Backup written to {path}"))
