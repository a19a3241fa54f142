"""Replenishment's business actions (docs/replenishment.md): the daily demand history rebuilt
from the ledger, forecasts fitted on it, and computed reorder policies.

- ``demand_history_refresh`` rebuilds ``DemandDay`` rows from sales issues (kind ``issue`` out of
  a warehouse's internal locations) and flags the days that closed with nothing on hand;
- ``forecast_refit`` fits ``purchasing.forecasting`` on each (item, warehouse) series, stores a
  ``DemandForecast`` and recomputes the computed policies among them;
- ``reorder_policy_compute`` turns a forecast, the best offer, the supplier's measured lead times
  and the category's holding cost into a policy's figures (``purchasing.policies``) with the
  sentence that explains each.

All three only read the ledger; they write purchasing's own rows, idempotently (running one
twice leaves what running it once left). ``actor=None`` is the system (the nightly job, the
``forecast`` command).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from catalog.models import Item, LocationKind, Warehouse
from catalog.permissions import WarehouseAction, warehouse_require
from common.actors import Actor
from common.numbers import plain
from stock.models import Movement, MovementKind, StockLevel

from . import forecasting
from .models import (
    DEFAULT_HOLDING_PERCENT,
    CategoryHoldingCost,
    DemandDay,
    DemandForecast,
    PolicyMode,
    ReorderPolicy,
    Supplier,
)
from .policies import Inputs, policy_figures
from .selectors import best_offers, supplier_performance
from .services import PurchasingError

HISTORY_DAYS = 2 * 364 + forecasting.HOLDOUT  # enough for a yearly season
MIN_LEAD_TIMES = 3  # measured lead times needed before they replace the promised one
ZERO = Decimal(0)
PLACES = Decimal("0.0001")

Pair = tuple[int, int]  # (item id, warehouse id)


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _scoped(queryset, warehouse: Warehouse | None, item: Item | None, prefix: str = ""):  # noqa: ANN001, ANN202
    if warehouse is not None:
        queryset = queryset.filter(**{f"{prefix}warehouse": warehouse})
    if item is not None:
        queryset = queryset.filter(item=item)
    return queryset


def _by_day(queryset, side: str) -> dict[tuple[int, int, date], Decimal]:  # noqa: ANN001
    rows = (
        queryset.filter(**{f"{side}__kind": LocationKind.INTERNAL})
        .annotate(day=TruncDate("occurred_at"))
        .values("item_id", f"{side}__warehouse_id", "day")
        .annotate(total=Sum("quantity"))
    )
    return {(r["item_id"], r[f"{side}__warehouse_id"], r["day"]): r["total"] for r in rows}


@transaction.atomic
def demand_history_refresh(
    *,
    warehouse: Warehouse | None = None,
    item: Item | None = None,
    days: int = HISTORY_DAYS,
    today: date | None = None,
) -> int:
    """Rebuild the ``DemandDay`` rows of the last ``days`` days before ``today`` (local dates)
    for the scope: per (item, warehouse, day) the sales issues out of its internal locations,
    and ``stockout`` when the day closed with nothing on hand there. The closing stock is walked
    back from the stock levels now through each day's net movements, so it costs one pass over
    the window's movements, none over older ones. Days before a pair's first movement in the
    window get no row. Replaces the scope's rows in the window (idempotent); returns their
    number."""
    today = today or timezone.localdate()
    start = today - timedelta(days=days)
    window = _scoped(Movement.objects.filter(occurred_at__gte=_start_of(start)), None, item)
    if warehouse is not None:
        window = window.filter(Q(source__warehouse=warehouse) | Q(destination__warehouse=warehouse))
    incoming = _by_day(window, "destination")
    outgoing = _by_day(window, "source")
    sales = _by_day(window.filter(kind=MovementKind.ISSUE, destination__kind=LocationKind.CUSTOMER), "source")
    net: dict[Pair, dict[date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for (item_id, warehouse_id, day), total in incoming.items():
        net[(item_id, warehouse_id)][day] += total
    for (item_id, warehouse_id, day), total in outgoing.items():
        net[(item_id, warehouse_id)][day] -= total
    if warehouse is not None:
        net = {pair: changes for pair, changes in net.items() if pair[1] == warehouse.pk}
    levels = StockLevel.objects.filter(
        item_id__in={pair[0] for pair in net}, location__kind=LocationKind.INTERNAL
    ).values("item_id", "location__warehouse_id")
    on_hand = {(r["item_id"], r["location__warehouse_id"]): r["total"] for r in levels.annotate(total=Sum("on_hand"))}
    rows = []
    for (item_id, warehouse_id), changes in net.items():
        closing = on_hand.get((item_id, warehouse_id), ZERO) - sum((v for d, v in changes.items() if d >= today), ZERO)
        first = min(changes)
        day = today - timedelta(days=1)
        while day >= max(first, start):
            sold = sales.get((item_id, warehouse_id, day), ZERO)
            if sold > 0 or closing <= 0:
                rows.append(
                    DemandDay(item_id=item_id, warehouse_id=warehouse_id, day=day, quantity=sold, stockout=closing <= 0)
                )
            closing -= changes.get(day, ZERO)
            day -= timedelta(days=1)
    _scoped(DemandDay.objects.filter(day__gte=start, day__lt=today), warehouse, item).delete()
    DemandDay.objects.bulk_create(rows, batch_size=5000)
    return len(rows)


def demand_series(*, item_id: int, warehouse_id: int, today: date | None = None) -> tuple[list[Decimal], list[bool]]:
    """One value a day from the pair's first ``DemandDay`` to yesterday (days without a row:
    0, in stock) and the stock-out flags beside them; empty without history."""
    today = today or timezone.localdate()
    rows = list(
        DemandDay.objects.filter(item_id=item_id, warehouse_id=warehouse_id, day__lt=today)
        .order_by("day")
        .values_list("day", "quantity", "stockout")
    )
    if not rows:
        return [], []
    length = (today - rows[0][0]).days
    demand, stockout = [ZERO] * length, [False] * length
    for day, quantity, out in rows:
        index = (day - rows[0][0]).days
        demand[index], stockout[index] = quantity, out
    return demand, stockout


def _decimal(value: float) -> Decimal:
    return Decimal(repr(max(value, 0.0))).quantize(PLACES)


def forecast_refit(*, pairs: Iterable[Pair], today: date | None = None) -> list[DemandForecast]:
    """Fit and store the forecast of each (item id, warehouse id), then recompute the computed
    policies among them (``reorder_policy_compute``; one without a supplier keeps its
    figures). Each pair is its own transaction: a long refit holds no lock for long."""
    today = today or timezone.localdate()
    stored = []
    for item_id, warehouse_id in pairs:
        demand, stockout = demand_series(item_id=item_id, warehouse_id=warehouse_id, today=today)
        fit = forecasting.fit([float(v) for v in demand], stockout)
        with transaction.atomic():
            forecast, _ = DemandForecast.objects.update_or_create(
                item_id=item_id,
                warehouse_id=warehouse_id,
                defaults={
                    "method": fit.method[:60],
                    "daily_demand": _decimal(fit.mean()),
                    "daily_sd": _decimal(fit.sd),
                    "mase": None if fit.mase is None else _decimal(fit.mase),
                    "history_days": fit.history_days,
                    "daily": [str(_decimal(v)) for v in fit.forecast],
                    "fitted_at": timezone.now(),
                },
            )
            policy = ReorderPolicy.objects.filter(
                item_id=item_id, warehouse_id=warehouse_id, mode=PolicyMode.COMPUTED
            ).first()
            if policy is not None:
                try:
                    reorder_policy_compute(policy=policy, actor=None, forecast=forecast)
                except PurchasingError as refused:  # no supplier yet: the figures stay, the page says why
                    ReorderPolicy.objects.filter(pk=policy.pk).update(explanation={"problem": str(refused)})
        stored.append(forecast)
    return stored


def lead_time(supplier: Supplier, promised: int) -> tuple[Decimal, Decimal, str]:
    """Mean and standard deviation of the supplier's lead time in days, and where they come
    from: measured over its lines received on orders of the last year
    (``selectors.supplier_performance``) once there are ``MIN_LEAD_TIMES``, else the promised
    days with no spread."""
    since = timezone.localdate() - timedelta(days=365)
    found = supplier_performance(supplier=supplier, start=since)
    measured = found[0] if found else None
    if measured is not None and measured.lines >= MIN_LEAD_TIMES and measured.actual_lead_time is not None:
        source = f"measured over {measured.lines} received order lines"
        return measured.actual_lead_time.quantize(PLACES), measured.lead_time_sd.quantize(PLACES), source
    return Decimal(promised), ZERO, "the supplier's promised lead time (fewer than 3 receipts to measure)"


def holding_percent(item: Item) -> Decimal:
    """The item's category's yearly holding cost percentage, else ``DEFAULT_HOLDING_PERCENT``."""
    row = CategoryHoldingCost.objects.filter(category_id=item.category_id).first() if item.category_id else None
    return DEFAULT_HOLDING_PERCENT if row is None else row.annual_percent


@transaction.atomic
def reorder_policy_compute(
    *, policy: ReorderPolicy, actor: Actor | None, forecast: DemandForecast | None = None
) -> ReorderPolicy:
    """Set the policy's safety stock, reorder point, order quantity and order-up-to level from
    its forecast (``purchasing.policies``) and switch it to computed mode; store one sentence
    per figure in ``explanation``. Needs ``purchasing.change_reorderpolicy`` and the right to
    view stock in its warehouse. Locks the policy row (only it), so two computations or a
    computation and an edit queue. Refuses, writing nothing, a pair without a forecast or an item
    nobody sells (the lead time, price, minimum and multiple come from the best offer)."""
    warehouse_require(actor, policy.warehouse, WarehouseAction.VIEW, model_perm="purchasing.change_reorderpolicy")
    policy = (
        ReorderPolicy.objects.select_for_update(of=("self",))
        .select_related("item__base_unit", "warehouse")
        .get(pk=policy.pk)
    )
    item = policy.item
    forecast = forecast or DemandForecast.objects.filter(item=item, warehouse=policy.warehouse).first()
    if forecast is None:
        raise PurchasingError(
            f"No forecast of {item.sku} in {policy.warehouse.code} yet: run `manage.py forecast --sku {item.sku}`."
        )
    offer = best_offers([item.pk]).get(item.pk)
    if offer is None:
        raise PurchasingError(f"Nobody sells {item.sku}: add a supplier offer before computing its policy.")
    days, spread, source = lead_time(offer.supplier, offer.effective_lead_time_days)
    ahead = [Decimal(v) for v in forecast.daily[: max(1, math.ceil(days))]] or [forecast.daily_demand]
    figures = policy_figures(
        Inputs(
            daily_demand=(sum(ahead, ZERO) / len(ahead)).quantize(PLACES),
            daily_sd=forecast.daily_sd,
            lead_time=days,
            lead_time_sd=spread,
            service_level=policy.service_level,
            ordering_cost=offer.supplier.ordering_cost,
            unit_cost=offer.unit_cost,
            holding_percent=holding_percent(item),
            minimum=offer.min_order_quantity,
            multiple=offer.order_multiple,
            places=item.base_unit.decimal_places,
            unit=item.base_unit.code,
            forecast_method=(
                f"{forecast.method} over {forecast.history_days} days"
                + (f", held-out MASE {forecast.mase.normalize():f}" if forecast.mase is not None else "")
                + f", from {offer.supplier.code} over the next {len(ahead)} days"
            ),
            lead_time_source=f"{offer.supplier.code}: {source}",
        )
    )
    policy.mode = PolicyMode.COMPUTED
    policy.safety_stock = figures.safety_stock
    policy.reorder_point = figures.reorder_point
    policy.order_quantity = figures.order_quantity
    policy.order_up_to = figures.order_up_to
    policy.explanation = {
        "forecast_daily_demand": str(forecast.daily_demand),
        "figures": figures.explanation,
    }
    policy.computed_at = timezone.now()
    if actor is not None:
        policy._history_user = actor  # type: ignore[attr-defined]
    policy.save(
        update_fields=[
            "mode",
            "safety_stock",
            "reorder_point",
            "order_quantity",
            "order_up_to",
            "explanation",
            "computed_at",
        ]
    )
    return policy


def forecast_pairs(*, warehouse: Warehouse | None = None, item: Item | None = None) -> list[Pair]:
    """The (item id, warehouse id) pairs worth a forecast: those with a reorder policy or demand
    history in the scope, in a stable order."""
    policies = _scoped(ReorderPolicy.objects.all(), warehouse, item).values_list("item_id", "warehouse_id")
    history = _scoped(DemandDay.objects.all(), warehouse, item).values_list("item_id", "warehouse_id").distinct()
    return sorted(set(policies) | set(history))


CHART_HISTORY_DAYS = 182


def demand_chart(policy: ReorderPolicy, today: date | None = None) -> dict[str, list]:
    """The policy page's chart: the last ``CHART_HISTORY_DAYS`` days of demand (stock-out days
    apart) and the stored forecast after them, one label (ISO date) a day."""
    today = today or timezone.localdate()
    demand, stockout = demand_series(item_id=policy.item_id, warehouse_id=policy.warehouse_id, today=today)
    demand, stockout = demand[-CHART_HISTORY_DAYS:], stockout[-CHART_HISTORY_DAYS:]
    forecast = DemandForecast.objects.filter(item_id=policy.item_id, warehouse_id=policy.warehouse_id).first()
    ahead = forecast.daily if forecast is not None else []
    first = today - timedelta(days=len(demand))
    labels = [(first + timedelta(days=i)).isoformat() for i in range(len(demand) + len(ahead))]
    return {
        "labels": labels,
        "demand": [None if out else plain(v) for v, out in zip(demand, stockout, strict=True)] + [None] * len(ahead),
        "stockout": [plain(v) if out else None for v, out in zip(demand, stockout, strict=True)] + [None] * len(ahead),
        "forecast": [None] * len(demand) + list(ahead),
    }
