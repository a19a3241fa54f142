"""Counting benchmark: plan a day for 100,000 items x 2 warehouses and compute the variances of
10,000 count lines, each against a bare SQL aggregate over the same rows.

Run ``python bench/counting.py`` (``--items N`` and ``--lines N`` to change the sizes; bench/README.md
explains every figure). It needs a PostgreSQL server (default
``postgres://postgres@127.0.0.1:5432/postgres``, override with ``BENCH_DATABASE_URL``; a role
that may create databases) and is never part of the test run.

What it does (progress on stderr, figures on stdout as ``name = value``, the ratios last):

1. drops, recreates and migrates the scratch database ``counting_bench``;
2. builds 2 warehouses of 10 zones x 100 bins, N items (``bulk_create``), one stock level per
   item and warehouse (every 50th empty: "went to zero"), an ABC class per item and warehouse
   (10 % A, 20 % B, 70 % C), a closed count of 20,000 lines counted over the past year per
   warehouse (every 7th with a variance), and for the variance case 4 movements for each of the
   10,000 (item, bin) pairs of one open count: 2 before its lines were counted, 2 after
   (set-based SQL: the benchmark building a scratch database, not a write path of the product);
3. times ``counting.services.count_plan`` for a Monday in each warehouse (it reads the
   candidates, picks the day's quota in priority order, and writes the counts and their lines)
   against one bare SQL statement that ranks the same rows the same way and returns the quota;
4. times ``counting.selectors.with_book_quantity`` over the 10,000 lines (each line's book
   quantity as of its ``counted_at``, one statement) against a bare ``GROUP BY`` of the same
   lines joined to the same movements, and checks that both give the same numbers.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from _common import django_setup, emit, progress, recreate_database, with_database

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DATABASE = "counting_bench"
DAY = date(2026, 12, 7)  # a Monday
REPEATS = 3


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def build(items: int, lines: int) -> dict:
    from django.db import connection

    from catalog.models import Item, Location, LocationLevel, UnitOfMeasure, Warehouse
    from counting.models import Count, CountKind
    from counting.services import class_policies

    each, _ = UnitOfMeasure.objects.get_or_create(code="each", defaults={"name": "Each", "ratio": Decimal(1)})
    warehouses = []
    for code in ("W1", "W2"):
        warehouse = Warehouse.objects.create(code=code, name=f"Warehouse {code}")
        class_policies(warehouse)
        zones = Location.objects.bulk_create(
            [Location(warehouse=warehouse, code=f"Z{z:02d}", level=LocationLevel.ZONE) for z in range(10)]
        )
        Location.objects.bulk_create(
            [
                Location(warehouse=warehouse, parent=zone, code=f"{zone.code}-{b:03d}", level=LocationLevel.BIN)
                for zone in zones
                for b in range(100)
            ]
        )
        warehouses.append(warehouse)
    progress(f"{items} items")
    Item.objects.bulk_create(
        [Item(sku=f"SKU-{n:06d}", name=f"Item {n}", base_unit=each) for n in range(items)], batch_size=5000
    )
    with connection.cursor() as cursor:
        for warehouse in warehouses:
            progress(f"levels, classes and count history of {warehouse.code}")
            cursor.execute(
                """
                WITH bins AS (SELECT id, row_number() OVER (ORDER BY code) - 1 AS n FROM catalog_location
                              WHERE warehouse_id = %s AND level = 'bin'),
                     items AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM catalog_item)
                INSERT INTO stock_stocklevel (item_id, location_id, lot_id, on_hand, reserved, allow_negative)
                SELECT items.id, bins.id, NULL, CASE WHEN items.n %% 50 = 0 THEN 0 ELSE items.n %% 40 + 1 END, 0, false
                FROM items JOIN bins ON bins.n = items.n %% 1000
                """,
                [warehouse.pk],
            )
            cursor.execute(
                """
                INSERT INTO counting_itemclass (warehouse_id, item_id, computed_class, consumption_value,
                                                computed_at, override_class)
                SELECT %s, id, CASE WHEN id %% 10 = 0 THEN 'A' WHEN id %% 10 < 3 THEN 'B' ELSE 'C' END,
                       (id %% 997) * 10, now(), ''
                FROM catalog_item
                """,
                [warehouse.pk],
            )
            history = Count.objects.create(warehouse=warehouse, kind=CountKind.MANUAL, status="closed")
            cursor.execute(
                """
                INSERT INTO counting_countline (count_id, location_id, item_id, lot_id, expected, status,
                    counted_quantity, counted_at, book_quantity, variance, abc_class, reason_code, decision_note)
                SELECT %s, s.location_id, s.item_id, NULL, true, 'posted', s.on_hand,
                       now() - (s.item_id %% 365) * interval '1 day', s.on_hand,
                       CASE WHEN s.item_id %% 7 = 0 THEN 1 ELSE 0 END, '', '', ''
                FROM stock_stocklevel s JOIN catalog_location l ON l.id = s.location_id
                WHERE l.warehouse_id = %s AND s.item_id %% 5 = 0
                LIMIT 20000
                """,
                [history.pk, warehouse.pk],
            )
        progress(f"{lines} lines to measure and their movements")
        first = warehouses[0]
        counted_at = datetime.now(UTC) - timedelta(hours=1)
        measured = Count.objects.create(warehouse=first, kind=CountKind.MANUAL)
        cursor.execute(
            """
            INSERT INTO counting_countline (count_id, location_id, item_id, lot_id, expected, status,
                counted_quantity, counted_at, abc_class, reason_code, decision_note)
            SELECT %s, s.location_id, s.item_id, NULL, true, 'counted', 7, %s, '', '', ''
            FROM stock_stocklevel s JOIN catalog_location l ON l.id = s.location_id
            WHERE l.warehouse_id = %s ORDER BY s.item_id LIMIT %s
            """,
            [measured.pk, counted_at, first.pk, lines],
        )
        supplier = Location.objects.get(kind="supplier").pk
        customer = Location.objects.get(kind="customer").pk
        # Per line: receipt 10 and issue 3 before counting (book 7), receipt 5 and issue 2 after.
        cursor.execute(
            """
            INSERT INTO stock_movement (batch, batch_line, item_id, quantity, source_id, destination_id, kind,
                reason_code, note, unit_cost, total_cost, reference_type, reference_id, reference_line,
                occurred_at, posted_at)
            SELECT gen_random_uuid(), 1, l.item_id, m.q,
                   CASE WHEN m.inbound THEN %s ELSE l.location_id END,
                   CASE WHEN m.inbound THEN l.location_id ELSE %s END,
                   CASE WHEN m.inbound THEN 'receipt' ELSE 'issue' END, '', '', 1, m.q, '', '', '',
                   %s + m.offset_minutes * interval '1 minute', now()
            FROM counting_countline l
            CROSS JOIN (VALUES (10, true, -50), (3, false, -20), (5, true, 10), (2, false, 20))
                AS m(q, inbound, offset_minutes)
            WHERE l.count_id = %s
            """,
            [supplier, customer, counted_at, measured.pk],
        )
        cursor.execute("VACUUM ANALYZE")
    return {"warehouses": warehouses, "measured": measured}


PLAN_SQL = """
WITH levels AS (
    SELECT s.item_id, bool_or(s.on_hand = 0) AS zero
    FROM stock_stocklevel s JOIN catalog_location l ON l.id = s.location_id
    WHERE l.warehouse_id = %(w)s AND l.kind = 'internal' GROUP BY s.item_id
), busy AS (
    SELECT DISTINCT cl.item_id FROM counting_countline cl JOIN counting_count c ON c.id = cl.count_id
    WHERE c.warehouse_id = %(w)s AND c.status = 'open'
), history AS (
    SELECT cl.item_id, max(cl.counted_at) AS last,
           bool_or(cl.counted_at >= %(recent)s AND cl.variance <> 0) AS varied
    FROM counting_countline cl JOIN counting_count c ON c.id = cl.count_id
    WHERE c.warehouse_id = %(w)s AND cl.counted_at IS NOT NULL GROUP BY cl.item_id
), ranked AS (
    SELECT levels.item_id, coalesce(nullif(ic.override_class, ''), ic.computed_class, 'C') AS cls,
           coalesce(ic.consumption_value, 0) AS value, levels.zero, history.last, history.varied
    FROM levels LEFT JOIN history USING (item_id)
    LEFT JOIN counting_itemclass ic ON ic.item_id = levels.item_id AND ic.warehouse_id = %(w)s
    WHERE levels.item_id NOT IN (SELECT item_id FROM busy)
)
SELECT ranked.item_id FROM ranked
JOIN counting_classpolicy p ON p.warehouse_id = %(w)s AND p.abc_class = ranked.cls
ORDER BY CASE WHEN ranked.last IS NOT NULL
                   AND ranked.last <= %(day)s - (365.0 / p.counts_per_year) * interval '1 day' THEN 0
              WHEN ranked.varied THEN 1 WHEN ranked.zero THEN 2 WHEN ranked.last IS NULL THEN 3 ELSE 4 END,
         ranked.cls, ranked.value DESC, ranked.item_id
LIMIT %(quota)s
"""

VARIANCE_SQL = """
SELECT l.id, coalesce(sum(CASE WHEN m.destination_id = l.location_id THEN m.quantity ELSE -m.quantity END), 0)
FROM counting_countline l
LEFT JOIN stock_movement m ON m.item_id = l.item_id AND m.occurred_at <= l.counted_at
     AND (m.destination_id = l.location_id OR m.source_id = l.location_id)
WHERE l.count_id = %s GROUP BY l.id
"""


def best_of(work, repeats: int = REPEATS) -> tuple[float, object]:  # noqa: ANN001
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000, help="items per warehouse (default 100000)")
    parser.add_argument("--lines", type=int, default=10_000, help="count lines whose variance is computed")
    args = parser.parse_args()
    server_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER_URL)
    emit("load_average_start", load_average())
    recreate_database(server_url, DATABASE)
    django_setup(with_database(server_url, DATABASE))
    from django.core.management import call_command
    from django.db import connection, transaction

    call_command("migrate", verbosity=0, interactive=False)
    world = build(args.items, args.lines)
    emit("items", args.items)
    emit("warehouses", len(world["warehouses"]))

    from counting.models import Count, CountKind, CountLine
    from counting.selectors import with_book_quantity
    from counting.services import count_plan, plan_candidates

    plan_seconds = sql_seconds = 0.0
    planned_lines = 0
    for warehouse in world["warehouses"]:
        progress(f"planning {warehouse.code}")
        candidates, quota = plan_candidates(warehouse, DAY)

        def plan(warehouse=warehouse) -> int:  # noqa: ANN001
            with transaction.atomic():
                counts = count_plan(warehouse=warehouse, actor=None, day=DAY)
                made = CountLine.objects.filter(count__in=counts).count()
                transaction.set_rollback(True)  # the next repeat plans the same day again
            return made

        def bare(warehouse=warehouse, quota=quota) -> int:  # noqa: ANN001
            tz_day = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC)
            with connection.cursor() as cursor:
                cursor.execute(
                    PLAN_SQL, {"w": warehouse.pk, "recent": tz_day - timedelta(days=30), "day": tz_day, "quota": quota}
                )
                return {row[0] for row in cursor.fetchall()}

        seconds, made = best_of(plan)
        plan_seconds += seconds
        planned_lines += made
        seconds, chosen = best_of(bare)
        sql_seconds += seconds
        emit(f"plan_quota_{warehouse.code}", quota)
        assert chosen == {c.item_id for c in candidates[:quota]}, "the plan and the bare SQL chose other items"
        emit(f"plan_items_{warehouse.code}", len(chosen))
    emit("plan_lines_written", planned_lines)
    emit("plan_seconds_2_warehouses", plan_seconds)
    emit("plan_sql_seconds_2_warehouses", sql_seconds)

    measured = world["measured"]
    progress(f"variances of {args.lines} lines")
    lines = CountLine.objects.filter(count=measured)
    seconds, ours = best_of(lambda: dict(with_book_quantity(lines).values_list("pk", "book_as_of")))

    def bare_variances() -> dict:
        with connection.cursor() as cursor:
            cursor.execute(VARIANCE_SQL, [measured.pk])
            return dict(cursor.fetchall())

    sql_variance_seconds, theirs = best_of(bare_variances)
    assert ours == theirs, "the selector and the bare SQL disagree"
    assert set(ours.values()) == {Decimal(7)}, "10 in, 3 out before counting: a book of 7"
    emit("variance_lines", len(ours))
    emit("variance_seconds", seconds)
    emit("variance_sql_seconds", sql_variance_seconds)
    emit("planned_counts_left", Count.objects.filter(kind=CountKind.PLANNED).count())
    emit("load_average_end", load_average())
    emit("ratio_plan_vs_sql", plan_seconds / sql_seconds)
    emit("ratio_variance_vs_sql", seconds / sql_variance_seconds)


if __name__ == "__main__":
    main()
