"""The managers' dashboard on the admin home (``/admin/``) for users who may view reports:
tiles, trend charts and "waiting for you" links, all scoped to the user's warehouses.

The figures come from the reports themselves (``run_report`` as the user), so a tile and its
report never disagree: record accuracy is the ``record-accuracy`` report's total for this month,
and the count variances waiting are counting's ``variances_waiting_for`` (what the managers'
digest mails).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import F, Q, QuerySet, Sum
from django.db.models.functions import TruncWeek
from django.urls import reverse
from django.utils import timezone

from catalog.permissions import WarehouseAction, warehouses_for
from common.numbers import money_text
from counting.selectors import variances_waiting_for
from purchasing.models import PurchaseOrder, PurchaseOrderStatus
from purchasing.selectors import policies_with_position
from stock.balances import effective_kind
from stock.models import (
    AdjustmentRequest,
    AdjustmentRequestStatus,
    ItemValuation,
    Movement,
    MovementKind,
    ReconciliationRun,
)

from .framework import ZERO, get_report, parse_query, run_report
from .ledger import COST_OF_GOODS_SOLD_KINDS, as_decimal, inside, value_sold_at_once

WEEKS = 12


@dataclass(frozen=True)
class Tile:
    key: str
    label: str
    value: str
    url: str = ""
    note: str = ""


@dataclass(frozen=True)
class Waiting:
    key: str
    label: str
    count: int
    url: str


def _url(name: str, query: str = "", *args: object) -> str:
    return reverse(name, args=args) + (f"?{query}" if query else "")


def tiles(user: Any) -> list[Tile]:
    today = timezone.localdate()
    last_30 = {"date_from": (today - timedelta(days=29)).isoformat(), "date_to": today.isoformat()}
    valuation = run_report(get_report("valuation"), user, {})
    turnover = run_report(get_report("turnover"), user, last_30).totals
    expiring = run_report(get_report("expiring"), user, {"days": "14"})
    shrinkage = run_report(get_report("shrinkage"), user, {}).totals
    permitted = warehouses_for(user)
    out_now = ItemValuation.objects.filter(warehouse__in=permitted, quantity__lte=0).count()
    below = policies_with_position(user).filter(available__lte=F("reorder_point")).count()
    found = [
        Tile("value", "Inventory value", money_text(valuation.totals["value"]), _url("report", "", "valuation")),
        Tile("turnover", "Turnover (last 30 days)", _num(turnover["turnover"]), _url("report", "", "turnover")),
        Tile(
            "days",
            "Days of inventory",
            _num(turnover["days_of_inventory"]),
            _url("report", "", "turnover"),
            "at the last 30 days' cost of goods sold",
        ),
        Tile("out", "Items out of stock now", str(out_now), _url("report", "", "stock-outs")),
        Tile("below", "Items below their reorder point", str(below), _url("admin:purchasing_suggestions")),
        Tile(
            "expiring",
            "Lots expiring within 14 days",
            str(len({(r["sku"], r["lot"]) for r in expiring.rows})),
            _url("report", "days=14", "expiring"),
        ),
        Tile("shrinkage", "Shrinkage this month", money_text(-shrinkage["value"]), _url("report", "", "shrinkage")),
    ]
    accuracy = run_report(get_report("record-accuracy"), user, {}).totals  # this month
    found.append(
        Tile(
            "accuracy",
            "Record accuracy (this month)",
            "—" if accuracy["accuracy"] is None else f"{accuracy['accuracy'] * 100:.1f} %",
            _url("report", "", "record-accuracy"),
            f"{accuracy['within']} of {accuracy['lines']} counted lines within tolerance",
        )
    )
    return found


def _num(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:f}"


def waiting(user: Any) -> list[Waiting]:
    found = []
    approvable = warehouses_for(user, WarehouseAction.APPROVE)
    if user.has_perm("stock.view_adjustmentrequest"):
        count = AdjustmentRequest.objects.filter(
            status=AdjustmentRequestStatus.PENDING, warehouse__in=approvable
        ).count()
        found.append(
            Waiting(
                "adjustments",
                "Adjustment requests to approve",
                count,
                _url("admin:stock_adjustmentrequest_changelist", "status__exact=pending"),
            )
        )
    if user.has_perm("purchasing.view_purchaseorder"):
        count = PurchaseOrder.objects.filter(
            status=PurchaseOrderStatus.DRAFT, warehouse__in=warehouses_for(user)
        ).count()
        found.append(
            Waiting(
                "drafts",
                "Draft purchase orders",
                count,
                _url("admin:purchasing_purchaseorder_changelist", "status__exact=draft"),
            )
        )
    if user.has_perm("stock.view_reconciliationrun"):
        last = ReconciliationRun.objects.order_by("-started_at").first()
        count = last.difference_count if last else 0
        url = _url("admin:stock_reconciliationrun_change", "", last.pk) if last else ""
        found.append(Waiting("reconciliation", "Reconciliation differences (last run)", count, url))
    if user.has_perm("counting.view_countline"):
        found.append(
            Waiting(
                "variances",
                "Count variances to approve",
                variances_waiting_for(user).count(),
                _url("admin:counting_countline_changelist", "status__exact=waiting"),
            )
        )
    return found


def trends(user: Any) -> dict[str, list]:
    """Per week (Monday first) of the last ``WEEKS``: inventory value at the week's end, cost of
    goods sold in the week (the turnover report's: issues net of returns and reversals, plus
    landed costs' shares of what was sold), and the stock-outs (item and warehouse) that lasted
    into the week. One grouped read of the weeks' movements (and one of their reversals): the
    value at each week's end is today's value minus what crossed after."""
    today = timezone.localdate()
    first = today - timedelta(days=today.weekday() + 7 * (WEEKS - 1))
    weeks = [first + timedelta(days=7 * n) for n in range(WEEKS)]
    params = {"date_from": first.isoformat(), "date_to": today.isoformat()}
    query = parse_query(get_report("stock-outs"), user, params)
    value_now = sum(
        (v for _q, v in ItemValuation.objects.filter(warehouse__in=query.warehouses).values_list("quantity", "value")),
        ZERO,
    )
    net: dict[date, Decimal] = dict.fromkeys(weeks, ZERO)
    cogs: dict[date, Decimal] = dict.fromkeys(weeks, ZERO)
    movements = query.items(Movement.objects.filter(occurred_at__gte=query.start)).annotate(
        week=TruncWeek("occurred_at", tzinfo=timezone.get_current_timezone())
    )
    into, out_of = Q(**inside("destination", query)), Q(**inside("source", query))
    crossing = movements.filter(into | out_of).exclude(destination__warehouse_id=F("source__warehouse_id"))

    def per_week(rows: QuerySet, kind: Any) -> Iterator[tuple[date, Any, Decimal]]:
        """(week, kind, value in - value out) of ``rows`` grouped by week and ``kind``."""
        sums = rows.values("week", as_kind=kind).annotate(
            into=Sum("total_cost", filter=into), out=Sum("total_cost", filter=out_of)
        )
        for row in sums.order_by():
            if (week := _as_date(row["week"])) in net:
                yield week, row["as_kind"], as_decimal(row["into"]) - as_decimal(row["out"])

    # One read of the weeks' movements by their own kind: what came in and what left.
    for week, kind, value in per_week(crossing, F("kind")):
        net[week] += value
        if kind in COST_OF_GOODS_SOLD_KINDS:
            cogs[week] -= value
    # A reversal counts as the kind it reverses: the reversals alone, read again by that kind
    # (grouping every movement by it cost 500 ms more at 1M movements, bench/reports.py).
    for week, kind, value in per_week(crossing.filter(kind=MovementKind.REVERSAL), effective_kind()):
        if kind in COST_OF_GOODS_SOLD_KINDS:
            cogs[week] -= value
    for (week_start,), value in value_sold_at_once(query, query.start, query.end, "week").items():
        if (week := _as_date(week_start)) in cogs:  # a landed cost's share of what was sold
            cogs[week] += value
    values, after = [], ZERO
    for week in reversed(weeks):
        values.append(value_now - after)
        after += net[week]
    values.reverse()
    outs = dict.fromkeys(weeks, 0)
    for row in run_report(get_report("stock-outs"), user, params).rows:
        since = timezone.localtime(row["out_from"]).date()
        until = timezone.localtime(row["out_until"]).date() if row["out_until"] else today
        for week in weeks:  # every week the stock-out overlaps
            if since < week + timedelta(days=7) and until >= week:
                outs[week] += 1
    return {
        "labels": [week.isoformat() for week in weeks],
        "value": [float(v) for v in values],
        "cogs": [float(cogs[w]) for w in weeks],
        "stock_outs": [outs[w] for w in weeks],
    }


def _as_date(value: Any) -> date:
    """A truncated week as a date (a datetime on PostgreSQL, a date, datetime or text on SQLite)."""
    if hasattr(value, "date") and callable(value.date):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def dashboard_context(user: Any) -> dict[str, Any]:
    return {"dashboard": {"tiles": tiles(user), "waiting": waiting(user), "trends": trends(user)}}
