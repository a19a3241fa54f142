"""Set-based reads of the ledger that several reports share (docs/reports.md, "As of").

Quantities and values *as of* a moment are the current projection (``StockLevel``,
``ItemValuation``, which ``reconcile`` proves equal to the ledger) minus the movements that
occurred after that moment: the work grows with the movements since, not with the history.
Value follows the ledger's rule (``stock.reconciliation``): a movement's ``total_cost`` counts
for a warehouse only when it crosses the warehouse's boundary (into it from a virtual location
or another warehouse, or out of it); moves between bins of one warehouse change no value.

Every function takes the report's ``ReportQuery`` and reads only its warehouses, item and
category. Keys are ids; callers fetch names in one query (``item_info``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import F, QuerySet, Sum
from django.db.models.functions import Coalesce

from catalog.models import Item, Location, LocationKind
from stock.models import ItemValuation, Lot, Movement, StockLevel

from .framework import ZERO, ReportQuery

Key = tuple[int, ...]


def _movements(query: ReportQuery) -> QuerySet[Movement]:
    return query.items(Movement.objects.all())


def _kind() -> Coalesce:
    """The kind a movement counts as: a reversal counts as (minus) the kind it reverses."""
    return Coalesce(F("reverses__kind"), F("kind"))


def inside(side: str, query: ReportQuery) -> dict[str, object]:
    """Filter of movements whose ``side`` (``source`` or ``destination``) is an internal location
    of one of the query's warehouses."""
    return {f"{side}__kind": LocationKind.INTERNAL, f"{side}__warehouse_id__in": query.warehouse_ids}


def value_flows(query: ReportQuery, start: datetime | None, end: datetime | None, *, by_kind: bool = False) -> dict:
    """Signed value and quantity that crossed into (+) or out of (-) each warehouse of the query
    between ``start`` (inclusive) and ``end`` (exclusive), per (item, warehouse[, kind]):
    ``{key: [quantity, value]}``. Quantity counts only crossing movements too."""
    movements = _movements(query)
    if start is not None:
        movements = movements.filter(occurred_at__gte=start)
    if end is not None:
        movements = movements.filter(occurred_at__lt=end)
    found: dict[Key, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    sides = (
        ("destination", "source", 1),
        ("source", "destination", -1),
    )
    for side, other, sign in sides:
        fields = ["item_id", f"{side}__warehouse_id", f"{other}__warehouse_id"]
        if by_kind:
            fields.append("as_kind")
        rows = (
            movements.filter(**inside(side, query))
            .annotate(as_kind=_kind())
            .values(*fields)
            .annotate(quantity=Sum("quantity"), value=Sum("total_cost"))
            .order_by()
        )
        for row in rows:
            here, there = row[f"{side}__warehouse_id"], row[f"{other}__warehouse_id"]
            if here == there:  # within one warehouse: no value crosses
                continue
            key = (row["item_id"], here, row["as_kind"]) if by_kind else (row["item_id"], here)
            found[key][0] += sign * as_decimal(row["quantity"])
            found[key][1] += sign * as_decimal(row["value"])
    return found


def as_decimal(value: object) -> Decimal:
    """SQLite sums decimals as floats: back to 4 places, as the ledger stores them."""
    if value is None:
        return ZERO
    if isinstance(value, float):
        return Decimal(repr(round(value, 4)))
    return Decimal(value)


def warehouse_values(query: ReportQuery, at: datetime | None = None) -> dict[Key, list[Decimal]]:
    """(item, warehouse) -> [quantity, value] now, or as of ``at`` (inclusive)."""
    rows = query.items(ItemValuation.objects.filter(warehouse_id__in=query.warehouse_ids))
    found: dict[Key, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for item_id, warehouse_id, quantity, value in rows.values_list("item_id", "warehouse_id", "quantity", "value"):
        found[(item_id, warehouse_id)] = [quantity, value]
    if at is not None:
        for key, (quantity, value) in value_flows(query, _after(at), None).items():
            found[key][0] -= quantity
            found[key][1] -= value
    return {key: pair for key, pair in found.items() if pair[0] or pair[1]}


def _after(at: datetime) -> datetime:
    """The movements "since" ``at`` are those strictly after it; ``value_flows`` takes an
    inclusive start, so start one microsecond later."""
    return at + timedelta(microseconds=1)


def location_quantities(query: ReportQuery, at: datetime | None = None) -> dict[Key, Decimal]:
    """(item, location, lot or None) -> quantity in the internal locations of the query's
    warehouses, now or as of ``at``."""
    levels = query.items(
        StockLevel.objects.filter(location__kind=LocationKind.INTERNAL, location__warehouse_id__in=query.warehouse_ids)
    )
    found: dict[Key, Decimal] = defaultdict(lambda: ZERO)
    for item_id, location_id, lot_id, on_hand in levels.values_list("item_id", "location_id", "lot_id", "on_hand"):
        found[(item_id, location_id, lot_id)] += on_hand
    if at is not None:
        since = _movements(query).filter(occurred_at__gt=at)
        for side, sign in (("destination", -1), ("source", 1)):
            rows = (
                since.filter(**inside(side, query))
                .values("item_id", f"{side}_id", "lot_id")
                .annotate(quantity=Sum("quantity"))
                .order_by()
            )
            for row in rows:
                found[(row["item_id"], row[f"{side}_id"], row["lot_id"])] += sign * as_decimal(row["quantity"])
    return {key: quantity for key, quantity in found.items() if quantity}


def item_info(item_ids: Iterable[int]) -> dict[int, dict]:
    """id -> sku, name, category path, unit code of the items, in one query."""
    rows = Item.objects.filter(pk__in=set(item_ids)).values(
        "pk", "sku", "name", category_path=F("category__path"), unit=F("base_unit__code")
    )
    return {row["pk"]: {**row, "category_path": row["category_path"] or ""} for row in rows}


def location_info(location_ids: Iterable[int]) -> dict[int, tuple[str, int]]:
    """id -> (code, warehouse id) of the locations."""
    rows = Location.objects.filter(pk__in=set(location_ids)).values_list("pk", "code", "warehouse_id")
    return {pk: (code, warehouse_id) for pk, code, warehouse_id in rows}


def lot_info(lot_ids: Iterable[int | None]) -> dict[int, dict]:
    rows = Lot.objects.filter(pk__in={pk for pk in lot_ids if pk}).values("pk", "code", "expiry_date")
    return {row["pk"]: row for row in rows}


def issued(query: ReportQuery, start: datetime, end: datetime) -> dict[Key, list[Decimal]]:
    """(item, warehouse) -> [quantity, value] issued to customers in the period, net of customer
    returns and of reversals of either: the cost of goods sold."""
    flows = value_flows(query, start, end, by_kind=True)
    found: dict[Key, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for (item_id, warehouse_id, kind), (quantity, value) in flows.items():
        if kind in ("issue", "customer_return"):
            found[(item_id, warehouse_id)][0] -= quantity
            found[(item_id, warehouse_id)][1] -= value
    return found
