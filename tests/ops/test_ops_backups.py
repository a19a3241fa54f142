"""Backups that are known to restore (common/backups.py, manage.py backup / restore / backup
--verify), on the database the suite runs on: PostgreSQL (pg_dump custom format, restored into
scratch databases on the same server) or SQLite (the online backup API, files in tmp_path).

Each test takes a backup of a small ledger (one receipt of 5 widgets at 2.00), and restores or
verifies it; the damaged cases must be refused with nothing written to the target."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings

from common import backups
from common.backups import (
    BackupError,
    Database,
    backup_create,
    backup_restore,
    backup_verify,
    backups_in,
    scratch_database,
    table_counts,
)
from stock.services import stock_receive
from tests.stock.factories import ItemFactory, LocationFactory, UserFactory, WarehouseFactory, ensure_virtual_locations

POSTGRES = connection.vendor == "postgresql"


@pytest.fixture
def site(transactional_db, tmp_path) -> Database:
    """The database backed up, holding one receipt: 5 WIDGET into WH1/A-01 at 2.00. On
    PostgreSQL the test database itself (committed rows: transactional_db, requested by name: asked
    for with getfixturevalue, pytest-django never set up the test database); on SQLite a file copy
    of the in-memory test database (the code under test opens its own connections to a file)."""
    ensure_virtual_locations()
    actor = UserFactory(username="boss", is_superuser=True)
    bin_a = LocationFactory(warehouse=WarehouseFactory(code="WH1"), code="A-01")
    item = ItemFactory(sku="WIDGET")
    stock_receive(item=item, location=bin_a, quantity=Decimal(5), unit_cost=Decimal("2.00"), actor=actor)
    if POSTGRES:
        assert connection.settings_dict["NAME"].startswith("test_")  # never a real database
        return Database.from_settings(connection.settings_dict)
    connection.ensure_connection()
    file = tmp_path / "site.sqlite3"
    with closing(sqlite3.connect(file)) as copy:
        # A dump, not the backup API: the test's open transaction on the shared in-memory database
        # would keep the backup waiting for its lock forever.
        copy.executescript("\n".join(connection.connection.iterdump()))
    return Database("sqlite", str(file))


@pytest.fixture
def target(site, tmp_path):
    """An empty database to restore into, dropped afterwards."""
    with scratch_database(site) as empty:
        yield empty


def test_a_backup_has_a_manifest_with_counts_checksums_time_and_code_version(site, tmp_path):
    path = backup_create(output_dir=tmp_path / "backups", database=site)
    manifest = json.loads((path / "manifest.json").read_text())
    assert path.name.startswith("backup-") and path.parent == tmp_path / "backups"
    assert manifest["engine"] == site.engine
    assert manifest["code_version"] not in ("", "unknown")  # this checkout's git commit
    assert manifest["created_at"].endswith("+00:00")
    # One receipt: one movement, two levels (A-01 +5, the supplier location -5), one valuation.
    assert manifest["tables"]["stock_movement"] == 1
    assert manifest["tables"]["stock_stocklevel"] == 2
    assert manifest["tables"]["catalog_item"] == 1
    assert manifest["tables"] == table_counts(site)
    (data,) = manifest["files"]
    assert data == ("database.dump" if POSTGRES else "database.sqlite3")
    assert manifest["files"][data]["bytes"] == (path / data).stat().st_size
    assert len(manifest["files"][data]["sha256"]) == 64
    assert not list((tmp_path / "backups").glob(".partial-*"))


def test_restore_into_an_empty_database_gives_the_same_rows(site, target, tmp_path):
    path = backup_create(output_dir=tmp_path, database=site)
    manifest = backup_restore(path, database=target)
    assert table_counts(target) == manifest["tables"] == table_counts(site)


def test_restore_refuses_a_database_that_is_not_empty_unless_forced(site, target, tmp_path):
    path = backup_create(output_dir=tmp_path, database=site)
    backup_restore(path, database=target)
    before = table_counts(target)
    with pytest.raises(BackupError, match=r"already holds \d+ table\(s\)\. Nothing was restored"):
        backup_restore(path, database=target)
    assert table_counts(target) == before
    backup_restore(path, database=target, force=True)  # replaces everything: same rows, not twice
    assert table_counts(target) == before


def test_a_corrupted_backup_is_refused_and_nothing_is_written(site, target, tmp_path):
    path = backup_create(output_dir=tmp_path, database=site)
    data = next(p for p in path.iterdir() if p.name != "manifest.json")
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte in the middle: same size, different checksum
    data.write_bytes(bytes(raw))
    with pytest.raises(BackupError, match="does not match its checksum"):
        backup_restore(path, database=target)
    assert table_counts(target) == {}
    assert backup_verify(path, server=site) == [
        f"{path}: {data.name} does not match its checksum: the backup is corrupt or was changed."
    ]


def test_a_truncated_or_missing_file_and_an_unreadable_manifest_are_refused(site, target, tmp_path):
    path = backup_create(output_dir=tmp_path, database=site)
    data = next(p for p in path.iterdir() if p.name != "manifest.json")
    data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(BackupError, match="does not match its checksum"):
        backup_restore(path, database=target)
    data.unlink()
    with pytest.raises(BackupError, match="is missing"):
        backup_restore(path, database=target)
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(BackupError, match="is not a readable backup"):
        backup_restore(path, database=target)
    assert table_counts(target) == {}


def test_a_manifest_pointing_outside_its_folder_is_refused(site, target, tmp_path):
    path = backup_create(output_dir=tmp_path / "b", database=site)
    manifest = json.loads((path / "manifest.json").read_text())
    (tmp_path / "evil").write_bytes(b"x")
    manifest["files"] = {"../../evil": {"bytes": 1, "sha256": "0" * 64}}
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BackupError, match="is missing"):
        backup_restore(path, database=target)


def test_verify_passes_a_good_backup_and_drops_its_scratch_database(site, tmp_path):
    path = backup_create(output_dir=tmp_path, database=site)
    assert backup_verify(path, server=site) == []
    if POSTGRES:
        with site.connect() as conn:
            names = [row[0] for row in conn.execute("SELECT datname FROM pg_database").fetchall()]
        assert not [name for name in names if "_verify_" in name and name.startswith(site.name[:40])]


def test_verify_reports_a_row_count_that_differs_from_the_manifest(site, tmp_path):
    path = backup_create(output_dir=tmp_path, database=site)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["tables"]["stock_movement"] = 2  # the backup's own data has 1
    (path / "manifest.json").write_text(json.dumps(manifest))
    (problem,) = backup_verify(path, server=site)
    assert "table stock_movement: the backup says 2 row(s), the restored database has 1 row(s)" in problem


def test_verify_runs_the_reconciliation_on_the_restored_data(site, tmp_path):
    """A backup of books that do not balance restores fine but fails verification."""
    damage = "UPDATE stock_stocklevel SET on_hand = on_hand + 1 WHERE on_hand > 0"  # 5 becomes 6 at A-01
    if POSTGRES:
        with connection.cursor() as cursor:
            cursor.execute(damage)
    else:
        with closing(sqlite3.connect(site.name)) as conn, conn:
            conn.execute(damage)
    path = backup_create(output_dir=tmp_path, database=site)
    (problem,) = backup_verify(path, server=site)
    assert problem.startswith("`manage.py reconcile` on the restored data failed")
    assert "level_vs_ledger: WIDGET" in problem and "expected 5, found 6" in problem


def test_retention_keeps_the_newest_backups(site, tmp_path):
    taken = [backup_create(output_dir=tmp_path, database=site, keep=2) for _ in range(3)]
    assert backups_in(tmp_path) == taken[1:]  # the oldest of three went
    (tmp_path / ".partial-backup-x").mkdir()  # a crashed run's leftovers are not counted or deleted
    (tmp_path / "notes").mkdir()
    backup_create(output_dir=tmp_path, database=site, keep=2)
    assert len(backups_in(tmp_path)) == 2
    assert (tmp_path / ".partial-backup-x").is_dir() and (tmp_path / "notes").is_dir()


def test_restore_refuses_a_backup_of_the_other_engine(site, target, tmp_path):
    path = backup_create(output_dir=tmp_path, database=site)
    manifest = json.loads((path / "manifest.json").read_text())
    other = "sqlite" if POSTGRES else "postgresql"
    manifest["engine"] = other
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BackupError, match=f"is a {other} backup; the target is {site.engine}"):
        backup_restore(path, database=target)


# --- The commands ---------------------------------------------------------------------------------


def test_the_commands_back_up_verify_and_restore(site, target, tmp_path, monkeypatch):
    monkeypatch.setattr(backups, "site_database", lambda: site)  # on SQLite, the file copy
    out = StringIO()
    call_command("backup", "--output", str(tmp_path), stdout=out)
    (path,) = backups_in(tmp_path)
    assert f"Backup written to {path}" in out.getvalue()
    out = StringIO()
    call_command("backup", "--verify", str(path), stdout=out)
    assert "its books balance" in out.getvalue()
    call_command("restore", str(path), "--database-url", target.url, stdout=StringIO())
    assert table_counts(target) == table_counts(site)
    with pytest.raises(CommandError, match="already holds"):
        call_command("restore", str(path), "--database-url", target.url, stdout=StringIO())
    (path / "manifest.json").write_text("[]")
    err = StringIO()
    with pytest.raises(CommandError, match="failed verification: 1 problem"):
        call_command("backup", "--verify", str(path), stdout=StringIO(), stderr=err)
    assert "not a readable backup" in err.getvalue()


def test_the_nightly_task_records_its_run_and_keeps_backup_keep(site, tmp_path, monkeypatch):
    from common.jobs import BACKUP_JOB, BACKUP_VERIFY_JOB, last_success
    from common.models import JobRun
    from common.tasks import BackupVerificationFailed, backup_nightly, backup_verify_weekly

    monkeypatch.setattr(backups, "site_database", lambda: site)
    with override_settings(BACKUP_DIR=tmp_path, BACKUP_KEEP=1):
        with pytest.raises(BackupVerificationFailed):  # nothing to verify yet: the run fails, visibly
            backup_verify_weekly.apply(throw=True)
        first = Path(backup_nightly.apply().get())
        second = Path(backup_nightly.apply().get())
        assert backups_in(tmp_path) == [second] and not first.exists()
        assert backup_verify_weekly.apply().get() == 0
    assert last_success(BACKUP_JOB) is not None
    runs = list(JobRun.objects.filter(job=BACKUP_VERIFY_JOB).order_by("started_at").values_list("status", flat=True))
    assert runs == ["failed", "ok"]
