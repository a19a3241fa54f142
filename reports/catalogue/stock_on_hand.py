"""``stock-on-hand``: quantity and value by item, warehouse, location and lot, now or as of any
moment. A location's value is its share of its (item, warehouse) value at that moment (value is
kept per item and warehouse: one pool, docs/ledger.md)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from catalog.models import Warehouse

from ..framework import Column, Report, ReportQuery, register
from ..ledger import item_info, location_info, location_quantities, lot_info, warehouse_values
from .common import ITEM_WAREHOUSE_COLUMNS, item_warehouse_cells, money, share


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
        at = query.as_of
        quantities = location_quantities(query, at)
        values = warehouse_values(query, at)
        warehouse_of = dict(Warehouse.objects.filter(pk__in=query.warehouse_ids).values_list("pk", "code"))
        items, locations, lots = (
            item_info(k[0] for k in quantities),
            location_info(k[1] for k in quantities),
            lot_info(k[2] for k in quantities),
        )
        rows = []
        for (item_id, location_id, lot_id), quantity in quantities.items():
            location_code, warehouse_id = locations[location_id]
            wh_quantity, wh_value = values.get((item_id, warehouse_id), (Decimal(0), Decimal(0)))
            item, lot = items[item_id], lots.get(lot_id) or {}
            rows.append(
                {
                    **item_warehouse_cells(item, warehouse_of[warehouse_id]),
                    "location": location_code,
                    "lot": lot.get("code", ""),
                    "expiry_date": lot.get("expiry_date"),
                    "quantity": quantity,
                    "unit": item["unit"],
                    "value": money(share(quantity, wh_quantity, wh_value)),
                }
            )
        rows.sort(key=lambda r: (r["sku"], r["warehouse"], r["location"], r["lot"]))
        return rows

    def totals(self, rows: list[dict[str, Any]], query: ReportQuery) -> dict[str, Any]:
        totals = super().totals(rows, query)
        units = {row["unit"] for row in rows}
        # A sum of quantities means something only in one unit.
        totals["quantity"] = sum((row["quantity"] for row in rows), Decimal(0)) if len(units) == 1 else None
        totals["as_of"] = query.as_of
        return totals
