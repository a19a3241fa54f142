"""Reorder suggestions: available plus on-order stock against the reorder point, the quantity
(order-up-to level, the supplier's minimum and multiple), the supplier chosen, who sees what,
and draft orders made from them; the policies' and offers' database rules."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from purchasing.models import PurchaseOrder, PurchaseOrderStatus, ReorderPolicy, SupplierItem
from purchasing.selectors import reorder_suggestions
from purchasing.services import (
    OrderLine,
    Receipt,
    purchase_order_create,
    purchase_order_place,
    purchase_order_receive,
    purchase_orders_from_suggestions,
)
from stock import services as stock
from tests.stock.factories import ItemFactory

pytestmark = pytest.mark.django_db


def _policy(item, warehouse, point, up_to=None, safety=0) -> ReorderPolicy:
    return ReorderPolicy.objects.create(
        item=item,
        warehouse=warehouse,
        reorder_point=Decimal(point),
        order_up_to=None if up_to is None else Decimal(up_to),
        safety_stock=Decimal(safety),
    )


def test_an_item_at_or_below_its_reorder_point_is_suggested_up_to_its_level(supplier, warehouse, bin_a, item, actor):
    _policy(item, warehouse, point=10, up_to=50, safety=4)
    stock.stock_receive(item=item, location=bin_a, quantity=Decimal(12), actor=actor)
    assert reorder_suggestions() == []  # 12 is above 10

    stock.stock_issue(item=item, location=bin_a, quantity=Decimal(2), actor=actor)
    stock.reservation_create(item=item, warehouse=warehouse, quantity=Decimal(1), actor=actor, reference_id="SO-1")
    (suggestion,) = reorder_suggestions()

    assert (suggestion.available, suggestion.on_order, suggestion.position) == (9, 0, 9)  # reserved is not available
    assert suggestion.quantity == 41 and not suggestion.urgent
    assert suggestion.supplier_item.supplier.code == "ACME"  # the preferred offer


def test_placed_orders_count_as_on_order_and_drafts_do_not(supplier, warehouse, bin_a, item, actor):
    _policy(item, warehouse, point=10, up_to=30)
    draft = purchase_order_create(
        supplier=supplier, warehouse=warehouse, lines=[OrderLine(item, Decimal(25))], actor=actor
    )
    assert reorder_suggestions()[0].on_order == 0

    purchase_order_place(order=draft, actor=actor)
    assert reorder_suggestions() == []  # 0 available + 25 on order is above 10

    purchase_order_receive(order=draft, receipts=[Receipt(draft.lines.get(), Decimal(25), bin_a)], actor=actor)
    stock.stock_issue(item=item, location=bin_a, quantity=Decimal(20), actor=actor)
    (suggestion,) = reorder_suggestions()
    assert (suggestion.available, suggestion.on_order, suggestion.quantity) == (5, 0, 25)


def test_the_quantity_respects_the_suppliers_minimum_and_multiple(other_supplier, warehouse, bin_a, item, actor):
    """BETA sells WIDGET from 10, in sixes: 3 needed -> at least 10 -> 12."""
    _policy(item, warehouse, point=5, up_to=8)
    stock.stock_receive(item=item, location=bin_a, quantity=Decimal(5), actor=actor)

    (suggestion,) = reorder_suggestions()

    assert suggestion.supplier_item.supplier.code == "BETA" and suggestion.quantity == 12


def test_at_the_reorder_point_without_a_level_the_smallest_order_is_suggested(warehouse, bin_a, actor):
    lonely = ItemFactory(sku="LONELY")
    _policy(lonely, warehouse, point=0)

    (suggestion,) = reorder_suggestions()

    assert suggestion.quantity == 1 and suggestion.supplier_item is None


def test_urgent_ones_come_first_and_users_see_their_warehouses_only(
    supplier, warehouse, other_warehouse, bin_a, item, lot_item, person
):
    _policy(item, warehouse, point=10, safety=5)  # nothing available: below safety, urgent
    _policy(lot_item, warehouse, point=10)  # safety 0: due, not urgent
    _policy(item, other_warehouse, point=10, safety=5)

    assert [(s.item.sku, s.urgent) for s in reorder_suggestions(warehouse=warehouse)] == [
        ("WIDGET", True),
        ("MILK", False),
    ]
    purchaser = person("Purchasing manager", "view_warehouse_stock")  # on WH1 only
    assert {s.warehouse.code for s in reorder_suggestions(user=purchaser)} == {"WH1"}
    assert {s.warehouse.code for s in reorder_suggestions()} == {"WH1", "WH2"}


def test_draft_orders_from_suggestions_go_one_per_supplier_and_warehouse(
    supplier, warehouse, other_warehouse, item, lot_item, actor
):
    lonely = ItemFactory(sku="LONELY")
    for each in (item, lot_item, lonely):
        _policy(each, warehouse, point=3, up_to=10)
    _policy(item, other_warehouse, point=3, up_to=20)

    orders = purchase_orders_from_suggestions(suggestions=reorder_suggestions(), actor=actor)

    assert sorted(
        (o.supplier.code, o.warehouse.code, sorted((line.item.sku, line.quantity) for line in o.lines.all()))
        for o in orders
    ) == [
        ("ACME", "WH1", [("MILK", Decimal(10)), ("WIDGET", Decimal(10))]),
        ("ACME", "WH2", [("WIDGET", Decimal(20))]),
    ]  # LONELY has no supplier: left out
    assert {o.status for o in orders} == {PurchaseOrderStatus.DRAFT}
    assert PurchaseOrder.objects.count() == 2


@pytest.mark.parametrize(
    "bad",
    [
        {"reorder_point": Decimal(5), "safety_stock": Decimal(6)},
        {"reorder_point": Decimal(5), "order_up_to": Decimal(5)},
    ],
)
def test_policies_keep_safety_below_the_point_and_the_level_above_it(warehouse, item, bad):
    with pytest.raises(IntegrityError), transaction.atomic():
        ReorderPolicy.objects.create(item=item, warehouse=warehouse, **bad)
    assert not ReorderPolicy.objects.exists()


def test_an_item_has_one_preferred_supplier(supplier, other_supplier, item):
    with pytest.raises(IntegrityError), transaction.atomic():
        SupplierItem.objects.filter(supplier=other_supplier, item=item).update(preferred=True)
    assert SupplierItem.objects.get(item=item, preferred=True).supplier == supplier
