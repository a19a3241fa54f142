"""Value-only entries (issue 14, part 3), worked by hand: landed costs and price differences
split between the stock still on hand and cost of goods sold, a manager's write-down, and the
reversal of each. Each entry is a movement of quantity 0 whose ``total_cost`` is the signed
change of value at its destination; ``reconcile()`` finds nothing after each scenario.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.test import override_settings
from guardian.shortcuts import assign_perm

from catalog.models import LocationKind
from catalog.permissions import WarehouseAction, WarehousePermissionDenied
from common import roles
from stock.models import CostLayer, Movement, MovementKind
from stock.reconciliation import reconcile
from stock.services import (
    AlreadyReversed,
    InvalidMovement,
    movement_reverse,
    receipts_revalue,
    stock_issue,
    stock_receive,
    stock_write_down,
)
from tests.stock.factories import ItemFactory, UserFactory, valuation_of

D = Decimal
METHODS = pytest.mark.parametrize("fifo", [False, True], ids=["average", "fifo"])


def receive(item, location, quantity, unit_cost, actor) -> Movement:
    return stock_receive(item=item, location=location, quantity=D(quantity), unit_cost=D(unit_cost), actor=actor)


def entries(item) -> list[tuple[str, str, Decimal, Decimal]]:
    return list(
        Movement.objects.filter(item=item, quantity=0)
        .order_by("id")
        .values_list("kind", "destination__kind", "quantity", "total_cost")
    )


@METHODS
def test_a_landed_cost_raises_the_stock_on_hand_and_the_consumed_share_goes_to_cost_of_goods_sold(
    fifo, actor, warehouse, bin_a
) -> None:
    item = ItemFactory(fifo=fifo)
    receipt = receive(item, bin_a, "10", "2.00", actor)  # 10, 20.00
    stock_issue(item=item, location=bin_a, quantity=D(4), actor=actor)  # 4 x 2.00 = 8.00 -> 6, 12.00
    # Freight 5.00 on the receipt: 6 of its 10 still here -> 3.00 to stock, 2.00 to cost of goods sold
    posted = receipts_revalue(
        kind=MovementKind.LANDED_COST,
        shares=[(receipt, D("5.00"))],
        reason_code="freight",
        reference_id="INV-77",
        actor=actor,
    )
    assert [m.origin_id for m in posted] == [receipt.pk, receipt.pk]
    assert entries(item) == [("landed_cost", "internal", D(0), D("3.00")), ("landed_cost", "customer", D(0), D("2.00"))]
    assert valuation_of(item, warehouse) == (D(6), D("15.00"))  # 12.00 + 3.00 (2.50 each)
    if fifo:
        assert CostLayer.objects.get(item=item).remaining_value == D("15.00")
    # The next issue of 2 carries the landed cost: 2 x 2.50 = 5.00                -> 4, 10.00
    [sale] = stock_issue(item=item, location=bin_a, quantity=D(2), actor=actor)
    assert sale.total_cost == D("5.00")
    assert reconcile() == []


@METHODS
def test_a_price_difference_down_and_its_reversal(fifo, actor, warehouse, bin_a) -> None:
    item = ItemFactory(fifo=fifo)
    receipt = receive(item, bin_a, "4", "10.00", actor)  # 4, 40.00
    # The invoice says 9.00 each: -4.00, all 4 still here, all to stock           -> 4, 36.00
    [entry] = receipts_revalue(
        kind=MovementKind.PRICE_DIFFERENCE, shares=[(receipt, D("-4.00"))], reason_code="invoice", actor=actor
    )
    assert (entry.quantity, entry.total_cost) == (D(0), D("-4.00"))
    assert valuation_of(item, warehouse) == (D(4), D("36.00"))
    # Reversed: the same sides, +4.00                                           -> 4, 40.00
    reversal = movement_reverse(movement=entry, actor=actor, reason="wrong invoice")
    assert (reversal.kind, reversal.quantity, reversal.total_cost, reversal.reverses_id) == (
        MovementKind.REVERSAL,
        D(0),
        D("4.00"),
        entry.pk,
    )
    assert valuation_of(item, warehouse) == (D(4), D("40.00"))
    with pytest.raises(AlreadyReversed):  # twice is refused
        movement_reverse(movement=entry, actor=actor, reason="again")
    assert reconcile() == []


def test_a_reversal_of_a_value_entry_retried_with_its_key_counts_once(actor, warehouse, bin_a) -> None:
    item = ItemFactory()
    receipt = receive(item, bin_a, "4", "10.00", actor)  # 4, 40.00
    [entry] = receipts_revalue(  # all 4 still here: -4.00 to stock                 -> 4, 36.00
        kind=MovementKind.PRICE_DIFFERENCE, shares=[(receipt, D("-4.00"))], reason_code="invoice", actor=actor
    )
    first = movement_reverse(movement=entry, actor=actor, reason="wrong invoice", idempotency_key="rev-9")  # 40.00
    assert (first.total_cost, first.idempotency_key) == (D("4.00"), "rev-9")

    # A retry after a timeout gets the first reversal back, not "already reversed".
    again = movement_reverse(movement=entry, actor=actor, reason="wrong invoice", idempotency_key="rev-9")

    assert again == first
    assert Movement.objects.filter(reverses=entry).count() == 1
    assert valuation_of(item, warehouse) == (D(4), D("40.00"))  # still 36.00 + 4.00, once
    assert reconcile() == []


@METHODS
def test_a_write_down_takes_value_off_the_stock_and_cannot_exceed_it(fifo, actor, warehouse, bin_a) -> None:
    item = ItemFactory(fifo=fifo)
    receive(item, bin_a, "2", "3.00", actor)  # 2, 6.00
    receive(item, bin_a, "2", "6.00", actor)  # 4, 18.00
    # Damaged stock: write down 9.00                                            -> 4, 9.00
    entry = stock_write_down(item=item, warehouse=warehouse, amount=D("9.00"), reason_code="damaged", actor=actor)
    assert (entry.kind, entry.quantity, entry.total_cost, entry.source.kind) == (
        MovementKind.WRITE_DOWN,
        D(0),
        D("-9.00"),
        LocationKind.INVENTORY_ADJUSTMENT,
    )
    assert valuation_of(item, warehouse) == (D(4), D("9.00"))
    if fifo:  # in proportion to the layers' value: 9 x 6/18 = 3.00 and 9 - 3 = 6.00
        assert list(CostLayer.objects.filter(item=item).order_by("id").values_list("remaining_value", flat=True)) == [
            D("3.00"),
            D("6.00"),
        ]
    before = Movement.objects.count()
    with pytest.raises(InvalidMovement, match="Only 9.00"):
        stock_write_down(item=item, warehouse=warehouse, amount=D("9.01"), reason_code="damaged", actor=actor)
    assert Movement.objects.count() == before
    assert valuation_of(item, warehouse) == (D(4), D("9.00"))
    assert reconcile() == []


@override_settings(STOCK_ADJUSTMENT_APPROVAL_VALUE="100")
def test_a_write_down_above_the_limit_needs_a_manager_who_approves(actor, warehouse, bin_a) -> None:
    item = ItemFactory()
    receive(item, bin_a, "100", "5.00", actor)  # 100, 500.00
    adjuster = UserFactory(username="adjuster")
    adjuster.groups.add(Group.objects.get(name=roles.INVENTORY_MANAGER))
    assign_perm(f"catalog.{WarehouseAction.ADJUST}", adjuster, warehouse)  # adjusts, does not approve
    before = Movement.objects.count()
    with pytest.raises(WarehousePermissionDenied, match="above the approval limit"):
        stock_write_down(item=item, warehouse=warehouse, amount=D("150"), reason_code="obsolete", actor=adjuster)
    assert Movement.objects.count() == before
    # Within the limit the same person may write down: 100.00                  -> 100, 400.00
    stock_write_down(item=item, warehouse=warehouse, amount=D("100"), reason_code="obsolete", actor=adjuster)
    assign_perm(f"catalog.{WarehouseAction.APPROVE}", adjuster, warehouse)
    adjuster = type(adjuster).objects.get(pk=adjuster.pk)  # without the permissions cached before
    entry = stock_write_down(item=item, warehouse=warehouse, amount=D("150"), reason_code="obsolete", actor=adjuster)
    assert entry.total_cost == D("-150") and "approved by adjuster" in entry.note
    assert valuation_of(item, warehouse) == (D(100), D("250.00"))  # 400 - 150


def test_a_landed_cost_on_stock_that_is_gone_cannot_be_reversed_into_nothing(actor, warehouse, bin_a) -> None:
    item = ItemFactory(fifo=True)
    receipt = receive(item, bin_a, "2", "1.00", actor)  # 2, 2.00
    [entry] = receipts_revalue(
        kind=MovementKind.LANDED_COST, shares=[(receipt, D("1.00"))], reason_code="duty", actor=actor
    )  # all on hand -> 2, 3.00
    stock_issue(item=item, location=bin_a, quantity=D(2), actor=actor)  # takes 3.00 -> 0, 0.00
    with pytest.raises(InvalidMovement, match="has left the stock"):
        movement_reverse(movement=entry, actor=actor, reason="wrong")
    assert valuation_of(item, warehouse) == (D(0), D("0.00"))
    assert reconcile() == []


def test_a_value_entry_is_refused_without_a_reason_or_on_a_non_receipt(actor, warehouse, bin_a) -> None:
    item = ItemFactory()
    receipt = receive(item, bin_a, "1", "1.00", actor)
    [sale] = stock_issue(item=item, location=bin_a, quantity=D(1), actor=actor)
    before = Movement.objects.count()
    with pytest.raises(InvalidMovement, match="reason"):
        receipts_revalue(kind=MovementKind.LANDED_COST, shares=[(receipt, D(1))], reason_code=" ", actor=actor)
    with pytest.raises(InvalidMovement, match="not a receipt"):
        receipts_revalue(kind=MovementKind.LANDED_COST, shares=[(sale, D(1))], reason_code="x", actor=actor)
    with pytest.raises(InvalidMovement, match="zero"):
        receipts_revalue(kind=MovementKind.LANDED_COST, shares=[(receipt, D(0))], reason_code="x", actor=actor)
    assert Movement.objects.count() == before


def test_a_write_down_of_stock_since_sold_cannot_be_reversed_into_an_empty_pool(actor, warehouse, bin_a) -> None:
    item = ItemFactory()
    receive(item, bin_a, "2", "3.00", actor)  # 2, 6.00
    entry = stock_write_down(item=item, warehouse=warehouse, amount=D("2.00"), reason_code="dented", actor=actor)
    stock_issue(item=item, location=bin_a, quantity=D(2), actor=actor)  # takes the 4.00 left -> 0, 0.00
    before = Movement.objects.count()
    with pytest.raises(InvalidMovement, match="has left the stock"):  # 2.00 back onto nothing: refused
        movement_reverse(movement=entry, actor=actor, reason="not dented")
    assert Movement.objects.count() == before
    assert valuation_of(item, warehouse) == (D(0), D("0.00"))
