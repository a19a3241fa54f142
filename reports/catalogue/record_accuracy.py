"""``record-accuracy``: inventory record accuracy from the cycle counts, per warehouse and ABC
class over the period: the first counts (not recounts) submitted within tolerance, of all first
counts judged (``counting.selectors.record_accuracy``). The totals give the overall share."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from counting.models import CountLine
from counting.selectors import record_accuracy

from ..framework import Column, Report, ReportQuery, register
from .common import ratio


@register
class RecordAccuracy(Report):
    name = "record-accuracy"
    title = "Record accuracy"
    description = "Share of counted lines within tolerance, by warehouse and class, from the cycle counts."
    period = True
    columns = (
        Column("warehouse", "Warehouse"),
        Column("abc_class", "Class"),
        Column("lines", "Lines counted", "number"),
        Column("within", "Within tolerance", "number"),
        Column("accuracy", "Accuracy"),
    )

    def rows(self, query: ReportQuery) -> list[dict[str, Any]]:
        item_ids = query.item_ids(CountLine)
        return [
            {
                "warehouse": row.warehouse,
                "abc_class": row.abc_class,
                "lines": row.lines,
                "within": row.within,
                "accuracy": row.share,
            }
            for row in record_accuracy(
                warehouses=query.warehouses, start=query.date_from, end=query.date_to, item_ids=item_ids
            )
        ]

    def totals(self, rows: list[dict[str, Any]], query: ReportQuery) -> dict[str, Any]:
        totals = super().totals(rows, query)
        lines, within = sum(r["lines"] for r in rows), sum(r["within"] for r in rows)
        totals.update(lines=lines, within=within, accuracy=ratio(Decimal(within), Decimal(lines), "0.0001"))
        return totals
