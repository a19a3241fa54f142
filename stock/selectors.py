"""Read queries of the ledger that more than one caller needs.

On-hand and available come from the ``StockLevel`` projection (one indexed read, whatever the
size of the ledger); quantities and values *as of* a past moment sum the movements of one item
up to that moment through the (item, location, occurred_at) indexes. ``code_lookup`` says what
a scanned or typed code names (item, location, lot), by the one rule the API and the floor share.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Case, DecimalField, Exists, F, Model, OuterRef, Q, QuerySet, Sum, Value, When
from django.db.models.expressions import Combinable
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalog.models import Item, Location, LocationKind, Warehouse
from catalog.permissions import WarehouseAction, warehouses_for
from catalog.selectors import item_by_code, location_by_barcode, location_in_warehouse
from common.db import ModelRows, fetch_rows

from .models import MONEY_STEP, ZERO, ItemValuation, Lot, Movement, MovementKind, StockLevel

_DEC = DecimalField(max_digits=20, decimal_places=4)


def _levels(
    *,
    item: Item | None = None,
    warehouse: Warehouse | None = None,
    location: Location | None = None,
    lot: Lot | None = None,
    include_sublocations: bool = True,
) -> QuerySet[StockLevel]:
    levels = StockLevel.objects.filter(location__kind=LocationKind.INTERNAL)
    if item is not None:
        levels = levels.filter(item=item)
    if warehouse is not None:
        levels = levels.filter(location__warehouse=warehouse)
    if location is not None:
        levels = levels.filter(location_id__in=location.descendant_ids() if include_sublocations else [location.pk])
    if lot is not None:
        levels = levels.filter(lot=lot)
    return levels


@dataclass(frozen=True)
class Stock:
    on_hand: Decimal
    reserved: Decimal

    @property
    def available(self) -> Decimal:
        return self.on_hand - self.reserved


def stock_on_hand(
    *,
    item: Item,
    warehouse: Warehouse | None = None,
    location: Location | None = None,
    lot: Lot | None = None,
    include_sublocations: bool = True,
) -> Stock:
    """On hand and reserved of an item in internal locations: everywhere, in a warehouse, at a
    location (with its sub-locations unless told otherwise), optionally of one lot."""
    totals = _levels(
        item=item, warehouse=warehouse, location=location, lot=lot, include_sublocations=include_sublocations
    ).aggregate(
        on_hand=Coalesce(Sum("on_hand"), Value(ZERO), output_field=_DEC),
        reserved=Coalesce(Sum("reserved"), Value(ZERO), output_field=_DEC),
    )
    return Stock(on_hand=totals["on_hand"], reserved=totals["reserved"])


def stock_available(**kwargs) -> Decimal:  # noqa: ANN003 - same filters as stock_on_hand
    return stock_on_hand(**kwargs).available


def stock_by_warehouse(*, item: Item) -> list[Mapping[str, Any]]:
    return list(
        _levels(item=item)
        .values(warehouse_code=F("location__warehouse__code"))
        .annotate(on_hand=Sum("on_hand"), reserved=Sum("reserved"))
        .order_by("warehouse_code")
    )


def stock_by_location(
    *, item: Item | None = None, warehouse: Warehouse | None = None, location: Location | None = None
) -> QuerySet[StockLevel]:
    """Non-empty levels with their location and lot, for look-up screens and lists."""
    return (
        _levels(item=item, warehouse=warehouse, location=location)
        .filter(~Q(on_hand=0) | ~Q(reserved=0))
        .select_related("item__base_unit", "location__warehouse", "lot")
        .order_by("item__sku", "location__warehouse__code", "location__code", "lot__expiry_date")
    )


def stock_by_lot(*, item: Item, warehouse: Warehouse | None = None) -> list[Mapping[str, Any]]:
    return list(
        _levels(item=item, warehouse=warehouse)
        .filter(lot__isnull=False)
        .values("lot_id", lot_code=F("lot__code"), expiry_date=F("lot__expiry_date"))
        .annotate(on_hand=Sum("on_hand"), reserved=Sum("reserved"))
        .filter(~Q(on_hand=0))
        .order_by(F("expiry_date").asc(nulls_last=True), "lot_code")
    )


_LEVEL_ROWS = ModelRows(StockLevel)
_LOCATION_ROWS = ModelRows(Location)
_WAREHOUSE_ROWS = ModelRows(Warehouse)
_LOT_ROWS = ModelRows(Lot)
_LEVEL_LOCATION = StockLevel._meta.get_field("location")
_LEVEL_LOT = StockLevel._meta.get_field("lot")
_LOCATION_WAREHOUSE = Location._meta.get_field("warehouse")


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@functools.lru_cache(maxsize=64)
def _fefo_sql(vendor: str, warehouse: bool, locations: int | None, lot: bool) -> str:
    """``stock_levels_available_fefo``'s statement for its shape (within a warehouse or not, how
    many location ids, a lot or not), built once per shape and database vendor."""
    conditions = ["loc.kind = %s", "sl.item_id = %s"]
    if warehouse:
        conditions.append("loc.warehouse_id = %s")
    if locations is not None:
        conditions.append(f"sl.location_id IN ({', '.join(['%s'] * locations)})")
    if lot:
        conditions.append("sl.lot_id = %s")
    conditions += ["sl.on_hand > sl.reserved", "(lot.expiry_date IS NULL OR lot.expiry_date >= %s)"]
    # Within ``warehouse`` every location's warehouse is that one: it is not read again.
    places = "" if warehouse else f"{_WAREHOUSE_ROWS.columns('w')}, "
    joined = "" if warehouse else f"LEFT JOIN {_table(Warehouse)} w ON w.id = loc.warehouse_id "
    return (
        f"SELECT {_LEVEL_ROWS.columns('sl')}, {_LOCATION_ROWS.columns('loc')}, {places}"  # noqa: S608 - names from _meta
        f"{_LOT_ROWS.columns('lot')} "
        f"FROM {_table(StockLevel)} sl JOIN {_table(Location)} loc ON loc.id = sl.location_id "
        f"{joined}LEFT JOIN {_table(Lot)} lot ON lot.id = sl.lot_id "
        f"WHERE {' AND '.join(conditions)} "
        "ORDER BY lot.expiry_date IS NULL, lot.expiry_date, lot.received_on IS NULL, lot.received_on, sl.lot_id, "
        "loc.code"
    )


def stock_levels_available_fefo(
    *,
    item: Item,
    warehouse: Warehouse | None = None,
    location: Location | None = None,
    lot: Lot | None = None,
    today: date | None = None,
) -> list[StockLevel]:
    """Levels with available stock in pick order: first expiry first (lots without expiry last),
    then the oldest lot, then location code. Expired lots are left out (they cannot be sold).
    Internal locations only: of ``warehouse``, of ``location`` and its sub-locations, of ``lot``.
    Each level comes with its location (and that location's warehouse: ``warehouse`` itself when
    given) and its lot.

    Plain SQL (``common.db``): every sale without a location plans with it, and the queryset's
    building cost several times the query."""
    today = today or timezone.localdate()
    params: list[object] = [LocationKind.INTERNAL, item.pk]
    if warehouse is not None:
        params.append(warehouse.pk)
    ids = location.descendant_ids() if location is not None else None
    params.extend(ids or ())
    if lot is not None:
        params.append(lot.pk)
    params.append(today)
    sql = _fefo_sql(connection.vendor, warehouse is not None, None if ids is None else len(ids), lot is not None)
    rows = fetch_rows(sql, params)
    levels = []
    for row in rows:
        level = _LEVEL_ROWS.instance(row)
        start = _LEVEL_ROWS.width
        place = _LOCATION_ROWS.instance(row, start)
        start += _LOCATION_ROWS.width
        if warehouse is not None:
            _LOCATION_WAREHOUSE.set_cached_value(place, warehouse)
        else:
            _LOCATION_WAREHOUSE.set_cached_value(
                place, _WAREHOUSE_ROWS.instance(row, start) if place.warehouse_id is not None else None
            )
            start += _WAREHOUSE_ROWS.width
        _LEVEL_LOCATION.set_cached_value(level, place)
        _LEVEL_LOT.set_cached_value(level, _LOT_ROWS.instance(row, start) if level.lot_id is not None else None)
        levels.append(level)
    return levels


def stock_available_by_item(*, item_ids: Iterable[int], warehouse: Warehouse) -> dict[int, Decimal]:
    """Available (on hand - reserved) of each item in the internal locations of ``warehouse``,
    in ONE query whatever the number of items (0 for an item with no level there); what a sale
    or return answers after posting. Plain SQL for the reason of ``stock_levels_available_fefo``."""
    ids = sorted(set(item_ids))
    available = dict.fromkeys(ids, ZERO)
    if not ids:
        return available
    rows = fetch_rows(
        f"SELECT sl.item_id, SUM(sl.on_hand), SUM(sl.reserved) FROM {_table(StockLevel)} sl "  # noqa: S608 - names from _meta
        f"JOIN {_table(Location)} loc ON loc.id = sl.location_id "
        f"WHERE loc.kind = %s AND loc.warehouse_id = %s AND sl.item_id IN ({', '.join(['%s'] * len(ids))}) "
        "GROUP BY sl.item_id",
        [LocationKind.INTERNAL, warehouse.pk, *ids],
    )
    for item_id, on_hand, reserved in rows:
        available[item_id] = _LEVEL_ROWS.value("on_hand", on_hand) - _LEVEL_ROWS.value("reserved", reserved)
    return available


def lots_expiring(
    *, within_days: int, warehouse: Warehouse | None = None, today: date | None = None
) -> list[Mapping[str, Any]]:
    """Lots with stock on hand whose expiry falls within ``within_days`` (expired ones included)."""
    today = today or timezone.localdate()
    return list(
        _levels(warehouse=warehouse)
        .filter(lot__expiry_date__lte=today + timedelta(days=within_days), on_hand__gt=0)
        .values(
            "item_id",
            "lot_id",
            sku=F("item__sku"),
            name=F("item__name"),
            lot_code=F("lot__code"),
            expiry_date=F("lot__expiry_date"),
            unit_code=F("item__base_unit__code"),
            unit_places=F("item__base_unit__decimal_places"),
        )
        .annotate(on_hand=Sum("on_hand"))
        .order_by("expiry_date", "sku", "lot_code")
    )


# --- As of ------------------------------------------------------------------------------------


def _signed_sum(movements: QuerySet[Movement], inside: Q, outside: Q, field: str) -> Decimal:
    """Sum of ``field`` over movements entering (+) or leaving (-) a set of locations."""
    signed = Case(
        When(inside & ~outside, then=F(field)),
        When(outside & ~inside, then=-F(field)),
        default=Value(ZERO),
        output_field=_DEC,
    )
    return movements.aggregate(total=Coalesce(Sum(signed), Value(ZERO), output_field=_DEC))["total"]


def stock_quantity_as_of(
    *,
    item: Item,
    at: datetime,
    location: Location | None = None,
    warehouse: Warehouse | None = None,
    lot: Lot | None = None,
    include_sublocations: bool = True,
) -> Decimal:
    """Quantity of an item at a location (or in a warehouse) as of ``at``, from the ledger."""
    if location is not None:
        ids = location.descendant_ids() if include_sublocations else [location.pk]
        into, out_of = Q(destination_id__in=ids), Q(source_id__in=ids)
    elif warehouse is not None:
        into = Q(destination__warehouse=warehouse, destination__kind=LocationKind.INTERNAL)
        out_of = Q(source__warehouse=warehouse, source__kind=LocationKind.INTERNAL)
    else:
        into, out_of = Q(destination__kind=LocationKind.INTERNAL), Q(source__kind=LocationKind.INTERNAL)
    movements = Movement.objects.filter(item=item, occurred_at__lte=at).filter(into | out_of)
    if lot is not None:
        movements = movements.filter(lot=lot)
    return _signed_sum(movements, into, out_of, "quantity")


def stock_value_as_of(*, item: Item, warehouse: Warehouse, at: datetime) -> tuple[Decimal, Decimal]:
    """(quantity, value) of an item in a warehouse as of ``at``: the costs of the movements that
    crossed the warehouse's boundary, which is how valuation recorded them."""
    into = Q(destination__warehouse=warehouse, destination__kind=LocationKind.INTERNAL)
    out_of = Q(source__warehouse=warehouse, source__kind=LocationKind.INTERNAL)
    movements = Movement.objects.filter(item=item, occurred_at__lte=at).filter(into | out_of)
    return _signed_sum(movements, into, out_of, "quantity"), _signed_sum(movements, into, out_of, "total_cost")


def stock_as_of(*, item: Item, location: Location, at: datetime, lot: Lot | None = None) -> tuple[Decimal, Decimal]:
    """(quantity, value) at a location as of ``at``. Value is per warehouse (one pool per item
    and warehouse), so a location's value is its quantity at the warehouse's unit cost then."""
    quantity = stock_quantity_as_of(item=item, location=location, at=at, lot=lot)
    if not location.is_internal:
        return quantity, ZERO
    wh_quantity, wh_value = stock_value_as_of(item=item, warehouse=location.home_warehouse, at=at)
    if wh_quantity == 0:
        return quantity, ZERO
    if quantity == wh_quantity:
        return quantity, wh_value
    return quantity, (quantity * wh_value / wh_quantity).quantize(MONEY_STEP)


def stock_valuation(*, warehouse: Warehouse | None = None) -> QuerySet[ItemValuation]:
    """Current quantity and value per item and warehouse (non-zero rows)."""
    rows = ItemValuation.objects.select_related("item", "warehouse").exclude(quantity=0, value=0)
    if warehouse is not None:
        rows = rows.filter(warehouse=warehouse)
    return rows.order_by("item__sku", "warehouse__code")


SHIPMENT_REFERENCE = "stock.shipment"  # a shipment's reference_type (``transfer_ship``)
ARRIVAL_REFERENCE = "stock.shipment-arrival"  # an arrival's reference_type; its reference_id is the shipment's id


def shipment_arrivals(shipment_ids: Iterable[int]) -> QuerySet[Movement]:
    """The arrivals of these shipments that still stand (``transfer_arrive``). A reversed
    arrival is left out, and so is its reversal, which copies the arrival's reference but sends
    the stock back to transit. The one rule of what has arrived: the posting
    (``documents.shipment_arrived_quantity``) and the transfers in transit read it."""
    return Movement.objects.filter(
        reference_type=ARRIVAL_REFERENCE,
        reference_id__in=[str(pk) for pk in shipment_ids],
        reversed_by__isnull=True,
    ).exclude(kind=MovementKind.REVERSAL)


def _warehouse_of(location: Location) -> int | None:
    return location.warehouse_id if location.is_internal else None


@dataclass(frozen=True)
class StockCardRow:
    movement: Movement
    change: Decimal
    balance: Decimal
    value_change: Decimal
    value: Decimal


def stock_card(
    *,
    item: Item,
    warehouse: Warehouse | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
) -> tuple[Decimal, Decimal, list[StockCardRow]]:
    """The movements of an item (in a warehouse, or all internal stock) between ``start`` and
    ``end`` in the order they happened, each with the running quantity and value after it.
    Returns (opening quantity, opening value, rows). Value is tracked only per warehouse."""
    if warehouse is not None:
        into = Q(destination__warehouse=warehouse, destination__kind=LocationKind.INTERNAL)
        out_of = Q(source__warehouse=warehouse, source__kind=LocationKind.INTERNAL)
    else:
        into, out_of = Q(destination__kind=LocationKind.INTERNAL), Q(source__kind=LocationKind.INTERNAL)
    movements = Movement.objects.filter(item=item).filter(into | out_of)
    opening_qty = opening_value = ZERO
    if start is not None:
        before = movements.filter(occurred_at__lt=start)
        opening_qty = _signed_sum(before, into, out_of, "quantity")
        opening_value = _signed_sum(before, into, out_of, "total_cost")
        movements = movements.filter(occurred_at__gte=start)
    if end is not None:
        movements = movements.filter(occurred_at__lte=end)
    rows, balance, value = [], opening_qty, opening_value
    for m in movements.select_related("source", "destination", "lot", "actor").order_by("occurred_at", "id")[:limit]:
        entering = m.destination.is_internal and (warehouse is None or m.destination.warehouse_id == warehouse.pk)
        leaving = m.source.is_internal and (warehouse is None or m.source.warehouse_id == warehouse.pk)
        sign = (1 if entering else 0) - (1 if leaving else 0)
        crosses = _warehouse_of(m.source) != _warehouse_of(m.destination)
        value_sign = sign if crosses else 0
        balance += sign * m.quantity
        value += value_sign * m.total_cost
        rows.append(StockCardRow(m, sign * m.quantity, balance, value_sign * m.total_cost, value))
    return opening_qty, opening_value, rows


def lots_visible(queryset: QuerySet[Lot], user) -> QuerySet[Lot]:  # noqa: ANN001 - a user or None
    """The lots of ``queryset`` that ``user`` may see, scoped like stock (docs/api.md, "Lots"):
    a lot with movements is visible to those who may view stock in a warehouse it has moved in
    or out of (stock levels come only from movements, so "has or had stock" is included); a lot
    with no movement yet belongs to no warehouse and tells nothing about any warehouse's stock
    (a code and an expiry typed in before the goods arrive): visible to anyone who may view
    stock in some warehouse, so whoever receives it can find it. Global viewers see all."""
    if user is None or (user.is_active and user.has_perm(f"catalog.{WarehouseAction.VIEW}")):
        return queryset
    permitted = warehouses_for(user, WarehouseAction.VIEW)
    moved = Movement.objects.filter(lot=OuterRef("pk"))
    seen_in_permitted = moved.filter(Q(source__warehouse__in=permitted) | Q(destination__warehouse__in=permitted))
    condition: Combinable | Q = Exists(seen_in_permitted)
    if permitted.exists():
        condition |= ~Exists(moved)
    return queryset.filter(condition)


# --- Code look-up ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeMatch:
    """What a code names. ``kind`` is ``item``, ``location``, ``lot`` or ``unknown``; a lot
    names its item too. ``lots`` lists the candidates when a lot code belongs to several items
    and stock does not tell them apart (``kind`` is then ``lot`` and ``lot`` is None)."""

    kind: str = "unknown"
    item: Item | None = None
    location: Location | None = None
    lot: Lot | None = None
    lots: tuple[Lot, ...] = ()


def lot_by_code(code: str, *, item: Item) -> Lot | None:
    """The lot of ``item`` whose code is ``code`` exactly (surrounding spaces ignored): lot codes
    are the supplier's, unique per item only, and compared as printed."""
    wanted = (code or "").strip()
    return Lot.objects.select_related("item__base_unit").filter(item=item, code=wanted).first() if wanted else None


def code_lookup(code: str, *, warehouse: Warehouse, item: Item | None = None) -> CodeMatch:
    """What ``code`` names, for a door that does not know which kind of thing it is (the floor's
    scan field). The first of these wins:

    1. a location's barcode (exact after ``normalize_code``; any warehouse, so a bin of another
       warehouse is recognised and the caller can refuse it by name);
    2. an item (``catalog.selectors.item_by_code``: SKU as stored, barcode exact, SKU ignoring case);
    3. a lot of ``item``, when the item is known (exact);
    4. a location code of ``warehouse`` (ignoring case);
    5. a lot of any item (exact); a code several items' lots share is narrowed to the one lot
       with stock in ``warehouse``, else all candidates are returned in ``lots``.

    The API's fields name their kind and use the same rules per kind (``item_by_code``,
    ``location_by_code`` = 1 then 4), so a code names the same thing at every door. Reads only."""
    text = (code or "").strip()
    if not text:
        return CodeMatch()
    location = location_by_barcode(text)
    if location is not None:
        return CodeMatch("location", location=location)
    found = item_by_code(text)
    if found is not None:
        return CodeMatch("item", item=found)
    if item is not None and (lot := lot_by_code(text, item=item)) is not None:
        return CodeMatch("lot", item=lot.item, lot=lot)
    location = location_in_warehouse(text, warehouse)
    if location is not None:
        return CodeMatch("location", location=location)
    lots = list(Lot.objects.select_related("item__base_unit").filter(code=text))
    if len(lots) > 1:
        stocked = set(
            StockLevel.objects.filter(lot__in=lots, location__warehouse=warehouse, on_hand__gt=0).values_list(
                "lot_id", flat=True
            )
        )
        narrowed = [lot for lot in lots if lot.pk in stocked]
        lots = narrowed if len(narrowed) == 1 else lots
    if len(lots) == 1:
        return CodeMatch("lot", item=lots[0].item, lot=lots[0])
    if lots:
        return CodeMatch("lot", lots=tuple(lots))
    return CodeMatch()
