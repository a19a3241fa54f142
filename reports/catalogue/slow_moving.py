"""``slow-moving``: stock on hand now with no issue to a customer in ``days`` (30 by default)
or more, with the value tied up; each row in its bucket (30+, 90+ or 180+ days). Idle time
counts from the last issue from the warehouse, or from the first arrival there when the item
was never issued from it."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Max, Min
from django.utils import timezone

from catalog.models import LocationKind, Warehouse
from stock.models import Movement, MovementKind

from ..framework import Column, Param, Report, ReportQuery, register
from ..ledger import item_info, warehouse_values
from .common import ITEM_WAREHOUSE_COLUMNS, QUANTITY_VALUE_COLUMNS, item_warehouse_cells, money

BUCKETS = (180, 90, 30)


def bucket_of(days_idle: int) -> str:
    for limit in BUCKETS:
        if days_idle >= limit:
            return f"{limit}+"
    return f"<{BUCKETS[-1]}"


@register
class SlowMoving(Report):
    name = "slow-moving"
    title = "Slow-moving and dead stock"
    description = "Stock with no issue in 30 / 90 / 180 days, with the value tied up."
    params = {"days": Param(default=30, minimum=1, maximum=3650, label="No issue for at least (days)")}
    columns = (
        *ITEM_WAREHOUSE_COLUMNS,
        *QUANTITY_VALUE_COLUMNS,
        Column("last_issue", "Last issue", "datetime"),
        Column("days_idle", "Days without issue", "number"),
        Column("bucket", "Bucket"),
    )
    total_keys = ("value",)

    def rows(self, query: ReportQuery) -> list[dict[str, Any]]:
        now = timezone.now()
        stocked = {key: pair for key, pair in warehouse_values(query).items() if pair[0] > 0}
        movements = query.items(Movement.objects.all())
        last_issue = _latest(
            movements.filter(kind=MovementKind.ISSUE, source__warehouse_id__in=query.warehouse_ids), "source", Max
        )
        first_in = _latest(
            movements.filter(
                destination__kind=LocationKind.INTERNAL, destination__warehouse_id__in=query.warehouse_ids
            ),
            "destination",
            Min,
        )
        items = item_info(k[0] for k in stocked)
        codes = dict(Warehouse.objects.filter(pk__in=query.warehouse_ids).values_list("pk", "code"))
        rows = []
        for key, (quantity, value) in stocked.items():
            since = last_issue.get(key) or first_in.get(key) or now
            days_idle = (now - since).days
            if days_idle < query.params["days"]:
                continue
            item = items[key[0]]
            rows.append(
                {
                    **item_warehouse_cells(item, codes[key[1]]),
                    "quantity": quantity,
                    "unit": item["unit"],
                    "value": money(value),
                    "last_issue": last_issue.get(key),
                    "days_idle": days_idle,
                    "bucket": bucket_of(days_idle),
                }
            )
        rows.sort(key=lambda r: (-r["days_idle"], r["sku"], r["warehouse"]))
        return rows

    def totals(self, rows: list[dict[str, Any]], query: ReportQuery) -> dict[str, Any]:
        totals = super().totals(rows, query)
        by_bucket = defaultdict(lambda: money(0))
        for row in rows:
            by_bucket[row["bucket"]] += row["value"]
        totals["by_bucket"] = {f"{limit}+": by_bucket[f"{limit}+"] for limit in reversed(BUCKETS)}
        return totals


def _latest(movements, side: str, aggregate) -> dict:  # noqa: ANN001 - a queryset and Max/Min
    rows = movements.values("item_id", f"{side}__warehouse_id").annotate(at=aggregate("occurred_at")).order_by()
    return {(row["item_id"], row[f"{side}__warehouse_id"]): row["at"] for row in rows}
