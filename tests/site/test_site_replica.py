"""Reports and exports read from a streaming replica when REPLICA_DATABASE_URL is set
(common/replica.py, docs/scaling.md).

Two halves: in this process, which reads are marked for the replica (the router's decisions, and
which pages and commands run their queries inside ``replica_reads()``), on any database; then a
real primary and streaming replica (scripts/replica_cluster.sh, two PostgreSQL 15 clusters on
loopback) with tests/site/replica_probe.py run against them in a process of its own. The second
half needs root and Debian's pg_createcluster; without them it is skipped, except under CI=true.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test import Client

import common.replica
from catalog.models import Item, Location, UnitOfMeasure, Warehouse
from common.replica import REPLICA, ReplicaRouter, on_replica, replica_reads

ROOT = Path(__file__).resolve().parents[2]
router = ReplicaRouter()


@pytest.fixture
def replica_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common.replica, "replica_configured", lambda: True)


def test_reads_go_to_the_replica_only_inside_replica_reads(replica_configured) -> None:
    assert router.db_for_read(Item) is None  # Django's default: the primary
    with replica_reads():
        assert router.db_for_read(Item) == REPLICA
    assert router.db_for_read(Item) is None


def test_without_a_replica_every_read_goes_to_the_primary() -> None:
    with replica_reads():
        assert router.db_for_read(Item) is None


def test_writes_and_migrations_never_go_to_the_replica(replica_configured) -> None:
    with replica_reads():
        assert router.db_for_write(Item) == "default"
    assert router.allow_migrate(REPLICA, "stock") is False
    assert router.allow_migrate("default", "stock") is True


@pytest.mark.django_db
def test_inside_a_transaction_reads_stay_on_the_primary(replica_configured) -> None:
    with replica_reads(), transaction.atomic():
        assert router.db_for_read(Item) is None


def test_a_streamed_iterator_reads_on_the_replica_only_while_producing_a_row(replica_configured) -> None:
    seen_while_producing = []

    def rows():
        for n in range(3):
            seen_while_producing.append(router.db_for_read(Item))
            yield n

    between = []
    for _ in on_replica(rows()):
        between.append(router.db_for_read(Item))
    assert seen_while_producing == [REPLICA, REPLICA, REPLICA]
    assert between == [None, None, None]


class ReadSpy:
    """Records, for every statement, whether it ran inside ``replica_reads()``."""

    def __init__(self) -> None:
        self.statements: list[tuple[bool, str]] = []

    def __call__(self, execute, sql, params, many, context):  # noqa: ANN001, ANN204
        self.statements.append((common.replica._reading_from_replica.get(), sql))
        return execute(sql, params, many, context)

    def marked(self, table: str) -> set[bool]:
        """For the statements that read ``table``: were they inside replica_reads()?"""
        return {inside for inside, sql in self.statements if table in sql}


@pytest.fixture
def boss_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    Warehouse.objects.create(code="RPL", name="Replicated")
    return client


@pytest.mark.django_db
def test_the_audit_trail_and_its_csv_read_inside_replica_reads(boss_client) -> None:
    spy = ReadSpy()
    with connection.execute_wrapper(spy):
        page = boss_client.get("/admin/audit-trail/")
        csv = b"".join(boss_client.get("/admin/audit-trail/?format=csv").streaming_content)
    assert page.status_code == 200 and b"RPL" in page.content and b"RPL" in csv
    assert spy.marked("catalog_historicalwarehouse") == {True}
    assert spy.marked("django_session") == {False}  # the request's own plumbing stays on the primary


@pytest.mark.django_db
def test_the_admin_export_reads_its_rows_inside_replica_reads(boss_client) -> None:
    Location.objects.create(warehouse=Warehouse.objects.get(code="RPL"), code="A-01", name="A-01")
    Item.objects.create(sku="RPL-1", name="Mug", base_unit=UnitOfMeasure.objects.get(code="each"))
    spy = ReadSpy()
    with connection.execute_wrapper(spy):
        response = boss_client.post("/admin/catalog/item/export/", {"format": "0", "resource": "0"})
    assert response.status_code == 200 and b"RPL-1" in response.content
    rows_read = {inside for inside, sql in spy.statements if 'FROM "catalog_item"' in sql}
    assert True in rows_read


@pytest.mark.django_db
def test_the_export_commands_read_inside_replica_reads(tmp_path) -> None:
    from django.core.management import call_command

    Location.objects.create(warehouse=Warehouse.objects.create(code="RPL", name="R"), code="A-01", name="A-01")
    spy = ReadSpy()
    with connection.execute_wrapper(spy):
        call_command("export_locations", str(tmp_path / "locations.csv"), stdout=io.StringIO())
    assert spy.marked('FROM "catalog_location"') == {True}


# --- A real streaming replica -------------------------------------------------------------------


def _replica_cluster_possible() -> str | None:
    """Why a primary/replica pair cannot be created here, or None when it can."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs root (pg_createcluster, runuser)"
    if not all(shutil.which(tool) for tool in ("pg_createcluster", "pg_basebackup", "pg_lsclusters")):
        return "needs Debian's postgresql-common and PostgreSQL 15 (pg_createcluster, pg_basebackup)"
    return None


def _run(command: list[str], env: dict[str, str], timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_reports_and_exports_read_from_a_real_streaming_replica() -> None:
    reason = _replica_cluster_possible()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but no replica can be created: {reason}")
        pytest.skip(reason)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DATABASE_", "REPLICA_"))}
    script = str(ROOT / "scripts" / "replica_cluster.sh")
    try:
        up = _run(["bash", script, "up"], env, timeout=180)
        assert up.returncode == 0, up.stderr
        env.update(line.split("=", 1) for line in up.stdout.split() if "=" in line)
        assert env["REPLICA_DATABASE_URL"] != env["DATABASE_URL"]
        migrate = _run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"], env, timeout=300)
        assert migrate.returncode == 0, migrate.stderr
        probe = _run([sys.executable, str(Path(__file__).with_name("replica_probe.py"))], env, timeout=300)
        assert probe.returncode == 0, probe.stdout + probe.stderr
        assert [line for line in probe.stdout.splitlines() if line.startswith("ok ")] == [
            "ok replica_is_a_standby",
            "ok audit_trail_page_reads_the_replica",
            "ok audit_trail_csv_reads_the_replica",
            "ok export_command_reads_the_replica",
            "ok writes_and_transactions_stay_on_the_primary",
            "ok replica_catches_up",
        ]
    finally:
        down = _run(["bash", script, "down"], env, timeout=120)
        assert down.returncode == 0, down.stderr
