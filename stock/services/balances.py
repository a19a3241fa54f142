"""Closing periods: storing the whole stock's balances at every period boundary (``PeriodClose``,
``PeriodBalance``): each month's first day and each Monday, local midnight (``period_ends``), so
that stock and value as of any date is a balance plus the movements between it and that date
(``stock.balances.balances_as_of``; docs/reports.md, "As of, and period balances").

Invariants:
- a close holds, for every (item, internal location, lot) and every (item, warehouse), the sum
  of the movements with ``occurred_at < period_end`` and ``id <= last_movement_id``; it is
  never rewritten: movements back-dated into it later are found by ``id > last_movement_id``;
- on PostgreSQL the movement table is locked in SHARE mode while a close reads it, so no
  posting is in flight below ``last_movement_id`` (postings wait a moment; it runs at night);
- closes are made in order, each from the previous one plus the movements between, so the
  nightly job's work is the movements of the days since the last close, whatever the history;
- storage: one close holds one row per non-zero (item, bin, lot) and per (item, warehouse) with
  stock or value; about 64 closes a year (52 Mondays and 12 month starts, some the same day).
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from catalog.models import Location

from ..balances import _add, both_sums, period_ends
from ..models import Movement, PeriodBalance, PeriodClose


def _all_warehouse_ids() -> list[int]:
    return list(Location.objects.filter(warehouse__isnull=False).values_list("warehouse_id", flat=True).distinct())


def period_close(*, period_end: datetime) -> PeriodClose:
    """Store the balances at ``period_end`` (after the latest close; earlier ends are refused).
    Idempotent: a period already closed is returned as it is."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {Movement._meta.db_table} IN SHARE MODE")
        existing = PeriodClose.objects.filter(period_end=period_end).first()
        if existing is not None:
            return existing
        previous = PeriodClose.objects.order_by("-period_end").first()
        if previous is not None and previous.period_end > period_end:
            raise ValueError(f"Periods close in order: {previous.period_end:%Y-%m-%d} is already closed.")
        last_id = Movement.objects.aggregate(last=Max("id"))["last"] or 0
        ids = _all_warehouse_ids()
        quantities: dict = {}
        values: dict = {}
        movements = Movement.objects.filter(id__lte=last_id, occurred_at__lt=period_end)
        if previous is not None:
            stored = PeriodBalance.objects.filter(close=previous).values_list(
                "item_id", "warehouse_id", "location_id", "lot_id", "quantity", "value"
            )
            for item_id, warehouse_id, location_id, lot_id, quantity, value in stored.iterator(chunk_size=5000):
                if location_id is None:
                    values[(item_id, warehouse_id)] = [quantity, value]
                else:
                    quantities[(item_id, location_id, lot_id)] = quantity
            movements = movements.exclude(id__lte=previous.last_movement_id, occurred_at__lt=previous.period_end)
        more_quantities, more_values = both_sums(movements, ids)
        _add(quantities, more_quantities)
        _add(values, more_values)
        warehouse_of = dict(Location.objects.filter(warehouse__isnull=False).values_list("pk", "warehouse_id"))
        close = PeriodClose.objects.create(period_end=period_end, last_movement_id=last_id, closed_at=timezone.now())
        rows = [
            PeriodBalance(
                close=close,
                item_id=item,
                warehouse_id=warehouse_of[location],
                location_id=location,
                lot_id=lot,
                quantity=q,
            )
            for (item, location, lot), q in quantities.items()
            if q
        ]
        rows += [
            PeriodBalance(close=close, item_id=item, warehouse_id=warehouse, quantity=pair[0], value=pair[1])
            for (item, warehouse), pair in values.items()
            if pair[0] or pair[1]
        ]
        PeriodBalance.objects.bulk_create(rows, batch_size=5000)
        close.rows = len(rows)
        close.save(update_fields=["rows"])
        return close


def period_balances_close(*, until: datetime | None = None) -> list[PeriodClose]:
    """Close every period (week or month, ``period_ends``) that has ended (up to ``until``,
    default now) and is not closed yet, from the boundary after the latest close, or after the
    first movement. The nightly job."""
    until = until or timezone.now()
    latest = PeriodClose.objects.order_by("-period_end").first()
    first = (
        latest.period_end
        if latest is not None
        else Movement.objects.order_by("occurred_at").values_list("occurred_at", flat=True).first()
    )
    if first is None:
        return []
    return [period_close(period_end=end) for end in period_ends(first, until)]
