"""Valuation worked by hand: moving average and FIFO, to the last decimal.

Each scenario posts a sequence a warehouse really sees (receipts at different costs, partial
issues, a customer return, a reversal, an inter-warehouse transfer) and checks, after every
step, the cost the movement carried (``total_cost``: COGS for an issue) and the warehouse's
quantity and value (``ItemValuation``). The arithmetic is written beside each step so a reader
can check it with pencil and paper. Money has 4 decimal places; a take of part of a pool is
rounded half-even to 4 places, and a take of all of it takes exactly what is left.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from stock.models import Movement
from stock.reconciliation import reconcile
from stock.services import (
    movement_reverse,
    stock_customer_return,
    stock_issue,
    stock_receive,
    stock_transfer,
    transfer_arrive,
    transfer_ship,
)
from tests.stock.factories import layers_of, valuation_of

D = Decimal


def receive(item, location, quantity, unit_cost, actor, **kwargs) -> Movement:
    return stock_receive(
        item=item, location=location, quantity=D(quantity), unit_cost=D(unit_cost), actor=actor, **kwargs
    )


def issue(item, location, quantity, actor) -> Movement:
    [movement] = stock_issue(item=item, location=location, quantity=D(quantity), actor=actor)
    return movement


# --- Moving average --------------------------------------------------------------------------


def test_moving_average_through_receipts_issues_a_return_a_reversal_and_a_transfer(
    actor, warehouse, other_warehouse, bin_a, bin_b, bin_c, item
):
    # Receipt 10 @ 2.00 = 20.00                       -> WH1 10 units, 20.00
    assert receive(item, bin_a, "10", "2.00", actor).total_cost == D("20.00")
    # Receipt 5 @ 3.20 = 16.00                        -> 15 units, 36.00 (average 2.40)
    assert receive(item, bin_b, "5", "3.20", actor).total_cost == D("16.00")
    assert valuation_of(item, warehouse) == (D(15), D("36.00"))

    # Issue 6: 36.00 x 6/15 = 14.40                   -> 9 units, 21.60 (average still 2.40)
    first_sale = issue(item, bin_a, "6", actor)
    assert (first_sale.total_cost, first_sale.unit_cost) == (D("14.40"), D("2.40"))
    assert valuation_of(item, warehouse) == (D(9), D("21.60"))

    # Receipt 3 @ 4.00 = 12.00                        -> 12 units, 33.60 (average 2.80)
    receive(item, bin_a, "3", "4.00", actor)
    assert valuation_of(item, warehouse) == (D(12), D("33.60"))

    # Customer return 2 at the current average: 2 x 2.80 = 5.60 -> 14 units, 39.20
    returned = stock_customer_return(item=item, location=bin_a, quantity=D(2), actor=actor)
    assert returned.total_cost == D("5.60")
    assert valuation_of(item, warehouse) == (D(14), D("39.20"))

    # Issue 7: 39.20 x 7/14 = 19.60                   -> 7 units, 19.60
    second_sale = issue(item, bin_a, "7", actor)
    assert second_sale.total_cost == D("19.60")
    assert valuation_of(item, warehouse) == (D(7), D("19.60"))

    # Reverse that issue: exactly 19.60 comes back     -> 14 units, 39.20
    reversal = movement_reverse(movement=second_sale, actor=actor, reason="order cancelled")
    assert reversal.total_cost == D("19.60")
    assert valuation_of(item, warehouse) == (D(14), D("39.20"))

    # Transfer 4 to WH2: 39.20 x 4/14 = 11.20 leaves WH1 and enters WH2
    #                                                 -> WH1 10 units, 28.00; WH2 4 units, 11.20
    transfer = stock_transfer(item=item, quantity=D(4), source=bin_b, destination=bin_c, actor=actor)
    assert transfer.total_cost == D("11.20")
    assert valuation_of(item, warehouse) == (D(10), D("28.00"))
    assert valuation_of(item, other_warehouse) == (D(4), D("11.20"))

    # Issue WH1's last 10: all of it, 28.00           -> 0 units, 0.00
    # (bin_a holds 10 - 6 + 3 + 2 - 7 + 7 = 9, bin_b 5 - 4 = 1)
    last_sales = stock_issue(item=item, warehouse=warehouse, quantity=D(10), actor=actor)
    assert sum(m.total_cost for m in last_sales) == D("28.00")
    assert valuation_of(item, warehouse) == (D(0), D(0))

    # COGS of the period: 14.40 + 19.60 - 19.60 + 28.00 = 42.40; the 11.20 went to WH2.
    # Check: 20.00 + 16.00 + 12.00 + 5.60 (in) = 53.60 = 42.40 + 11.20 (out).
    assert reconcile() == []


def test_moving_average_rounds_each_partial_take_and_leaves_no_residue(actor, warehouse, bin_a, item):
    receive(item, bin_a, "1", "2.00", actor)
    receive(item, bin_a, "2", "4.00", actor)  # 3 units worth 10.00: 3.3333... each

    # 10.0000 x 1/3 = 3.33333... -> 3.3333             -> 2 units, 6.6667
    assert issue(item, bin_a, "1", actor).total_cost == D("3.3333")
    assert valuation_of(item, warehouse) == (D(2), D("6.6667"))
    # 6.6667 x 1/2 = 3.33335 -> 3.3334 (half-even)    -> 1 unit, 3.3333
    assert issue(item, bin_a, "1", actor).total_cost == D("3.3334")
    assert valuation_of(item, warehouse) == (D(1), D("3.3333"))
    # The last unit takes all that is left: 3.3333     -> 0 units, 0
    assert issue(item, bin_a, "1", actor).total_cost == D("3.3333")
    assert valuation_of(item, warehouse) == (D(0), D(0))
    # 3.3333 + 3.3334 + 3.3333 = 10.0000: every cent that came in went out.


def test_moving_average_shipment_carries_its_cost_to_the_other_warehouse(
    actor, warehouse, other_warehouse, bin_a, bin_c, item
):
    receive(item, bin_a, "4", "2.50", actor)
    receive(item, bin_a, "6", "3.00", actor)  # 10 units, 28.00 (average 2.80)

    # Ship 5: 28.00 x 5/10 = 14.00 leaves WH1; it is in transit, in no warehouse's value.
    shipment = transfer_ship(item=item, quantity=D(5), source=bin_a, to_warehouse=other_warehouse, actor=actor)
    assert shipment.total_cost == D("14.00")
    assert valuation_of(item, warehouse) == (D(5), D("14.00"))
    assert valuation_of(item, other_warehouse) == (D(0), D(0))

    # 2 arrive at the shipment's unit cost 2.80 = 5.60; the last 3 carry the rest, 8.40.
    assert transfer_arrive(shipment=shipment, destination=bin_c, quantity=D(2), actor=actor).total_cost == D("5.60")
    assert transfer_arrive(shipment=shipment, destination=bin_c, actor=actor).total_cost == D("8.40")
    assert valuation_of(item, other_warehouse) == (D(5), D("14.00"))
    assert reconcile() == []


# --- FIFO ------------------------------------------------------------------------------------


def test_fifo_through_receipts_issues_a_return_a_reversal_and_a_transfer(
    actor, warehouse, other_warehouse, bin_a, bin_c, fifo_item
):
    item = fifo_item
    # Layers (unit cost, remaining quantity, remaining value), oldest first.
    receive(item, bin_a, "10", "1.00", actor)  # L1 10 @ 1.00 = 10.00
    receive(item, bin_a, "10", "1.50", actor)  # L2 10 @ 1.50 = 15.00
    receive(item, bin_a, "5", "2.00", actor)  # L3  5 @ 2.00 = 10.00
    assert valuation_of(item, warehouse) == (D(25), D("35.00"))

    # Issue 12: all of L1 (10 x 1.00 = 10.00) + 2 of L2 (2 x 1.50 = 3.00) = 13.00
    first_sale = issue(item, bin_a, "12", actor)
    assert (first_sale.total_cost, first_sale.unit_cost) == (D("13.00"), D("1.0833"))  # 13/12
    assert layers_of(item, warehouse) == [
        (D("1.00"), D(0), D(0)),
        (D("1.50"), D(8), D("12.00")),
        (D("2.00"), D(5), D("10.00")),
    ]
    assert valuation_of(item, warehouse) == (D(13), D("22.00"))

    # Customer return 3 at the cost they left with, 1.00: a new, newest layer L4 3 @ 1.00
    stock_customer_return(item=item, location=bin_a, quantity=D(3), unit_cost=D("1.00"), actor=actor)
    assert valuation_of(item, warehouse) == (D(16), D("25.00"))

    # Issue 9: the rest of L2 (8 x 1.50 = 12.00) + 1 of L3 (1 x 2.00 = 2.00) = 14.00
    second_sale = issue(item, bin_a, "9", actor)
    assert second_sale.total_cost == D("14.00")
    assert layers_of(item, warehouse) == [
        (D("1.00"), D(0), D(0)),
        (D("1.50"), D(0), D(0)),
        (D("2.00"), D(4), D("8.00")),
        (D("1.00"), D(3), D("3.00")),
    ]
    assert valuation_of(item, warehouse) == (D(7), D("11.00"))

    # Reverse it: the 8 go back into L2 and the 1 into L3, at the cost they left with.
    reversal = movement_reverse(movement=second_sale, actor=actor, reason="order cancelled")
    assert reversal.total_cost == D("14.00")
    assert layers_of(item, warehouse) == [
        (D("1.00"), D(0), D(0)),
        (D("1.50"), D(8), D("12.00")),
        (D("2.00"), D(5), D("10.00")),
        (D("1.00"), D(3), D("3.00")),
    ]
    assert valuation_of(item, warehouse) == (D(16), D("25.00"))

    # Transfer 6 to WH2: 6 of L2 (6 x 1.50 = 9.00); WH2 gets one layer 6 @ 1.50
    transfer = stock_transfer(item=item, quantity=D(6), source=bin_a, destination=bin_c, actor=actor)
    assert transfer.total_cost == D("9.00")
    assert valuation_of(item, warehouse) == (D(10), D("16.00"))  # 2 x 1.50 + 5 x 2.00 + 3 x 1.00
    assert layers_of(item, other_warehouse) == [(D("1.50"), D(6), D("9.00"))]
    assert valuation_of(item, other_warehouse) == (D(6), D("9.00"))

    # Issue WH1's last 10: 2 of L2 (3.00) + L3 (10.00) + L4 (3.00) = 16.00
    assert issue(item, bin_a, "10", actor).total_cost == D("16.00")
    assert [layer[1:] for layer in layers_of(item, warehouse)] == [(D(0), D(0))] * 4
    assert valuation_of(item, warehouse) == (D(0), D(0))

    # WH2 sells 4 of its 6: 4 x 1.50 = 6.00
    assert issue(item, bin_c, "4", actor).total_cost == D("6.00")
    assert layers_of(item, other_warehouse) == [(D("1.50"), D(2), D("3.00"))]

    # COGS: 13.00 + 14.00 - 14.00 + 16.00 + 6.00 = 35.00; in: 35.00 + 3.00 (return) = 38.00;
    # left: WH2's 3.00. 38.00 = 35.00 + 3.00.
    assert reconcile() == []


def test_fifo_layer_with_a_rounded_unit_cost_gives_up_its_exact_value_when_emptied(
    actor, warehouse, other_warehouse, bin_a, bin_c, fifo_item
):
    receive(fifo_item, bin_a, "10", "2.00", actor)
    receive(fifo_item, bin_a, "10", "3.00", actor)
    # 12 to WH2: 10 x 2.00 + 2 x 3.00 = 26.00, one layer at 26/12 = 2.1666... -> 2.1667
    stock_transfer(item=fifo_item, quantity=D(12), source=bin_a, destination=bin_c, actor=actor)
    assert layers_of(fifo_item, other_warehouse) == [(D("2.1667"), D(12), D("26.00"))]

    # 5 x 2.1667 = 10.8335                            -> 7 left, 26.00 - 10.8335 = 15.1665
    assert issue(fifo_item, bin_c, "5", actor).total_cost == D("10.8335")
    assert layers_of(fifo_item, other_warehouse) == [(D("2.1667"), D(7), D("15.1665"))]
    # The last 7 take what is left, 15.1665 (not 7 x 2.1667 = 15.1669)
    assert issue(fifo_item, bin_c, "7", actor).total_cost == D("15.1665")
    assert valuation_of(fifo_item, other_warehouse) == (D(0), D(0))
    assert reconcile() == []


def test_fifo_consumes_by_when_stock_arrived_so_a_back_dated_receipt_goes_first(actor, warehouse, bin_a, fifo_item):
    receive(fifo_item, bin_a, "10", "2.00", actor)
    # Posted later, but it arrived two days ago: its layer is the oldest.
    receive(fifo_item, bin_a, "10", "1.00", actor, occurred_at=timezone.now() - timedelta(days=2))

    # 5 of the back-dated layer: 5 x 1.00 = 5.00
    assert issue(fifo_item, bin_a, "5", actor).total_cost == D("5.00")
    assert layers_of(fifo_item, warehouse) == [(D("1.00"), D(5), D("5.00")), (D("2.00"), D(10), D("20.00"))]


def test_fifo_reversing_an_untouched_receipt_takes_back_its_own_layer(actor, warehouse, bin_a, fifo_item):
    receive(fifo_item, bin_a, "10", "1.00", actor)
    wrong = receive(fifo_item, bin_a, "5", "2.00", actor)

    reversal = movement_reverse(movement=wrong, actor=actor, reason="wrong price")

    # Not the oldest layer (FIFO would take 5 x 1.00): exactly the receipt's own 5 x 2.00.
    assert reversal.total_cost == D("10.00")
    assert layers_of(fifo_item, warehouse) == [(D("1.00"), D(10), D("10.00")), (D("2.00"), D(0), D(0))]
    assert valuation_of(fifo_item, warehouse) == (D(10), D("10.00"))
    assert reconcile() == []
