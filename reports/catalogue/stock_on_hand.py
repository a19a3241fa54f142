"""``stock-on-hand``: quantity and value by item, warehouse, location and lot, now or as of any
moment. A location's value is its share of its (item, warehouse) value at that moment (value is
kept per item and warehouse: one pool, docs/ledger.md)."""

from __future__ import annotations

from decimal import Decimal
from operator import itemgetter
from typing import Any

from catalog.models import Warehouse

from ..framework import ZERO, Column, Report, ReportQuery, register
from ..ledger import (
    balances,
    current_location_rows,
    item_info,
    location_info,
    lot_info,
    nothing_after,
    warehouse_values,
)
from .common import ITEM_WAREHOUSE_COLUMNS, value_share

# The rows' order (SKU, warehouse, location, lot) in ``current_location_rows``' tuples.
ROW_ORDER = itemgetter(2, 5, 6, 7)


@register
class StockOnHand(Report):
    name = "stock-on-hand"
    title = "Stock on hand"
    description = "Quantity and value by item, warehouse, location and lot, now or as of any date and time."
    as_of = True
    columns = (
        *ITEM_WAREHOUSE_COLUMNS,
        Column("location", "Location"),
        Column("lot", "Lot"),
        Column("expiry_date", "Expiry", "date"),
        Column("quantity", "Quantity", "quantity"),
        Column("unit", "Unit"),
        Column("value", "Value", "money"),
    )
    total_keys = ("value",)

    def rows(self, query: ReportQuery) -> list[dict[str, Any]]:
        """Now (nothing moved after ``as_of``): one query reads the quantities with their names
        and units (``current_location_rows``) and one the (item, warehouse) values; as of an
        earlier moment: the balances (docs/reports.md, "As of") and their names. Either way a
        row's value is its share of its (item, warehouse) value. The tuples are sorted (SKU,
        warehouse, location, lot) before the dicts are built: sorting the dicts by four keys
        cost more (bench/reports.py)."""
        at = query.as_of
        if at is None or nothing_after(query, at):
            found, values = current_location_rows(query), warehouse_values(query)
        else:
            quantities, values = balances(query, at)
            found = _as_of_location_rows(query, quantities)
        found.sort(key=ROW_ORDER)
        no_value = (ZERO, ZERO)
        rows = []
        for item_id, warehouse_id, sku, name, category, warehouse, location, lot, expiry, quantity, unit in found:
            wh_quantity, wh_value = values.get((item_id, warehouse_id), no_value)
            rows.append(
                {
                    "sku": sku,
                    "name": name,
                    "category": category,
                    "warehouse": warehouse,
                    "location": location,
                    "lot": lot,
                    "expiry_date": expiry,
                    "quantity": quantity,
                    "unit": unit,
                    "value": value_share(quantity, wh_quantity, wh_value),
                }
            )
        return rows

    def totals(self, rows: list[dict[str, Any]], query: ReportQuery) -> dict[str, Any]:
        totals: dict[str, Any] = {"rows": len(rows), "value": sum(map(itemgetter("value"), rows), Decimal(0))}
        units = set(map(itemgetter("unit"), rows))
        # A sum of quantities means something only in one unit.
        totals["quantity"] = sum(map(itemgetter("quantity"), rows), Decimal(0)) if len(units) == 1 else None
        totals["as_of"] = query.as_of
        return totals


def _as_of_location_rows(query: ReportQuery, quantities: dict[tuple, Decimal]) -> list[tuple]:
    """``current_location_rows``' tuples of ``quantities`` (per (item, location, lot), from the
    balances as of a moment), their names in one query per kind of name."""
    warehouse_of = dict(Warehouse.objects.filter(pk__in=query.warehouse_ids).values_list("pk", "code"))
    items, locations, lots = (
        item_info(k[0] for k in quantities),
        location_info(k[1] for k in quantities),
        lot_info(k[2] for k in quantities),
    )
    found = []
    for (item_id, location_id, lot_id), quantity in quantities.items():
        location_code, warehouse_id = locations[location_id]
        item, lot = items[item_id], lots.get(lot_id) or {}
        found.append(
            (
                item_id,
                warehouse_id,
                item["sku"],
                item["name"],
                item["category_path"],
                warehouse_of[warehouse_id],
                location_code,
                lot.get("code", ""),
                lot.get("expiry_date"),
                quantity,
                item["unit"],
            )
        )
    return found
