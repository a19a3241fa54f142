"""``shrinkage``: adjustments and scrap by month, warehouse, kind and reason, in quantity and
value, signed as they changed the stock (a loss or scrap is negative, a found gain positive).
A reversal counts in its reversed movement's kind and reason, with the opposite sign."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.db.models import Count, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from catalog.models import Warehouse
from stock.balances import reversed_or_own
from stock.models import Movement, MovementKind

from ..framework import ZERO, Column, Report, ReportQuery, register
from ..ledger import as_decimal, inside
from .common import money

KINDS = (MovementKind.ADJUSTMENT, MovementKind.SCRAP)


@register
class Shrinkage(Report):
    name = "shrinkage"
    title = "Shrinkage"
    description = "Adjustments and scrap by reason and month, in quantity and value."
    period = True
    columns = (
        Column("month", "Month"),
        Column("warehouse", "Warehouse"),
        Column("kind", "Kind"),
        Column("reason", "Reason"),
        Column("quantity", "Quantity (signed)", "quantity"),
        Column("value", "Value (signed)", "money"),
        Column("movements", "Movements", "number"),
    )
    total_keys = ("quantity", "value")

    def rows(self, query: ReportQuery) -> list[dict[str, Any]]:
        movements = (
            query.items(Movement.objects.filter(occurred_at__gte=query.start, occurred_at__lt=query.end))
            .annotate(as_kind=reversed_or_own("kind"))
            .filter(as_kind__in=KINDS)
            .annotate(
                month=TruncMonth("occurred_at", tzinfo=timezone.get_current_timezone()),
                reason=reversed_or_own("reason_code"),
            )
        )
        found: dict[tuple, list] = defaultdict(lambda: [ZERO, ZERO, 0])
        for side, sign in (("destination", 1), ("source", -1)):
            rows = (
                movements.filter(**inside(side, query))
                .values("month", f"{side}__warehouse_id", "as_kind", "reason")
                .annotate(quantity=Sum("quantity"), value=Sum("total_cost"), movements=Count("id"))
                .order_by()
            )
            for row in rows:
                key = (row["month"], row[f"{side}__warehouse_id"], row["as_kind"], row["reason"])
                found[key][0] += sign * as_decimal(row["quantity"])
                found[key][1] += sign * as_decimal(row["value"])
                found[key][2] += row["movements"]
        codes = dict(Warehouse.objects.filter(pk__in=query.warehouse_ids).values_list("pk", "code"))
        rows = [
            {
                "month": _month(month),
                "warehouse": codes[warehouse_id],
                "kind": kind,
                "reason": reason,
                "quantity": quantity,
                "value": money(value),
                "movements": count,
            }
            for (month, warehouse_id, kind, reason), (quantity, value, count) in found.items()
        ]
        rows.sort(key=lambda r: (r["month"], r["warehouse"], r["kind"], r["reason"]))
        return rows

    def totals(self, rows: list[dict[str, Any]], query: ReportQuery) -> dict[str, Any]:
        totals = super().totals(rows, query)
        by_reason: dict[str, Decimal] = defaultdict(Decimal)
        for row in rows:
            by_reason[row["reason"] or "(none)"] += row["value"]
        totals["value_by_reason"] = dict(sorted(by_reason.items()))
        return totals


def _month(value: object) -> str:
    """``YYYY-MM`` of a truncated month (a datetime on PostgreSQL, a date or text on SQLite)."""
    return str(value)[:7]
