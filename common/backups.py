"""Backups that are known to restore (docs/operations.md, "Backups").

A backup is a directory ``backup-<UTC time to the microsecond>Z/`` holding the database file and ``manifest.json``:
when it was taken, the code's version (the git commit, or ``CODE_VERSION``), the engine, the row
count of every table and the SHA-256 and size of every file.

- PostgreSQL: ``pg_dump --format=custom``. The row counts are taken in a ``REPEATABLE READ``
  transaction whose snapshot pg_dump shares (``pg_export_snapshot()``, ``--snapshot``), so they
  count exactly the rows in the dump while writers go on.
- SQLite: the online backup API copies a consistent image while the site runs; the counts are
  read from the copy itself.

A backup is written under a hidden ``.partial-`` name and renamed when complete: a crash leaves
no directory that looks like a backup. Retention keeps the newest ``keep`` complete backups.

``backup_restore`` refuses a backup whose files do not match the manifest's checksums (corrupt
or tampered), one of another engine, and a target database that already holds tables unless
``force`` (which empties it first); after restoring it compares every table's row count with
the manifest. ``backup_verify`` restores into a scratch database, compares the counts and runs
``BACKUP_VERIFY_COMMANDS`` (the reconciliation) against it in a child process, then drops the
scratch database; it returns every problem found (empty: the backup is good).

This module imports no app: the checks of the restored data run as management commands.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import psycopg
from django.conf import settings
from psycopg import sql

from common.errors import DomainError

MANIFEST = "manifest.json"
FORMAT = 1
PREFIX = "backup-"


class BackupError(DomainError):
    """A backup that cannot be made, trusted or restored; the message says why."""

    code = "backup_error"


@dataclass(frozen=True)
class Database:
    """Where a database lives, from a Django ``DATABASES`` entry."""

    engine: str  # "postgresql" or "sqlite"
    name: str
    user: str = ""
    password: str = ""
    host: str = ""
    port: str = ""

    @classmethod
    def from_settings(cls, entry: dict) -> Database:
        engine = entry["ENGINE"].rsplit(".", 1)[-1]
        if engine not in ("postgresql", "sqlite3"):
            raise BackupError(f"Backups support PostgreSQL and SQLite, not {engine}.")
        if engine == "sqlite3":
            return cls("sqlite", str(entry["NAME"]))
        return cls(
            "postgresql",
            entry["NAME"],
            entry.get("USER") or "",
            entry.get("PASSWORD") or "",
            entry.get("HOST") or "",
            str(entry.get("PORT") or ""),
        )

    @classmethod
    def from_url(cls, url: str) -> Database:
        import environ

        return cls.from_settings(environ.Env.db_url_config(url))

    def with_name(self, name: str) -> Database:
        return Database(self.engine, name, self.user, self.password, self.host, self.port)

    @property
    def url(self) -> str:
        """A ``DATABASE_URL`` for a child process."""
        if self.engine == "sqlite":
            return f"sqlite:///{self.name}"
        credentials = quote(self.user, safe="") + (f":{quote(self.password, safe='')}" if self.password else "")
        where = f"{self.host or 'localhost'}" + (f":{self.port}" if self.port else "")
        return f"postgres://{credentials}@{where}/{quote(self.name, safe='')}"

    def connect(self, **kwargs) -> psycopg.Connection:  # noqa: ANN003
        params = {"dbname": self.name, "user": self.user, "password": self.password}
        params |= {"host": self.host, "port": self.port}
        return psycopg.connect(**{k: v for k, v in params.items() if v}, **kwargs)

    def client_env(self) -> dict[str, str]:
        """The environment of pg_dump/pg_restore: the password goes there, never on the command line."""
        env = dict(os.environ)
        env.update({k: v for k, v in {"PGHOST": self.host, "PGPORT": self.port, "PGUSER": self.user}.items() if v})
        if self.password:
            env["PGPASSWORD"] = self.password
        return env


def site_database() -> Database:
    """The site's own database (``DATABASES["default"]``)."""
    from django.db import connection

    return Database.from_settings(connection.settings_dict)


# --- Taking a backup -------------------------------------------------------------------------------


def code_version() -> str:
    """The git commit of the running code (``-dirty`` with uncommitted changes), else
    ``CODE_VERSION`` (set in an image), else "unknown"."""
    try:
        result = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=40"],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except OSError:
        result = None
    if result is not None and result.returncode == 0:
        return result.stdout.strip()
    return os.environ.get("CODE_VERSION", "unknown")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _pg_counts(conn: psycopg.Connection) -> dict[str, int]:
    tables = conn.execute(
        "SELECT schemaname, tablename FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
    ).fetchall()
    counts = {}
    for schema, table in tables:
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        counts[table if schema == "public" else f"{schema}.{table}"] = conn.execute(query).fetchone()[0]
    return counts


def _sqlite_counts(conn: sqlite3.Connection) -> dict[str, int]:
    tables = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()
    return {name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for (name,) in tables}  # noqa: S608


def table_counts(database: Database) -> dict[str, int]:
    """Every table's row count in ``database``."""
    if database.engine == "sqlite":
        with closing(sqlite3.connect(database.name)) as conn:
            return _sqlite_counts(conn)
    with database.connect() as conn:
        return _pg_counts(conn)


def _run(command: list[str], database: Database, what: str) -> None:
    result = subprocess.run(command, env=database.client_env(), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"{what} failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")


def _dump_postgresql(database: Database, file: Path) -> dict[str, int]:
    with database.connect(autocommit=True) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        counts = _pg_counts(conn)
        # pg_dump reads the same snapshot while this transaction stays open.
        command = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}"]
        _run([*command, f"--file={file}", f"--dbname={database.name}"], database, "pg_dump")
        conn.execute("COMMIT")
    return counts


def _copy_sqlite(source: str, target: Path) -> dict[str, int]:
    if not Path(source).is_file():
        raise BackupError(f"There is no SQLite database at {source}.")
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
        # A copy of a WAL database is one self-contained file: no -wal beside it needed.
        dst.execute("PRAGMA journal_mode=DELETE")
        return _sqlite_counts(dst)


def backup_create(*, output_dir: Path, database: Database, keep: int | None = None) -> Path:
    """Take a backup of ``database`` into a new directory under ``output_dir``; returns it.
    With ``keep``, delete all but the newest ``keep`` backups there afterwards."""
    output_dir.mkdir(parents=True, exist_ok=True)
    taken = datetime.now(tz=UTC)
    # Microseconds: names sort by time (retention relies on it), even for two in one second.
    name = f"{PREFIX}{taken:%Y%m%dT%H%M%S.%f}Z"
    if (output_dir / name).exists():
        raise BackupError(f"{output_dir / name} already exists.")
    partial = output_dir / f".partial-{name}"
    partial.mkdir()
    try:
        if database.engine == "postgresql":
            data = partial / "database.dump"
            counts = _dump_postgresql(database, data)
        else:
            data = partial / "database.sqlite3"
            counts = _copy_sqlite(database.name, data)
        manifest = {
            "format": FORMAT,
            "created_at": taken.isoformat(),
            "engine": database.engine,
            "code_version": code_version(),
            "tables": counts,
            "files": {data.name: {"sha256": sha256_of(data), "bytes": data.stat().st_size}},
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        partial.rename(output_dir / name)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if keep is not None:
        backups_prune(output_dir=output_dir, keep=keep)
    return output_dir / name


def backups_in(output_dir: Path) -> list[Path]:
    """The complete backups in ``output_dir``, oldest first (their names sort by time)."""
    if not output_dir.is_dir():
        return []
    return sorted(p for p in output_dir.iterdir() if p.name.startswith(PREFIX) and (p / MANIFEST).is_file())


def backups_prune(*, output_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` (at least 1) complete backups; returns the deleted."""
    old = backups_in(output_dir)[: -max(keep, 1)]
    for path in old:
        shutil.rmtree(path)
    return old


# --- Checking and restoring ----------------------------------------------------------------------------


def manifest_check(path: Path) -> dict:
    """The manifest of the backup at ``path`` once every file it lists matches its size and
    SHA-256; ``BackupError`` naming the first that does not (or a missing or unreadable one)."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        files, engine, tables = manifest["files"], manifest["engine"], manifest["tables"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BackupError(f"{path} is not a readable backup (its {MANIFEST}: {type(error).__name__}).") from error
    if manifest.get("format") != FORMAT or engine not in ("postgresql", "sqlite") or not isinstance(tables, dict):
        raise BackupError(f"{path}: the manifest's format is not one this code reads.")
    if not files:
        raise BackupError(f"{path}: the manifest lists no file.")
    for name, expected in files.items():
        file = path / name
        if Path(name).name != name or not file.is_file():
            raise BackupError(f"{path}: {name} is missing.")
        if file.stat().st_size != expected["bytes"] or sha256_of(file) != expected["sha256"]:
            raise BackupError(f"{path}: {name} does not match its checksum: the backup is corrupt or was changed.")
    return manifest


def _data_file(path: Path, manifest: dict) -> Path:
    return path / next(iter(manifest["files"]))


def _empty_postgresql(database: Database, *, force: bool) -> None:
    with database.connect(autocommit=True) as conn:
        schemas = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
            "AND nspname NOT LIKE 'pg_temp_%' AND nspname NOT LIKE 'pg_toast_temp_%'"
        ).fetchall()
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchone()[0]
        if tables and not force:
            raise BackupError(
                f"The target database {database.name} already holds {tables} table(s). Nothing was restored; "
                "restore into an empty database, or pass --force to replace everything in it."
            )
        if tables:
            for (schema,) in schemas:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
            conn.execute("CREATE SCHEMA public")


def _restore_sqlite(source: Path, database: Database, *, force: bool) -> None:
    target = Path(database.name)
    if target.exists() and target.stat().st_size:
        with closing(sqlite3.connect(target)) as conn:
            tables = len(_sqlite_counts(conn))
        if tables and not force:
            raise BackupError(
                f"The target database {target} already holds {tables} table(s). Nothing was restored; "
                "restore into an empty database, or pass --force to replace everything in it."
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)  # replaces every page of the target


def count_differences(expected: dict[str, int], found: dict[str, int]) -> list[str]:
    """One line per table whose row count differs (or that is missing or extra)."""
    problems = []
    for table in sorted(set(expected) | set(found)):
        if expected.get(table) != found.get(table):
            want = "missing" if table not in expected else f"{expected[table]} row(s)"
            got = "missing" if table not in found else f"{found[table]} row(s)"
            problems.append(f"table {table}: the backup says {want}, the restored database has {got}")
    return problems


def backup_restore(path: Path, *, database: Database, force: bool = False) -> dict:
    """Restore the backup at ``path`` into ``database``; returns its manifest. Refuses (nothing
    written) a backup that fails its checksums or is of another engine, and a non-empty target
    unless ``force``. ``BackupError`` when the restored row counts differ from the manifest."""
    manifest = manifest_check(path)
    if manifest["engine"] != database.engine:
        raise BackupError(f"{path} is a {manifest['engine']} backup; the target is {database.engine}.")
    data = _data_file(path, manifest)
    if database.engine == "postgresql":
        _empty_postgresql(database, force=force)
        command = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
        _run([*command, f"--dbname={database.name}", str(data)], database, "pg_restore")
    else:
        _restore_sqlite(data, database, force=force)
    problems = count_differences(manifest["tables"], table_counts(database))
    if problems:
        raise BackupError("The restored database differs from the backup: " + "; ".join(problems))
    return manifest


@contextmanager
def scratch_database(server: Database) -> Iterator[Database]:
    """A new empty database beside ``server`` (PostgreSQL: on its server, which needs CREATEDB;
    SQLite: a temporary file), dropped afterwards whatever happens."""
    if server.engine == "sqlite":
        with tempfile.TemporaryDirectory(prefix="inventory-verify-") as folder:
            yield Database("sqlite", str(Path(folder) / "verify.sqlite3"))
        return
    scratch = server.with_name(f"{server.name[:40]}_verify_{secrets.token_hex(4)}")
    with server.connect(autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch.name)))
    try:
        yield scratch
    finally:
        with server.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch.name)))


def backup_verify(path: Path, *, server: Database, commands: list[list[str]] | None = None) -> list[str]:
    """Restore ``path`` into a scratch database beside ``server``, compare its row counts with
    the manifest and run each of ``commands`` (``manage.py`` arguments; default
    ``BACKUP_VERIFY_COMMANDS``) against it; returns every problem (empty: the backup restores
    and its books balance). The scratch database is dropped whatever happens."""
    commands = settings.BACKUP_VERIFY_COMMANDS if commands is None else commands
    try:
        manifest_check(path)
        with scratch_database(server) as scratch:
            backup_restore(path, database=scratch)
            problems = []
            for arguments in commands:
                result = subprocess.run(
                    [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *arguments],
                    env={**os.environ, "DATABASE_URL": scratch.url},
                    capture_output=True,
                    text=True,
                    timeout=settings.BACKUP_VERIFY_TIMEOUT_SECONDS,
                    check=False,
                )
                if result.returncode != 0:
                    output = (result.stdout + result.stderr).strip()[-4000:]
                    problems.append(f"`manage.py {' '.join(arguments)}` on the restored data failed:\n{output}")
            return problems
    except BackupError as error:
        return [str(error)]
