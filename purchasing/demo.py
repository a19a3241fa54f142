"""Demo purchasing on top of ``stock.demo``: three suppliers and their offers for every demo
item, reorder policies for AMS sized from the demo's own sales, one placed order and one
partly received. Every step converges (a second run writes nothing)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import ROUND_CEILING, Decimal
from typing import TextIO

from django.contrib.auth import get_user_model
from django.db.models import Sum
from django.utils import timezone

from catalog import demo as catalog_demo
from catalog.demo import ITEMS, Tally, _converge, _model_save
from catalog.models import Item, Location, Tracking, Warehouse
from stock import demo as stock_demo
from stock.models import Movement, MovementKind

from .models import PurchaseOrder, ReorderPolicy, Supplier, SupplierItem
from .selectors import reorder_suggestions
from .services import OrderLine, Receipt, purchase_order_create, purchase_order_place, purchase_order_receive

SUPPLIERS = [
    ("NORDIC", "Nordic Homeware AB", "orders@nordic-homeware.example", 7),
    ("FRESH", "FreshFoods BV", "inkoop@freshfoods.example", 2),
    ("VOLT", "Volt Electronics GmbH", "sales@volt-electronics.example", 14),
]
DEMO_ORDER_NOTE = "Demo order"


def _supplier_code(category_path: str) -> str:
    if category_path.startswith("Food"):
        return "FRESH"
    if category_path.startswith("Electronics"):
        return "VOLT"
    return "NORDIC"


def seed_suppliers() -> Tally:
    tally = Tally()
    for code, name, email, lead_time in SUPPLIERS:
        supplier = Supplier.objects.filter(code=code).first() or Supplier(code=code)
        wanted = {"name": name, "email": email, "lead_time_days": lead_time, "active": True}
        _converge(supplier, wanted, _model_save, tally)
    return tally


def seed_supplier_items() -> Tally:
    """Each item from the supplier of its category at 90 % of its standard cost (preferred);
    items bought in boxes of 12 come in twelves."""
    tally = Tally()
    suppliers = {s.code: s for s in Supplier.objects.filter(code__in=[code for code, *_ in SUPPLIERS])}
    items = {item.sku: item for item in Item.objects.filter(sku__in=[spec.sku for spec in ITEMS])}
    offers = {(o.supplier_id, o.item_id): o for o in SupplierItem.objects.filter(item__in=items.values())}
    for spec in ITEMS:
        supplier, item = suppliers[_supplier_code(spec.category_path)], items[spec.sku]
        offer = offers.get((supplier.pk, item.pk)) or SupplierItem(supplier=supplier, item=item)
        wanted = {
            "supplier_sku": f"{supplier.code}-{spec.number:05d}",
            "unit_cost": (spec.standard_cost * Decimal("0.9")).quantize(Decimal("0.01")),
            "order_multiple": spec.purchase_factor or (Decimal(12) if spec.purchase_unit == "box12" else None),
            "preferred": True,
        }
        _converge(offer, wanted, _model_save, tally)
    return tally


def _whole(value: Decimal) -> Decimal:
    return value.to_integral_value(rounding=ROUND_CEILING)


def seed_reorder_policies() -> Tally:
    """A policy per item for AMS, sized from the demo's sales: reorder point = demand over the
    lead time plus a safety stock of a week's demand, order up to two more weeks of demand; an
    item that sold nothing (one in seven has no stock there) gets reorder point 5, safety
    stock 2 and order-up-to 30, so the suggestions have something to show."""
    tally = Tally()
    warehouse = Warehouse.objects.get(code="AMS")
    since = timezone.now() - timedelta(days=stock_demo.HISTORY_DAYS)
    sold = dict(
        Movement.objects.filter(kind=MovementKind.ISSUE, source__warehouse=warehouse, occurred_at__gte=since)
        .values("item_id")
        .annotate(total=Sum("quantity"))
        .values_list("item_id", "total")
    )
    offers = SupplierItem.objects.filter(preferred=True).select_related("supplier")
    lead_times = {offer.item_id: offer.effective_lead_time_days for offer in offers}
    policies = {p.item_id: p for p in ReorderPolicy.objects.filter(warehouse=warehouse)}
    for item in Item.objects.filter(sku__in=[spec.sku for spec in ITEMS]).order_by("pk"):
        if item.pk in sold:
            daily = sold[item.pk] / stock_demo.HISTORY_DAYS
            safety = _whole(daily * 7)
            point = _whole(daily * lead_times.get(item.pk, 7)) + safety
            wanted = {"reorder_point": point, "safety_stock": safety, "order_up_to": point + _whole(daily * 14) + 1}
        else:
            wanted = {"reorder_point": Decimal(5), "safety_stock": Decimal(2), "order_up_to": Decimal(30)}
        policy = policies.get(item.pk) or ReorderPolicy(item=item, warehouse=warehouse)
        _converge(policy, wanted, _model_save, tally)
    return tally


def seed_purchase_orders() -> Tally:
    """Once: draft orders from the AMS suggestions; the first is placed and half received, the
    second placed, the rest left as drafts for the purchaser to look at."""
    tally = Tally()
    if PurchaseOrder.objects.filter(notes=DEMO_ORDER_NOTE).exists():
        tally.unchanged += 1
        return tally
    purchaser = get_user_model().objects.get(username="purchaser")
    warehouse = Warehouse.objects.get(code="AMS")
    groups: dict[int, list] = {}
    for suggestion in reorder_suggestions(warehouse=warehouse):
        if suggestion.supplier_item is not None:
            groups.setdefault(suggestion.supplier_item.supplier_id, []).append(suggestion)
    dock = Location.objects.get(warehouse=warehouse, code="DOCK-IN")
    for number, group in enumerate(groups.values()):
        order = purchase_order_create(
            supplier=group[0].supplier_item.supplier,
            warehouse=warehouse,
            lines=[OrderLine(s.item, s.quantity, s.supplier_item.unit_cost) for s in group[:8]],
            actor=purchaser,
            notes=DEMO_ORDER_NOTE,
        )
        tally.created += 1
        if number > 1:
            continue
        purchase_order_place(order=order, actor=purchaser)
        untracked = order.lines.filter(item__tracking=Tracking.NONE).select_related("item").first()
        if number == 0 and untracked is not None:
            half = _whole(untracked.quantity / 2)
            purchase_order_receive(order=order, receipts=[Receipt(untracked, half, dock)], actor=purchaser)
    return tally


STEPS: list[tuple[str, Callable[[], Tally]]] = [
    *stock_demo.STEPS,
    ("suppliers", seed_suppliers),
    ("supplier items", seed_supplier_items),
    ("reorder policies", seed_reorder_policies),
    ("purchase orders", seed_purchase_orders),
]


def seed_demo(stdout: TextIO | None = None) -> dict[str, dict[str, int]]:
    """The whole demo: master data, stock, and purchasing."""
    return catalog_demo.seed_demo(stdout=stdout, steps=STEPS)
