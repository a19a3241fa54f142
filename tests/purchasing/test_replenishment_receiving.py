"""Receiving, issue 17 part 4: over-receipt within the supplier's (or the item's) tolerance and
refused beyond it with the limit named; every problem of a receipt at once, nothing written; the
receiving page offers bins only, the item's usual bin first and chosen."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from purchasing.models import PurchaseOrderStatus, ReorderPolicy, SupplierItem
from purchasing.selectors import reorder_suggestions
from purchasing.services import (
    OrderLine,
    PurchasingError,
    Receipt,
    purchase_order_create,
    purchase_order_place,
    purchase_order_receive,
)
from stock import services as stock
from stock.models import Movement
from tests.stock.factories import LocationFactory

pytestmark = pytest.mark.django_db
D = Decimal


def _placed(supplier, warehouse, actor, *lines):
    draft = purchase_order_create(supplier=supplier, warehouse=warehouse, lines=list(lines), actor=actor)
    return purchase_order_place(order=draft, actor=actor)


def test_over_receipt_within_the_suppliers_tolerance_and_refused_beyond(supplier, warehouse, bin_a, item, actor):
    supplier.over_receipt_percent = D(10)
    supplier.save()
    order = _placed(supplier, warehouse, actor, OrderLine(item, D(10)))
    line = order.lines.get()
    with pytest.raises(PurchasingError, match=r"cannot receive 12 \(ACME accepts 10 % over: at most 11\)"):
        purchase_order_receive(order=order, receipts=[Receipt(line, D(12), bin_a)], actor=actor)  # 10 + 10 % = 11
    assert not Movement.objects.exists()

    purchase_order_receive(order=order, receipts=[Receipt(line, D(11), bin_a)], actor=actor)
    order.refresh_from_db()
    line.refresh_from_db()
    assert (order.status, line.received_quantity, line.outstanding) == (PurchaseOrderStatus.RECEIVED, 11, 0)


def test_the_items_tolerance_wins_over_the_suppliers(supplier, warehouse, bin_a, item, actor):
    supplier.over_receipt_percent = D(10)
    supplier.save()
    SupplierItem.objects.filter(supplier=supplier, item=item).update(over_receipt_percent=D(0))
    order = _placed(supplier, warehouse, actor, OrderLine(item, D(10)))
    with pytest.raises(PurchasingError, match=r"10 ordered, 0 received, 10 outstanding; cannot receive 11\.$"):
        purchase_order_receive(order=order, receipts=[Receipt(order.lines.get(), D(11), bin_a)], actor=actor)


def test_an_over_received_line_counts_nothing_on_order(supplier, warehouse, bin_a, item, lot_item, actor):
    supplier.over_receipt_percent = D(50)
    supplier.save()
    order = _placed(supplier, warehouse, actor, OrderLine(item, D(10)), OrderLine(lot_item, D(4)))
    widget = order.lines.get(item=item)
    purchase_order_receive(order=order, receipts=[Receipt(widget, D(12), bin_a)], actor=actor)  # 2 over, MILK open
    ReorderPolicy.objects.create(item=item, warehouse=warehouse, reorder_point=D(20), order_up_to=D(30))
    (suggestion,) = reorder_suggestions()
    assert (suggestion.available, suggestion.on_order) == (12, 0)  # not 12 and -2


def test_every_problem_is_refused_at_once(supplier, warehouse, bin_a, bin_c, item, lot_item, actor, snapshot):
    order = _placed(supplier, warehouse, actor, OrderLine(item, D(10)), OrderLine(lot_item, D(4)))
    widget, milk = order.lines.get(item=item), order.lines.get(item=lot_item)
    before = snapshot()
    with pytest.raises(PurchasingError) as refused:
        purchase_order_receive(
            order=order,
            receipts=[Receipt(widget, D(11), bin_a, lot="L1"), Receipt(milk, D(2), bin_c, lot="M1")],
            actor=actor,
        )
    assert str(refused.value).startswith("3 problems, nothing received:")
    assert refused.value.details["problems"] == [  # in the receipts' order, then the quantities
        "WIDGET is not lot-tracked: receive it without a lot.",
        f"WH2/B-01 is not a location of warehouse WH1, where {order.number} goes.",
        "WIDGET: 10 ordered, 0 received, 10 outstanding; cannot receive 11.",
    ]
    assert snapshot() == before


def test_the_receiving_page_offers_bins_only_with_the_usual_bin_first(
    boss, supplier, warehouse, bin_a, bin_b, item, actor
):
    LocationFactory(warehouse=warehouse, code="ZONE-A", level="zone")
    stock.stock_receive(item=item, location=bin_b, quantity=D(3), actor=actor)  # WIDGET lives in A-02
    order = _placed(supplier, warehouse, actor, OrderLine(item, D(10)))
    page = boss.get(reverse("admin:purchasing_purchaseorder_receive", args=[order.pk])).content.decode()
    select = page[page.index('name="form-0-location"') : page.index("</select>", page.index('name="form-0-location"'))]
    assert "ZONE-A" not in select  # a zone is no place to put stock
    assert select.index("A-02") < select.index("A-01")  # the usual bin first
    assert f'value="{bin_b.pk}" selected' in select


def test_the_receiving_page_says_every_problem_at_once(boss, supplier, warehouse, bin_a, bin_c, item, lot_item, actor):
    order = _placed(supplier, warehouse, actor, OrderLine(item, D(10)), OrderLine(lot_item, D(4)))
    widget, milk = order.lines.get(item=item), order.lines.get(item=lot_item)
    data = {
        "form-TOTAL_FORMS": "2",
        "form-INITIAL_FORMS": "2",
        "idempotency_key": "k-1",
        "form-0-line": widget.pk,
        "form-0-quantity": "11",
        "form-0-location": bin_a.pk,
        "form-1-line": milk.pk,
        "form-1-quantity": "2",
        "form-1-location": "",
    }
    page = boss.post(reverse("admin:purchasing_purchaseorder_receive", args=[order.pk]), data).content.decode()
    assert "Choose where MILK goes." in page and "cannot receive 11" in page
    assert not Movement.objects.exists()
