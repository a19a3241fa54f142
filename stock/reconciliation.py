"""Reconciliation: prove that the projection and the valuation agree with the ledger.

Each check is one set-based SQL query (``GROUP BY`` over ``UNION ALL``), so it runs in the
database whatever the size of the ledger, and returns only the rows that disagree; ``reconcile``
sends them all as one statement. Nothing is
ever repaired here: a difference is reported (check, item, location, lot, expected, found) and
the ``reconcile`` command exits non-zero.

The checks:
- ``level_vs_ledger``: every StockLevel.on_hand equals the movements into its (item, location,
  lot) minus those out of it (a level missing for movements shows up as found 0);
- ``item_sum_zero``: for each item, the levels over all locations, virtual ones included, sum to 0;
- ``negative_stock``: no internal level below zero where the warehouse does not allow it;
- ``reserved_range``: reserved between 0 and on_hand;
- ``reserved_vs_reservations``: reserved equals what open reservation lines hold there;
- ``valuation_quantity``: ItemValuation.quantity equals the internal levels of (item, warehouse);
- ``valuation_value``: ItemValuation.value equals the costs of the movements crossing the
  warehouse's boundary (in minus out): receipts in - cost of goods out +/- value-only entries
  (which are movements of quantity 0) = value on hand, per item and warehouse;
- ``valuation_value_total``: the same over all items and warehouses at once (item "(all)");
- ``value_without_stock``: nothing on hand means no value (valuation quantity 0, value not 0);
- ``negative_unit_cost``: no stock on hand valued below zero, no open FIFO layer with a negative
  value, no shortfall with a positive one, no movement of a quantity with a negative unit cost;
- ``fifo_layers_quantity`` / ``fifo_layers_value``: the layers' remaining quantity and value
  equal the valuation's: all of it for FIFO items; for moving-average items, whose only layers
  are shortfalls, what the pool is short (quantity and value while the quantity is negative);
- ``quantity_finer_than_unit``: no internal level holds more decimal places than its item's
  base unit allows (expected: the level rounded to the unit's places; issue 12);
- ``movement_actor_missing``: no movement names a user that no longer exists (found: how many
  of the item's movements do). Movements carry no database foreign keys to items, locations
  and users (docs/ledger.md); items and locations are held by the levels' keys, which
  ``level_vs_ledger`` covers, users by this check.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from catalog.models import Item, Location, UnitOfMeasure, ValuationMethod, Warehouse

from .models import (
    CostLayer,
    ItemValuation,
    Lot,
    Movement,
    PeriodBalance,
    PeriodClose,
    ReconciliationRun,
    Reservation,
    ReservationLine,
    StockLevel,
)

# Values have 4 decimal places; SQLite sums them as floats, so compare with half a unit of the
# last place. On PostgreSQL the sums are exact numerics and the tolerance changes nothing.
TOLERANCE = "0.00005"


@dataclass(frozen=True)
class Difference:
    check: str
    item: str
    location: str
    lot: str
    expected: Decimal
    found: Decimal
    entries: str = ""  # value checks: the ledger entries involved (value-only ones, then the latest)

    def __str__(self) -> str:
        # Fixed-point (``:f``): the normalized 10 would otherwise print as 1E+1.
        where = " ".join(part for part in (self.item, self.location, f"lot {self.lot}" if self.lot else "") if part)
        involved = f" (entries: {self.entries})" if self.entries else ""
        return f"{self.check}: {where}: expected {self.expected:f}, found {self.found:f}{involved}"


# The checks about value, whose differences list the entries involved.
VALUE_CHECKS = frozenset(
    {"valuation_value", "value_without_stock", "negative_unit_cost", "fifo_layers_value", "valuation_value_total"}
)
ENTRIES_SHOWN = 10


def _entries(item_id: int | None, warehouse_id: int | None) -> str:
    """The entries behind a value difference of (item, warehouse): its value-only entries and
    then its latest movements, newest first, at most ``ENTRIES_SHOWN``; for the overall check,
    the latest value-only entries of all items."""
    movements = Movement.objects.all()
    if item_id is not None:
        movements = movements.filter(item_id=item_id)
    if warehouse_id is not None:
        movements = movements.filter(
            Q(source__warehouse_id=warehouse_id, source__kind="internal")
            | Q(destination__warehouse_id=warehouse_id, destination__kind="internal")
        )
    value_only = list(movements.filter(quantity=0).order_by("-id").values_list("id", "kind")[:ENTRIES_SHOWN])
    latest = [] if item_id is None else list(movements.order_by("-id").values_list("id", "kind")[:ENTRIES_SHOWN])
    seen: set[int] = set()
    shown: list[str] = []
    for pk, kind in value_only + latest:
        if pk not in seen and len(shown) < ENTRIES_SHOWN:
            seen.add(pk)
            shown.append(f"#{pk} {kind}")
    return ", ".join(shown)


def _tables() -> dict[str, str]:
    return {
        "level": StockLevel._meta.db_table,
        "movement": Movement._meta.db_table,
        "location": Location._meta.db_table,
        "warehouse": Warehouse._meta.db_table,
        "item": Item._meta.db_table,
        "valuation": ItemValuation._meta.db_table,
        "layer": CostLayer._meta.db_table,
        "reservation": Reservation._meta.db_table,
        "rline": ReservationLine._meta.db_table,
        "user": get_user_model()._meta.db_table,
        "unit": UnitOfMeasure._meta.db_table,
    }


def _crossing_values(t: dict[str, str], extra: str = "") -> str:
    """Signed costs of movements crossing a warehouse boundary, per (item, warehouse);
    ``extra`` narrows the movements ``m`` of both halves (its parameters are then needed twice)."""
    return f"""
        SELECT m.item_id AS item_id, d.warehouse_id AS warehouse_id, m.total_cost AS amount
          FROM {t["movement"]} m
          JOIN {t["location"]} d ON d.id = m.destination_id
          JOIN {t["location"]} s ON s.id = m.source_id
         WHERE d.kind = 'internal' AND (s.kind <> 'internal' OR s.warehouse_id <> d.warehouse_id) {extra}
        UNION ALL
        SELECT m.item_id, s.warehouse_id, -m.total_cost
          FROM {t["movement"]} m
          JOIN {t["location"]} d ON d.id = m.destination_id
          JOIN {t["location"]} s ON s.id = m.source_id
         WHERE s.kind = 'internal' AND (d.kind <> 'internal' OR s.warehouse_id <> d.warehouse_id) {extra}
    """


def _queries() -> list[tuple[str, str, list]]:
    """(check, SQL, params); each SQL returns item_id, location_id, lot_id, warehouse_id,
    expected, found for the rows that disagree."""
    t = _tables()
    tol = TOLERANCE
    fifo = ValuationMethod.FIFO.value
    return [
        (
            "level_vs_ledger",
            f"""SELECT item_id, location_id, lot_id, NULL, SUM(ledger), SUM(level) FROM (
                    SELECT item_id, location_id, lot_id, on_hand AS level, 0 AS ledger FROM {t["level"]}
                    UNION ALL SELECT item_id, destination_id, lot_id, 0, quantity FROM {t["movement"]}
                    UNION ALL SELECT item_id, source_id, lot_id, 0, -quantity FROM {t["movement"]}
                ) x GROUP BY item_id, location_id, lot_id HAVING ABS(SUM(level) - SUM(ledger)) > {tol}""",
            [],
        ),
        (
            "item_sum_zero",
            f"""SELECT item_id, NULL, NULL, NULL, 0, SUM(on_hand) FROM {t["level"]}
                GROUP BY item_id HAVING ABS(SUM(on_hand)) > {tol}""",
            [],
        ),
        (
            "negative_stock",
            f"""SELECT l.item_id, l.location_id, l.lot_id, loc.warehouse_id, 0, l.on_hand
                  FROM {t["level"]} l
                  JOIN {t["location"]} loc ON loc.id = l.location_id
                  JOIN {t["warehouse"]} w ON w.id = loc.warehouse_id
                 WHERE loc.kind = 'internal' AND l.on_hand < 0 AND w.allow_negative_stock = %s""",
            [False],
        ),
        (
            "reserved_range",
            f"""SELECT item_id, location_id, lot_id, NULL, on_hand, reserved FROM {t["level"]}
                 WHERE reserved < 0 OR (reserved > 0 AND reserved > on_hand)""",
            [],
        ),
        (
            "reserved_vs_reservations",
            f"""SELECT item_id, location_id, lot_id, NULL, SUM(held), SUM(reserved) FROM (
                    SELECT item_id, location_id, lot_id, reserved, 0 AS held FROM {t["level"]}
                    UNION ALL
                    SELECT r.item_id, rl.location_id, rl.lot_id, 0, rl.quantity
                      FROM {t["rline"]} rl JOIN {t["reservation"]} r ON r.id = rl.reservation_id
                ) x GROUP BY item_id, location_id, lot_id HAVING ABS(SUM(reserved) - SUM(held)) > {tol}""",
            [],
        ),
        (
            "valuation_quantity",
            f"""SELECT item_id, NULL, NULL, warehouse_id, SUM(levels), SUM(valued) FROM (
                    SELECT l.item_id, loc.warehouse_id, l.on_hand AS levels, 0 AS valued
                      FROM {t["level"]} l JOIN {t["location"]} loc ON loc.id = l.location_id
                     WHERE loc.kind = 'internal'
                    UNION ALL SELECT item_id, warehouse_id, 0, quantity FROM {t["valuation"]}
                ) x GROUP BY item_id, warehouse_id HAVING ABS(SUM(levels) - SUM(valued)) > {tol}""",
            [],
        ),
        (
            "valuation_value",
            f"""SELECT item_id, NULL, NULL, warehouse_id, SUM(ledger), SUM(valued) FROM (
                    SELECT item_id, warehouse_id, amount AS ledger, 0 AS valued FROM ({_crossing_values(t)}) c
                    UNION ALL SELECT item_id, warehouse_id, 0, value FROM {t["valuation"]}
                ) x GROUP BY item_id, warehouse_id HAVING ABS(SUM(ledger) - SUM(valued)) > {tol}""",
            [],
        ),
        (
            "valuation_value_total",
            f"""SELECT NULL, NULL, NULL, NULL, SUM(ledger), SUM(valued) FROM (
                    SELECT amount AS ledger, 0 AS valued FROM ({_crossing_values(t)}) c
                    UNION ALL SELECT 0, value FROM {t["valuation"]}
                ) x HAVING ABS(SUM(ledger) - SUM(valued)) > {tol}""",
            [],
        ),
        (
            "value_without_stock",
            f"""SELECT item_id, NULL, NULL, warehouse_id, 0, value FROM {t["valuation"]}
                 WHERE quantity = 0 AND ABS(value) > {tol}""",
            [],
        ),
        (
            "negative_unit_cost",
            # The movements first: their columns type the NULLs of the others (PostgreSQL).
            f"""SELECT item_id, destination_id, lot_id, NULL, 0, unit_cost FROM {t["movement"]}
                 WHERE quantity > 0 AND unit_cost < 0
                UNION ALL
                SELECT item_id, NULL, NULL, warehouse_id, 0, value FROM {t["valuation"]}
                 WHERE quantity > 0 AND value < 0
                UNION ALL
                SELECT item_id, NULL, NULL, warehouse_id, 0, remaining_value FROM {t["layer"]}
                 WHERE (remaining_quantity > 0 AND remaining_value < 0)
                    OR (remaining_quantity < 0 AND remaining_value > 0)""",
            [],
        ),
        (
            "fifo_layers_quantity",
            f"""SELECT x.item_id, NULL, NULL, x.warehouse_id, SUM(valued), SUM(layered) FROM (
                    SELECT v.item_id, v.warehouse_id,
                           CASE WHEN i.valuation_method = %s THEN v.quantity
                                WHEN v.quantity < 0 THEN v.quantity ELSE 0 END AS valued, 0 AS layered
                      FROM {t["valuation"]} v JOIN {t["item"]} i ON i.id = v.item_id
                    UNION ALL SELECT item_id, warehouse_id, 0, remaining_quantity FROM {t["layer"]}
                ) x GROUP BY x.item_id, x.warehouse_id HAVING ABS(SUM(valued) - SUM(layered)) > {tol}""",
            [fifo],
        ),
        (
            "fifo_layers_value",
            f"""SELECT x.item_id, NULL, NULL, x.warehouse_id, SUM(valued), SUM(layered) FROM (
                    SELECT v.item_id, v.warehouse_id,
                           CASE WHEN i.valuation_method = %s THEN v.value
                                WHEN v.quantity < 0 THEN v.value ELSE 0 END AS valued, 0 AS layered
                      FROM {t["valuation"]} v JOIN {t["item"]} i ON i.id = v.item_id
                    UNION ALL SELECT item_id, warehouse_id, 0, remaining_value FROM {t["layer"]}
                ) x GROUP BY x.item_id, x.warehouse_id HAVING ABS(SUM(valued) - SUM(layered)) > {tol}""",
            [fifo],
        ),
        (
            # Stock a unit cannot count (2.5 each, from before units had decimal places);
            # expected: the quantity rounded to the unit's places.
            "quantity_finer_than_unit",
            f"""SELECT l.item_id, l.location_id, l.lot_id, NULL, ROUND(l.on_hand, u.decimal_places), l.on_hand
                  FROM {t["level"]} l
                  JOIN {t["location"]} loc ON loc.id = l.location_id
                  JOIN {t["item"]} i ON i.id = l.item_id
                  JOIN {t["unit"]} u ON u.id = i.base_unit_id
                 WHERE loc.kind = 'internal' AND ABS(l.on_hand - ROUND(l.on_hand, u.decimal_places)) > {tol}""",
            [],
        ),
        (
            "movement_actor_missing",
            f"""SELECT m.item_id, NULL, NULL, NULL, 0, COUNT(*) FROM {t["movement"]} m
                 WHERE m.actor_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {t["user"]} u WHERE u.id = m.actor_id)
                 GROUP BY m.item_id""",
            [],
        ),
        *_period_queries(t),
    ]


def _period_queries(t: dict[str, str]) -> list[tuple[str, str, list]]:
    """The latest period close (``PeriodClose``): each stored balance equals the movements with
    ``occurred_at < period_end`` and ``id <= last_movement_id`` (per bin, and per warehouse in
    quantity and value). Movements back-dated into it later are not in it by design."""
    close = PeriodClose.objects.order_by("-period_end").first()
    if close is None:
        return []
    tol, b = TOLERANCE, PeriodBalance._meta.db_table
    before = "AND m.occurred_at < %s AND m.id <= %s"
    params = [close.period_end, close.last_movement_id]
    return [
        (
            "period_balance_quantity",
            f"""SELECT item_id, location_id, lot_id, NULL, SUM(ledger), SUM(stored) FROM (
                    SELECT item_id, location_id, lot_id, quantity AS stored, 0 AS ledger FROM {b}
                     WHERE close_id = %s AND location_id IS NOT NULL
                    UNION ALL SELECT m.item_id, m.destination_id, m.lot_id, 0, m.quantity
                      FROM {t["movement"]} m JOIN {t["location"]} d ON d.id = m.destination_id
                     WHERE d.kind = 'internal' {before}
                    UNION ALL SELECT m.item_id, m.source_id, m.lot_id, 0, -m.quantity
                      FROM {t["movement"]} m JOIN {t["location"]} s ON s.id = m.source_id
                     WHERE s.kind = 'internal' {before}
                ) x GROUP BY item_id, location_id, lot_id HAVING ABS(SUM(stored) - SUM(ledger)) > {tol}""",
            [close.pk, *params, *params],
        ),
        (
            "period_balance_value",
            f"""SELECT item_id, NULL, NULL, warehouse_id, SUM(ledger), SUM(stored) FROM (
                    SELECT item_id, warehouse_id, value AS stored, 0 AS ledger FROM {b}
                     WHERE close_id = %s AND location_id IS NULL
                    UNION ALL SELECT item_id, warehouse_id, 0, amount FROM ({_crossing_values(t, before)}) c
                ) x GROUP BY item_id, warehouse_id HAVING ABS(SUM(stored) - SUM(ledger)) > {tol}""",
            [close.pk, *params, *params],
        ),
    ]


def _decimal(value: object) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, float):
        return Decimal(repr(round(value, 4))).normalize()
    return Decimal(str(value)).normalize()


def check_names() -> list[str]:
    return [check for check, _sql, _params in _queries()]


MAX_KEPT = 5000


def reconcile_and_record(trigger: str = "nightly") -> tuple[ReconciliationRun, list[Difference]]:
    """Run every check and store the run (``ReconciliationRun``): when, how long, the checks and
    the differences (the first ``MAX_KEPT``; ``difference_count`` counts them all)."""
    started = timezone.now()
    clock = time.monotonic()
    differences = reconcile()
    run = ReconciliationRun.objects.create(
        started_at=started,
        duration_ms=int((time.monotonic() - clock) * 1000),
        checks=check_names(),
        difference_count=len(differences),
        differences=[
            {**asdict(d), "expected": f"{d.expected:f}", "found": f"{d.found:f}"} for d in differences[:MAX_KEPT]
        ],
        trigger=trigger,
    )
    return run, differences


def _one_statement(queries: list[tuple[str, str, list]]) -> tuple[str, list]:
    """All checks as ONE statement: each check a common table expression, their rows joined by
    ``UNION ALL`` with the check's name and number (the columns cast to one type, since a
    check's NULL columns have none of their own), in check order. One round trip instead of
    one per check: the nightly run does not mind, but the state machine reconciles after
    every step."""
    ctes, selects, params = [], [], []
    for number, (check, sql, check_params) in enumerate(queries):
        ctes.append(f"c{number} (item_id, location_id, lot_id, warehouse_id, expected, found) AS ({sql})")
        selects.append(
            f"SELECT {number} AS n, '{check}' AS checked, CAST(item_id AS BIGINT), CAST(location_id AS BIGINT), "
            f"CAST(lot_id AS BIGINT), CAST(warehouse_id AS BIGINT), CAST(expected AS NUMERIC), "
            f"CAST(found AS NUMERIC) FROM c{number}"
        )
        params.extend(check_params)
    return f"WITH {', '.join(ctes)} {' UNION ALL '.join(selects)} ORDER BY n", params


def reconcile() -> list[Difference]:
    """Run every check (in one statement); return all differences (empty when the books
    balance)."""
    with connection.cursor() as cursor:
        cursor.execute(*_one_statement(_queries()))
        raw: list[tuple[str, tuple]] = [(check, tuple(row)) for _, check, *row in cursor.fetchall()]
    if not raw:
        return []
    skus = dict(Item.objects.filter(pk__in={r[0] for _, r in raw}).values_list("pk", "sku"))
    locations = {loc.pk: str(loc) for loc in Location.objects.filter(pk__in={r[1] for _, r in raw if r[1]})}
    lots = dict(Lot.objects.filter(pk__in={r[2] for _, r in raw if r[2]}).values_list("pk", "code"))
    warehouses = dict(Warehouse.objects.filter(pk__in={r[3] for _, r in raw if r[3]}).values_list("pk", "code"))
    return [
        Difference(
            check=check,
            item=skus.get(item_id, f"item #{item_id}") if item_id is not None else "(all items)",
            location=locations.get(location_id, "") if location_id else warehouses.get(warehouse_id, ""),
            lot=lots.get(lot_id, "") if lot_id else "",
            expected=_decimal(expected),
            found=_decimal(found),
            entries=_entries(item_id, warehouse_id) if check in VALUE_CHECKS else "",
        )
        for check, (item_id, location_id, lot_id, warehouse_id, expected, found) in raw
    ]
