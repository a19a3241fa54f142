"""The reports' reads of the ledger, through ``stock.balances`` (set-based, per id; as of any
moment from the nearer of the projection and the period balances: docs/reports.md, "As of").

Every function takes the report's ``ReportQuery`` and reads only its warehouses, item and
category. Keys are ids; ``item_info``, ``location_info`` and ``lot_info`` fetch the names in one
query each.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import F, Q, QuerySet, Sum, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone

from catalog.models import Item, Location, LocationKind, Warehouse
from stock.balances import as_decimal, balances_as_of, effective_kind, value_sums
from stock.balances import inside as _inside_ids
from stock.models import VALUE_ONLY_KINDS, ItemValuation, Lot, Movement, MovementKind, StockLevel

from .framework import ReportQuery

__all__ = ["as_decimal", "inside"]

Key = tuple[int, ...]


def inside(side: str, query: ReportQuery) -> dict[str, object]:
    """Filter of movements whose ``side`` is an internal location of the query's warehouses."""
    return _inside_ids(side, query.warehouse_ids)


def value_flows(
    query: ReportQuery,
    start: datetime | None,
    end: datetime | None,
    *,
    by_kind: bool = False,
    by_item: bool = True,
    kinds: Iterable[str] | None = None,
    item_ids: Iterable[int] | None = None,
) -> dict:
    """Signed quantity and value that crossed into (+) or out of (-) each warehouse of the query
    between ``start`` (inclusive) and ``end`` (exclusive), per (item, warehouse[, kind]), or
    per (warehouse[, kind]) without ``by_item``; only the movements counting as ``kinds`` when
    given, and only those of ``item_ids`` when given (``stock.balances.value_sums``)."""
    movements = query.items(Movement.objects.all())
    if item_ids is not None:
        movements = movements.filter(item_id__in=with_ids(Item.objects.all(), item_ids).values("pk"))
    if start is not None:
        movements = movements.filter(occurred_at__gte=start)
    if end is not None:
        movements = movements.filter(occurred_at__lt=end)
    return value_sums(movements, query.warehouse_ids, by_kind=by_kind, by_item=by_item, kinds=kinds)


def warehouse_values(query: ReportQuery, at: datetime | None = None) -> dict[Key, list[Decimal]]:
    """(item, warehouse) -> [quantity, value] now, or as of ``at`` (inclusive)."""
    return balances_as_of(at, query.warehouse_ids, query.items, quantities=False)[1]


def balances(query: ReportQuery, at: datetime) -> tuple[dict[Key, Decimal], dict[Key, list[Decimal]]]:
    """``location_quantities`` and ``warehouse_values`` as of ``at`` from one base (one read of
    a close's balances and one sum of the movements since)."""
    return balances_as_of(at, query.warehouse_ids, query.items)


def location_quantities(query: ReportQuery, at: datetime | None = None) -> dict[Key, Decimal]:
    """(item, location, lot or None) -> quantity in the internal locations of the query's
    warehouses, now or as of ``at``."""
    return balances_as_of(at, query.warehouse_ids, query.items, values=False)[0]


# The names of a stock-on-hand row, joined in SQL from a ``StockLevel`` (``current_location_rows``);
# no category or no lot is "", as the report shows it.
LOCATION_ROW_FIELDS = (
    "item_id",
    "location__warehouse_id",
    "item__sku",
    "item__name",
    Coalesce("item__category__path", Value("")),
    "location__warehouse__code",
    "location__code",
    Coalesce("lot__code", Value("")),
    "lot__expiry_date",
    "on_hand",
    "item__base_unit__code",
)


def nothing_after(query: ReportQuery, at: datetime) -> bool:
    """True when no movement of the query's items occurred after ``at``: the projection is then
    the stock as of ``at`` (the usual case of a report "now"), read without the balances' sums."""
    return not query.items(Movement.objects.filter(occurred_at__gt=at)).exists()


def current_location_rows(query: ReportQuery) -> list[tuple]:
    """The current non-zero quantities in the internal locations of the query's warehouses, one
    tuple of ``LOCATION_ROW_FIELDS`` per (item, location, lot), names and units joined in the
    same query (one statement, whatever the number of rows), unordered: an ``ORDER BY`` on the
    four codes cost the server more than the report's sort in Python (bench/reports.py). The
    projection equals the ledger (``reconcile``), so this is ``location_quantities(query)`` with
    its names."""
    levels = query.items(
        StockLevel.objects.filter(
            location__kind=LocationKind.INTERNAL, location__warehouse_id__in=query.warehouse_ids
        ).exclude(on_hand=0)
    )
    return list(levels.values_list(*LOCATION_ROW_FIELDS).order_by())


def with_ids(queryset: QuerySet, ids: Iterable[int | None]) -> QuerySet:
    """``queryset`` narrowed to the primary keys ``ids`` (None left out). On PostgreSQL the ids
    travel as one array parameter: thousands of ``IN (%s, ...)`` parameters cost more to build
    and to parse than the query takes to run (bench/reports.py)."""
    wanted = sorted({pk for pk in ids if pk is not None})
    if connection.vendor == "postgresql":
        return queryset.filter(pk__in=RawSQL("SELECT unnest(%s::bigint[])", (wanted,)))
    return queryset.filter(pk__in=wanted)


def item_info(item_ids: Iterable[int]) -> dict[int, dict]:
    """id -> sku, name, category path, unit code of the items, in one query."""
    rows = with_ids(Item.objects.all(), item_ids).values(
        "pk", "sku", "name", category_path=Coalesce("category__path", Value("")), unit=F("base_unit__code")
    )
    return {row["pk"]: row for row in rows}


def location_info(location_ids: Iterable[int]) -> dict[int, tuple[str, int]]:
    """id -> (code, warehouse id) of the locations."""
    rows = with_ids(Location.objects.all(), location_ids).values_list("pk", "code", "warehouse_id")
    return {pk: (code, warehouse_id) for pk, code, warehouse_id in rows}


def lot_info(lot_ids: Iterable[int | None]) -> dict[int, dict]:
    rows = with_ids(Lot.objects.all(), lot_ids).values("pk", "code", "expiry_date")
    return {row["pk"]: row for row in rows}


# The names and figures of a valuation row, joined in SQL from an ``ItemValuation`` (no category
# is "", as the report shows it).
VALUE_ROW_FIELDS = (
    "item__sku",
    "item__name",
    Coalesce("item__category__path", Value("")),
    "warehouse__code",
    "item__base_unit__code",
    "quantity",
    "value",
)


def value_rows(query: ReportQuery, at: datetime | None = None) -> list[tuple]:
    """One tuple of ``VALUE_ROW_FIELDS`` per (item, warehouse) of the query with a quantity or
    a value, now or as of ``at``. Now (nothing moved after ``at``) it is one query over
    ``ItemValuation`` with the names joined; otherwise the balances (``warehouse_values``) and
    their names in one query per kind of name. Unordered (the report sorts)."""
    if at is None or nothing_after(query, at):
        levels = query.items(ItemValuation.objects.filter(warehouse_id__in=query.warehouse_ids))
        return list(levels.exclude(quantity=0, value=0).values_list(*VALUE_ROW_FIELDS).order_by())
    values = warehouse_values(query, at)
    items = item_info(item_id for item_id, _ in values)
    codes = dict(Warehouse.objects.filter(pk__in=query.warehouse_ids).values_list("pk", "code"))
    found = []
    for (item_id, warehouse_id), (quantity, value) in values.items():
        item = items[item_id]
        found.append(
            (item["sku"], item["name"], item["category_path"], codes[warehouse_id], item["unit"], quantity, value)
        )
    return found


# The kinds whose value leaving (net of coming back) is cost of goods sold.
COST_OF_GOODS_SOLD_KINDS = ("issue", "customer_return")


def issued(
    query: ReportQuery, start: datetime, end: datetime, item_ids: Iterable[int] | None = None
) -> dict[Key, list[Decimal]]:
    """(item, warehouse) -> [quantity, value] issued to customers in the period, net of customer
    returns and of reversals of either: the cost of goods sold (of ``item_ids`` only when
    given). Only those kinds are summed (in SQL), so the rows are one per (item, warehouse)."""
    flows = value_flows(query, start, end, kinds=COST_OF_GOODS_SOLD_KINDS, item_ids=item_ids)
    return {key: [-quantity, -value] for key, (quantity, value) in flows.items()}


def values_before(query: ReportQuery, moment: datetime) -> dict[Key, list[Decimal]]:
    """(item, warehouse) -> [quantity, value] just before ``moment`` (a period's opening, or
    the closing of the period that ends at ``moment``)."""
    return warehouse_values(query, moment - timedelta(microseconds=1))


# What ``value_sold_at_once`` may group by: the item, the receipt's warehouse, the entry's kind
# (a reversal's: the kind it reverses) and the week it occurred in (as ``TruncWeek`` gives it).
SOLD_AT_ONCE_GROUPS = {
    "item": lambda: F("item_id"),
    "warehouse": lambda: F("origin__destination__warehouse_id"),
    "entry_kind": effective_kind,
    "week": lambda: TruncWeek("occurred_at", tzinfo=timezone.get_current_timezone()),
}


def value_sold_at_once(query: ReportQuery, start: datetime, end: datetime, *group: str) -> dict[tuple, Decimal]:
    """The value that value-only entries between ``start`` (inclusive) and ``end`` (exclusive)
    sent from the supplier location straight to the customer location (a landed cost's or price
    difference's share of a receipt already sold: cost of goods sold of the receipt's warehouse,
    docs/reports.md), for the receipts of the query's warehouses and items, summed per ``group``
    (names of ``SOLD_AT_ONCE_GROUPS``, in that order in each key). A reversal counts with its
    own (opposite) sign. Sums of zero (an entry and its reversal) are left out. One grouped
    query."""
    entries = query.items(
        Movement.objects.filter(
            occurred_at__gte=start,
            occurred_at__lt=end,
            quantity=0,
            source_id__in=Location.objects.filter(kind=LocationKind.SUPPLIER).values("pk"),
            destination_id__in=Location.objects.filter(kind=LocationKind.CUSTOMER).values("pk"),
            origin__isnull=False,  # implied by the next filter; lets the partial index movement_origin serve
            origin__destination__warehouse_id__in=query.warehouse_ids,
        ).filter(Q(kind__in=VALUE_ONLY_KINDS) | Q(kind=MovementKind.REVERSAL))
    )  # with quantity 0 from the supplier to the customer, a reversal is one of a value-only entry
    names = {f"by_{name}": SOLD_AT_ONCE_GROUPS[name]() for name in group}
    sums = entries.values(**names).annotate(value=Sum("total_cost")).order_by()
    return {tuple(row[name] for name in names): as_decimal(row["value"]) for row in sums if row["value"]}
