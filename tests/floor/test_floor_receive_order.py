"""The floor job "Receive order" (purchasing/floor.py), scan by scan: the order number first,
then item, quantity, lot and bin; what is not on the order or beyond what is outstanding is
refused with the numbers and writes nothing; the permission is "receive purchase orders"."""

from __future__ import annotations

from decimal import Decimal

import pytest
from guardian.shortcuts import remove_perm

from purchasing.models import PurchaseOrderStatus, Supplier
from purchasing.services import OrderLine, purchase_order_create, purchase_order_place
from stock.models import Lot, Movement
from tests.floor.conftest import CANDLE_EAN, COFFEE_EAN, KNIFE_EAN, signed_in
from tests.stock.factories import ledger_snapshot, level_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(world):
    supplier = Supplier.objects.create(code="NORDIC", name="Nordic Homeware")
    draft = purchase_order_create(
        supplier=supplier,
        warehouse=world.ams,
        lines=[OrderLine(world.knife, Decimal(10), Decimal("17.00")), OrderLine(world.coffee, Decimal(6))],
        actor=None,
    )
    return purchase_order_place(order=draft, actor=None)


def test_receive_on_an_order_in_four_entries(world, scanner, order):
    page = scanner("receive-order")
    assert page.prompt.endswith("Scan or type the order number (PO-…)")
    page.scan(order.number.lower())
    assert "Nordic Homeware: 10 KNF-0001, 6 FOD-0001" in page.html
    page.scan(KNIFE_EAN).scan("4").scan("LOC-AMS-DOCK-IN")

    movement = Movement.objects.get(reference_id=order.number)
    assert (movement.item, movement.quantity, movement.unit_cost) == (world.knife, Decimal(4), Decimal("17.00"))
    assert movement.actor == world.clerk and movement.destination == world.bins["DOCK-IN"]
    assert "Received 4 each KNF-0001" in page.result
    order.refresh_from_db()
    assert order.status == PurchaseOrderStatus.PARTIALLY_RECEIVED
    assert order.lines.get(item=world.knife).received_quantity == 4
    assert page.prompt.endswith("Scan the item"), "the next item of the delivery: the order is kept"
    assert "6 KNF-0001, 6 FOD-0001" in page.html


def test_when_the_order_has_all_arrived_the_next_form_asks_for_an_order_again(world, scanner, order):
    page = scanner("receive-order").scan(order.number).scan(KNIFE_EAN).scan("10").scan("LOC-AMS-DOCK-IN")
    page.scan(COFFEE_EAN).scan("6").scan("L-PO-2").scan("").scan("LOC-AMS-DOCK-IN")
    order.refresh_from_db()
    assert order.status == PurchaseOrderStatus.RECEIVED
    assert page.prompt.endswith("(PO-…)")
    assert any(f"{order.number} is received: only a placed order can be received" in n for n in page.notes)


def test_a_lot_tracked_line_takes_a_new_lot_with_its_shelf_life(world, scanner, order):
    page = scanner("receive-order").scan(str(order.pk)).scan(COFFEE_EAN).scan("6").scan("L-PO-1").scan("")
    page.scan("LOC-AMS-A-01-01")
    lot = Lot.objects.get(item=world.coffee, code="L-PO-1")
    assert level_of(world.coffee, world.bins["A-01-01"], lot)[0] == 6
    assert order.lines.get(item=world.coffee).outstanding == 0


def test_an_item_not_on_the_order_is_refused(world, scanner, order):
    before = ledger_snapshot()
    page = scanner("receive-order").scan(order.number).scan(CANDLE_EAN)
    assert any(f"CDL-0001 is not on {order.number}." in e for e in page.errors), page.errors
    assert page.prompt.endswith("Scan the item") and ledger_snapshot() == before


def test_more_than_outstanding_is_refused_with_the_numbers(world, scanner, order):
    before = ledger_snapshot()
    page = scanner("receive-order").scan(order.number).scan(KNIFE_EAN).scan("11")
    assert any("only 10 outstanding" in e and "(10 ordered, 0 received)" in e for e in page.errors), page.errors
    assert "Type the quantity" in page.prompt and ledger_snapshot() == before


@pytest.mark.parametrize("number", ["PO-999999", "nonsense"])
def test_an_unknown_order_number_is_refused(world, scanner, order, number):
    page = scanner("receive-order").scan(number)
    assert page.errors and page.prompt.endswith("(PO-…)")


def test_an_order_of_another_warehouse_or_not_placed_is_refused(world, scanner, order):
    draft = purchase_order_create(
        supplier=order.supplier, warehouse=world.ams, lines=[OrderLine(world.knife, Decimal(1))], actor=None
    )
    page = scanner("receive-order").scan(draft.number)
    assert any("is draft: only a placed order can be received" in e for e in page.errors), page.errors
    elsewhere = purchase_order_create(
        supplier=order.supplier, warehouse=world.rtm, lines=[OrderLine(world.knife, Decimal(1))], actor=None
    )
    page.scan(elsewhere.number)
    assert any(f"There is no purchase order {elsewhere.number} for warehouse AMS" in e for e in page.errors)


def test_without_the_receive_grant_the_page_says_so(world, scanner, order):
    remove_perm("catalog.receive_warehouse_purchases", world.clerk, world.ams)
    page = scanner("receive-order")
    assert "You may not receive purchase orders in warehouse AMS" in page.html
    home = signed_in(world.clerk, world.ams).get("/floor/").content.decode()
    assert "Receive order" in home


def test_a_resent_form_receives_once(world, scanner, order):
    page = scanner("receive-order").scan(order.number).scan(KNIFE_EAN).scan("2").scan("LOC-AMS-A-01-01")
    page.resend()
    assert "it counted once" in page.html or "Already posted" in page.html
    assert order.lines.get(item=world.knife).received_quantity == 2
    assert Movement.objects.filter(reference_id=order.number).count() == 1
