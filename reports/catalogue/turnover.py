"""``turnover``: cost of goods sold over the period / average inventory value (the mean of the
value just before the period and at its end), and days of inventory (average value / cost of
goods sold per day), by item and warehouse with the item's category; totals over all rows.

Cost of goods sold is the inventory journal's: issues net of customer returns and of reversals
of either, plus the share of a landed cost or price difference that went straight to cost of
goods sold (the part of the receipt already sold), in the receipt's warehouse."""

from __future__ import annotations

from decimal import Decimal
from operator import itemgetter
from typing import Any

from catalog.models import Warehouse

from ..framework import ZERO, Column, Report, ReportQuery, register
from ..ledger import issued, item_info, value_sold_at_once, values_before
from .common import ITEM_WAREHOUSE_COLUMNS, item_warehouse_cells, money, ratio


def turnover_figures(cogs: Decimal, opening: Decimal, closing: Decimal, days: int) -> dict[str, Any]:
    average = (opening + closing) / 2
    return {
        "cost_of_goods_sold": money(cogs),
        "average_value": money(average),
        "turnover": ratio(cogs, average),
        "days_of_inventory": ratio(average * days, cogs, "0.1"),
    }


# The rows' order: (SKU, warehouse code) of each (item, warehouse) key.
ROW_ORDER = itemgetter(0, 1)


@register
class Turnover(Report):
    name = "turnover"
    title = "Turnover"
    description = "Cost of goods sold / average inventory value, and days of inventory, by item and warehouse."
    period = True
    columns = (
        *ITEM_WAREHOUSE_COLUMNS,
        Column("opening_value", "Opening value", "money"),
        Column("closing_value", "Closing value", "money"),
        Column("average_value", "Average value", "money"),
        Column("cost_of_goods_sold", "Cost of goods sold", "money"),
        Column("turnover", "Turnover", "number"),
        Column("days_of_inventory", "Days of inventory", "number"),
    )
    total_keys = ("opening_value", "closing_value", "cost_of_goods_sold")

    def rows(self, query: ReportQuery) -> list[dict[str, Any]]:
        """One row per (item, warehouse) with a value at either end or a cost of goods sold,
        sorted by (SKU, warehouse) as tuples before the dicts are built."""
        # Only the values are shown: the [quantity, value] lists go at once. Kept to the end,
        # they outlived the young collections and brought the next full collection of the
        # process's objects sooner (60-90 ms each, every other run at 1M movements).
        opening = {key: value for key, (_, value) in values_before(query, query.start).items()}
        closing = {key: value for key, (_, value) in values_before(query, query.end).items()}
        cogs = {
            key: value for key, (quantity, value) in issued(query, query.start, query.end).items() if quantity or value
        }
        for key, value in value_sold_at_once(query, query.start, query.end, "item", "warehouse").items():
            cogs[key] = cogs.get(key, ZERO) + value  # a landed cost's share of what was sold
        keys = set(opening) | set(closing) | set(cogs)
        items = item_info(k[0] for k in keys)
        codes = dict(Warehouse.objects.filter(pk__in=query.warehouse_ids).values_list("pk", "code"))
        found = sorted(((items[key[0]]["sku"], codes[key[1]], key) for key in keys), key=ROW_ORDER)
        days = query.days
        rows = []
        for _, warehouse, key in found:
            first, last = opening.get(key, ZERO), closing.get(key, ZERO)
            rows.append(
                {
                    **item_warehouse_cells(items[key[0]], warehouse),
                    "opening_value": money(first),
                    "closing_value": money(last),
                    **turnover_figures(cogs.get(key, ZERO), first, last, days),
                }
            )
        return rows

    def totals(self, rows: list[dict[str, Any]], query: ReportQuery) -> dict[str, Any]:
        totals = super().totals(rows, query)
        totals.update(
            turnover_figures(totals["cost_of_goods_sold"], totals["opening_value"], totals["closing_value"], query.days)
        )
        totals["days"] = query.days
        return totals
