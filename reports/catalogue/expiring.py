"""``expiring``: lots with stock that expire within ``days`` (14 by default) and lots already
expired that still have stock, by location, with their value (the location's share of its item
and warehouse value)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import F
from django.utils import timezone

from catalog.models import LocationKind
from stock.models import StockLevel

from ..framework import Column, Param, Report, ReportQuery, register
from ..ledger import warehouse_values
from .common import ITEM_COLUMNS, money, value_share


@register
class Expiring(Report):
    name = "expiring"
    title = "Expiring and expired lots"
    description = "Lots expiring within N days, and expired lots with stock."
    params = {"days": Param(default=14, minimum=0, maximum=3650, label="Expiring within (days)")}
    columns = (
        *ITEM_COLUMNS,
        Column("warehouse", "Warehouse"),
        Column("location", "Location"),
        Column("lot", "Lot"),
        Column("expiry_date", "Expiry", "date"),
        Column("days_left", "Days left", "number"),
        Column("status", "Status"),
        Column("quantity", "Quantity", "quantity"),
        Column("unit", "Unit"),
        Column("value", "Value", "money"),
    )
    total_keys = ("value",)

    def rows(self, query: ReportQuery) -> list[dict[str, Any]]:
        today = timezone.localdate()
        levels = query.items(
            StockLevel.objects.filter(
                location__kind=LocationKind.INTERNAL,
                location__warehouse_id__in=query.warehouse_ids,
                on_hand__gt=0,
                lot__expiry_date__lte=today + timedelta(days=query.params["days"]),
            )
        ).values(
            "item_id",
            "on_hand",
            sku=F("item__sku"),
            name=F("item__name"),
            unit=F("item__base_unit__code"),
            warehouse_id=F("location__warehouse_id"),
            warehouse=F("location__warehouse__code"),
            location_code=F("location__code"),
            lot_code=F("lot__code"),
            expiry_date=F("lot__expiry_date"),
        )
        levels = list(levels)
        values = warehouse_values(query) if levels else {}
        rows = []
        for level in levels:
            quantity, value = values.get((level["item_id"], level["warehouse_id"]), (0, 0))
            days_left = (level["expiry_date"] - today).days
            rows.append(
                {
                    "sku": level["sku"],
                    "name": level["name"],
                    "warehouse": level["warehouse"],
                    "location": level["location_code"],
                    "lot": level["lot_code"],
                    "expiry_date": level["expiry_date"],
                    "days_left": days_left,
                    "status": "expired" if days_left < 0 else "expiring",
                    "quantity": level["on_hand"],
                    "unit": level["unit"],
                    "value": value_share(level["on_hand"], quantity, value),
                }
            )
        rows.sort(key=lambda r: (r["expiry_date"], r["sku"], r["warehouse"], r["location"], r["lot"]))
        return rows

    def totals(self, rows: list[dict[str, Any]], query: ReportQuery) -> dict[str, Any]:
        totals = super().totals(rows, query)
        totals["expired_value"] = sum((r["value"] for r in rows if r["status"] == "expired"), money(0))
        totals["expired_lots"] = len({(r["sku"], r["lot"]) for r in rows if r["status"] == "expired"})
        return totals
