"""``valuation``: quantity and value by item, category and warehouse as of any moment (now by
default), with the total and the value per warehouse and per category."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from operator import itemgetter
from typing import Any

from ..framework import Column, Report, ReportQuery, register
from ..ledger import value_rows
from .common import ITEM_WAREHOUSE_COLUMNS, money, unit_cost

# The rows' order (SKU, warehouse) in ``value_rows``' tuples.
ROW_ORDER = itemgetter(0, 3)


@register
class Valuation(Report):
    name = "valuation"
    title = "Valuation"
    description = "Value by item, category and warehouse as of any date."
    as_of = True
    columns = (
        *ITEM_WAREHOUSE_COLUMNS,
        Column("quantity", "Quantity", "quantity"),
        Column("unit", "Unit"),
        Column("unit_cost", "Unit cost", "money"),
        Column("value", "Value", "money"),
    )
    total_keys = ("value",)

    def rows(self, query: ReportQuery) -> list[dict[str, Any]]:
        """One row per (item, warehouse) with a quantity or a value (``value_rows``: now, one
        query with the names joined); the unit cost where the quantity is positive. Sorted as
        tuples (SKU, warehouse), before the dicts are built: cheaper than sorting the dicts."""
        found = value_rows(query, query.as_of)
        found.sort(key=ROW_ORDER)
        return [
            {
                "sku": sku,
                "name": name,
                "category": category,
                "warehouse": warehouse,
                "quantity": quantity,
                "unit": unit,
                "unit_cost": unit_cost(value, quantity) if quantity > 0 else None,
                "value": money(value),
            }
            for sku, name, category, warehouse, unit, quantity, value in found
        ]

    def totals(self, rows: list[dict[str, Any]], query: ReportQuery) -> dict[str, Any]:
        totals = super().totals(rows, query)
        by_warehouse: dict[str, Decimal] = defaultdict(Decimal)
        by_category: dict[str, Decimal] = defaultdict(Decimal)
        for row in rows:
            by_warehouse[row["warehouse"]] += row["value"]
            by_category[row["category"] or "(none)"] += row["value"]
        totals["by_warehouse"] = dict(sorted(by_warehouse.items()))
        totals["by_category"] = dict(sorted(by_category.items()))
        totals["as_of"] = query.as_of
        return totals
