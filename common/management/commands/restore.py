"""``python manage.py restore PATH [--database-url URL] [--force]`` (docs/operations.md)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from common import backups
from common.backups import BackupError, Database, backup_restore


class Command(BaseCommand):
    help = (
        "Restore a backup taken by `manage.py backup` into an empty database (default: this site's "
        "own). Refuses a backup that fails its checksums and, without --force, a database that holds tables."
    )

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("path", type=Path, help="The backup's folder (backup-<time>).")
        parser.add_argument("--database-url", help="Restore there instead of into DATABASE_URL.")
        parser.add_argument(
            "--force", action="store_true", help="Replace everything in a target database that is not empty."
        )

    def handle(self, *args, path: Path, database_url: str | None, force: bool, **options) -> None:
        try:
            target = Database.from_url(database_url) if database_url else backups.site_database()
            if target.engine == "postgresql" and not database_url:
                connection.close()  # the site's own connection must not hold the schema being replaced
            manifest = backup_restore(path, database=target, force=force)
        except BackupError as error:
            raise CommandError(str(error)) from error
        rows = sum(manifest["tables"].values())
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {path} ({manifest['created_at']}, code {manifest['code_version'][:12]}): "
                f"{len(manifest['tables'])} tables, {rows} rows, row counts checked."
            )
        )
