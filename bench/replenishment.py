"""Replenishment benchmark: the reorder suggestions over every (item, warehouse) with a year of
daily demand history, against a bare SQL aggregate over the same history; and forecast fits per
second.

Run ``python bench/replenishment.py`` (``--items N``: items, each in 2 warehouses; default 5,000,
so a year of history is 3.65 million demand rows; ``--items 100000`` is the issue's full size,
73 million rows, hours of set-up on a small machine). It needs PostgreSQL (default
``postgres://postgres@127.0.0.1:5432/postgres``, override with ``BENCH_DATABASE_URL``; the role
must create databases) and is never part of the test run.

What it does (progress on stderr, ``name = value`` on stdout, ratios last):

1. recreates the scratch database ``inventory_bench_replenish`` and migrates it;
2. creates N items, 2 warehouses, one supplier offering every item, a reorder policy per
   (item, warehouse) (reorder point 100, up to 200; nothing on hand, so every one is due), a
   year of daily ``DemandDay`` rows per pair and a stored forecast per pair, with set-based SQL;
3. times ``purchasing.selectors.reorder_suggestions()`` (every due pair, with its position, the
   best offer and the forecast: what the page, the API and the alert mail call), best of 3;
4. times the baseline, the bare aggregate ``SELECT item_id, warehouse_id, sum(quantity) FROM
   purchasing_demandday GROUP BY 1, 2`` fetched whole, best of 3;
5. times ``purchasing.forecasting.fit`` on 20 synthetic series of 365 days (weekly season and
   noise): fits per second (each fit tries every candidate method on a holdout, then refits);
6. prints ``ratio_suggestions_vs_aggregate`` = step 3 / step 4 and the load average.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

from _common import django_setup, emit, progress, recreate_database, with_database

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DATABASE = "inventory_bench_replenish"
AGGREGATE = "SELECT item_id, warehouse_id, sum(quantity) FROM purchasing_demandday GROUP BY 1, 2"


def best_of(times: int, run) -> float:  # noqa: ANN001
    best = float("inf")
    for _ in range(times):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def build(items: int) -> None:
    from decimal import Decimal

    from django.db import connection

    from catalog.models import Item, UnitOfMeasure, Warehouse
    from purchasing.models import ReorderPolicy, Supplier, SupplierItem

    each, _ = UnitOfMeasure.objects.get_or_create(code="each", defaults={"name": "Each", "ratio": Decimal(1)})
    warehouses = [Warehouse.objects.create(code=code, name=code) for code in ("W1", "W2")]
    progress(f"{items} items")
    Item.objects.bulk_create(
        [Item(sku=f"SKU-{n:06d}", name=f"Item {n}", base_unit=each) for n in range(items)], batch_size=5000
    )
    supplier = Supplier.objects.create(code="BENCH", name="Bench supplier")
    ids = list(Item.objects.values_list("id", flat=True))
    SupplierItem.objects.bulk_create(
        [SupplierItem(supplier=supplier, item_id=i, unit_cost=Decimal("2.50"), preferred=True) for i in ids],
        batch_size=5000,
    )
    ReorderPolicy.objects.bulk_create(
        [
            ReorderPolicy(item_id=i, warehouse=w, reorder_point=Decimal(100), order_up_to=Decimal(200))
            for i in ids
            for w in warehouses
        ],
        batch_size=5000,
    )
    progress(f"{items * 2 * 365} demand rows")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO purchasing_demandday (item_id, warehouse_id, day, quantity, stockout) "
            "SELECT i.id, w.id, d::date, floor(random() * 10), false FROM catalog_item i "
            "CROSS JOIN catalog_warehouse w CROSS JOIN generate_series(current_date - 365, current_date - 1, "
            "interval '1 day') d"
        )
        cursor.execute(
            "INSERT INTO purchasing_demandforecast (item_id, warehouse_id, method, daily_demand, daily_sd, "
            "history_days, daily, fitted_at) SELECT i.id, w.id, 'bench', 4.5, 2.9, 365, '[]'::jsonb, now() "
            "FROM catalog_item i CROSS JOIN catalog_warehouse w"
        )
        cursor.execute("ANALYZE")


def series(seed: int) -> list[float]:
    rng = random.Random(seed)
    profile = [5, 8, 10, 12, 15, 30, 20]
    return [max(0.0, profile[day % 7] + rng.gauss(0, 2)) for day in range(365)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    args = parser.parse_args()
    server_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER_URL)
    recreate_database(server_url, DATABASE)
    django_setup(with_database(server_url, DATABASE))
    from django.core.management import call_command
    from django.db import connection

    progress("migrating")
    call_command("migrate", verbosity=0)
    build(args.items)

    from purchasing import forecasting
    from purchasing.selectors import reorder_suggestions

    count = len(reorder_suggestions())
    suggestions_seconds = best_of(3, reorder_suggestions)

    def aggregate() -> None:
        with connection.cursor() as cursor:
            cursor.execute(AGGREGATE)
            cursor.fetchall()

    aggregate_seconds = best_of(3, aggregate)
    progress("forecast fits")
    histories = [series(seed) for seed in range(20)]
    start = time.perf_counter()
    for history in histories:
        forecasting.fit(history)
    fits_per_s = len(histories) / (time.perf_counter() - start)

    emit("items", args.items)
    emit("pairs", args.items * 2)
    emit("demand_rows", args.items * 2 * 365)
    emit("suggestions", count)
    emit("suggestions_seconds", suggestions_seconds)
    emit("aggregate_seconds", aggregate_seconds)
    emit("forecast_fits_per_s", fits_per_s)
    emit("load_average_1m", os.getloadavg()[0])
    emit("ratio_suggestions_vs_aggregate", suggestions_seconds / aggregate_seconds)


if __name__ == "__main__":
    main()
