"""``valuation``: quantity and value by item, category and warehouse as of any moment (now by
default), with the total and the value per warehouse and per category."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from catalog.models import Warehouse

from ..framework import Column, Report, ReportQuery, register
from ..ledger import item_info, warehouse_values
from .common import ITEM_WAREHOUSE_COLUMNS, item_warehouse_cells, money, ratio


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
        values = warehouse_values(query, query.as_of)
        items = item_info(k[0] for k in values)
        codes = dict(Warehouse.objects.filter(pk__in=query.warehouse_ids).values_list("pk", "code"))
        rows = [
            {
                **item_warehouse_cells(items[item_id], codes[warehouse_id]),
                "quantity": quantity,
                "unit": items[item_id]["unit"],
                "unit_cost": ratio(value, quantity, "0.0001") if quantity > 0 else None,
                "value": money(value),
            }
            for (item_id, warehouse_id), (quantity, value) in values.items()
        ]
        rows.sort(key=lambda r: (r["sku"], r["warehouse"]))
        return rows

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
