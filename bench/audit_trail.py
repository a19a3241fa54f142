"""Audit trail benchmark: the first page of ``/admin/audit-trail/`` (``reports.audit``) on a big
ledger, read only: nothing is written, so an existing database may be used as it is.

Run ``python bench/audit_trail.py`` (default database ``inventory_bench_reports``, the 1M-movement
ledger bench/reports.py builds; ``--database NAME`` for another on the same server, whose URL is
``BENCH_DATABASE_URL``, default ``postgres://postgres@127.0.0.1:5432/postgres``), or
``python bench/audit_trail.py --build 200000`` to (re)create the scratch database
``inventory_bench_audit`` first with that many movements (bench/ledger.py's builders: a year of
receipt/issue pairs, posted in time order, ``posted_at`` = ``occurred_at``) and measure there. Prints, in
milliseconds (median and p99 of ``--repeat`` calls after one warm-up), the first page (100
entries) as a superuser: unfiltered, filtered to one warehouse, to the last 7 days, to one day a
month and to one day 11 months before the newest movement; and the ledger's size.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import timedelta
from pathlib import Path

from _common import django_setup, emit, progress, recreate_database, timed, with_database

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def build(movements: int) -> None:
    """A scratch ledger of ``movements`` rows (bench/ledger.py's set-based SQL: the benchmark
    building data fast, not a second write path), and a superuser to read it."""
    import ledger as lb
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    progress("migrating")
    call_command("migrate", verbosity=0, interactive=False)
    now = timezone.now()
    pairs = lb.create_master_data()
    lb.insert_opening_stock(pairs, now - timedelta(days=365))
    progress(f"growing the ledger to {movements}")
    lb.grow_ledger(pairs, movements - lb.movement_count(), now - timedelta(days=364), now - timedelta(hours=1))
    lb.sql(f"UPDATE {lb.tables()['movement']} SET posted_at = occurred_at")  # posted as it happened
    lb.sql(f"VACUUM ANALYZE {lb.tables()['movement']}")
    get_user_model().objects.create_superuser("bench-auditor", "auditor@example.com", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="inventory_bench_reports")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--build", type=int, default=0, help="build inventory_bench_audit with this many movements")
    options = parser.parse_args()
    server = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if options.build:
        options.database = "inventory_bench_audit"
        recreate_database(server, options.database)
    django_setup(with_database(server, options.database))
    if options.build:
        build(options.build)

    from django.contrib.auth import get_user_model
    from django.db.models import Max

    from catalog.models import Warehouse
    from reports.audit import AuditFilters, audit_trail_page
    from stock.models import Movement

    boss = get_user_model().objects.filter(is_superuser=True, is_active=True).first()
    if boss is None:
        raise SystemExit(f"{options.database} has no active superuser: this benchmark only reads.")
    newest = Movement.objects.aggregate(at=Max("posted_at"))["at"]
    if newest is None:
        raise SystemExit(f"{options.database} has no movement.")
    newest_day = newest.date()
    warehouse = Warehouse.objects.order_by("code").first()
    cases = {
        "first_page": AuditFilters(),
        "one_warehouse": AuditFilters(warehouse=warehouse),
        "last_7_days": AuditFilters(date_from=newest_day - timedelta(days=6), date_to=newest_day),
        "one_day_a_month_back": AuditFilters(
            date_from=newest_day - timedelta(days=30), date_to=newest_day - timedelta(days=30)
        ),
        "one_day_11_months_back": AuditFilters(
            date_from=newest_day - timedelta(days=335), date_to=newest_day - timedelta(days=335)
        ),
    }
    emit("movements", Movement.objects.count())
    for name, filters in cases.items():
        progress(f"{name} x {options.repeat}")
        p50, p99 = timed(
            lambda filters=filters: audit_trail_page(user=boss, filters=filters, page=1, per_page=100),
            options.repeat,
        )
        emit(f"audit_{name}_p50_ms", p50)
        emit(f"audit_{name}_p99_ms", p99)
    emit("load_average_1min", os.getloadavg()[0])


if __name__ == "__main__":
    main()
