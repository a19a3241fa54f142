"""Reports over a 10,000- and a 1,000,000-movement ledger, each against a bare SQL aggregate
over the same rows, and the whole-stock as-of at 1M against 10k (docs/reports.md).

    python bench/reports.py            # about 10 minutes on 2 cores
    python bench/reports.py --quick    # a 100k ledger (smoke run)

Needs PostgreSQL (``BENCH_DATABASE_URL``, default postgres://postgres@127.0.0.1:5432/postgres; a
superuser: the ledger grows with bench/ledger.py's set-based SQL). Recreates the scratch
database ``inventory_bench_reports``. Data: bench/ledger.py's 2 warehouses, 200 bins, 2,000
items and 10,000 opening receipts a year ago; then the ledger grows to 1M with receipt/issue
pairs over the year, the projection is rebuilt, every ended period (weeks and months) is closed
(``period_balances_close``) and ``reconcile`` must find 0 differences.

Before measuring at each size the process freezes the objects it holds (``gc.freeze``, as
inventory_site/wsgi.py does in a web worker), so the bench's own scaffolding does not slow the
reports' full garbage collections.

Figures (``name = value``; times are the median of ``RUNS`` runs, in ms):
- ``<report>_ms_<size>``: ``run_report`` as the system (every warehouse), rows and totals built;
- ``<report>_sql_ms_<size>``: the bare SQL aggregate the report stands on, same rows;
- ``asof_ms_<size>``: stock-on-hand as of one hour after the last closed month start (a balance
  plus the movements since); ``asof_mid_ms_<size>``: as of the middle of the last closed month;
  ``asof_random_ms_<size>``: the median over ``RANDOM_TIMES`` seeded random moments of the
  history (the same moments at both sizes; each the median of 3 runs), so the figure is not a
  lucky point;
- ``dashboard_ms_<size>``: the managers' dashboard (tiles, waiting, trends) for a superuser
  (target < 2,000 ms at 1M);
- ratios last: ``ratio_<report>_<size>`` = report / SQL (target <= 3), ``ratio_asof_1m_10k``,
  ``ratio_asof_mid_1m_10k`` and ``ratio_asof_random_1m_10k`` (target <= 1.2).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

from _common import django_setup, emit, progress, recreate_database, with_database

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DB = "inventory_bench_reports"
RUNS = 5
RANDOM_TIMES = 9


def timed(function, runs: int = RUNS) -> float:  # noqa: ANN001
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        function()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def bare_sql(now, month_start, month_end) -> dict[str, tuple[str, list]]:  # noqa: ANN001
    """The SQL each report stands on, over the same rows (no names, no Python rows)."""
    import ledger as lb

    t = lb.tables()
    crossing = f"""
        SELECT m.item_id, d.warehouse_id, m.kind, m.total_cost AS v FROM {t["movement"]} m
          JOIN {t["location"]} d ON d.id = m.destination_id JOIN {t["location"]} s ON s.id = m.source_id
         WHERE d.kind = 'internal' AND (s.kind <> 'internal' OR s.warehouse_id <> d.warehouse_id)
           AND m.occurred_at >= %s AND m.occurred_at < %s
        UNION ALL
        SELECT m.item_id, s.warehouse_id, m.kind, -m.total_cost FROM {t["movement"]} m
          JOIN {t["location"]} d ON d.id = m.destination_id JOIN {t["location"]} s ON s.id = m.source_id
         WHERE s.kind = 'internal' AND (d.kind <> 'internal' OR s.warehouse_id <> d.warehouse_id)
           AND m.occurred_at >= %s AND m.occurred_at < %s"""
    period = [month_start, month_end, month_start, month_end]
    return {
        "stock-on-hand": (
            f"""SELECT l.item_id, l.location_id, l.lot_id, SUM(l.on_hand), MAX(v.value / NULLIF(v.quantity, 0))
                  FROM {t["level"]} l JOIN {t["location"]} loc ON loc.id = l.location_id
                  JOIN {t["valuation"]} v ON v.item_id = l.item_id AND v.warehouse_id = loc.warehouse_id
                 WHERE loc.kind = 'internal' AND l.on_hand <> 0 GROUP BY l.item_id, l.location_id, l.lot_id""",
            [],
        ),
        "valuation": (
            f"SELECT item_id, warehouse_id, SUM(quantity), SUM(value) FROM {t['valuation']} "
            "WHERE quantity <> 0 OR value <> 0 GROUP BY item_id, warehouse_id",
            [],
        ),
        "inventory-journal": (
            f"SELECT warehouse_id, kind, SUM(v) FROM ({crossing}) x GROUP BY warehouse_id, kind",
            period,
        ),
        "turnover": (
            f"SELECT item_id, warehouse_id, SUM(v) FROM ({crossing}) x GROUP BY item_id, warehouse_id",
            period,
        ),
        "shrinkage": (
            f"SELECT warehouse_id, kind, SUM(v) FROM ({crossing}) x WHERE kind IN ('adjustment', 'scrap') "
            "GROUP BY warehouse_id, kind",
            period,
        ),
        "slow-moving": (
            f"""SELECT m.item_id, s.warehouse_id, MAX(m.occurred_at) FROM {t["movement"]} m
                  JOIN {t["location"]} s ON s.id = m.source_id WHERE m.kind = 'issue'
                 GROUP BY m.item_id, s.warehouse_id""",
            [],
        ),
    }


def measure(size: str, month_start, month_end, moments) -> dict[str, float]:  # noqa: ANN001
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from reports.dashboard import dashboard_context
    from reports.framework import get_report, run_report

    params = {
        "date_from": month_start.date().isoformat(),
        "date_to": (month_end - timedelta(days=1)).date().isoformat(),
    }
    # What this process holds now (Django, the bench's scaffolding of the ledger) lives to the
    # end: frozen, as inventory_site/wsgi.py freezes a web worker's start-up objects, so a full
    # collection during a report walks the report's own objects, not these.
    gc.collect()
    gc.freeze()
    figures: dict[str, float] = {}
    for name, (sql, args) in bare_sql(timezone.now(), month_start, month_end).items():
        report = get_report(name)
        report_params = params if report.period else {}

        def run(report=report, report_params=report_params) -> None:  # noqa: ANN001
            run_report(report, None, report_params)

        def bare(sql=sql, args=args) -> None:  # noqa: ANN001
            with connection.cursor() as cursor:
                cursor.execute(sql, args)
                cursor.fetchall()

        run(), bare()  # warm
        figures[f"{name}_ms_{size}"] = timed(run)
        figures[f"{name}_sql_ms_{size}"] = timed(bare)
        emit(f"{name}_ms_{size}", figures[f"{name}_ms_{size}"])
        emit(f"{name}_sql_ms_{size}", figures[f"{name}_sql_ms_{size}"])
    report = get_report("stock-on-hand")
    for label, at in (("asof", month_end + timedelta(hours=1)), ("asof_mid", month_end - timedelta(days=15))):
        as_of = {"as_of": at.isoformat()}
        run_report(report, None, as_of)
        figures[f"{label}_ms_{size}"] = timed(lambda as_of=as_of: run_report(report, None, as_of))
        emit(f"{label}_ms_{size}", figures[f"{label}_ms_{size}"])
    each = []
    for at in moments:
        as_of = {"as_of": at.isoformat()}
        run_report(report, None, as_of)
        each.append(timed(lambda as_of=as_of: run_report(report, None, as_of), runs=3))
    figures[f"asof_random_ms_{size}"] = statistics.median(each)
    emit(f"asof_random_ms_{size}", figures[f"asof_random_ms_{size}"])
    user_model = get_user_model()
    manager = user_model.objects.filter(username="bench-manager").first()
    manager = manager or user_model.objects.create_superuser("bench-manager", "bench@example.com", None)
    dashboard_context(manager)
    figures[f"dashboard_ms_{size}"] = timed(lambda: dashboard_context(manager), runs=3)
    emit(f"dashboard_ms_{size}", figures[f"dashboard_ms_{size}"])
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 100k ledger instead of 1M")
    arguments = parser.parse_args()
    large = 100_000 if arguments.quick else 1_000_000
    server_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    recreate_database(server_url, DB)
    django_setup(with_database(server_url, DB))
    import ledger as lb
    from django.core.management import call_command
    from django.utils import timezone

    from stock.reconciliation import reconcile
    from stock.services import period_balances_close

    progress("migrating")
    call_command("migrate", verbosity=0, interactive=False)
    emit("load_average_start", os.getloadavg()[0])
    now = timezone.now()
    history_start, opening_end = now - timedelta(days=365), now - timedelta(days=364)
    pairs = lb.create_master_data()
    lb.insert_opening_stock(pairs, history_start)
    lb.rebuild_projection()
    closes = period_balances_close()
    # the last whole month: the latest close at a month start (weeks close too)
    last = [c.period_end for c in closes if timezone.localtime(c.period_end).day == 1][-1]
    month_start = (last - timedelta(days=1)).replace(day=1)
    rng = random.Random(16)
    span = (now - timedelta(hours=1) - opening_end).total_seconds()
    moments = [opening_end + timedelta(seconds=rng.uniform(0, span)) for _ in range(RANDOM_TIMES)]
    emit("ledger_small", lb.movement_count())
    progress("measuring at 10k")
    small = measure("10k", month_start, last, moments)

    progress(f"growing the ledger to {large}")
    lb.grow_ledger(pairs, large - lb.movement_count(), opening_end, now - timedelta(hours=1))
    lb.rebuild_projection()
    from stock.models import PeriodClose

    PeriodClose.objects.all().delete()  # closed over the small ledger: close again over the grown one
    began = time.perf_counter()
    period_balances_close()
    emit("period_close_seconds", time.perf_counter() - began)
    lb.sql("VACUUM (ANALYZE)")
    emit("ledger_large", lb.movement_count())
    emit("reconcile_differences", len(reconcile()))
    progress(f"measuring at {large}")
    label = "1m" if large == 1_000_000 else "100k"
    big = measure(label, month_start, last, moments)
    emit("load_average_end", os.getloadavg()[0])
    for name in bare_sql(now, month_start, last):
        for size, figures in (("10k", small), (label, big)):
            emit(f"ratio_{name}_{size}", figures[f"{name}_ms_{size}"] / max(figures[f"{name}_sql_ms_{size}"], 0.001))
    emit(f"ratio_asof_{label}_10k", big[f"asof_ms_{label}"] / small["asof_ms_10k"])
    emit(f"ratio_asof_mid_{label}_10k", big[f"asof_mid_ms_{label}"] / small["asof_mid_ms_10k"])
    emit(f"ratio_asof_random_{label}_10k", big[f"asof_random_ms_{label}"] / small["asof_random_ms_10k"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
