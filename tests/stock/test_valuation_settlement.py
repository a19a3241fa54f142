"""Negative stock settles, and what comes back goes at its own cost (issue 14, parts 1 and 2).

Worked by hand, each number beside its step. A warehouse that allows negative stock lets
issues go below zero at an estimated cost (the current unit cost, else the item's standard
cost: 5.00 here); the next stock that comes in settles the oldest shortfalls at its own cost and
posts the difference as a cost correction (quantity 0, ``total_cost`` = the change of value on
hand) naming the issue. Reversing a receipt, or returning it to the supplier naming it, takes
out its own cost. ``reconcile()`` must find nothing after every scenario, on both methods.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from stock.models import CostLayer, Movement, MovementKind
from stock.reconciliation import reconcile
from stock.services import (
    InvalidMovement,
    movement_reverse,
    receipts_revalue,
    stock_customer_return,
    stock_issue,
    stock_receive,
    stock_supplier_return,
)
from tests.stock.factories import ItemFactory, LocationFactory, WarehouseFactory, valuation_of

D = Decimal
METHODS = pytest.mark.parametrize("fifo", [False, True], ids=["average", "fifo"])


@pytest.fixture
def short_warehouse(virtual_locations):
    return WarehouseFactory(code="NEG", allow_negative_stock=True)


@pytest.fixture
def short_bin(short_warehouse):
    return LocationFactory(warehouse=short_warehouse, code="N-01")


def _item(fifo: bool):
    return ItemFactory(standard_cost=D("5.00"), fifo=fifo)


def receive(item, location, quantity, unit_cost, actor) -> Movement:
    return stock_receive(item=item, location=location, quantity=D(quantity), unit_cost=D(unit_cost), actor=actor)


def issue(item, location, quantity, actor) -> Movement:
    [movement] = stock_issue(item=item, location=location, quantity=D(quantity), actor=actor)
    return movement


def corrections(item) -> list[tuple[int | None, Decimal]]:
    return list(
        Movement.objects.filter(item=item, kind=MovementKind.COST_CORRECTION)
        .order_by("id")
        .values_list("origin_id", "total_cost")
    )


@METHODS
def test_an_issue_below_zero_is_settled_by_the_next_receipt_at_its_cost(
    fifo, actor, short_warehouse, short_bin
) -> None:
    item = _item(fifo)
    # Issue 1 with nothing on hand: estimated at the standard cost 5.00  -> -1 unit, -5.00
    sale = issue(item, short_bin, "1", actor)
    assert sale.total_cost == D("5.00")
    assert valuation_of(item, short_warehouse) == (D(-1), D("-5.00"))
    # Receive 1 @ 3.00: it settles the shortfall; 5.00 estimated - 3.00 actual = +2.00 back to
    # stock (and off cost of goods sold), naming the sale                 -> 0 units, 0.00
    receipt = receive(item, short_bin, "1", "3.00", actor)
    assert receipt.total_cost == D("3.00")
    assert corrections(item) == [(sale.pk, D("2.00"))]
    correction = Movement.objects.get(item=item, kind=MovementKind.COST_CORRECTION)
    assert (correction.quantity, correction.source.kind, correction.destination_id) == (0, "customer", short_bin.pk)
    assert valuation_of(item, short_warehouse) == (D(0), D("0.00"))
    # The sale cost 5.00 - 2.00 = 3.00 in the end; a customer return naming it comes back at 3.00
    # (into stock at 0: nothing short any more)                           -> 1 unit, 3.00
    back = stock_customer_return(item=item, location=short_bin, quantity=D(1), actor=actor, returns=sale)
    assert back.total_cost == D("3.00")
    assert valuation_of(item, short_warehouse) == (D(1), D("3.00"))
    assert reconcile() == []


@METHODS
def test_tryton_scenario_issue_supplier_return_then_two_receipts_leaves_one_at_two(
    fifo, actor, short_warehouse, short_bin
) -> None:
    item = _item(fifo)
    sale = issue(item, short_bin, "1", actor)  # -1 unit at 5.00 (standard)  -> -1, -5.00
    [sent_back] = stock_supplier_return(item=item, location=short_bin, quantity=D(1), actor=actor)
    assert sent_back.total_cost == D("5.00")  # the last unit cost is still 5.00  -> -2, -10.00
    assert valuation_of(item, short_warehouse) == (D(-2), D("-10.00"))
    # Receive 1 @ 3.00 settles the sale: 5.00 - 3.00 = +2.00           -> -1, -10 + 3 + 2 = -5.00
    receive(item, short_bin, "1", "3.00", actor)
    assert valuation_of(item, short_warehouse) == (D(-1), D("-5.00"))
    # Receive 2 @ 2.00 = 4.00: one settles the return, 5.00 - 2.00 = +3.00; one stays at 2.00
    #                                                                   -> 1, -5 + 4 + 3 = 2.00
    receive(item, short_bin, "2", "2.00", actor)
    assert corrections(item) == [(sale.pk, D("2.00")), (sent_back.pk, D("3.00"))]
    assert valuation_of(item, short_warehouse) == (D(1), D("2.00"))
    if fifo:  # the open layer is the last receipt's, 1 of its 2 left, at 2.00
        open_layers = CostLayer.objects.filter(item=item).exclude(remaining_quantity=0)
        assert list(open_layers.values_list("quantity", "remaining_quantity", "remaining_value")) == [
            (D(2), D(1), D("2.00"))
        ]
    # The next issue takes that unit at 2.00, not a stale negative layer  -> 0, 0.00
    assert issue(item, short_bin, "1", actor).total_cost == D("2.00")
    assert valuation_of(item, short_warehouse) == (D(0), D("0.00"))
    assert reconcile() == []


@METHODS
def test_a_receipt_larger_than_the_shortfall_settles_it_and_keeps_the_rest_at_its_cost(
    fifo, actor, short_warehouse, short_bin
) -> None:
    item = _item(fifo)
    receive(item, short_bin, "2", "4.00", actor)  # 2 units, 8.00
    sale = issue(item, short_bin, "5", actor)  # 8.00 for the 2 there + 3 x 4.00 (last cost) = 20.00 -> -3, -12.00
    assert sale.total_cost == D("20.00")
    assert valuation_of(item, short_warehouse) == (D(-3), D("-12.00"))
    # Receive 4 @ 4.50 = 18.00: 3 settle at 13.50 against 12.00 estimated: -1.50 (cost of goods
    # sold up by 1.50); 1 stays at 4.50                 -> 1 unit, -12 + 18 - 1.50 = 4.50
    receive(item, short_bin, "4", "4.50", actor)
    assert corrections(item) == [(sale.pk, D("-1.50"))]
    assert valuation_of(item, short_warehouse) == (D(1), D("4.50"))
    assert reconcile() == []


@METHODS
def test_reversing_an_issue_whose_shortfall_is_open_cancels_it_and_a_settled_one_is_refused(
    fifo, actor, short_warehouse, short_bin
) -> None:
    item = _item(fifo)
    sale = issue(item, short_bin, "2", actor)  # -2, -10.00 (standard 5.00)
    movement_reverse(movement=sale, actor=actor, reason="keyed twice")  # back to 0, 0.00
    assert valuation_of(item, short_warehouse) == (D(0), D("0.00"))
    second = issue(item, short_bin, "1", actor)  # -1, -5.00
    receive(item, short_bin, "1", "3.00", actor)  # settles it: +2.00 -> 0, 0.00
    before = Movement.objects.count()
    with pytest.raises(InvalidMovement, match="post a return naming it"):
        movement_reverse(movement=second, actor=actor, reason="oops")
    assert Movement.objects.count() == before  # nothing written
    assert valuation_of(item, short_warehouse) == (D(0), D("0.00"))
    assert reconcile() == []


def test_reversing_a_moving_average_receipt_takes_out_its_own_cost(actor, warehouse, bin_a) -> None:
    item = _item(False)
    receive(item, bin_a, "100", "10.00", actor)  # 100 units, 1,000.00
    wrong = receive(item, bin_a, "100", "20.00", actor)  # 200 units, 3,000.00 (average 15.00)
    reversal = movement_reverse(movement=wrong, actor=actor, reason="received twice")
    assert reversal.total_cost == D("2000.00")  # its own cost, not 100 x 15.00
    assert valuation_of(item, warehouse) == (D(100), D("1000.00"))  # 10.00 each
    assert corrections(item) == []
    assert reconcile() == []


def test_a_moving_average_receipt_reversed_after_issues_corrects_cost_of_goods_sold(
    actor, short_warehouse, short_bin
) -> None:
    item = _item(False)
    receive(item, short_bin, "100", "10.00", actor)  # 100, 1,000.00
    wrong = receive(item, short_bin, "100", "20.00", actor)  # 200, 3,000.00
    issue(item, short_bin, "150", actor)  # 3,000 x 150/200 = 2,250.00 -> 50, 750.00
    # Reverse the receipt: its own 2,000.00 goes out. 50 were there, 50 go short at its 20.00
    # (a shortfall of -1,000.00). The pool would be -50, 750 - 2,000 = -1,250.00, but a short pool
    # holds exactly its shortfalls (-1,000.00): +250.00 back to stock, off cost of goods sold
    # (the 150 sold at 15.00 were 100 at 10.00 and 50 short at 20.00: 2,000, not 2,250).
    reversal = movement_reverse(movement=wrong, actor=actor, reason="never arrived")
    assert reversal.total_cost == D("2000.00")
    assert corrections(item) == [(wrong.pk, D("250.00"))]
    assert valuation_of(item, short_warehouse) == (D(-50), D("-1000.00"))
    # Receive 50 @ 20.00 = 1,000.00: settles the shortfall exactly, no correction -> 0, 0.00
    receive(item, short_bin, "50", "20.00", actor)
    assert len(corrections(item)) == 1
    assert valuation_of(item, short_warehouse) == (D(0), D("0.00"))
    assert reconcile() == []


def test_a_reversal_that_empties_the_pool_leaves_no_value_behind(actor, warehouse, bin_a) -> None:
    item = _item(False)
    first = receive(item, bin_a, "3", "1.00", actor)  # 3, 3.00
    issue(item, bin_a, "1", actor)  # 3.00 x 1/3 = 1.00 -> 2, 2.00
    receive(item, bin_a, "1", "7.00", actor)  # 3, 9.00 (average 3.00)
    issue(item, bin_a, "2", actor)  # 9.00 x 2/3 = 6.00 -> 1, 3.00
    # Reverse the 7.00 receipt: its own 7.00 out of 3.00 leaves 0 units at -4.00: corrected to
    # 0.00, +4.00 to stock, -4.00 off the cost of goods sold (the 2 sold at 3.00 each were in
    # truth 2 at 1.00: 2.00, not 6.00).
    later = Movement.objects.filter(item=item, kind=MovementKind.RECEIPT).exclude(pk=first.pk).get()
    movement_reverse(movement=later, actor=actor, reason="wrong item")
    assert corrections(item) == [(later.pk, D("4.00"))]
    assert valuation_of(item, warehouse) == (D(0), D("0.00"))
    assert reconcile() == []


@METHODS
def test_a_supplier_return_naming_its_receipt_goes_out_at_that_receipts_cost(fifo, actor, warehouse, bin_a) -> None:
    item = _item(fifo)
    receive(item, bin_a, "10", "2.00", actor)  # 10, 20.00
    dear = receive(item, bin_a, "10", "4.00", actor)  # 20, 60.00 (average 3.00)
    [back] = stock_supplier_return(item=item, location=bin_a, quantity=D(4), actor=actor, returns=dear)
    assert back.total_cost == D("16.00")  # 4 x 4.00, not 4 x 3.00   -> 16, 44.00
    assert valuation_of(item, warehouse) == (D(16), D("44.00"))
    [rest] = stock_supplier_return(item=item, location=bin_a, quantity=D(6), actor=actor, returns=dear)
    assert rest.total_cost == D("24.00")  # the last 6 take what is left: 40.00 - 16.00  -> 10, 20.00
    assert valuation_of(item, warehouse) == (D(10), D("20.00"))
    with pytest.raises(InvalidMovement):  # nothing of that receipt left to return
        stock_supplier_return(item=item, location=bin_a, quantity=D(1), actor=actor, returns=dear)
    with pytest.raises(InvalidMovement, match="returns or value entries naming it"):
        movement_reverse(movement=dear, actor=actor, reason="wrong")
    assert reconcile() == []


def test_a_return_naming_a_movement_of_another_kind_or_item_is_refused(actor, warehouse, bin_a) -> None:
    item, other = _item(False), _item(False)
    receipt = receive(item, bin_a, "2", "1.00", actor)
    other_receipt = receive(other, bin_a, "2", "1.00", actor)
    before = Movement.objects.count()
    with pytest.raises(InvalidMovement, match="names a receipt"):
        stock_supplier_return(item=item, location=bin_a, quantity=D(1), actor=actor, returns=other_receipt)
    with pytest.raises(InvalidMovement, match="names a sale"):
        stock_customer_return(item=item, location=bin_a, quantity=D(1), actor=actor, returns=receipt)
    assert Movement.objects.count() == before


@METHODS
def test_a_price_difference_on_a_short_pool_goes_to_cost_of_goods_sold_and_leaves_the_shortfall_whole(
    fifo, actor, short_warehouse, short_bin
) -> None:
    """What the 10,000-step state machine once found (``fifo_layers_value: expected 0, found
    -0.0013``): a price difference on a receipt of a pool that is short raised the pool to
    value 0 while its shortfall still held its negative estimate. Nothing of the receipt is on
    hand, so the difference belongs to cost of goods sold, all of it; a short pool is valued at
    exactly its shortfalls, before and after."""
    item = _item(fifo)
    receipt = receive(item, short_bin, "2", "13.00", actor)  # 2, 26.00
    # Issue 3: the 2 on hand at 26.00, 1 beyond at the current unit cost 13.00 -> -1, -13.00
    sale = issue(item, short_bin, "3", actor)
    assert sale.total_cost == D("39.00")  # 26.00 + 13.00
    assert valuation_of(item, short_warehouse) == (D(-1), D("-13.00"))
    shortfall = CostLayer.objects.get(item=item, quantity=0)
    assert (shortfall.remaining_quantity, shortfall.remaining_value) == (D(-1), D("-13.00"))
    # The invoice says 12.00 each: -2.00 on the receipt. None of it is on hand (the pool is
    # short), so all -2.00 goes to cost of goods sold; the pool stays -1, -13.00 (it is NOT
    # raised by 13.00 to value 0 with the -13.00 shortfall still open)
    [entry] = receipts_revalue(
        kind=MovementKind.PRICE_DIFFERENCE, shares=[(receipt, D("-2.00"))], reason_code="invoice", actor=actor
    )
    assert (entry.destination.kind, entry.quantity, entry.total_cost) == ("customer", D(0), D("-2.00"))
    assert not Movement.objects.filter(item=item, quantity=0, destination=short_bin).exists()
    assert valuation_of(item, short_warehouse) == (D(-1), D("-13.00"))
    assert reconcile() == []
    # Its reversal undoes it on the same side: +2.00 to cost of goods sold, the pool untouched
    back = movement_reverse(movement=entry, actor=actor, reason="wrong invoice")
    assert (back.destination.kind, back.total_cost) == ("customer", D("2.00"))
    assert valuation_of(item, short_warehouse) == (D(-1), D("-13.00"))
    # Receive 1 @ 12.00: settles the shortfall; 13.00 estimated - 12.00 actual = +1.00 back to
    # stock, naming the sale                                                    -> 0, 0.00
    receive(item, short_bin, "1", "12.00", actor)
    assert corrections(item) == [(sale.pk, D("1.00"))]
    assert valuation_of(item, short_warehouse) == (D(0), D("0.00"))
    shortfall.refresh_from_db()
    assert (shortfall.remaining_quantity, shortfall.remaining_value) == (D(0), D("0.00"))
    assert reconcile() == []


def test_a_price_difference_is_not_reversed_into_a_pool_gone_short_since(actor, short_warehouse, short_bin) -> None:
    """The other way to the same finding: a price difference that lowered the stock, reversed
    after the stock left and the pool went short, would raise the short pool above its
    shortfalls. Refused (post an opposite entry instead); nothing written."""
    item = _item(fifo=False)
    receipt = receive(item, short_bin, "2", "13.00", actor)  # 2, 26.00
    # The invoice says 6.50 each: -13.00, both still on hand, all to stock       -> 2, 13.00
    [entry] = receipts_revalue(
        kind=MovementKind.PRICE_DIFFERENCE, shares=[(receipt, D("-13.00"))], reason_code="invoice", actor=actor
    )
    assert (entry.destination_id, entry.total_cost) == (short_bin.pk, D("-13.00"))
    assert valuation_of(item, short_warehouse) == (D(2), D("13.00"))
    # Issue 3: the 2 on hand at 13.00, 1 beyond at the average 6.50 = 19.50       -> -1, -6.50
    sale = issue(item, short_bin, "3", actor)
    assert sale.total_cost == D("19.50")
    assert valuation_of(item, short_warehouse) == (D(-1), D("-6.50"))
    before = Movement.objects.count()
    # Reversing the -13.00 would put +13.00 onto a pool holding nothing: -1 valued +6.50
    # against a shortfall of -6.50. Refused.
    with pytest.raises(InvalidMovement, match="has left the stock"):
        movement_reverse(movement=entry, actor=actor, reason="wrong invoice")
    assert Movement.objects.count() == before
    assert valuation_of(item, short_warehouse) == (D(-1), D("-6.50"))
    # Receive 1 @ 6.50: settles the shortfall at its estimate, no correction      -> 0, 0.00
    receive(item, short_bin, "1", "6.50", actor)
    assert corrections(item) == []
    assert valuation_of(item, short_warehouse) == (D(0), D("0.00"))
    assert reconcile() == []
