"""Read queries of purchasing: stock on order, the reorder suggestions, and the suppliers' received
lines and performance (lead times, on time, in full, price variance)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, Decimal

from django.db.models import DecimalField, F, Max, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from catalog.models import QTY, Item, LocationKind, Warehouse
from catalog.permissions import scope_to_warehouses
from common.actors import Actor
from common.numbers import plain
from stock.models import Movement, MovementKind, StockLevel

from .models import (
    OPEN_STATUSES,
    DemandForecast,
    PolicyMode,
    PurchaseOrderLine,
    ReorderPolicy,
    Supplier,
    SupplierItem,
)

ZERO = Decimal(0)
_QTY = DecimalField(**QTY)


@dataclass(frozen=True)
class Suggestion:
    """An item to reorder for a warehouse: ``position`` = ``available`` + ``on_order`` is at or
    below the policy's reorder point; ``quantity`` (base units) brings it to the order-up-to
    level, at least the supplier's minimum and in its multiples. ``urgent``: available stock is
    below the safety stock. ``supplier_item`` is the preferred offer, else the cheapest, or None
    when nobody sells the item yet."""

    policy: ReorderPolicy
    item: Item
    warehouse: Warehouse
    available: Decimal
    on_order: Decimal
    quantity: Decimal
    supplier_item: SupplierItem | None
    forecast_daily_demand: Decimal | None = None

    @property
    def position(self) -> Decimal:
        return self.available + self.on_order

    @property
    def urgent(self) -> bool:
        return self.available < self.policy.safety_stock

    @property
    def explain(self) -> dict[str, str]:
        """Why each figure ("why 120?"): the policy's own sentences when it is computed
        (``purchasing.policies``), else that it was typed in; and how the quantity was reached."""
        policy = self.policy
        if policy.mode == PolicyMode.COMPUTED and "figures" in policy.explanation:
            why = dict(policy.explanation["figures"])
        else:
            why = {"mode": "Manual policy: the reorder point, safety stock and order-up-to level were typed in."}
        if problem := policy.explanation.get("problem"):
            why["problem"] = problem
        target = policy.order_up_to if policy.order_up_to is not None else policy.reorder_point
        why["quantity"] = (
            f"{plain(self.quantity)} = order-up-to {plain(target)} - position {plain(self.position)} "
            f"(available {plain(self.available)} + on order {plain(self.on_order)}), at least the supplier's "
            "minimum and in its multiples, never nothing."
        )
        return why


def _sum(queryset, expression) -> Coalesce:  # noqa: ANN001 - a queryset of any model
    total = queryset.values("item_id").annotate(total=Sum(expression)).values("total")
    return Coalesce(Subquery(total, output_field=_QTY), Value(ZERO), output_field=_QTY)


def policies_with_position(user: Actor | None = None, warehouse: Warehouse | None = None):  # noqa: ANN201
    """Reorder policies the user may see, annotated with ``available`` (on hand minus reserved
    in the warehouse's internal locations) and ``on_order`` (outstanding on placed orders for
    the warehouse): two indexed subqueries per policy, no loop in Python."""
    policies = scope_to_warehouses(
        ReorderPolicy.objects.select_related("item__base_unit", "warehouse"), user, "warehouse"
    )
    if warehouse is not None:
        policies = policies.filter(warehouse=warehouse)
    levels = StockLevel.objects.filter(
        item_id=OuterRef("item_id"),
        location__warehouse_id=OuterRef("warehouse_id"),
        location__kind=LocationKind.INTERNAL,
    )
    open_lines = PurchaseOrderLine.objects.filter(
        item_id=OuterRef("item_id"), order__warehouse_id=OuterRef("warehouse_id"), order__status__in=OPEN_STATUSES
    )
    return policies.annotate(
        available=_sum(levels, F("on_hand") - F("reserved")),
        on_order=_sum(open_lines, Greatest(F("quantity") - F("received_quantity"), Value(ZERO))),
    )


def _round_up(quantity: Decimal, multiple: Decimal | None) -> Decimal:
    if not multiple:
        return quantity
    return (quantity / multiple).to_integral_value(rounding=ROUND_CEILING) * multiple


def order_quantity(policy: ReorderPolicy, position: Decimal, offer: SupplierItem | None) -> Decimal:
    """What to order: up to ``order_up_to`` (else the reorder point) from ``position``; at least
    the supplier's minimum, rounded up to its multiple; at the reorder point with nothing to
    fill, the smallest order the supplier takes (its minimum, its multiple, else one unit)."""
    target = policy.order_up_to if policy.order_up_to is not None else policy.reorder_point
    minimum = offer.min_order_quantity if offer is not None else ZERO
    multiple = offer.order_multiple if offer is not None else None
    quantity = max(target - position, minimum)
    if quantity <= 0:
        quantity = multiple or Decimal(1)
    # Whole units of the item's unit (catalog.units): old stock of 7.5 each must not suggest 2.5.
    step = Decimal(1).scaleb(-policy.item.base_unit.decimal_places)
    return _round_up(quantity.quantize(step, rounding=ROUND_CEILING), multiple)


def best_offers(items: list[int]) -> dict[int, SupplierItem]:
    """Per item id, the preferred active supplier's offer, else the cheapest active one."""
    offers: dict[int, SupplierItem] = {}
    for offer in (
        SupplierItem.objects.filter(item_id__in=items, supplier__active=True)
        .select_related("supplier")
        .order_by("item_id", "-preferred", "unit_cost", "supplier__code")
    ):
        offers.setdefault(offer.item_id, offer)
    return offers


def reorder_suggestions(*, user: Actor | None = None, warehouse: Warehouse | None = None) -> list[Suggestion]:
    """Every (item, warehouse) with a reorder policy whose available plus on-order stock is at
    or below its reorder point, most urgent first (then by SKU)."""
    due = list(
        policies_with_position(user, warehouse)
        .filter(Q(available__lte=F("reorder_point") - F("on_order")))
        .order_by("item__sku", "warehouse__code")
    )
    offers = best_offers([p.item_id for p in due])
    forecasts = {
        (f.item_id, f.warehouse_id): f.daily_demand
        for f in DemandForecast.objects.filter(item_id__in={p.item_id for p in due}).only(
            "item_id", "warehouse_id", "daily_demand"
        )
    }
    suggestions = [
        Suggestion(
            policy=p,
            item=p.item,
            warehouse=p.warehouse,
            available=p.available,
            on_order=p.on_order,
            quantity=order_quantity(p, p.available + p.on_order, offers.get(p.item_id)),
            supplier_item=offers.get(p.item_id),
            forecast_daily_demand=forecasts.get((p.item_id, p.warehouse_id)),
        )
        for p in due
    ]
    return sorted(suggestions, key=lambda s: not s.urgent)


@dataclass(frozen=True)
class ReceivedLine:
    """An order line with at least one receipt: when it was ordered and promised, the day of
    its last receipt (local date), and ordered against received quantities and prices."""

    supplier_id: int
    item_id: int
    ordered_on: date
    expected_on: date | None
    last_receipt_on: date
    quantity: Decimal
    received_quantity: Decimal
    unit_cost: Decimal

    @property
    def lead_time_days(self) -> int:
        return (self.last_receipt_on - self.ordered_on).days

    @property
    def on_time(self) -> bool:
        return self.expected_on is None or self.last_receipt_on <= self.expected_on

    @property
    def in_full(self) -> bool:
        return self.received_quantity >= self.quantity


def received_lines(
    *,
    supplier_ids: list[int] | None = None,
    start: date | None = None,
    end: date | None = None,
    user: Actor | None = None,
    warehouse_ids: Iterable[int] | None = None,
    item_ids: Iterable[int] | QuerySet | None = None,
) -> list[ReceivedLine]:
    """Lines of orders placed on ``start`` <= day < ``end`` (local dates; None: unbounded) that
    received something, with the day of their last receipt movement (reference
    ``purchasing.purchase-order`` / number / line id). Two queries."""
    from .services import REFERENCE_TYPE  # the receipts' reference, kept with their writer

    scoped = scope_to_warehouses(
        PurchaseOrderLine.objects.filter(received_quantity__gt=0, order__ordered_at__isnull=False),
        user,
        "order__warehouse",
    ).select_related("order")
    if supplier_ids is not None:
        scoped = scoped.filter(order__supplier_id__in=supplier_ids)
    if warehouse_ids is not None:
        scoped = scoped.filter(order__warehouse_id__in=list(warehouse_ids))
    if item_ids is not None:
        scoped = scoped.filter(item_id__in=item_ids)
    if start is not None:
        scoped = scoped.filter(order__ordered_at__date__gte=start)
    if end is not None:
        scoped = scoped.filter(order__ordered_at__date__lt=end)
    lines = list(scoped)
    numbers = {line.order.number for line in lines}
    last = {
        (row["reference_id"], row["reference_line"]): row["last"]
        for row in Movement.objects.filter(
            reference_type=REFERENCE_TYPE, kind=MovementKind.RECEIPT, reference_id__in=numbers
        )
        .values("reference_id", "reference_line")
        .annotate(last=Max("occurred_at"))
    }
    found = []
    for line in lines:
        when = last.get((line.order.number, str(line.pk)))
        if when is None:  # received before receipts carried their line (not in this ledger)
            continue
        found.append(
            ReceivedLine(
                supplier_id=line.order.supplier_id,
                item_id=line.item_id,
                ordered_on=timezone.localdate(line.order.ordered_at),
                expected_on=line.order.expected_on,
                last_receipt_on=timezone.localdate(when),
                quantity=line.quantity,
                received_quantity=line.received_quantity,
                unit_cost=line.unit_cost,
            )
        )
    return found


@dataclass(frozen=True)
class SupplierPerformance:
    """One supplier over a period (docs/replenishment.md, "Vendor performance"): ``lines``
    received lines; promised (expected minus ordered day) and actual (last receipt minus
    ordered day) lead times in days, mean and standard deviation; the shares of lines received
    by the promised day (``on_time_rate``) and in full (``in_full_rate``); ``price_variance``:
    what was paid over what the supplier's current offers ask for the same quantities, minus 1
    (0.05: 5 % dearer; None without offers)."""

    supplier: Supplier
    lines: int
    promised_lead_time: Decimal | None
    actual_lead_time: Decimal | None
    lead_time_sd: Decimal
    on_time_rate: Decimal | None
    in_full_rate: Decimal | None
    price_variance: Decimal | None


def _mean_sd(values: list[int]) -> tuple[Decimal | None, Decimal]:
    if not values:
        return None, ZERO
    mean = Decimal(sum(values)) / len(values)
    if len(values) < 2:
        return mean, ZERO
    variance = sum(((Decimal(v) - mean) ** 2 for v in values), ZERO) / (len(values) - 1)
    return mean, variance.sqrt()


def _share(flags: list[bool]) -> Decimal | None:
    return Decimal(sum(flags)) / len(flags) if flags else None


def supplier_performance(
    *,
    start: date | None = None,
    end: date | None = None,
    supplier: Supplier | None = None,
    user: Actor | None = None,
    warehouse_ids: Iterable[int] | None = None,
    item_ids: Iterable[int] | QuerySet | None = None,
) -> list[SupplierPerformance]:
    """Per supplier with received lines on orders placed in [``start``, ``end``) in the user's
    warehouses (narrowed to ``warehouse_ids`` and ``item_ids`` when given): lead times promised
    and actual, on-time and in-full rates, price variance (``SupplierPerformance``). The
    ``supplier-performance`` report and the lead-time spread of computed policies
    (``purchasing.replenishment``) read this."""
    ids = None if supplier is None else [supplier.pk]
    by_supplier: dict[int, list[ReceivedLine]] = {}
    for line in received_lines(
        supplier_ids=ids, start=start, end=end, user=user, warehouse_ids=warehouse_ids, item_ids=item_ids
    ):
        by_supplier.setdefault(line.supplier_id, []).append(line)
    prices = {
        (o.supplier_id, o.item_id): o.unit_cost
        for o in SupplierItem.objects.filter(supplier_id__in=list(by_supplier)).only(
            "supplier_id", "item_id", "unit_cost"
        )
    }
    result = []
    for supplier_row in Supplier.objects.filter(pk__in=list(by_supplier)).order_by("code"):
        lines = by_supplier[supplier_row.pk]
        promised, _ = _mean_sd([(x.expected_on - x.ordered_on).days for x in lines if x.expected_on is not None])
        actual, spread = _mean_sd([x.lead_time_days for x in lines])
        listed = [(x, prices[(x.supplier_id, x.item_id)]) for x in lines if (x.supplier_id, x.item_id) in prices]
        list_value = sum((price * x.received_quantity for x, price in listed), ZERO)
        paid = sum((x.unit_cost * x.received_quantity for x, _ in listed), ZERO)
        result.append(
            SupplierPerformance(
                supplier=supplier_row,
                lines=len(lines),
                promised_lead_time=promised,
                actual_lead_time=actual,
                lead_time_sd=spread,
                on_time_rate=_share([x.on_time for x in lines]),
                in_full_rate=_share([x.in_full for x in lines]),
                price_variance=paid / list_value - 1 if list_value > 0 else None,
            )
        )
    return result
