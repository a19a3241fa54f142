"""``abc``: the items' ABC classes per warehouse by consumption value (cost of goods issued over
the twelve months before they were classed, ``counting.services.abc_classify``), with each
class's share of the items and of the value in the totals. The class shown is the one counting
uses: a manager's override, else the computed class."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from counting.selectors import abc_classes

from ..framework import ZERO, Column, Report, ReportQuery, register
from .common import ITEM_COLUMNS, money, ratio


@register
class Abc(Report):
    name = "abc"
    title = "ABC classes"
    description = "Items classed A/B/C per warehouse by consumption value, with each class's share of items and value."
    columns = (
        Column("warehouse", "Warehouse"),
        *ITEM_COLUMNS,
        Column("abc_class", "Class"),
        Column("computed_class", "Computed class"),
        Column("override_class", "Override"),
        Column("consumption_value", "Consumption value (12 months)", "money"),
        Column("computed_at", "Classed at", "datetime"),
    )
    total_keys = ("consumption_value",)

    def rows(self, query: ReportQuery) -> list[dict[str, Any]]:
        rows = []
        for warehouse in sorted(query.warehouses, key=lambda w: w.code):
            for row in query.items(abc_classes(warehouse)):
                rows.append(
                    {
                        "warehouse": warehouse.code,
                        "sku": row.item.sku,
                        "name": row.item.name,
                        "abc_class": row.abc_class,
                        "computed_class": row.computed_class,
                        "override_class": row.override_class or "",
                        "consumption_value": money(row.consumption_value),
                        "computed_at": row.computed_at,
                    }
                )
        return rows

    def totals(self, rows: list[dict[str, Any]], query: ReportQuery) -> dict[str, Any]:
        """Per class: ``items`` and ``value``, and their shares of all rows (0.80 = 80 %)."""
        totals = super().totals(rows, query)
        items: dict[str, int] = defaultdict(int)
        value: dict[str, Decimal] = defaultdict(Decimal)
        for row in rows:
            items[row["abc_class"]] += 1
            value[row["abc_class"]] += row["consumption_value"]
        whole = sum(value.values(), ZERO)
        totals["classes"] = {
            cls: {
                "items": items[cls],
                "share_of_items": ratio(Decimal(items[cls]), Decimal(len(rows)), "0.0001"),
                "value": money(value[cls]),
                "share_of_value": ratio(value[cls], whole, "0.0001"),
            }
            for cls in ("A", "B", "C")
        }
        return totals
