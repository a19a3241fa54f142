"""Read queries of the ledger: stock now (from the levels), stock then (from the movements),
the stock card, expiring lots and the FEFO pick order."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.models import Tracking
from stock.selectors import (
    lots_expiring,
    stock_as_of,
    stock_available,
    stock_by_location,
    stock_by_lot,
    stock_by_warehouse,
    stock_card,
    stock_levels_available_fefo,
    stock_on_hand,
    stock_quantity_as_of,
    stock_value_as_of,
)
from stock.services import (
    reservation_create,
    stock_issue,
    stock_receive,
    stock_transfer,
)
from tests.stock.factories import ItemFactory, LocationFactory

D = Decimal


def receive(item, location, quantity, unit_cost, actor, **kwargs):
    return stock_receive(
        item=item, location=location, quantity=D(quantity), unit_cost=D(unit_cost), actor=actor, **kwargs
    )


def days(n: int):
    return timezone.localdate() + timedelta(days=n)


# --- Now ---------------------------------------------------------------------------------------


def test_on_hand_by_item_warehouse_and_location(actor, warehouse, other_warehouse, bin_a, bin_b, bin_c, item):
    receive(item, bin_a, "5", "1.00", actor)
    receive(item, bin_b, "3", "1.00", actor)
    receive(item, bin_c, "2", "1.00", actor)
    other_item = ItemFactory()
    receive(other_item, bin_a, "100", "1.00", actor)

    assert stock_on_hand(item=item).on_hand == D(10)  # internal locations only, all warehouses
    assert stock_on_hand(item=item, warehouse=warehouse).on_hand == D(8)
    assert stock_on_hand(item=item, warehouse=other_warehouse).on_hand == D(2)
    assert stock_on_hand(item=item, location=bin_b).on_hand == D(3)
    assert stock_on_hand(item=ItemFactory()).on_hand == D(0)  # never posted
    assert stock_by_warehouse(item=item) == [
        {"warehouse_code": "WH1", "on_hand": D(8), "reserved": D(0)},
        {"warehouse_code": "WH2", "on_hand": D(2), "reserved": D(0)},
    ]
    assert [(lv.location, lv.on_hand) for lv in stock_by_location(item=item)] == [
        (bin_a, D(5)),
        (bin_b, D(3)),
        (bin_c, D(2)),
    ]


def test_a_location_includes_its_sub_locations_unless_told_otherwise(actor, warehouse, item):
    zone = LocationFactory(warehouse=warehouse, code="Z", level="zone")
    aisle = LocationFactory(warehouse=warehouse, code="Z-1", parent=zone, level="aisle")
    shelf = LocationFactory(warehouse=warehouse, code="Z-1-1", parent=aisle)
    elsewhere = LocationFactory(warehouse=warehouse, code="Y")
    receive(item, zone, "1", "1.00", actor)  # stock may lie on the zone itself (a staging area)
    receive(item, aisle, "2", "1.00", actor)
    receive(item, shelf, "4", "1.00", actor)
    receive(item, elsewhere, "8", "1.00", actor)

    assert stock_on_hand(item=item, location=zone).on_hand == D(7)
    assert stock_on_hand(item=item, location=zone, include_sublocations=False).on_hand == D(1)
    assert stock_on_hand(item=item, location=aisle).on_hand == D(6)
    assert stock_on_hand(item=item, location=shelf).on_hand == D(4)
    assert stock_on_hand(item=item, warehouse=warehouse).on_hand == D(15)
    # A move inside the subtree changes nothing for the zone, then or now.
    stock_transfer(item=item, quantity=D(2), source=shelf, destination=zone, actor=actor)
    assert stock_on_hand(item=item, location=zone).on_hand == D(7)
    assert stock_quantity_as_of(item=item, location=zone, at=timezone.now()) == D(7)
    assert stock_quantity_as_of(item=item, location=zone, at=timezone.now(), include_sublocations=False) == D(3)


def test_on_hand_and_available_by_lot(actor, warehouse, bin_a, bin_b, lot_item):
    first = receive(lot_item, bin_a, "5", "1.00", actor, lot="L-1", expiry_date=days(5)).lot
    receive(lot_item, bin_b, "2", "1.00", actor, lot=first)
    second = receive(lot_item, bin_a, "7", "1.00", actor, lot="L-2", expiry_date=days(9)).lot
    reservation_create(item=lot_item, warehouse=warehouse, quantity=D(6), actor=actor)  # FEFO: 5 + 1 of L-1

    assert stock_on_hand(item=lot_item, lot=first).on_hand == D(7)
    assert stock_on_hand(item=lot_item, lot=first).reserved == D(6)
    assert stock_available(item=lot_item, lot=first) == D(1)
    assert stock_available(item=lot_item, lot=second) == D(7)
    assert stock_available(item=lot_item, location=bin_a, lot=first) == D(0)
    assert stock_available(item=lot_item, warehouse=warehouse) == D(8)
    assert stock_by_lot(item=lot_item) == [
        {"lot_id": first.pk, "lot_code": "L-1", "expiry_date": days(5), "on_hand": D(7), "reserved": D(6)},
        {"lot_id": second.pk, "lot_code": "L-2", "expiry_date": days(9), "on_hand": D(7), "reserved": D(0)},
    ]


# --- As of -------------------------------------------------------------------------------------


@pytest.fixture
def history(actor, warehouse, other_warehouse, bin_a, bin_b, bin_c, item):
    """An item's last ten days, posted with back-dated ``occurred_at``:

    ====== ======================================= ========= ========= ====== ===============
    when   what                                    bin_a     bin_b     bin_c  WH1 value
    ====== ======================================= ========= ========= ====== ===============
    -10 d  receive 10 @ 2.00 into bin_a            10                         20.00
    -8 d   receive 10 @ 4.00 into bin_b            10        10               60.00 (avg 3)
    -6 d   issue 5 from bin_a: 5 x 3.00 = 15.00    5         10               45.00
    -4 d   transfer 3 bin_b -> bin_c: 9.00 to WH2  5         7         3      36.00
    -2 d   transfer 2 bin_a -> bin_b (posted last) 3         9         3      36.00
    now    receive 4 @ 3.00 into bin_a             7         9         3      48.00
    ====== ======================================= ========= ========= ====== ===============
    """
    now = timezone.now()
    at = {n: now - timedelta(days=n) for n in (10, 8, 6, 4, 2)}
    receive(item, bin_a, "10", "2.00", actor, occurred_at=at[10])
    receive(item, bin_b, "10", "4.00", actor, occurred_at=at[8])
    stock_issue(item=item, location=bin_a, quantity=D(5), actor=actor, occurred_at=at[6])
    stock_transfer(item=item, quantity=D(3), source=bin_b, destination=bin_c, actor=actor, occurred_at=at[4])
    receive(item, bin_a, "4", "3.00", actor, occurred_at=now)
    # Booked late: it happened two days ago, before the last receipt.
    stock_transfer(item=item, quantity=D(2), source=bin_a, destination=bin_b, actor=actor, occurred_at=at[2])
    return now


def test_quantity_as_of_several_past_moments(history, warehouse, other_warehouse, bin_a, bin_b, bin_c, item):
    def ago(n_days, seconds=0):
        return history - timedelta(days=n_days, seconds=seconds)

    assert stock_quantity_as_of(item=item, location=bin_a, at=ago(10, seconds=1)) == D(0)
    assert stock_quantity_as_of(item=item, location=bin_a, at=ago(10)) == D(10)  # the moment itself counts
    assert stock_quantity_as_of(item=item, warehouse=warehouse, at=ago(7)) == D(20)
    assert stock_quantity_as_of(item=item, location=bin_a, at=ago(5)) == D(5)
    assert stock_quantity_as_of(item=item, warehouse=warehouse, at=ago(3)) == D(12)
    assert stock_quantity_as_of(item=item, warehouse=other_warehouse, at=ago(3)) == D(3)
    assert stock_quantity_as_of(item=item, at=ago(3)) == D(15)  # all internal stock
    assert stock_quantity_as_of(item=item, location=bin_a, at=ago(1)) == D(3)
    assert stock_quantity_as_of(item=item, location=bin_b, at=ago(1)) == D(9)
    assert stock_quantity_as_of(item=item, location=bin_c, at=ago(1)) == D(3)
    assert stock_quantity_as_of(item=item, location=bin_a, at=history) == D(7)
    # The ledger now agrees with the projection.
    assert stock_quantity_as_of(item=item, warehouse=warehouse, at=timezone.now()) == (
        stock_on_hand(item=item, warehouse=warehouse).on_hand
    )


def test_value_as_of_several_past_moments(history, warehouse, other_warehouse, bin_a, bin_c, item):
    def ago(n_days):
        return history - timedelta(days=n_days)

    assert stock_value_as_of(item=item, warehouse=warehouse, at=ago(11)) == (D(0), D(0))
    assert stock_value_as_of(item=item, warehouse=warehouse, at=ago(9)) == (D(10), D(20))
    assert stock_value_as_of(item=item, warehouse=warehouse, at=ago(7)) == (D(20), D(60))
    assert stock_value_as_of(item=item, warehouse=warehouse, at=ago(5)) == (D(15), D(45))
    assert stock_value_as_of(item=item, warehouse=warehouse, at=ago(3)) == (D(12), D(36))
    assert stock_value_as_of(item=item, warehouse=other_warehouse, at=ago(3)) == (D(3), D(9))
    assert stock_value_as_of(item=item, warehouse=warehouse, at=ago(1)) == (D(12), D(36))  # internal move
    assert stock_value_as_of(item=item, warehouse=warehouse, at=history) == (D(16), D(48))


def test_stock_as_of_a_location_values_it_at_its_warehouse_cost_then(history, bin_a, bin_c, item, virtual):
    # bin_a one day ago: 3 of WH1's 12 units worth 36.00 -> 3 x 36.00 / 12 = 9.00
    assert stock_as_of(item=item, location=bin_a, at=history - timedelta(days=1)) == (D(3), D(9))
    # bin_c is all of WH2: its whole value
    assert stock_as_of(item=item, location=bin_c, at=history - timedelta(days=3)) == (D(3), D(9))
    assert stock_as_of(item=item, location=bin_a, at=history - timedelta(days=11)) == (D(0), D(0))
    # The customer location holds what was sold (the other side of the issue), and no value.
    assert stock_as_of(item=item, location=virtual("customer"), at=history) == (D(5), D(0))


def test_stock_as_of_a_lot(actor, bin_a, lot_item):
    ago = timezone.now() - timedelta(days=3)
    first = receive(lot_item, bin_a, "5", "1.00", actor, lot="L-1", expiry_date=days(5), occurred_at=ago).lot
    receive(lot_item, bin_a, "7", "1.00", actor, lot="L-2", expiry_date=days(9))

    assert stock_quantity_as_of(item=lot_item, location=bin_a, lot=first, at=timezone.now()) == D(5)
    assert stock_quantity_as_of(item=lot_item, location=bin_a, at=ago + timedelta(hours=1)) == D(5)
    assert stock_quantity_as_of(item=lot_item, location=bin_a, at=timezone.now()) == D(12)


def test_stock_card_lists_movements_in_the_order_they_happened_with_running_balance_and_value(
    history, warehouse, bin_a, bin_b, bin_c, item
):
    opening_quantity, opening_value, rows = stock_card(item=item, warehouse=warehouse)

    assert (opening_quantity, opening_value) == (D(0), D(0))
    assert [(row.change, row.balance, row.value_change, row.value) for row in rows] == [
        (D(10), D(10), D(20), D(20)),  # receipt
        (D(10), D(20), D(40), D(60)),  # receipt
        (D(-5), D(15), D(-15), D(45)),  # issue at 3.00
        (D(-3), D(12), D(-9), D(36)),  # to WH2
        (D(0), D(12), D(0), D(36)),  # bin_a -> bin_b, booked late but listed when it happened
        (D(4), D(16), D(12), D(48)),  # receipt
    ]
    assert rows[4].movement.source == bin_a
    assert rows[-1].value == D(48)


def test_stock_card_from_a_start_opens_with_the_balance_then(history, warehouse, item):
    opening_quantity, opening_value, rows = stock_card(
        item=item, warehouse=warehouse, start=history - timedelta(days=5), end=history - timedelta(days=1)
    )

    assert (opening_quantity, opening_value) == (D(15), D(45))
    assert [(row.change, row.balance, row.value) for row in rows] == [
        (D(-3), D(12), D(36)),
        (D(0), D(12), D(36)),
    ]


def test_stock_card_over_all_warehouses_ignores_moves_between_them(history, item):
    _, _, rows = stock_card(item=item)

    assert [(row.change, row.balance) for row in rows] == [
        (D(10), D(10)),
        (D(10), D(20)),
        (D(-5), D(15)),
        (D(0), D(15)),  # WH1 -> WH2 stays in stock
        (D(0), D(15)),
        (D(4), D(19)),
    ]
    # 20 + 40 - 15 + 12 = 57.00 = WH1's 48.00 + WH2's 9.00
    assert rows[-1].value == D(57)


# --- Lots and FEFO -----------------------------------------------------------------------------


def test_lots_expiring_lists_lots_with_stock_expiring_within_the_window_expired_ones_included(
    actor, warehouse, bin_a, bin_b, bin_c, lot_item
):
    receive(lot_item, bin_a, "4", "1.00", actor, lot="EXPIRED", expiry_date=days(-2))
    receive(lot_item, bin_a, "3", "1.00", actor, lot="SOON", expiry_date=days(3))
    receive(lot_item, bin_b, "2", "1.00", actor, lot="SOON")
    receive(lot_item, bin_a, "5", "1.00", actor, lot="EDGE", expiry_date=days(7))
    receive(lot_item, bin_a, "6", "1.00", actor, lot="LATER", expiry_date=days(8))
    empty = receive(lot_item, bin_a, "1", "1.00", actor, lot="GONE", expiry_date=days(1)).lot
    stock_issue(item=lot_item, location=bin_a, lot=empty, quantity=D(1), actor=actor)
    receive(lot_item, bin_c, "9", "1.00", actor, lot="ELSEWHERE", expiry_date=days(2))

    expiring = lots_expiring(within_days=7, warehouse=warehouse)

    assert [(row["lot_code"], row["expiry_date"], row["on_hand"]) for row in expiring] == [
        ("EXPIRED", days(-2), D(4)),
        ("SOON", days(3), D(5)),
        ("EDGE", days(7), D(5)),
    ]
    assert expiring[0]["sku"] == "MILK"
    assert [row["lot_code"] for row in lots_expiring(within_days=7)] == ["EXPIRED", "ELSEWHERE", "SOON", "EDGE"]
    assert [row["lot_code"] for row in lots_expiring(within_days=0, warehouse=warehouse)] == ["EXPIRED"]


def test_fefo_order_is_first_expiry_first_then_oldest_then_location_and_leaves_out_expired_and_reserved(
    actor, warehouse, bin_a, bin_b, lot_item
):
    receive(lot_item, bin_b, "2", "1.00", actor, lot="LATE", expiry_date=days(20))
    receive(lot_item, bin_b, "2", "1.00", actor, lot="SOON", expiry_date=days(5))
    receive(lot_item, bin_a, "2", "1.00", actor, lot="SOON")
    receive(lot_item, bin_a, "2", "1.00", actor, lot="EXPIRED", expiry_date=days(-1))
    receive(lot_item, bin_a, "2", "1.00", actor, lot="TODAY", expiry_date=days(0))  # still sellable today
    receive(lot_item, bin_a, "2", "1.00", actor, lot="HELD", expiry_date=days(1))
    reservation_create(item=lot_item, warehouse=warehouse, lot="HELD", quantity=D(2), actor=actor)

    order = stock_levels_available_fefo(item=lot_item, warehouse=warehouse)

    assert [(level.lot.code, level.location.code, level.available) for level in order] == [
        ("TODAY", "A-01", D(2)),
        ("SOON", "A-01", D(2)),
        ("SOON", "A-02", D(2)),
        ("LATE", "A-02", D(2)),
    ]
    # Tomorrow, TODAY has expired.
    tomorrow = stock_levels_available_fefo(item=lot_item, warehouse=warehouse, today=days(1))
    assert [level.lot.code for level in tomorrow] == ["SOON", "SOON", "LATE"]


def test_fefo_puts_lots_without_expiry_last_and_breaks_ties_by_the_older_lot(actor, warehouse, bin_a):
    item = ItemFactory(tracking=Tracking.LOT)  # lot-tracked, not perishable: expiry optional
    receive(item, bin_a, "1", "1.00", actor, lot="NO-DATE")
    receive(item, bin_a, "1", "1.00", actor, lot="SECOND", expiry_date=days(4))
    receive(item, bin_a, "1", "1.00", actor, lot="FIRST", expiry_date=days(4))
    receive(item, bin_a, "1", "1.00", actor, lot="EARLY", expiry_date=days(2))

    order = stock_levels_available_fefo(item=item, warehouse=warehouse)

    # Same expiry and received the same day: the lot created first (SECOND) goes first.
    assert [level.lot.code for level in order] == ["EARLY", "SECOND", "FIRST", "NO-DATE"]
