"""The posting services of the stock ledger, one business action at a time.

Every refusal is checked twice: the error a clerk sees, and the absence of damage (the ledger
snapshot before and after is the same: no movement, lot, layer or reservation added, no level,
valuation or layer changed).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from catalog.models import Location, LocationKind
from stock import services
from stock.models import (
    AppendOnlyError,
    CostLayer,
    Lot,
    Movement,
    MovementKind,
    Reservation,
    ReservationStatus,
    StockLevel,
)
from stock.reconciliation import reconcile
from stock.services import (
    AlreadyReversed,
    InsufficientStock,
    InvalidMovement,
    MovementLine,
    movement_post,
    movement_reverse,
    reservation_consume,
    reservation_create,
    reservation_release,
    reservations,
    stock_adjust,
    stock_customer_return,
    stock_issue,
    stock_receive,
    stock_scrap,
    stock_supplier_return,
    stock_transfer,
    transfer_arrive,
    transfer_ship,
)
from tests.stock.factories import (
    ItemFactory,
    LocationFactory,
    LotFactory,
    UnitFactory,
    WarehouseFactory,
    layers_of,
    level_of,
    valuation_of,
)

D = Decimal


def receive(item, location, quantity, unit_cost="1.00", actor=None, **kwargs):
    return stock_receive(
        item=item, location=location, quantity=D(quantity), unit_cost=D(unit_cost), actor=actor, **kwargs
    )


def days(n: int):
    return timezone.localdate() + timedelta(days=n)


# --- Receive ---------------------------------------------------------------------------------


def test_receive_books_a_movement_from_the_supplier_and_raises_level_and_valuation(
    actor, warehouse, bin_a, item, virtual
):
    movement = receive(item, bin_a, "10", "2.50", actor, reference_type="po", reference_id="PO-1")

    assert movement.kind == MovementKind.RECEIPT
    assert movement.source == virtual(LocationKind.SUPPLIER)
    assert movement.destination == bin_a
    assert (movement.quantity, movement.unit_cost, movement.total_cost) == (D(10), D("2.5"), D(25))
    assert movement.actor == actor
    assert (movement.reference_type, movement.reference_id) == ("po", "PO-1")
    assert level_of(item, bin_a) == (D(10), D(0))
    # Double entry: the supplier location is minus everything ever received.
    assert level_of(item, virtual(LocationKind.SUPPLIER)) == (D(-10), D(0))
    assert valuation_of(item, warehouse) == (D(10), D(25))


def test_receive_without_unit_cost_uses_the_items_standard_cost(actor, warehouse, bin_a):
    item = ItemFactory(standard_cost=D("3.2000"))

    movement = stock_receive(item=item, location=bin_a, quantity=D(5), actor=actor)

    assert movement.total_cost == D(16)
    assert valuation_of(item, warehouse) == (D(5), D(16))


def test_receive_with_lot_code_creates_the_lot_with_the_given_expiry(actor, bin_a, lot_item):
    movement = receive(lot_item, bin_a, "4", "1.00", actor, lot="L-1", expiry_date=days(12))

    lot = Lot.objects.get(item=lot_item, code="L-1")
    assert movement.lot == lot
    assert lot.expiry_date == days(12)
    assert level_of(lot_item, bin_a, lot) == (D(4), D(0))


def test_receive_into_an_existing_lot_adds_to_that_lot(actor, bin_a, lot_item):
    first = receive(lot_item, bin_a, "4", "1.00", actor, lot="L-1", expiry_date=days(12))
    second = receive(lot_item, bin_a, "3", "1.00", actor, lot="L-1")

    assert second.lot == first.lot
    assert Lot.objects.filter(item=lot_item).count() == 1
    assert level_of(lot_item, bin_a, first.lot) == (D(7), D(0))


def test_receive_perishable_lot_without_expiry_derives_it_from_the_shelf_life(actor, bin_a, lot_item):
    movement = receive(lot_item, bin_a, "4", "1.00", actor, lot="L-1")

    # lot_item keeps 30 days.
    assert movement.lot.expiry_date == days(30)
    assert movement.lot.received_on == timezone.localdate()


def test_receive_back_dated_perishable_lot_counts_the_shelf_life_from_the_day_of_receipt(actor, bin_a, lot_item):
    ten_days_ago = timezone.now() - timedelta(days=10)

    movement = receive(lot_item, bin_a, "4", "1.00", actor, lot="L-1", occurred_at=ten_days_ago)

    assert movement.lot.received_on == days(-10)
    assert movement.lot.expiry_date == days(20)


def test_receive_perishable_lot_without_expiry_and_without_shelf_life_is_refused(actor, bin_a, snapshot):
    # Item.clean() forbids this; the service must still refuse rather than store an undated lot.
    item = ItemFactory(lot_tracked=True, shelf_life_days=None)
    before = snapshot()

    with pytest.raises(InvalidMovement, match="needs an expiry date"):
        receive(item, bin_a, "4", "1.00", actor, lot="L-1")

    assert snapshot() == before


def test_receive_of_a_perishable_lot_object_without_expiry_is_refused(actor, bin_a, lot_item, snapshot):
    lot = LotFactory(item=lot_item, code="UNDATED", expiry_date=None)
    before = snapshot()

    with pytest.raises(InvalidMovement, match="needs an expiry date"):
        receive(lot_item, bin_a, "4", "1.00", actor, lot=lot)

    assert snapshot() == before


def test_receive_into_an_existing_lot_with_another_expiry_is_refused(actor, bin_a, lot_item, snapshot):
    receive(lot_item, bin_a, "4", "1.00", actor, lot="L-1", expiry_date=days(12))
    before = snapshot()

    with pytest.raises(InvalidMovement, match="already exists with expiry"):
        receive(lot_item, bin_a, "4", "1.00", actor, lot="L-1", expiry_date=days(13))

    assert snapshot() == before


def test_receive_of_a_discontinued_item_is_refused_and_writes_nothing(actor, bin_a, snapshot):
    item = ItemFactory(discontinued=True)
    lot_item = ItemFactory(discontinued=True, lot_tracked=True)
    before = snapshot()

    with pytest.raises(InvalidMovement, match="discontinued"):
        receive(item, bin_a, "1", "1.00", actor)
    with pytest.raises(InvalidMovement, match="discontinued"):
        receive(lot_item, bin_a, "1", "1.00", actor, lot="NEW-LOT")

    assert snapshot() == before  # not even the new lot


def test_receive_into_an_inactive_location_is_refused(actor, warehouse, snapshot):
    closed = LocationFactory(warehouse=warehouse, code="CLOSED", active=False)
    item = ItemFactory()
    before = snapshot()

    with pytest.raises(InvalidMovement, match="inactive"):
        receive(item, closed, "1", "1.00", actor)

    assert snapshot() == before


# --- Issue -----------------------------------------------------------------------------------


def test_issue_from_an_exact_location_takes_from_there_at_the_average_cost(
    actor, warehouse, bin_a, bin_b, item, virtual
):
    receive(item, bin_a, "10", "2.00", actor)
    receive(item, bin_b, "10", "4.00", actor)  # average 3.00 over the warehouse

    [movement] = stock_issue(item=item, location=bin_b, quantity=D(4), actor=actor)

    assert (movement.source, movement.destination) == (bin_b, virtual(LocationKind.CUSTOMER))
    assert movement.kind == MovementKind.ISSUE
    assert movement.total_cost == D(12)  # 4 x 3.00
    assert level_of(item, bin_a) == (D(10), D(0))
    assert level_of(item, bin_b) == (D(6), D(0))
    assert valuation_of(item, warehouse) == (D(16), D(48))


def test_issue_refuses_more_than_available_and_writes_nothing(actor, bin_a, item, snapshot):
    receive(item, bin_a, "5", "1.00", actor)
    before = snapshot()

    with pytest.raises(InsufficientStock) as refused:
        stock_issue(item=item, location=bin_a, quantity=D(7), actor=actor)

    assert str(refused.value) == "Only 5 of WIDGET available at WH1/A-01; asked 7."
    assert (refused.value.asked, refused.value.available) == (D(7), D(5))
    assert refused.value.code == "insufficient_stock"
    assert snapshot() == before


def test_issue_refusal_of_a_lot_names_the_lot(actor, bin_a, lot_item, snapshot):
    movement = receive(lot_item, bin_a, "5", "1.00", actor, lot="L-1")
    before = snapshot()

    with pytest.raises(InsufficientStock) as refused:
        stock_issue(item=lot_item, location=bin_a, lot=movement.lot, quantity=D(6), actor=actor)

    assert str(refused.value) == "Only 5 of MILK (lot L-1) available at WH1/A-01; asked 6."
    assert refused.value.details["lot"] == "L-1"
    assert snapshot() == before


def test_issue_over_a_warehouse_refuses_more_than_it_holds_and_names_the_warehouse(
    actor, warehouse, bin_a, bin_b, item, snapshot
):
    receive(item, bin_a, "2", "1.00", actor)
    receive(item, bin_b, "3", "1.00", actor)
    before = snapshot()

    with pytest.raises(InsufficientStock) as refused:
        stock_issue(item=item, warehouse=warehouse, quantity=D(6), actor=actor)

    assert str(refused.value) == "Only 5 of WIDGET available in warehouse WH1; asked 6."
    assert snapshot() == before


def test_issue_without_a_warehouse_or_location_is_refused(actor, lot_item):
    with pytest.raises(InvalidMovement, match="warehouse or a location"):
        stock_issue(item=lot_item, quantity=D(1), actor=actor)


def test_issue_fefo_picks_the_earliest_expiry_first_and_skips_expired_lots(actor, warehouse, bin_a, bin_b, lot_item):
    expired = receive(lot_item, bin_a, "4", "1.00", actor, lot="OLD", expiry_date=days(-1)).lot
    late = receive(lot_item, bin_a, "5", "1.00", actor, lot="LATE", expiry_date=days(20)).lot
    soon = receive(lot_item, bin_b, "3", "1.00", actor, lot="SOON", expiry_date=days(5)).lot

    movements = stock_issue(item=lot_item, warehouse=warehouse, quantity=D(2), actor=actor)

    assert [(m.source, m.lot, m.quantity) for m in movements] == [(bin_b, soon, D(2))]
    assert level_of(lot_item, bin_a, expired) == (D(4), D(0))
    assert level_of(lot_item, bin_a, late) == (D(5), D(0))


def test_issue_fefo_spans_several_lots_and_bins_in_pick_order(actor, warehouse, bin_a, bin_b, lot_item):
    expired = receive(lot_item, bin_a, "4", "1.00", actor, lot="OLD", expiry_date=days(-1)).lot
    late = receive(lot_item, bin_a, "5", "1.00", actor, lot="LATE", expiry_date=days(20)).lot
    soon = receive(lot_item, bin_b, "3", "1.00", actor, lot="SOON", expiry_date=days(5)).lot
    receive(lot_item, bin_a, "2", "1.00", actor, lot=soon)

    movements = stock_issue(item=lot_item, warehouse=warehouse, quantity=D(6), actor=actor)

    # SOON first (A-01 before A-02), then LATE; the expired lot is never picked.
    assert [(m.source, m.lot, m.quantity, m.batch_line) for m in movements] == [
        (bin_a, soon, D(2), 1),
        (bin_b, soon, D(3), 2),
        (bin_a, late, D(1), 3),
    ]
    assert len({m.batch for m in movements}) == 1
    assert level_of(lot_item, bin_a, expired) == (D(4), D(0))
    assert level_of(lot_item, bin_a, late) == (D(4), D(0))


def test_issue_fefo_refuses_when_only_expired_stock_would_cover_it(actor, warehouse, bin_a, lot_item, snapshot):
    receive(lot_item, bin_a, "4", "1.00", actor, lot="OLD", expiry_date=days(-1))
    receive(lot_item, bin_a, "1", "1.00", actor, lot="GOOD", expiry_date=days(9))
    before = snapshot()

    with pytest.raises(InsufficientStock) as refused:
        stock_issue(item=lot_item, warehouse=warehouse, quantity=D(2), actor=actor)

    assert (refused.value.asked, refused.value.available) == (D(2), D(1))
    assert snapshot() == before


def test_issue_of_an_expired_lot_given_explicitly_is_refused(actor, bin_a, lot_item, snapshot):
    expired = receive(lot_item, bin_a, "4", "1.00", actor, lot="OLD", expiry_date=days(-1)).lot
    before = snapshot()

    with pytest.raises(InvalidMovement, match="expired on .*cannot be sold"):
        stock_issue(item=lot_item, location=bin_a, lot=expired, quantity=D(1), actor=actor)
    with pytest.raises(InvalidMovement, match="expired"):
        stock_issue(item=lot_item, location=bin_a, lot="OLD", quantity=D(1), actor=actor)

    assert snapshot() == before


def test_issue_of_a_lot_item_at_a_location_without_lot_picks_fefo_there(actor, bin_a, bin_b, lot_item):
    late = receive(lot_item, bin_a, "5", "1.00", actor, lot="LATE", expiry_date=days(20)).lot
    receive(lot_item, bin_b, "5", "1.00", actor, lot="SOON", expiry_date=days(2))

    [movement] = stock_issue(item=lot_item, location=bin_a, quantity=D(3), actor=actor)

    assert (movement.source, movement.lot, movement.quantity) == (bin_a, late, D(3))


def test_issue_from_a_parent_location_picks_from_its_sub_locations(actor, warehouse, item):
    zone = LocationFactory(warehouse=warehouse, code="Z", level="zone")
    shelf_1 = LocationFactory(warehouse=warehouse, code="Z-1", parent=zone)
    shelf_2 = LocationFactory(warehouse=warehouse, code="Z-2", parent=zone)
    receive(item, shelf_1, "2", "1.00", actor)
    receive(item, shelf_2, "2", "1.00", actor)

    movements = stock_issue(item=item, location=zone, quantity=D(3), actor=actor)

    assert [(m.source, m.quantity) for m in movements] == [(shelf_1, D(2)), (shelf_2, D(1))]


# --- Transfer --------------------------------------------------------------------------------


def test_transfer_within_a_warehouse_moves_quantity_and_leaves_the_valuation_alone(
    actor, warehouse, bin_a, bin_b, item
):
    receive(item, bin_a, "10", "2.00", actor)

    movement = stock_transfer(item=item, quantity=D(4), source=bin_a, destination=bin_b, actor=actor)

    assert movement.kind == MovementKind.TRANSFER
    assert movement.total_cost == D(8)  # for information: 4 x 2.00; no value leaves WH1
    assert level_of(item, bin_a) == (D(6), D(0))
    assert level_of(item, bin_b) == (D(4), D(0))
    assert valuation_of(item, warehouse) == (D(10), D(20))


def test_transfer_between_warehouses_moves_the_cost_with_the_stock(
    actor, warehouse, other_warehouse, bin_a, bin_c, fifo_item
):
    receive(fifo_item, bin_a, "10", "2.00", actor)
    receive(fifo_item, bin_a, "10", "3.00", actor)

    movement = stock_transfer(item=fifo_item, quantity=D(12), source=bin_a, destination=bin_c, actor=actor)

    # FIFO out of WH1: 10 x 2.00 + 2 x 3.00 = 26.00; it enters WH2 as one layer at 26/12.
    assert movement.total_cost == D(26)
    assert valuation_of(fifo_item, warehouse) == (D(8), D(24))
    assert valuation_of(fifo_item, other_warehouse) == (D(12), D(26))
    assert layers_of(fifo_item, other_warehouse) == [(D("2.1667"), D(12), D(26))]


def test_transfer_to_or_from_a_virtual_location_is_refused(actor, bin_a, item, virtual, snapshot):
    receive(item, bin_a, "10", "2.00", actor)
    before = snapshot()

    with pytest.raises(InvalidMovement, match="two internal locations"):
        stock_transfer(item=item, quantity=D(1), source=bin_a, destination=virtual(LocationKind.CUSTOMER), actor=actor)
    with pytest.raises(InvalidMovement, match="two internal locations"):
        stock_transfer(item=item, quantity=D(1), source=virtual(LocationKind.TRANSIT), destination=bin_a, actor=actor)

    assert snapshot() == before


def test_transfer_refuses_more_than_available_and_writes_nothing(actor, bin_a, bin_c, item, snapshot):
    receive(item, bin_a, "3", "2.00", actor)
    before = snapshot()

    with pytest.raises(InsufficientStock, match="Only 3 of WIDGET available at WH1/A-01; asked 4"):
        stock_transfer(item=item, quantity=D(4), source=bin_a, destination=bin_c, actor=actor)

    assert snapshot() == before


# --- Ship and arrive -------------------------------------------------------------------------


def test_ship_takes_stock_and_value_out_of_the_warehouse_into_transit(actor, warehouse, other_warehouse, bin_a, item):
    receive(item, bin_a, "10", "2.00", actor)
    transit = Location.objects.virtual(LocationKind.TRANSIT)

    shipment = transfer_ship(item=item, quantity=D(4), source=bin_a, to_warehouse=other_warehouse, actor=actor)

    assert (shipment.source, shipment.destination, shipment.total_cost) == (bin_a, transit, D(8))
    assert shipment.reference_line == "WH2"
    assert level_of(item, transit) == (D(4), D(0))
    assert valuation_of(item, warehouse) == (D(6), D(12))
    assert valuation_of(item, other_warehouse) == (D(0), D(0))


def test_ship_within_one_warehouse_is_refused(actor, warehouse, bin_a, item, snapshot):
    receive(item, bin_a, "10", "2.00", actor)
    before = snapshot()

    with pytest.raises(InvalidMovement, match="transfer directly"):
        transfer_ship(item=item, quantity=D(1), source=bin_a, to_warehouse=warehouse, actor=actor)

    assert snapshot() == before


def test_partial_arrivals_then_the_last_one_carries_the_remaining_value(
    actor, warehouse, other_warehouse, bin_a, bin_c, item
):
    receive(item, bin_a, "1", "1.00", actor)
    receive(item, bin_a, "2", "2.00", actor)  # 3 units worth 5.00: 1.6667 each, rounded
    shipment = transfer_ship(item=item, quantity=D(3), source=bin_a, to_warehouse=other_warehouse, actor=actor)
    assert (shipment.total_cost, shipment.unit_cost) == (D(5), D("1.6667"))

    first = transfer_arrive(shipment=shipment, destination=bin_c, quantity=D(1), actor=actor)
    last = transfer_arrive(shipment=shipment, destination=bin_c, actor=actor)  # the rest: 2

    assert first.total_cost == D("1.6667")  # 1 x the shipment's unit cost
    assert last.quantity == D(2)
    assert last.total_cost == D("3.3333")  # 5.0000 - 1.6667, not 2 x 1.6667 (or 1.66665 rounded)
    assert services.shipment_arrived_quantity(shipment) == D(3)
    assert level_of(item, Location.objects.virtual(LocationKind.TRANSIT)) == (D(0), D(0))
    assert valuation_of(item, other_warehouse) == (D(3), D(5))
    assert valuation_of(item, warehouse) == (D(0), D(0))


def test_arrival_cannot_exceed_what_is_still_in_transit(actor, other_warehouse, bin_a, bin_c, item, snapshot):
    receive(item, bin_a, "10", "2.00", actor)
    shipment = transfer_ship(item=item, quantity=D(5), source=bin_a, to_warehouse=other_warehouse, actor=actor)
    transfer_arrive(shipment=shipment, destination=bin_c, quantity=D(3), actor=actor)
    before = snapshot()

    with pytest.raises(InvalidMovement, match="has 2 still in transit; cannot arrive 3"):
        transfer_arrive(shipment=shipment, destination=bin_c, quantity=D(3), actor=actor)
    transfer_arrive(shipment=shipment, destination=bin_c, actor=actor)
    with pytest.raises(InvalidMovement, match="has 0 still in transit"):
        transfer_arrive(shipment=shipment, destination=bin_c, actor=actor)

    assert level_of(item, bin_c) == (D(5), D(0))
    assert Movement.objects.count() == before["movements"] + 1


def test_arrival_at_a_location_of_another_warehouse_is_refused(
    actor, warehouse, other_warehouse, bin_a, bin_b, item, snapshot
):
    third = LocationFactory(warehouse=WarehouseFactory(code="WH3"), code="C-01")
    receive(item, bin_a, "10", "2.00", actor)
    shipment = transfer_ship(item=item, quantity=D(5), source=bin_a, to_warehouse=other_warehouse, actor=actor)
    before = snapshot()

    for wrong in (third, bin_b, Location.objects.virtual(LocationKind.CUSTOMER)):
        with pytest.raises(InvalidMovement, match="goes to warehouse WH2"):
            transfer_arrive(shipment=shipment, destination=wrong, actor=actor)

    assert snapshot() == before


def test_arrival_of_a_movement_that_is_not_a_shipment_is_refused(actor, bin_a, bin_c, item):
    receipt = receive(item, bin_a, "10", "2.00", actor)

    with pytest.raises(InvalidMovement, match="not an open shipment"):
        transfer_arrive(shipment=receipt, destination=bin_c, actor=actor)


def test_a_reversed_arrival_is_in_transit_again_and_can_arrive_later(
    actor, warehouse, other_warehouse, bin_a, bin_c, item
):
    receive(item, bin_a, "10", "2.00", actor)
    shipment = transfer_ship(item=item, quantity=D(5), source=bin_a, to_warehouse=other_warehouse, actor=actor)
    wrong = transfer_arrive(shipment=shipment, destination=bin_c, quantity=D(2), actor=actor)

    movement_reverse(movement=wrong, actor=actor, reason="counted twice")

    assert services.shipment_arrived_quantity(shipment) == D(0)
    assert level_of(item, Location.objects.virtual(LocationKind.TRANSIT)) == (D(5), D(0))
    arrival = transfer_arrive(shipment=shipment, destination=bin_c, actor=actor)
    assert (arrival.quantity, arrival.total_cost) == (D(5), D(10))
    assert valuation_of(item, other_warehouse) == (D(5), D(10))


def test_a_shipment_with_arrivals_cannot_be_reversed_until_they_are(
    actor, warehouse, other_warehouse, bin_a, bin_c, item
):
    receive(item, bin_a, "10", "2.00", actor)
    shipment = transfer_ship(item=item, quantity=D(5), source=bin_a, to_warehouse=other_warehouse, actor=actor)
    arrival = transfer_arrive(shipment=shipment, destination=bin_c, quantity=D(2), actor=actor)

    with pytest.raises(InvalidMovement, match="has arrivals; reverse those first"):
        movement_reverse(movement=shipment, actor=actor, reason="wrong truck")
    movement_reverse(movement=arrival, actor=actor, reason="wrong truck")
    movement_reverse(movement=shipment, actor=actor, reason="wrong truck")

    assert level_of(item, bin_a) == (D(10), D(0))
    assert valuation_of(item, warehouse) == (D(10), D(20))
    assert valuation_of(item, other_warehouse) == (D(0), D(0))
    with pytest.raises(InvalidMovement, match="not an open shipment"):
        transfer_arrive(shipment=shipment, destination=bin_c, actor=actor)


def test_an_arrival_retried_with_its_key_counts_once(actor, other_warehouse, bin_a, bin_c, item, snapshot):
    receive(item, bin_a, "10", "2.00", actor)
    shipment = transfer_ship(item=item, quantity=D(5), source=bin_a, to_warehouse=other_warehouse, actor=actor)
    first = transfer_arrive(shipment=shipment, destination=bin_c, quantity=D(2), actor=actor, idempotency_key="gate-7")
    before = snapshot()

    # The scanner retries after a timeout, even with another quantity: the first arrival comes back.
    again = transfer_arrive(shipment=shipment, destination=bin_c, quantity=D(3), actor=actor, idempotency_key="gate-7")

    assert again == first
    assert snapshot() == before
    assert services.shipment_arrived_quantity(shipment) == D(2)  # 2 of 5 arrived: 3 still in transit
    assert level_of(item, bin_c) == (D(2), D(0))


def test_a_reversal_or_an_arrival_is_posted_on_its_own_not_in_a_batch(
    actor, other_warehouse, bin_a, bin_b, bin_c, item, snapshot
):
    receipt = receive(item, bin_a, "10", "2.00", actor)
    shipment = transfer_ship(item=item, quantity=D(4), source=bin_a, to_warehouse=other_warehouse, actor=actor)
    move = services.StockRequest(kind=MovementKind.TRANSFER, item=item, quantity=D(1), source=bin_a, destination=bin_b)
    reverse = services.StockRequest(kind=MovementKind.REVERSAL, item=item, quantity=D(10), reverses=receipt)
    arrive = services.StockRequest(
        kind=MovementKind.TRANSFER, item=item, quantity=None, destination=bin_c, shipment=shipment
    )
    before = snapshot()

    for requests in ([move, reverse], [arrive, move], [reverse, arrive]):
        with pytest.raises(InvalidMovement, match="posted on its own, not in a batch"):
            services.stock_post_batch(requests=requests, actor=actor)

    assert snapshot() == before


def test_a_reversal_request_undoes_the_whole_movement_or_nothing(actor, bin_a, item, snapshot):
    receipt = receive(item, bin_a, "10", "2.00", actor)
    before = snapshot()

    part = services.StockRequest(
        kind=MovementKind.REVERSAL, item=item, quantity=D(4), reverses=receipt, reason_code="wrong"
    )
    with pytest.raises(InvalidMovement, match=f"A reversal undoes all of movement #{receipt.pk} \\(10\\)"):
        services.stock_post_batch(requests=[part], actor=actor)

    assert snapshot() == before


# --- Scrap -----------------------------------------------------------------------------------


def test_scrap_moves_stock_to_the_scrap_location_with_its_cost(actor, warehouse, bin_a, item, virtual):
    receive(item, bin_a, "10", "2.00", actor)

    [movement] = stock_scrap(item=item, location=bin_a, quantity=D(3), reason_code="damaged", actor=actor)

    assert (movement.kind, movement.destination, movement.reason_code) == (
        MovementKind.SCRAP,
        virtual(LocationKind.SCRAP),
        "damaged",
    )
    assert movement.total_cost == D(6)
    assert level_of(item, bin_a) == (D(7), D(0))
    assert valuation_of(item, warehouse) == (D(7), D(14))


@pytest.mark.parametrize("reason", ["", "   "])
def test_scrap_requires_a_reason_and_writes_nothing(actor, bin_a, item, snapshot, reason):
    receive(item, bin_a, "10", "2.00", actor)
    before = snapshot()

    with pytest.raises(InvalidMovement, match="needs a reason code"):
        stock_scrap(item=item, location=bin_a, quantity=D(3), reason_code=reason, actor=actor)

    assert snapshot() == before


def test_an_expired_lot_can_be_scrapped(actor, bin_a, lot_item):
    expired = receive(lot_item, bin_a, "4", "1.00", actor, lot="OLD", expiry_date=days(-3)).lot

    stock_scrap(item=lot_item, location=bin_a, lot=expired, quantity=D(4), reason_code="expired", actor=actor)

    assert level_of(lot_item, bin_a, expired) == (D(0), D(0))


# --- Adjust ----------------------------------------------------------------------------------


def test_adjust_gain_comes_from_the_loss_gain_location_at_the_given_cost(actor, warehouse, bin_a, item, virtual):
    receive(item, bin_a, "10", "2.00", actor)

    movement = stock_adjust(
        item=item, location=bin_a, quantity_delta=D(2), unit_cost=D("5.00"), reason_code="found", actor=actor
    )

    assert (movement.source, movement.destination) == (virtual(LocationKind.INVENTORY_ADJUSTMENT), bin_a)
    assert (movement.kind, movement.quantity, movement.total_cost) == (MovementKind.ADJUSTMENT, D(2), D(10))
    assert level_of(item, bin_a) == (D(12), D(0))
    assert valuation_of(item, warehouse) == (D(12), D(30))


def test_adjust_gain_without_a_cost_is_valued_at_the_current_average(actor, warehouse, bin_a, item):
    receive(item, bin_a, "10", "2.00", actor)
    receive(item, bin_a, "10", "3.00", actor)

    movement = stock_adjust(item=item, location=bin_a, quantity_delta=D(4), reason_code="found", actor=actor)

    assert movement.total_cost == D(10)  # 4 x 2.50
    assert valuation_of(item, warehouse) == (D(24), D(60))


def test_adjust_loss_goes_to_the_loss_gain_location_at_the_average_cost(actor, warehouse, bin_a, item, virtual):
    receive(item, bin_a, "10", "2.00", actor)
    receive(item, bin_a, "10", "3.00", actor)

    movement = stock_adjust(item=item, location=bin_a, quantity_delta=D(-4), reason_code="lost", actor=actor)

    assert (movement.source, movement.destination) == (bin_a, virtual(LocationKind.INVENTORY_ADJUSTMENT))
    assert (movement.quantity, movement.total_cost) == (D(4), D(10))
    assert level_of(item, bin_a) == (D(16), D(0))
    assert valuation_of(item, warehouse) == (D(16), D(40))


@pytest.mark.parametrize("reason", ["", "  "])
def test_adjust_requires_a_reason_and_writes_nothing(actor, bin_a, item, snapshot, reason):
    receive(item, bin_a, "10", "2.00", actor)
    before = snapshot()

    with pytest.raises(InvalidMovement, match="needs a reason code"):
        stock_adjust(item=item, location=bin_a, quantity_delta=D(1), reason_code=reason, actor=actor)

    assert snapshot() == before


def test_adjust_of_zero_is_refused(actor, bin_a, item, snapshot):
    before = snapshot()

    with pytest.raises(InvalidMovement, match="zero changes nothing"):
        stock_adjust(item=item, location=bin_a, quantity_delta=D(0), reason_code="count", actor=actor)

    assert snapshot() == before


def test_adjust_loss_beyond_the_stock_is_refused(actor, bin_a, item, snapshot):
    receive(item, bin_a, "3", "2.00", actor)
    before = snapshot()

    with pytest.raises(InsufficientStock):
        stock_adjust(item=item, location=bin_a, quantity_delta=D(-4), reason_code="lost", actor=actor)

    assert snapshot() == before


# --- Returns ---------------------------------------------------------------------------------


def test_customer_return_comes_back_at_the_current_cost_by_default(actor, warehouse, bin_a, item, virtual):
    receive(item, bin_a, "10", "2.00", actor)
    stock_issue(item=item, location=bin_a, quantity=D(10), actor=actor)  # empty; last cost 2.00

    movement = stock_customer_return(item=item, location=bin_a, quantity=D(2), reason_code="unwanted", actor=actor)

    assert (movement.kind, movement.source) == (MovementKind.CUSTOMER_RETURN, virtual(LocationKind.CUSTOMER))
    assert movement.total_cost == D(4)
    assert level_of(item, bin_a) == (D(2), D(0))
    assert valuation_of(item, warehouse) == (D(2), D(4))


def test_customer_return_at_a_given_cost(actor, warehouse, bin_a, item):
    receive(item, bin_a, "10", "2.00", actor)

    movement = stock_customer_return(item=item, location=bin_a, quantity=D(1), unit_cost=D("1.50"), actor=actor)

    assert movement.total_cost == D("1.5")
    assert valuation_of(item, warehouse) == (D(11), D("21.5"))


def test_customer_return_of_a_lot_item_names_the_lot(actor, bin_a, lot_item):
    lot = receive(lot_item, bin_a, "3", "1.00", actor, lot="L-1").lot
    stock_issue(item=lot_item, location=bin_a, lot=lot, quantity=D(3), actor=actor)

    movement = stock_customer_return(item=lot_item, location=bin_a, lot="L-1", quantity=D(1), actor=actor)

    assert movement.lot == lot
    assert level_of(lot_item, bin_a, lot) == (D(1), D(0))


def test_a_back_dated_return_or_receipt_of_a_new_lot_counts_its_expiry_from_that_date(actor, bin_a, lot_item):
    """Every line that may bring a new lot in (receipt, customer return, gain) is built with
    the posting's date as the lot's received date; ``lot_item`` keeps 30 days of shelf life."""
    two_days_ago = timezone.now() - timedelta(days=2)
    day = timezone.localdate(two_days_ago)  # today - 2 days

    returned = stock_customer_return(
        item=lot_item, location=bin_a, lot="L-BACK", quantity=D(1), actor=actor, occurred_at=two_days_ago
    )
    received = stock_receive(
        item=lot_item, location=bin_a, lot="L-RCV", quantity=D(1), actor=actor, occurred_at=two_days_ago
    )

    for lot in (returned.lot, received.lot):
        assert lot.received_on == day
        assert lot.expiry_date == day + timedelta(days=30)  # = today + 28 days


def test_supplier_return_sends_stock_back_costed_like_an_issue(actor, warehouse, bin_a, item, virtual):
    receive(item, bin_a, "10", "2.00", actor)
    receive(item, bin_a, "10", "4.00", actor)

    [movement] = stock_supplier_return(item=item, location=bin_a, quantity=D(5), reason_code="faulty", actor=actor)

    assert (movement.kind, movement.destination) == (MovementKind.SUPPLIER_RETURN, virtual(LocationKind.SUPPLIER))
    assert movement.total_cost == D(15)  # 5 x 3.00 average
    assert valuation_of(item, warehouse) == (D(15), D(45))


def test_supplier_return_refuses_more_than_on_hand(actor, bin_a, item, snapshot):
    receive(item, bin_a, "2", "2.00", actor)
    before = snapshot()

    with pytest.raises(InsufficientStock):
        stock_supplier_return(item=item, location=bin_a, quantity=D(3), actor=actor)

    assert snapshot() == before


# --- Reverse ---------------------------------------------------------------------------------


def test_reverse_posts_the_mirror_image_and_restores_level_and_valuation(actor, warehouse, bin_a, lot_item, virtual):
    receive(lot_item, bin_a, "10", "2.00", actor, lot="L-1")
    [issue] = stock_issue(item=lot_item, location=bin_a, lot="L-1", quantity=D(4), actor=actor)

    reversal = movement_reverse(movement=issue, actor=actor, reason="keyed twice")

    assert reversal.kind == MovementKind.REVERSAL
    assert reversal.reverses == issue
    assert (reversal.source, reversal.destination) == (virtual(LocationKind.CUSTOMER), bin_a)
    assert (reversal.item, reversal.lot, reversal.quantity) == (issue.item, issue.lot, issue.quantity)
    assert reversal.total_cost == issue.total_cost == D(8)
    assert reversal.note == "keyed twice"
    assert level_of(lot_item, bin_a, issue.lot) == (D(10), D(0))
    assert level_of(lot_item, virtual(LocationKind.CUSTOMER), issue.lot) == (D(0), D(0))
    assert valuation_of(lot_item, warehouse) == (D(10), D(20))


def test_reverse_twice_raises_already_reversed_and_writes_nothing(actor, bin_a, item, snapshot):
    receipt = receive(item, bin_a, "10", "2.00", actor)
    movement_reverse(movement=receipt, actor=actor, reason="wrong item")
    before = snapshot()

    with pytest.raises(AlreadyReversed, match="already been reversed"):
        movement_reverse(movement=receipt, actor=actor, reason="wrong item")

    assert snapshot() == before


def test_a_reversal_cannot_be_reversed(actor, bin_a, item, snapshot):
    receipt = receive(item, bin_a, "10", "2.00", actor)
    reversal = movement_reverse(movement=receipt, actor=actor, reason="wrong item")
    before = snapshot()

    with pytest.raises(InvalidMovement, match="itself a reversal"):
        movement_reverse(movement=reversal, actor=actor, reason="undo the undo")

    assert snapshot() == before


def test_reverse_requires_a_reason(actor, bin_a, item, snapshot):
    receipt = receive(item, bin_a, "10", "2.00", actor)
    before = snapshot()

    with pytest.raises(InvalidMovement, match="needs a reason"):
        movement_reverse(movement=receipt, actor=actor, reason=" ")

    assert snapshot() == before


def test_reversing_a_receipt_whose_stock_was_sold_is_refused_and_writes_nothing(actor, bin_a, item, snapshot):
    receipt = receive(item, bin_a, "10", "2.00", actor)
    stock_issue(item=item, location=bin_a, quantity=D(7), actor=actor)
    before = snapshot()

    with pytest.raises(InsufficientStock, match="Only 3 of WIDGET available at WH1/A-01; asked 10"):
        movement_reverse(movement=receipt, actor=actor, reason="wrong item")

    assert snapshot() == before


def test_reversing_a_fifo_receipt_whose_layer_was_partly_sold_is_refused_and_writes_nothing(
    actor, bin_a, fifo_item, snapshot
):
    first = receive(fifo_item, bin_a, "10", "2.00", actor)
    receive(fifo_item, bin_a, "10", "3.00", actor)
    stock_issue(item=fifo_item, location=bin_a, quantity=D(4), actor=actor)  # out of the first layer
    before = snapshot()

    # 16 are on hand, enough for the quantity, but only 6 of the first receipt's layer are left.
    with pytest.raises(InvalidMovement, match="only 6 of its 10 BOLT are still in stock"):
        movement_reverse(movement=first, actor=actor, reason="wrong item")

    assert snapshot() == before


# --- Reservations ----------------------------------------------------------------------------


def test_reservation_create_allocates_by_fefo_and_raises_reserved(actor, warehouse, bin_a, bin_b, lot_item):
    late = receive(lot_item, bin_a, "5", "1.00", actor, lot="LATE", expiry_date=days(20)).lot
    soon = receive(lot_item, bin_b, "3", "1.00", actor, lot="SOON", expiry_date=days(5)).lot

    reservation = reservation_create(
        item=lot_item, warehouse=warehouse, quantity=D(4), actor=actor, reference_type="order", reference_id="SO-1"
    )

    assert reservation.status == ReservationStatus.OPEN
    assert reservation.open_quantity == D(4)
    assert [(line.location, line.lot, line.quantity) for line in reservation.lines.all()] == [
        (bin_b, soon, D(3)),
        (bin_a, late, D(1)),
    ]
    assert level_of(lot_item, bin_b, soon) == (D(3), D(3))
    assert level_of(lot_item, bin_a, late) == (D(5), D(1))
    assert Movement.objects.filter(kind=MovementKind.ISSUE).count() == 0  # nothing moves yet


def test_reservation_refuses_more_than_available_and_writes_nothing(actor, warehouse, bin_a, item, snapshot):
    receive(item, bin_a, "5", "1.00", actor)
    reservation_create(item=item, warehouse=warehouse, quantity=D(3), actor=actor)
    before = snapshot()

    with pytest.raises(InsufficientStock, match="Only 2 of WIDGET available in warehouse WH1; asked 3"):
        reservation_create(item=item, warehouse=warehouse, quantity=D(3), actor=actor)

    assert snapshot() == before


def test_reservation_at_a_location_of_another_warehouse_is_refused(actor, warehouse, bin_c, item):
    with pytest.raises(InvalidMovement, match="is not in warehouse WH1"):
        reservation_create(item=item, warehouse=warehouse, location=bin_c, quantity=D(1), actor=actor)


def test_an_issue_cannot_take_reserved_stock(actor, warehouse, bin_a, item, snapshot):
    receive(item, bin_a, "10", "1.00", actor)
    reservation_create(item=item, warehouse=warehouse, quantity=D(6), actor=actor)
    before = snapshot()

    with pytest.raises(InsufficientStock) as exact:
        stock_issue(item=item, location=bin_a, quantity=D(5), actor=actor)
    with pytest.raises(InsufficientStock) as anywhere:
        stock_issue(item=item, warehouse=warehouse, quantity=D(5), actor=actor)

    assert (exact.value.asked, exact.value.available) == (D(5), D(4))
    assert (anywhere.value.asked, anywhere.value.available) == (D(5), D(4))
    assert snapshot() == before
    stock_issue(item=item, location=bin_a, quantity=D(4), actor=actor)  # the free part may go
    assert level_of(item, bin_a) == (D(6), D(6))


def test_reserved_stock_cannot_be_taken_even_where_negative_stock_is_allowed(actor, item, snapshot):
    lax = WarehouseFactory(code="LAX", allow_negative_stock=True)
    shelf = LocationFactory(warehouse=lax, code="S-1")
    receive(item, shelf, "5", "1.00", actor)
    reservation_create(item=item, warehouse=lax, quantity=D(5), actor=actor)
    before = snapshot()

    with pytest.raises(InsufficientStock):
        stock_issue(item=item, location=shelf, quantity=D(1), actor=actor)

    assert snapshot() == before


def test_reservation_consume_issues_the_stock_and_lowers_reserved_and_on_hand(actor, warehouse, bin_a, item, virtual):
    receive(item, bin_a, "10", "2.00", actor)
    reservation = reservation_create(item=item, warehouse=warehouse, quantity=D(6), actor=actor, reference_id="SO-7")

    [movement] = reservation_consume(reservation=reservation, actor=actor)

    assert (movement.kind, movement.source, movement.destination) == (
        MovementKind.ISSUE,
        bin_a,
        virtual(LocationKind.CUSTOMER),
    )
    assert (movement.quantity, movement.total_cost, movement.reference_id) == (D(6), D(12), "SO-7")
    assert level_of(item, bin_a) == (D(4), D(0))
    reservation.refresh_from_db()
    assert (reservation.status, reservation.consumed, reservation.open_quantity) == (
        ReservationStatus.CONSUMED,
        D(6),
        D(0),
    )


def test_partial_consume_keeps_the_rest_held(actor, warehouse, bin_a, bin_b, item):
    receive(item, bin_a, "2", "1.00", actor)
    receive(item, bin_b, "5", "1.00", actor)
    reservation = reservation_create(item=item, warehouse=warehouse, quantity=D(6), actor=actor)

    movements = reservation_consume(reservation=reservation, quantity=D(3), actor=actor)

    assert [(m.source, m.quantity) for m in movements] == [(bin_a, D(2)), (bin_b, D(1))]
    assert level_of(item, bin_a) == (D(0), D(0))
    assert level_of(item, bin_b) == (D(4), D(3))
    reservation.refresh_from_db()
    assert (reservation.status, reservation.consumed, reservation.open_quantity) == (
        ReservationStatus.OPEN,
        D(3),
        D(3),
    )
    with pytest.raises(InvalidMovement, match="holds 3; cannot take 4"):
        reservation_consume(reservation=reservation, quantity=D(4), actor=actor)


def test_reservation_release_gives_the_stock_back_and_moves_nothing(actor, warehouse, bin_a, item, snapshot):
    receive(item, bin_a, "10", "1.00", actor)
    movements_before = Movement.objects.count()
    reservation = reservation_create(item=item, warehouse=warehouse, quantity=D(6), actor=actor)

    reservation_release(reservation=reservation, quantity=D(2), actor=actor)
    assert level_of(item, bin_a) == (D(10), D(4))
    released = reservation_release(reservation=reservation, actor=actor)

    assert (released.status, released.released, released.open_quantity) == (ReservationStatus.RELEASED, D(6), D(0))
    assert level_of(item, bin_a) == (D(10), D(0))
    assert Movement.objects.count() == movements_before


def test_consume_after_release_is_refused_and_writes_nothing(actor, warehouse, bin_a, item, snapshot):
    receive(item, bin_a, "10", "1.00", actor)
    reservation = reservation_create(item=item, warehouse=warehouse, quantity=D(6), actor=actor)
    reservation_release(reservation=reservation, actor=actor)
    before = snapshot()

    with pytest.raises(InvalidMovement, match="is released"):
        reservation_consume(reservation=reservation, actor=actor)
    with pytest.raises(InvalidMovement, match="is released"):
        reservation_release(reservation=reservation, actor=actor)

    assert snapshot() == before


def test_reservation_create_with_a_used_idempotency_key_returns_the_same_reservation(
    actor, warehouse, bin_a, item, snapshot
):
    receive(item, bin_a, "10", "1.00", actor)
    first = reservation_create(item=item, warehouse=warehouse, quantity=D(6), actor=actor, idempotency_key="res-1")
    before = snapshot()

    again = reservation_create(item=item, warehouse=warehouse, quantity=D(6), actor=actor, idempotency_key="res-1")

    assert again.pk == first.pk
    assert snapshot() == before
    assert level_of(item, bin_a) == (D(10), D(6))


def test_reservation_create_retries_when_a_concurrent_reservation_took_the_planned_stock(
    actor, warehouse, bin_a, bin_b, item, monkeypatch
):
    """The plan is made without locks. If another clerk reserves the planned stock between the
    plan and the lock, the check under lock refuses the stale plan and the service plans again
    (it must not raise the database's CHECK violation at the clerk)."""
    receive(item, bin_a, "5", "1.00", actor)
    receive(item, bin_b, "5", "1.00", actor)
    plan_for_real = services.fefo_plan
    other = []

    def plan_then_race(**kwargs):
        plan = plan_for_real(**kwargs)
        if not other:  # first plan only: another order reserves the same stock meanwhile
            other.append(None)
            other[0] = reservation_create(item=item, warehouse=warehouse, quantity=D(5), actor=actor)
        return plan

    monkeypatch.setattr(reservations, "fefo_plan", plan_then_race)  # looked up there

    mine = reservation_create(item=item, warehouse=warehouse, quantity=D(5), actor=actor)

    assert [(line.location, line.quantity) for line in other[0].lines.all()] == [(bin_a, D(5))]
    assert [(line.location, line.quantity) for line in mine.lines.all()] == [(bin_b, D(5))]
    assert level_of(item, bin_a) == (D(5), D(5))
    assert level_of(item, bin_b) == (D(5), D(5))


def test_a_fefo_plan_that_finds_too_little_stock_is_refused_at_once_not_planned_again(
    actor, warehouse, bin_a, item, monkeypatch, snapshot
):
    """Only a refusal under lock (someone took planned stock meanwhile) is worth a new plan;
    a plan that finds 5 where 6 are asked is final: one plan for the sale, one for the
    reservation, not ``FEFO_RETRIES`` of each."""
    from stock.services import batches

    receive(item, bin_a, "5", "1.00", actor)
    plans = []

    def counting_plan(**kwargs):
        plans.append(kwargs["quantity"])
        return services.fefo_plan(**kwargs)

    monkeypatch.setattr(batches, "fefo_plan", counting_plan)  # looked up there
    monkeypatch.setattr(reservations, "fefo_plan", counting_plan)
    before = snapshot()

    with pytest.raises(InsufficientStock, match="Only 5"):
        stock_issue(item=item, quantity=D(6), warehouse=warehouse, actor=actor)
    with pytest.raises(InsufficientStock, match="Only 5"):
        reservation_create(item=item, warehouse=warehouse, quantity=D(6), actor=actor)

    assert plans == [D(6), D(6)]  # one plan each
    assert snapshot() == before


# --- Batches and idempotency -----------------------------------------------------------------


def test_a_batch_where_line_two_is_short_writes_nothing_of_line_one(actor, bin_a, bin_b, item, virtual, snapshot):
    receive(item, bin_a, "10", "1.00", actor)
    customer = virtual(LocationKind.CUSTOMER)
    before = snapshot()

    with pytest.raises(InsufficientStock, match="at WH1/A-02"):
        movement_post(
            lines=[
                MovementLine(item=item, quantity=D(4), source=bin_a, destination=customer, kind=MovementKind.ISSUE),
                MovementLine(item=item, quantity=D(1), source=bin_b, destination=customer, kind=MovementKind.ISSUE),
            ],
            actor=actor,
        )

    assert snapshot() == before
    assert level_of(item, bin_a) == (D(10), D(0))


def test_a_batch_is_posted_as_numbered_lines_of_one_batch(actor, bin_a, bin_b, item, virtual):
    receive(item, bin_a, "10", "1.00", actor)

    movements = movement_post(
        lines=[
            MovementLine(item=item, quantity=D(4), source=bin_a, destination=bin_b, kind=MovementKind.TRANSFER),
            MovementLine(
                item=item, quantity=D(1), source=bin_b, destination=virtual("customer"), kind=MovementKind.ISSUE
            ),
        ],
        actor=actor,
        idempotency_key="batch-1",
    )

    assert [m.batch_line for m in movements] == [1, 2]
    assert movements[0].batch == movements[1].batch
    assert [m.idempotency_key for m in movements] == ["batch-1", None]  # the key names the batch
    assert movements[0].id < movements[1].id
    assert level_of(item, bin_a) == (D(6), D(0))
    assert level_of(item, bin_b) == (D(3), D(0))


def test_an_empty_batch_is_refused(actor):
    with pytest.raises(InvalidMovement, match="no lines"):
        movement_post(lines=[], actor=actor)


def test_posting_again_with_a_used_idempotency_key_returns_the_same_movements_and_writes_nothing(
    actor, warehouse, bin_a, bin_b, item, snapshot
):
    receipt = receive(item, bin_a, "10", "1.00", actor, idempotency_key="scan-1")
    issued = stock_issue(item=item, warehouse=warehouse, quantity=D(3), actor=actor, idempotency_key="scan-2")
    moved = stock_transfer(
        item=item, quantity=D(1), source=bin_a, destination=bin_b, actor=actor, idempotency_key="scan-3"
    )
    adjusted = stock_adjust(
        item=item, location=bin_a, quantity_delta=D(-1), reason_code="lost", actor=actor, idempotency_key="scan-4"
    )
    reversed_ = movement_reverse(movement=adjusted, actor=actor, reason="found", idempotency_key="scan-5")
    before = snapshot()

    # A scanner retrying after a timeout, even with other arguments, counts once.
    assert receive(item, bin_a, "99", "5.00", actor, idempotency_key="scan-1") == receipt
    assert stock_issue(item=item, location=bin_a, quantity=D(1), actor=actor, idempotency_key="scan-2") == issued
    assert (
        stock_transfer(item=item, quantity=D(1), source=bin_a, destination=bin_b, actor=actor, idempotency_key="scan-3")
        == moved
    )
    assert (
        stock_adjust(
            item=item, location=bin_a, quantity_delta=D(-1), reason_code="lost", actor=actor, idempotency_key="scan-4"
        )
        == adjusted
    )
    assert movement_reverse(movement=adjusted, actor=actor, reason="found", idempotency_key="scan-5") == reversed_
    assert movement_post(
        lines=MovementLine(item=item, quantity=D(1), source=bin_a, destination=bin_b, kind=MovementKind.TRANSFER),
        actor=actor,
        idempotency_key="  scan-3  ",
    ) == [moved]
    assert snapshot() == before


def test_consuming_again_with_a_used_idempotency_key_returns_the_same_movements(
    actor, warehouse, bin_a, item, snapshot
):
    receive(item, bin_a, "10", "1.00", actor)
    reservation = reservation_create(item=item, warehouse=warehouse, quantity=D(6), actor=actor)
    first = reservation_consume(reservation=reservation, quantity=D(2), actor=actor, idempotency_key="pick-1")
    before = snapshot()

    assert reservation_consume(reservation=reservation, quantity=D(2), actor=actor, idempotency_key="pick-1") == first

    assert snapshot() == before


# --- Validation ------------------------------------------------------------------------------


def _line(item, source, destination, kind=MovementKind.TRANSFER, quantity="1", **kwargs):
    return MovementLine(item=item, quantity=D(quantity), source=source, destination=destination, kind=kind, **kwargs)


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("0", "greater than zero"),
        ("-1", "greater than zero"),
        ("0.00001", "more than 4 decimal places"),
        ("1.23456", "more than 4 decimal places"),
        ("NaN", "not a number"),
    ],
)
def test_a_quantity_must_be_positive_with_at_most_four_decimals(actor, bin_a, bin_b, item, snapshot, quantity, message):
    receive(item, bin_a, "10", "1.00", actor)
    before = snapshot()

    with pytest.raises(InvalidMovement, match=message):
        movement_post(lines=_line(item, bin_a, bin_b, quantity=quantity), actor=actor)
    with pytest.raises(InvalidMovement, match=message):
        stock_transfer(item=item, quantity=D(quantity), source=bin_a, destination=bin_b, actor=actor)

    assert snapshot() == before


def test_four_decimals_are_accepted_in_a_unit_of_four_places(actor, bin_a, bin_b, item):
    # Issue 12: a quantity may be as fine as its unit allows, at most 4 places (the column's).
    item.base_unit = UnitFactory(code="ct", name="Carat", decimal_places=4)
    item.save(update_fields=["base_unit"])
    receive(item, bin_a, "1.0001", "1.00", actor)

    stock_transfer(item=item, quantity=D("0.0001"), source=bin_a, destination=bin_b, actor=actor)

    assert level_of(item, bin_a) == (D(1), D(0))
    assert level_of(item, bin_b) == (D("0.0001"), D(0))


def test_source_and_destination_must_differ(actor, bin_a, item, snapshot):
    receive(item, bin_a, "10", "1.00", actor)
    before = snapshot()

    with pytest.raises(InvalidMovement, match="both source and destination"):
        stock_transfer(item=item, quantity=D(1), source=bin_a, destination=bin_a, actor=actor)

    assert snapshot() == before


@pytest.mark.parametrize(
    ("kind", "source", "destination"),
    [
        (MovementKind.RECEIPT, "customer", "internal"),
        (MovementKind.RECEIPT, "supplier", "transit"),
        (MovementKind.ISSUE, "internal", "scrap"),
        (MovementKind.ISSUE, "supplier", "customer"),
        (MovementKind.SCRAP, "internal", "customer"),
        (MovementKind.TRANSFER, "internal", "customer"),
        (MovementKind.ADJUSTMENT, "internal", "scrap"),
        (MovementKind.CUSTOMER_RETURN, "supplier", "internal"),
        (MovementKind.SUPPLIER_RETURN, "internal", "customer"),
        ("gift", "internal", "customer"),
    ],
)
def test_each_movement_kind_goes_only_between_its_kinds_of_location(
    actor, bin_a, item, virtual, snapshot, kind, source, destination
):
    receive(item, bin_a, "10", "1.00", actor)

    def place(kind_of_location):
        return bin_a if kind_of_location == "internal" else virtual(kind_of_location)

    before = snapshot()

    with pytest.raises(InvalidMovement, match="goes from|Unknown movement kind"):
        movement_post(lines=_line(item, place(source), place(destination), kind=kind), actor=actor)

    assert snapshot() == before


def test_a_lot_on_an_untracked_item_is_refused(actor, bin_a, bin_b, item, lot_item, snapshot):
    receive(item, bin_a, "10", "1.00", actor)
    lot = LotFactory(item=lot_item)
    before = snapshot()

    with pytest.raises(InvalidMovement, match="WIDGET is not lot-tracked"):
        movement_post(lines=_line(item, bin_a, bin_b, lot=lot), actor=actor)
    with pytest.raises(InvalidMovement, match="WIDGET is not lot-tracked"):
        receive(item, bin_a, "1", "1.00", actor, lot="L-1")

    assert snapshot() == before


def test_a_tracked_item_without_its_lot_is_refused(actor, bin_a, bin_b, lot_item, snapshot):
    receive(lot_item, bin_a, "10", "1.00", actor, lot="L-1")
    before = snapshot()

    with pytest.raises(InvalidMovement, match="MILK is lot-tracked: give its lot"):
        stock_transfer(item=lot_item, quantity=D(1), source=bin_a, destination=bin_b, actor=actor)
    with pytest.raises(InvalidMovement, match="give its lot"):
        receive(lot_item, bin_a, "1", "1.00", actor)

    assert snapshot() == before


def test_a_lot_of_another_item_is_refused(actor, bin_a, bin_b, lot_item, snapshot):
    cheese = ItemFactory(sku="CHEESE", lot_tracked=True)
    receive(cheese, bin_a, "10", "1.00", actor, lot="C-1")
    milk_lot = LotFactory(item=lot_item, code="M-1")
    before = snapshot()

    with pytest.raises(InvalidMovement, match="Lot M-1 belongs to another item, not CHEESE"):
        movement_post(lines=_line(cheese, bin_a, bin_b, lot=milk_lot), actor=actor)
    with pytest.raises(InvalidMovement, match="CHEESE has no lot 'M-1'"):
        stock_transfer(item=cheese, quantity=D(1), source=bin_a, destination=bin_b, lot="M-1", actor=actor)

    assert snapshot() == before


def test_a_naive_occurred_at_is_refused(actor, bin_a, item, snapshot):
    before = snapshot()

    with pytest.raises(InvalidMovement, match="time zone"):
        receive(item, bin_a, "1", "1.00", actor, occurred_at=datetime(2024, 5, 1, 12, 0))

    assert snapshot() == before


def test_an_occurred_at_in_the_future_is_refused(actor, bin_a, item, snapshot):
    before = snapshot()

    with pytest.raises(InvalidMovement, match="in the future"):
        receive(item, bin_a, "1", "1.00", actor, occurred_at=timezone.now() + timedelta(hours=1))

    assert snapshot() == before
    # A scanner clock a minute ahead is tolerated.
    receive(item, bin_a, "1", "1.00", actor, occurred_at=timezone.now() + timedelta(minutes=1))


def test_a_negative_unit_cost_is_refused(actor, bin_a, item, snapshot):
    before = snapshot()

    with pytest.raises(InvalidMovement, match="cannot be negative"):
        receive(item, bin_a, "1", "-1.00", actor)

    assert snapshot() == before


# --- Negative stock --------------------------------------------------------------------------


def test_negative_stock_is_allowed_where_the_warehouse_allows_it(actor, item):
    lax = WarehouseFactory(code="LAX", allow_negative_stock=True)
    shelf = LocationFactory(warehouse=lax, code="S-1")
    receive(item, shelf, "2", "3.00", actor)

    [movement] = stock_issue(item=item, location=shelf, quantity=D(5), actor=actor)

    # 2 in stock at 3.00 plus 3 beyond them at the last cost 3.00.
    assert movement.total_cost == D(15)
    assert level_of(item, shelf) == (D(-3), D(0))
    assert StockLevel.objects.get(item=item, location=shelf).allow_negative is True
    assert valuation_of(item, lax) == (D(-3), D(-9))


def test_negative_stock_is_refused_where_the_warehouse_does_not_allow_it(actor, bin_a, item, snapshot):
    before = snapshot()

    with pytest.raises(InsufficientStock, match="Only 0 of WIDGET available at WH1/A-01; asked 1"):
        stock_issue(item=item, location=bin_a, quantity=D(1), actor=actor)

    assert snapshot() == before


def test_a_level_left_negative_when_the_warehouse_stops_allowing_it_can_still_be_filled(actor, item, snapshot):
    lax = WarehouseFactory(code="LAX", allow_negative_stock=True)
    shelf = LocationFactory(warehouse=lax, code="S-1")
    stock_issue(item=item, location=shelf, quantity=D(5), actor=actor)  # -5
    lax.allow_negative_stock = False
    lax.save(update_fields=["allow_negative_stock"])
    before = snapshot()

    with pytest.raises(InsufficientStock):  # no deeper
        stock_issue(item=item, location=shelf, quantity=D(1), actor=actor)
    assert snapshot() == before
    receive(item, shelf, "2", "1.00", actor)  # a receipt fills part of the hole

    assert level_of(item, shelf) == (D(-3), D(0))
    assert [(d.check, d.found) for d in reconcile()] == [("negative_stock", D(-3))]  # reported until filled
    receive(item, shelf, "3", "1.00", actor)
    assert level_of(item, shelf) == (D(0), D(0))
    assert StockLevel.objects.get(item=item, location=shelf).allow_negative is False
    assert reconcile() == []


def test_the_database_refuses_a_negative_internal_level_where_not_allowed(actor, bin_a, item):
    receive(item, bin_a, "2", "1.00", actor)
    level = StockLevel.objects.get(item=item, location=bin_a)

    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {StockLevel._meta.db_table} SET on_hand = -1 WHERE id = %s", [level.pk])

    assert level_of(item, bin_a) == (D(2), D(0))


def test_the_database_refuses_reserved_above_on_hand(actor, bin_a, item):
    receive(item, bin_a, "2", "1.00", actor)
    level = StockLevel.objects.get(item=item, location=bin_a)

    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {StockLevel._meta.db_table} SET reserved = 3 WHERE id = %s", [level.pk])

    assert level_of(item, bin_a) == (D(2), D(0))


# --- Append-only -----------------------------------------------------------------------------


def test_a_movement_cannot_be_saved_again(actor, bin_a, item):
    movement = receive(item, bin_a, "2", "1.00", actor)
    movement.quantity = D(200)

    with pytest.raises(AppendOnlyError):
        movement.save()
    with pytest.raises(AppendOnlyError):
        movement.save(update_fields=["quantity"])

    assert Movement.objects.get(pk=movement.pk).quantity == D(2)


def test_a_movement_cannot_be_deleted(actor, bin_a, item):
    movement = receive(item, bin_a, "2", "1.00", actor)

    with pytest.raises(AppendOnlyError):
        movement.delete()

    assert Movement.objects.filter(pk=movement.pk).exists()


def test_movements_cannot_be_updated_or_deleted_in_bulk(actor, bin_a, item):
    receive(item, bin_a, "2", "1.00", actor)

    with pytest.raises(AppendOnlyError):
        Movement.objects.filter(item=item).update(quantity=D(5))
    with pytest.raises(AppendOnlyError):
        Movement.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        Movement.objects.filter(item=item).delete()

    assert list(Movement.objects.values_list("quantity", flat=True)) == [D(2)]


def test_the_ledger_snapshot_sees_every_posting(snapshot, actor, bin_a, item):
    """The snapshot used above does see a change (guard against a vacuous comparison)."""
    before = snapshot()

    receive(item, bin_a, "2", "1.00", actor)

    after = snapshot()
    assert after != before
    assert after["movements"] == before["movements"] + 1
    assert CostLayer.objects.count() == 0  # a moving-average item has no layers
    assert Reservation.objects.count() == 0
