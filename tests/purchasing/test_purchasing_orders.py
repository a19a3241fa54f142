"""Purchase orders: created as drafts, placed, cancelled, received through the ledger (cost,
lots, partial receipts, over-receipt refused, idempotent), and who may do what."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.permissions import WarehousePermissionDenied
from purchasing.models import PurchaseOrder, PurchaseOrderLine, PurchaseOrderStatus
from purchasing.services import (
    OrderLine,
    PurchaseQuantityFinerThanUnit,
    PurchasingError,
    Receipt,
    purchase_order_cancel,
    purchase_order_create,
    purchase_order_place,
    purchase_order_receive,
)
from stock.models import Movement
from stock.services import InvalidMovement
from tests.stock.factories import level_of, valuation_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(supplier, warehouse, item, lot_item, actor) -> PurchaseOrder:
    """ACME -> WH1, placed: 10 WIDGET at the supplier's 2.50 and 4 MILK at 1.30."""
    draft = purchase_order_create(
        supplier=supplier,
        warehouse=warehouse,
        lines=[OrderLine(item, Decimal(10)), OrderLine(lot_item, Decimal(4), Decimal("1.30"))],
        actor=actor,
    )
    return purchase_order_place(order=draft, actor=actor)


def _line(order: PurchaseOrder, sku: str) -> PurchaseOrderLine:
    return order.lines.get(item__sku=sku)


def test_a_draft_takes_the_suppliers_price_and_placing_sets_the_expected_date(supplier, warehouse, item, actor):
    draft = purchase_order_create(
        supplier=supplier, warehouse=warehouse, lines=[OrderLine(item, Decimal(12))], actor=actor
    )
    assert draft.status == PurchaseOrderStatus.DRAFT and draft.number == f"PO-{draft.pk:06d}"
    assert draft.lines.get().unit_cost == Decimal("2.50")

    placed = purchase_order_place(order=draft, actor=actor)

    assert placed.status == PurchaseOrderStatus.ORDERED and placed.ordered_at is not None
    assert placed.expected_on == timezone.localdate() + timedelta(days=5)
    assert placed.history.first().history_user == actor


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("empty", "at least one line"),
        ("twice", "is on two lines"),
        ("zero", "must be a number above zero"),
        ("fine", "more than 4 decimal places"),
        ("half", r"^WIDGET is counted in whole units \(each\); 2.5 is not allowed.$"),  # issue 12
    ],
)
def test_bad_drafts_are_refused_and_nothing_is_written(supplier, warehouse, item, actor, lines, message):
    given = {
        "twice": [OrderLine(item, Decimal(1)), OrderLine(item, Decimal(2))],
        "zero": [OrderLine(item, Decimal(0))],
        "fine": [OrderLine(item, Decimal("1.00001"))],
        "half": [OrderLine(item, Decimal("2.5"))],
        "empty": [],
    }[lines]
    with pytest.raises(PurchasingError, match=message):
        purchase_order_create(supplier=supplier, warehouse=warehouse, lines=given, actor=actor)
    assert not PurchaseOrder.objects.exists() and not PurchaseOrderLine.objects.exists()


def test_an_inactive_supplier_gets_no_order(supplier, warehouse, item, actor):
    supplier.active = False
    supplier.save()
    with pytest.raises(PurchasingError, match="ACME is inactive"):
        purchase_order_create(supplier=supplier, warehouse=warehouse, lines=[OrderLine(item, Decimal(1))], actor=actor)


def test_receiving_posts_receipts_at_the_order_cost_and_tracks_what_is_outstanding(
    order, bin_a, bin_b, item, lot_item, actor
):
    widget, milk = _line(order, "WIDGET"), _line(order, "MILK")
    expiry = date.today() + timedelta(days=20)

    movements = purchase_order_receive(
        order=order,
        receipts=[
            Receipt(widget, Decimal(6), bin_a),
            Receipt(widget, Decimal(1), bin_b),
            Receipt(milk, Decimal(4), bin_a, lot="L-77", expiry_date=expiry),
        ],
        actor=actor,
    )

    assert [(m.item.sku, m.quantity, m.unit_cost) for m in movements] == [
        ("WIDGET", Decimal(6), Decimal("2.50")),
        ("WIDGET", Decimal(1), Decimal("2.50")),
        ("MILK", Decimal(4), Decimal("1.30")),
    ]
    assert {(m.reference_type, m.reference_id) for m in movements} == {("purchasing.purchase-order", order.number)}
    assert all(m.actor == actor for m in movements)
    assert level_of(item, bin_a)[0] == 6 and level_of(item, bin_b)[0] == 1
    assert movements[2].lot.code == "L-77" and movements[2].lot.expiry_date == expiry
    assert valuation_of(item, order.warehouse) == (Decimal(7), Decimal("17.50"))
    order.refresh_from_db()
    assert order.status == PurchaseOrderStatus.PARTIALLY_RECEIVED
    assert _line(order, "WIDGET").outstanding == 3 and _line(order, "MILK").outstanding == 0

    purchase_order_receive(order=order, receipts=[Receipt(_line(order, "WIDGET"), Decimal(3), bin_a)], actor=actor)
    order.refresh_from_db()
    assert order.status == PurchaseOrderStatus.RECEIVED


def test_a_back_dated_receipt_counts_a_new_lots_expiry_from_the_receipt_date(order, bin_a, lot_item, actor):
    """Booked today for goods that came in three days ago: the new lot was received three days
    ago and a perishable lot without expiry keeps shelf life days from then, not from today
    (issue 13: this receipt builder counted from today)."""
    lot_item.shelf_life_days = 10
    lot_item.save(update_fields=["shelf_life_days"])
    arrived = timezone.now() - timedelta(days=3)
    received_on = timezone.localdate(arrived)  # the receipt date, 3 days before today

    (movement,) = purchase_order_receive(
        order=order,
        receipts=[Receipt(_line(order, "MILK"), Decimal(4), bin_a, lot="L-LATE")],
        actor=actor,
        occurred_at=arrived,
    )

    lot = movement.lot
    assert movement.occurred_at == arrived
    assert lot.received_on == received_on
    assert lot.expiry_date == received_on + timedelta(days=10)  # receipt date + 10 days of shelf life
    assert lot.expiry_date == timezone.localdate() + timedelta(days=7)  # so 7 days left, not 10


def test_each_receipt_is_in_the_line_history_with_who_received_it(order, bin_a, actor):
    widget = _line(order, "WIDGET")
    before = widget.history.count()  # the draft's creation

    purchase_order_receive(order=order, receipts=[Receipt(widget, Decimal(6), bin_a)], actor=actor)
    purchase_order_receive(order=order, receipts=[Receipt(_line(order, "WIDGET"), Decimal(4), bin_a)], actor=actor)

    # Two receipts, two history records: received 0 -> 6 -> 10 (6 + 4), each by the actor.
    records = list(widget.history.order_by("history_date", "history_id"))[before:]
    assert [(r.received_quantity, r.history_type, r.history_user) for r in records] == [
        (Decimal(6), "~", actor),
        (Decimal(10), "~", actor),
    ]


def test_receiving_more_than_outstanding_is_refused_and_nothing_is_written(order, bin_a, actor, snapshot):
    widget = _line(order, "WIDGET")
    purchase_order_receive(order=order, receipts=[Receipt(widget, Decimal(8), bin_a)], actor=actor)
    before = snapshot()

    with pytest.raises(PurchasingError, match="10 ordered, 8 received, 2 outstanding; cannot receive 3"):
        purchase_order_receive(
            order=order,
            receipts=[Receipt(widget, Decimal(2), bin_a), Receipt(widget, Decimal(1), bin_a)],
            actor=actor,
        )

    assert snapshot() == before
    assert _line(order, "WIDGET").received_quantity == 8


@pytest.mark.parametrize("case", ["other_warehouse", "missing_lot", "lot_on_untracked", "draft", "half"])
def test_wrong_receipts_are_refused_before_anything_is_written(order, bin_a, bin_c, actor, snapshot, case):
    widget, milk = _line(order, "WIDGET"), _line(order, "MILK")
    receipt, error, message = {
        "other_warehouse": (Receipt(widget, Decimal(1), bin_c), PurchasingError, "not a location of warehouse WH1"),
        "missing_lot": (Receipt(milk, Decimal(1), bin_a), InvalidMovement, "give a lot code"),
        "lot_on_untracked": (Receipt(widget, Decimal(1), bin_a, lot="X"), PurchasingError, "without a lot"),
        "draft": (Receipt(widget, Decimal(1), bin_a), PurchasingError, "only a placed order"),
        "half": (Receipt(widget, Decimal("2.5"), bin_a), PurchaseQuantityFinerThanUnit, "WIDGET is counted in whole"),
    }[case]
    if case == "draft":
        PurchaseOrder.objects.filter(pk=order.pk).update(status=PurchaseOrderStatus.DRAFT)
    before = snapshot()

    with pytest.raises(error, match=message):
        purchase_order_receive(order=order, receipts=[receipt], actor=actor)

    assert snapshot() == before
    assert not PurchaseOrderLine.objects.filter(received_quantity__gt=0).exists()


def test_the_same_idempotency_key_receives_once(order, bin_a, item, actor):
    widget = _line(order, "WIDGET")
    first = purchase_order_receive(
        order=order, receipts=[Receipt(widget, Decimal(4), bin_a)], actor=actor, idempotency_key="gr-1"
    )
    again = purchase_order_receive(
        order=order, receipts=[Receipt(widget, Decimal(4), bin_a)], actor=actor, idempotency_key="gr-1"
    )

    assert [m.pk for m in again] == [m.pk for m in first]
    assert level_of(item, bin_a)[0] == 4 and _line(order, "WIDGET").received_quantity == 4
    assert Movement.objects.filter(reference_id=order.number).count() == 1


def test_cancelling_a_placed_order_and_not_a_received_one(order, bin_a, actor):
    purchase_order_receive(order=order, receipts=[Receipt(_line(order, "WIDGET"), Decimal(1), bin_a)], actor=actor)
    with pytest.raises(PurchasingError, match="only a draft or an order with nothing received"):
        purchase_order_cancel(order=order, actor=actor)

    fresh = purchase_order_place(
        order=purchase_order_create(
            supplier=order.supplier,
            warehouse=order.warehouse,
            lines=[OrderLine(_line(order, "WIDGET").item, Decimal(1))],
            actor=actor,
        ),
        actor=actor,
    )
    assert purchase_order_cancel(order=fresh, actor=actor).status == PurchaseOrderStatus.CANCELLED
    with pytest.raises(PurchasingError, match="only a draft can be placed"):
        purchase_order_place(order=fresh, actor=actor)


def test_a_purchaser_receives_without_the_right_to_move_stock(order, bin_a, person, item):
    """docs/roles.md: purchasing managers receive what they ordered in their warehouses but
    may not post other movements; a clerk without the receive grant may not receive."""
    purchaser = person("Purchasing manager", "view_warehouse_stock", "receive_warehouse_purchases")
    clerk = person("Warehouse clerk", "view_warehouse_stock", "post_warehouse_movements")
    widget = _line(order, "WIDGET")

    with pytest.raises(WarehousePermissionDenied, match="receive purchase orders in warehouse WH1"):
        purchase_order_receive(order=order, receipts=[Receipt(widget, Decimal(1), bin_a)], actor=clerk)
    assert level_of(item, bin_a)[0] == 0

    purchase_order_receive(order=order, receipts=[Receipt(widget, Decimal(1), bin_a)], actor=purchaser)
    assert level_of(item, bin_a)[0] == 1


def test_ordering_needs_the_model_permission_and_the_warehouse(supplier, warehouse, item, person):
    clerk = person("Warehouse clerk", "view_warehouse_stock")
    purchaser_elsewhere = person("Purchasing manager")
    for user in (clerk, purchaser_elsewhere):
        with pytest.raises(WarehousePermissionDenied):
            purchase_order_create(
                supplier=supplier, warehouse=warehouse, lines=[OrderLine(item, Decimal(1))], actor=user
            )
    assert not PurchaseOrder.objects.exists()
