"""``inventory-journal``: what moved the inventory's value in a period (a month by default), per
warehouse and movement kind, with the account code of each kind, for the accounting system.

The totals add up by construction and the report checks it: ``closing_value = opening_value +
receipts - cost_of_goods_sold + adjustments_and_scrap + transfers + value_only + other``, where
opening is the value just before the period and closing the value at its end (both as of, from
the ledger). A reversal counts in its reversed movement's kind (with the opposite sign).
Value-only entries (``stock.models.VALUE_ONLY_KINDS``: revaluations, landed costs; quantity 0,
signed ``total_cost``) are their own section. Account codes come from the setting
``INVENTORY_JOURNAL_ACCOUNTS`` (kind -> code; ``docs/reports.md``).

The share of a landed cost or price difference that went straight to cost of goods sold (the
part of the receipt already sold: ``stock.services.receipts_revalue`` posts it from the supplier
location to the customer location, so no warehouse's value moves) belongs to the warehouse of
the receipt the entry names (``origin``): it is shown there as if it had entered the stock and
left it at once, a value-only row of its kind (+) and a cost-of-goods-sold row of its kind (-,
account: that of ``issue``). The two cancel, so the journal still adds up; the value-only
section then holds the whole invoice amount, and cost of goods sold the part already sold.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings

from catalog.models import Warehouse
from stock import models as stock_models

from ..framework import ZERO, Column, Report, ReportQuery, register
from ..ledger import value_flows, value_sold_at_once, values_before
from .common import money

SECTIONS = {
    "receipt": "receipts",
    "supplier_return": "receipts",
    "issue": "cost_of_goods_sold",
    "customer_return": "cost_of_goods_sold",
    "adjustment": "adjustments_and_scrap",
    "scrap": "adjustments_and_scrap",
    "transfer": "transfers",
}
ORDER = ("receipts", "cost_of_goods_sold", "adjustments_and_scrap", "transfers", "value_only", "other")


def section_of(kind: str) -> str:
    if kind in getattr(stock_models, "VALUE_ONLY_KINDS", ()):
        return "value_only"
    return SECTIONS.get(kind, "other")


def account_of(kind: str) -> str:
    return getattr(settings, "INVENTORY_JOURNAL_ACCOUNTS", {}).get(kind, "")


@register
class InventoryJournal(Report):
    name = "inventory-journal"
    title = "Inventory journal"
    description = (
        "Opening value, receipts, cost of goods sold, adjustments and scrap, transfers, value-only entries "
        "and closing value per period, by warehouse and movement kind, with account codes."
    )
    period = True
    columns = (
        Column("date_from", "From", "date"),
        Column("date_to", "To", "date"),
        Column("warehouse", "Warehouse"),
        Column("section", "Section"),
        Column("kind", "Movement kind"),
        Column("account", "Account"),
        Column("value", "Value (+ into stock)", "money"),
    )
    total_keys = ("value",)

    def rows(self, query: ReportQuery) -> list[dict[str, Any]]:
        # Summed over the items in SQL: one row per (warehouse, other warehouse, kind) and side.
        flows = value_flows(query, query.start, query.end, by_kind=True, by_item=False)
        codes = dict(Warehouse.objects.filter(pk__in=query.warehouse_ids).values_list("pk", "code"))
        summed = {key: value for key, (_quantity, value) in flows.items()}
        sold_shares = value_sold_at_once(query, query.start, query.end, "warehouse", "entry_kind")
        for (warehouse_id, kind), value in sold_shares.items():  # as if it entered the stock...
            summed[(warehouse_id, kind)] = summed.get((warehouse_id, kind), ZERO) + value
        rows = [
            self._row(query, codes[warehouse_id], section_of(kind), kind, account_of(kind), value)
            for (warehouse_id, kind), value in summed.items()
        ]
        rows += [  # ... and left it at once, to cost of goods sold
            self._row(query, codes[warehouse_id], "cost_of_goods_sold", kind, account_of("issue"), -value)
            for (warehouse_id, kind), value in sold_shares.items()
        ]
        rows.sort(key=lambda r: (r["warehouse"], ORDER.index(r["section"]), r["kind"]))
        return rows

    @staticmethod
    def _row(query: ReportQuery, warehouse: str, section: str, kind: str, account: str, value: Decimal) -> dict:
        return {
            "date_from": query.date_from,
            "date_to": query.date_to,
            "warehouse": warehouse,
            "section": section,
            "kind": kind,
            "account": account,
            "value": money(value),
        }

    def totals(self, rows: list[dict[str, Any]], query: ReportQuery) -> dict[str, Any]:
        totals = super().totals(rows, query)
        opening = _total(values_before(query, query.start)) if query.warehouses else ZERO
        closing = _total(values_before(query, query.end)) if query.warehouses else ZERO
        sections = dict.fromkeys(ORDER, ZERO)
        for row in rows:
            sections[row["section"]] += row["value"]
        sections["cost_of_goods_sold"] = -sections["cost_of_goods_sold"]  # shown as the value that left
        computed = (
            opening
            + sections["receipts"]
            - sections["cost_of_goods_sold"]
            + sections["adjustments_and_scrap"]
            + sections["transfers"]
            + sections["value_only"]
            + sections["other"]
        )
        totals.update(
            opening_value=money(opening),
            **{name: money(value) for name, value in sections.items()},
            closing_value=money(closing),
            balanced=money(computed) == money(closing),
        )
        return totals


def _total(values: dict) -> Decimal:
    return sum((value for _quantity, value in values.values()), ZERO)
