"""Run by tests/site/test_site_replica.py in a process of its own, with DATABASE_URL naming a
migrated primary and REPLICA_DATABASE_URL its streaming replica (scripts/replica_cluster.sh):
Django's settings are read once per process, so the pair cannot be swapped in under pytest.

Prints ``ok <check>`` for every check that holds and exits non-zero (with the traceback) at the
first that does not. Replay on the replica is paused for one check, so that "read from the
replica" is told apart from "read from the primary" by what each one can see.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inventory_site.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from catalog.models import Warehouse  # noqa: E402
from common.replica import REPLICA, replica_reads  # noqa: E402


def scalar(alias: str, statement: str) -> object:
    with connections[alias].cursor() as cursor:
        cursor.execute(statement)
        return cursor.fetchone()[0]


def caught_up() -> None:
    """Wait until the replica has replayed everything the primary has written so far."""
    target = scalar("default", "SELECT pg_current_wal_lsn()::text")
    for _ in range(200):
        if scalar(REPLICA, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"):
            return
        time.sleep(0.05)
    raise AssertionError(f"the replica did not replay up to {target} in 10 s")


def touched(captured: CaptureQueriesContext, table: str) -> bool:
    return any(table in query["sql"] for query in captured.captured_queries)


def ok(check: str) -> None:
    print(f"ok {check}", flush=True)


def main() -> None:
    assert scalar("default", "SELECT pg_is_in_recovery()") is False
    assert scalar(REPLICA, "SELECT pg_is_in_recovery()") is True
    ok("replica_is_a_standby")

    boss = get_user_model().objects.create_superuser("replica-boss", "boss@example.com", "x-long-password-1")
    Warehouse.objects.create(code="RPL", name="Replicated")
    caught_up()
    client = Client()
    client.force_login(boss)

    # The audit trail reads its entries on the replica; the primary serves only the session.
    with CaptureQueriesContext(connections["default"]) as primary, CaptureQueriesContext(connections[REPLICA]) as copy:
        response = client.get("/admin/audit-trail/")
    assert response.status_code == 200, response.status_code
    assert b"RPL" in response.content
    assert touched(copy, "catalog_historicalwarehouse"), copy.captured_queries
    assert not touched(primary, "catalog_historicalwarehouse"), primary.captured_queries
    ok("audit_trail_page_reads_the_replica")

    with CaptureQueriesContext(connections["default"]) as primary, CaptureQueriesContext(connections[REPLICA]) as copy:
        response = client.get("/admin/audit-trail/?format=csv")
        body = b"".join(response.streaming_content)  # the rows are read while streaming
    assert b"RPL" in body
    assert touched(copy, "catalog_historicalwarehouse")
    assert not touched(primary, "catalog_historicalwarehouse")
    ok("audit_trail_csv_reads_the_replica")

    with tempfile.TemporaryDirectory() as folder:
        with (
            CaptureQueriesContext(connections["default"]) as primary,
            CaptureQueriesContext(connections[REPLICA]) as copy,
        ):
            call_command("export_locations", str(Path(folder) / "locations.csv"), verbosity=0)
        assert touched(copy, "catalog_location") and not touched(primary, "catalog_location")
    ok("export_command_reads_the_replica")

    # Paused replay: a row written now is on the primary only. Reads in replica_reads() do not
    # see it, every other read does; a write inside the block still goes to the primary.
    with connections[REPLICA].cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_pause()")
    try:
        with replica_reads():
            Warehouse.objects.create(code="LAG", name="Written during the pause")
            assert not Warehouse.objects.filter(code="LAG").exists()
            with transaction.atomic():  # inside a transaction reads stay on the primary
                assert Warehouse.objects.filter(code="LAG").exists()
        assert Warehouse.objects.filter(code="LAG").exists()
        ok("writes_and_transactions_stay_on_the_primary")
    finally:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute("SELECT pg_wal_replay_resume()")
    caught_up()
    with replica_reads():
        assert Warehouse.objects.filter(code="LAG").exists()
    ok("replica_catches_up")


if __name__ == "__main__":
    assert REPLICA in connections.settings, "REPLICA_DATABASE_URL is not set"
    main()
