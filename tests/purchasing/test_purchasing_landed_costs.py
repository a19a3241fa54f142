"""Landed costs and price differences of purchase orders (issue 14, part 3), worked by hand:
allocated over the receipts of one or more orders by quantity, value or weight, each share split
between the stock on hand and cost of goods sold; the admin page posts them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from catalog.permissions import WarehousePermissionDenied
from purchasing.landed_costs import AllocationBasis, allocate, landed_cost_allocate, price_difference_post
from purchasing.models import PurchaseOrder
from purchasing.services import (
    OrderLine,
    PurchasingError,
    Receipt,
    purchase_order_create,
    purchase_order_place,
    purchase_order_receive,
)
from stock.models import Movement, MovementKind
from stock.reconciliation import reconcile
from stock.services import stock_issue
from tests.stock.factories import ItemFactory, valuation_of

pytestmark = pytest.mark.django_db
D = Decimal


def _order(supplier, warehouse, actor, *lines) -> PurchaseOrder:
    draft = purchase_order_create(supplier=supplier, warehouse=warehouse, lines=list(lines), actor=actor)
    return purchase_order_place(order=draft, actor=actor)


@pytest.fixture
def two_orders(supplier, warehouse, bin_a, actor):
    """Order 1: 10 GEAR @ 1.00 (weight 2 kg); order 2: 5 NUT @ 4.00 (weight 0.5 kg). Received."""
    gear = ItemFactory(sku="GEAR", weight_kg=D(2))
    nut = ItemFactory(sku="NUT", weight_kg=D("0.5"))
    first = _order(supplier, warehouse, actor, OrderLine(gear, D(10), D("1.00")))
    second = _order(supplier, warehouse, actor, OrderLine(nut, D(5), D("4.00")))
    purchase_order_receive(order=first, receipts=[Receipt(first.lines.get(), D(10), bin_a)], actor=actor)
    purchase_order_receive(order=second, receipts=[Receipt(second.lines.get(), D(5), bin_a)], actor=actor)
    return first, second, gear, nut


def test_allocation_rounds_each_share_and_the_last_takes_the_rest() -> None:
    # 10.00 over 1 : 1 : 1 -> 3.3333, 3.3333, and 10 - 6.6666 = 3.3334
    assert allocate(D("10.00"), [D(1), D(1), D(1)]) == [D("3.3333"), D("3.3333"), D("3.3334")]


@pytest.mark.parametrize(
    ("basis", "gear_share", "nut_share"),
    [
        # quantity 10 : 5 -> 30 x 10/15 = 20.00, 10.00
        (AllocationBasis.QUANTITY, D("20.00"), D("10.00")),
        # value 10.00 : 20.00 -> 30 x 10/30 = 10.00, 20.00
        (AllocationBasis.VALUE, D("10.00"), D("20.00")),
        # weight 10 x 2 = 20 kg : 5 x 0.5 = 2.5 kg -> 30 x 20/22.5 = 26.6667, 30 - 26.6667 = 3.3333
        (AllocationBasis.WEIGHT, D("26.6667"), D("3.3333")),
    ],
)
def test_a_landed_cost_is_allocated_over_two_orders(two_orders, warehouse, actor, basis, gear_share, nut_share) -> None:
    first, second, gear, nut = two_orders
    entries = landed_cost_allocate(
        orders=[first, second], amount=D("30.00"), basis=basis, reason_code="freight", reference="INV-9", actor=actor
    )
    assert [(e.item.sku, e.kind, e.quantity, e.total_cost) for e in entries] == [
        ("GEAR", MovementKind.LANDED_COST, D(0), gear_share),
        ("NUT", MovementKind.LANDED_COST, D(0), nut_share),
    ]
    assert valuation_of(gear, warehouse) == (D(10), D("10.00") + gear_share)
    assert valuation_of(nut, warehouse) == (D(5), D("20.00") + nut_share)
    assert reconcile() == []


def test_the_share_of_stock_already_sold_goes_to_cost_of_goods_sold(two_orders, warehouse, bin_a, actor) -> None:
    first, _, gear, _ = two_orders
    stock_issue(item=gear, location=bin_a, quantity=D(4), actor=actor)  # 4 x 1.00 -> 6 left, 6.00
    # 5.00 by quantity on order 1 alone: 6 of 10 on hand -> 3.00 to stock, 2.00 to cost of goods sold
    landed_cost_allocate(orders=[first], amount=D("5.00"), basis="quantity", reason_code="duty", actor=actor)
    rows = Movement.objects.filter(item=gear, quantity=0).values_list("destination__kind", "total_cost")
    assert sorted(rows) == [("customer", D("2.00")), ("internal", D("3.00"))]
    assert valuation_of(gear, warehouse) == (D(6), D("9.00"))


def test_weight_allocation_names_items_without_a_weight_and_writes_nothing(
    supplier, warehouse, bin_a, actor, item
) -> None:
    order = _order(supplier, warehouse, actor, OrderLine(item, D(2), D("1.00")))
    purchase_order_receive(order=order, receipts=[Receipt(order.lines.get(), D(2), bin_a)], actor=actor)
    before = Movement.objects.count()
    with pytest.raises(PurchasingError, match=f"No weight recorded for {item.sku}"):
        landed_cost_allocate(orders=[order], amount=D(1), basis="weight", reason_code="freight", actor=actor)
    with pytest.raises(PurchasingError, match="Nothing was received"):
        landed_cost_allocate(
            orders=[_order(supplier, warehouse, actor, OrderLine(item, D(1)))],
            amount=D(1),
            basis="quantity",
            reason_code="freight",
            actor=actor,
        )
    assert Movement.objects.count() == before


def test_a_supplier_invoice_price_difference_per_receipt_of_the_line(two_orders, warehouse, actor) -> None:
    first, _, gear, _ = two_orders
    # Invoiced 1.20 instead of 1.00 for the 10 received: +2.00, all on hand       -> 10, 12.00
    [entry] = price_difference_post(
        line=first.lines.get(), invoiced_unit_cost=D("1.20"), reason_code="inv", actor=actor
    )
    assert (entry.kind, entry.total_cost, entry.origin.kind) == (MovementKind.PRICE_DIFFERENCE, D("2.00"), "receipt")
    assert valuation_of(gear, warehouse) == (D(10), D("12.00"))
    with pytest.raises(PurchasingError, match="no difference"):
        price_difference_post(line=first.lines.get(), invoiced_unit_cost=D("1.00"), reason_code="inv", actor=actor)


def test_the_admin_allocates_a_landed_cost_from_the_order_list(client, actor, two_orders, warehouse) -> None:
    first, second, gear, nut = two_orders
    actor.is_staff = True
    actor.save()
    client.force_login(actor)
    response = client.post(
        reverse("admin:purchasing_purchaseorder_changelist"),
        {"action": "allocate_landed_cost", "_selected_action": [first.pk, second.pk]},
    )
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert page.status_code == 200 and first.number in page.content.decode()
    # Zero is refused on the form: nothing posted.
    assert client.post(response["Location"], {"amount": "0", "basis": "value", "reason_code": "x"}).status_code == 200
    assert not Movement.objects.filter(quantity=0).exists()
    done = client.post(
        response["Location"], {"amount": "30", "basis": "value", "reason_code": "freight", "reference": "INV-1"}
    )
    assert done.status_code == 302
    assert valuation_of(gear, warehouse) == (D(10), D("20.00"))  # 10.00 + 30 x 10/30
    assert valuation_of(nut, warehouse) == (D(5), D("40.00"))  # 20.00 + 30 x 20/30


def test_someone_who_may_not_adjust_the_warehouse_posts_no_landed_cost(two_orders, person) -> None:
    first, *_ = two_orders
    clerk = person("Warehouse clerk", "post_warehouse_movements")
    before = Movement.objects.count()
    with pytest.raises(WarehousePermissionDenied):
        landed_cost_allocate(orders=[first], amount=D(1), basis="quantity", reason_code="freight", actor=clerk)
    assert Movement.objects.count() == before
