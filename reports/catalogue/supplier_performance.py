"""``supplier-performance``: per supplier, over orders placed in the period in the chosen
warehouses, the lead times promised and actual (days, mean and spread), the on-time and in-full
rates and the price variance against the supplier's current offers
(``purchasing.selectors.supplier_performance``, docs/replenishment.md)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from purchasing.models import PurchaseOrderLine
from purchasing.selectors import supplier_performance

from ..framework import Column, Report, ReportQuery, register

DAYS = Decimal("0.1")
SHARE = Decimal("0.0001")


def _rounded(value: Decimal | None, step: Decimal) -> Decimal | None:
    return None if value is None else value.quantize(step)


@register
class SupplierPerformanceReport(Report):
    name = "supplier-performance"
    title = "Supplier performance"
    description = "Lead times promised and actual, on-time and in-full rates and price variance per supplier."
    period = True
    columns = (
        Column("supplier", "Supplier"),
        Column("name", "Name"),
        Column("lines", "Lines received", "number"),
        Column("promised_lead_time", "Promised lead time (days)"),
        Column("actual_lead_time", "Actual lead time (days)"),
        Column("lead_time_sd", "Lead time spread (days)"),
        Column("on_time_rate", "On time"),
        Column("in_full_rate", "In full"),
        Column("price_variance", "Price variance"),
    )

    def rows(self, query: ReportQuery) -> list[dict[str, Any]]:
        item_ids = query.item_ids(PurchaseOrderLine)
        assert query.date_from is not None and query.date_to is not None  # a period report always has both
        performance = supplier_performance(
            start=query.date_from,
            end=query.date_to + timedelta(days=1),  # the selector's end is exclusive, the report's inclusive
            user=query.user,
            warehouse_ids=query.warehouse_ids,
            item_ids=item_ids,
        )
        return [
            {
                "supplier": row.supplier.code,
                "name": row.supplier.name,
                "lines": row.lines,
                "promised_lead_time": _rounded(row.promised_lead_time, DAYS),
                "actual_lead_time": _rounded(row.actual_lead_time, DAYS),
                "lead_time_sd": _rounded(row.lead_time_sd, DAYS),
                "on_time_rate": _rounded(row.on_time_rate, SHARE),
                "in_full_rate": _rounded(row.in_full_rate, SHARE),
                "price_variance": _rounded(row.price_variance, SHARE),
            }
            for row in performance
        ]
