"""Read queries of purchasing: stock on order and the reorder suggestions."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from django.db.models import DecimalField, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from catalog.models import QTY, Item, LocationKind, Warehouse
from catalog.permissions import scope_to_warehouses
from common.actors import Actor
from stock.models import StockLevel

from .models import OPEN_STATUSES, PurchaseOrderLine, ReorderPolicy, SupplierItem

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

    @property
    def position(self) -> Decimal:
        return self.available + self.on_order

    @property
    def urgent(self) -> bool:
        return self.available < self.policy.safety_stock


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
        on_order=_sum(open_lines, F("quantity") - F("received_quantity")),
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
    suggestions = [
        Suggestion(
            policy=p,
            item=p.item,
            warehouse=p.warehouse,
            available=p.available,
            on_order=p.on_order,
            quantity=order_quantity(p, p.available + p.on_order, offers.get(p.item_id)),
            supplier_item=offers.get(p.item_id),
        )
        for p in due
    ]
    return sorted(suggestions, key=lambda s: not s.urgent)
