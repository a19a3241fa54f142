"""``stock-outs``: when each item had nothing on hand in a warehouse during the period, for how
long, and the demand lost: the days out times its average daily demand (what was issued in the
period divided by the days it was in stock). Only (item, warehouse) pairs that ever held stock
there are considered. Rows are the stock-out intervals, clipped to the period (and to now);
``until`` is empty while the item is still out.

Quantities come from the movements crossing the warehouse's boundary (moves between its bins do
not change its stock), replayed in time order from the quantity just before the period.
Reserved stock is not history: "nothing available" is read as nothing on hand.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import F, Q, Sum
from django.utils import timezone

from catalog.models import Item, LocationKind, Warehouse
from stock.balances import as_decimal
from stock.models import ItemValuation, Movement

from ..framework import ZERO, Column, Report, ReportQuery, register
from ..ledger import inside, issued, item_info, values_before, with_ids
from .common import ITEM_COLUMNS, ratio

DAY = Decimal(86400)


def out_intervals(opening: Decimal, changes: list[tuple[datetime, Decimal]], start: datetime, end: datetime) -> list:
    """[(from, until or None)] while the running quantity is <= 0, from ``opening`` at ``start``
    through ``changes`` (sorted by time) to ``end``; ``until`` None means still out at ``end``."""
    intervals, quantity = [], opening
    out_since = start if quantity <= 0 else None
    for at, change in changes:
        quantity += change
        if out_since is None and quantity <= 0:
            out_since = at
        elif out_since is not None and quantity > 0:
            intervals.append((out_since, at))
            out_since = None
    if out_since is not None:
        intervals.append((out_since, None))
    return intervals


@register
class StockOuts(Report):
    name = "stock-outs"
    title = "Stock-outs"
    description = "When each item had nothing in a warehouse, for how long, and the demand lost."
    period = True
    columns = (
        *ITEM_COLUMNS,
        Column("warehouse", "Warehouse"),
        Column("out_from", "Out from", "datetime"),
        Column("out_until", "Back in stock", "datetime"),
        Column("days_out", "Days out", "number"),
        Column("daily_demand", "Average daily demand", "quantity"),
        Column("demand_lost", "Demand lost", "quantity"),
        Column("unit", "Unit"),
    )
    total_keys = ("days_out",)

    def rows(self, query: ReportQuery) -> list[dict[str, Any]]:
        now, start = timezone.now(), query.start  # start: once (a property that makes a time aware)
        end = min(query.end, now)
        if end <= start:
            return []
        pairs = set(
            query.items(ItemValuation.objects.filter(warehouse_id__in=query.warehouse_ids)).values_list(
                "item_id", "warehouse_id"
            )
        )
        opening = values_before(query, start)
        outflows = _outflows(query, start, end)
        # A pair whose opening stays above 0 even after every outflow of the period cannot run
        # out: only the others' movements are read and replayed.
        no_value = (ZERO, ZERO)
        may_run_out = {key for key in pairs if opening.get(key, no_value)[0] + outflows.get(key, ZERO) <= 0}
        if not may_run_out:
            return []
        # Demand, names and movements only of the items that may run out.
        item_ids = {item_id for item_id, _ in may_run_out}
        changes = _changes(query, start, end, item_ids)
        demand = issued(query, start, end, item_ids)
        items = item_info(item_ids)
        codes = dict(Warehouse.objects.filter(pk__in=query.warehouse_ids).values_list("pk", "code"))
        period_days = Decimal((end - start).total_seconds()) / DAY
        rows = []
        for key in may_run_out:
            intervals = out_intervals(opening.get(key, (ZERO, ZERO))[0], changes.get(key, []), start, end)
            if not intervals:
                continue
            lengths = [Decimal(((until or end) - since).total_seconds()) / DAY for since, until in intervals]
            in_stock_days = period_days - sum(lengths, ZERO)
            daily = ratio(demand.get(key, (ZERO, ZERO))[0], in_stock_days, "0.0001") if in_stock_days > 0 else None
            for (since, until), days in zip(intervals, lengths, strict=True):
                rows.append(
                    {
                        "sku": items[key[0]]["sku"],
                        "name": items[key[0]]["name"],
                        "warehouse": codes[key[1]],
                        "out_from": since,
                        "out_until": until,
                        "days_out": days.quantize(Decimal("0.1")),
                        "daily_demand": daily,
                        "demand_lost": (daily * days).quantize(Decimal("0.01")) if daily is not None else None,
                        "unit": items[key[0]]["unit"],
                    }
                )
        rows.sort(key=lambda r: (r["out_from"], r["sku"], r["warehouse"]))
        return rows

    def totals(self, rows: list[dict[str, Any]], query: ReportQuery) -> dict[str, Any]:
        totals = super().totals(rows, query)
        totals["still_out_at_end"] = len({(r["sku"], r["warehouse"]) for r in rows if r["out_until"] is None})
        return totals


def _outflows(query: ReportQuery, start: datetime, end: datetime) -> dict:
    """(item, warehouse) -> minus the quantity that left the warehouse in [start, end) (0 or
    less): its movements whose source is an internal location of the warehouse and whose
    destination is not in it (what ``_changes`` replays as outflows: only internal locations
    have a warehouse, and quantities are never negative), in one grouped statement over the
    source side only (no movement travels)."""
    movements = query.items(Movement.objects.filter(occurred_at__gte=start, occurred_at__lt=end))
    rows = (
        movements.filter(**inside("source", query))
        .exclude(destination__warehouse_id=F("source__warehouse_id"))
        .values_list("item_id", "source__warehouse_id")
        .annotate(out=Sum("quantity"))
        .order_by()
    )
    return {(item_id, warehouse_id): -as_decimal(out) for item_id, warehouse_id, out in rows}


def _changes(query: ReportQuery, start: datetime, end: datetime, item_ids: set[int]) -> dict:
    """(item, warehouse) -> [(when, signed quantity)] of the movements of ``item_ids`` crossing
    the boundary of each warehouse in [start, end), in time order."""
    wanted = with_ids(Item.objects.all(), item_ids).values("pk")
    movements = query.items(Movement.objects.filter(occurred_at__gte=start, occurred_at__lt=end, item_id__in=wanted))
    ids = query.warehouse_ids
    internal = LocationKind.INTERNAL
    rows = (
        movements.filter(
            Q(destination__kind=internal, destination__warehouse_id__in=ids)
            | Q(source__kind=internal, source__warehouse_id__in=ids)
        )
        .values_list("item_id", "occurred_at", "quantity", F("source__warehouse_id"), F("destination__warehouse_id"))
        .order_by("occurred_at", "id")
    )
    found: dict = defaultdict(list)
    for item_id, at, quantity, source_wh, destination_wh in rows.iterator(chunk_size=5000):
        if source_wh == destination_wh:
            continue
        if destination_wh in ids:
            found[(item_id, destination_wh)].append((at, quantity))
        if source_wh in ids:
            found[(item_id, source_wh)].append((at, -quantity))
    return found
