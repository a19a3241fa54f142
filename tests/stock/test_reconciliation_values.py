"""Reconciliation proves the values, not only the sums (issue 14, part 4).

Each test keeps a ledger through the services (the books balance), then damages a valuation
or a layer behind their back and expects the named difference: nothing on hand means no value,
no negative unit cost, and receipts in - cost of goods out +/- value-only entries = value on
hand per item and warehouse and overall, each difference naming the item and the entries.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import connection

from stock.models import CostLayer, ItemValuation, MovementKind
from stock.reconciliation import reconcile
from stock.services import stock_issue, stock_receive
from tests.stock.factories import ItemFactory, LocationFactory, WarehouseFactory

D = Decimal


def execute(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def checks(differences) -> dict:
    return {d.check: d for d in differences}


def test_value_left_on_an_empty_pool_is_reported_with_its_entries(actor, warehouse, bin_a, item) -> None:
    receipt = stock_receive(item=item, location=bin_a, quantity=D(2), unit_cost=D("3.00"), actor=actor)
    [sale] = stock_issue(item=item, location=bin_a, quantity=D(2), actor=actor)  # 6.00 out -> 0, 0.00
    assert reconcile() == []
    valuation = ItemValuation.objects.get(item=item, warehouse=warehouse)
    execute(f"UPDATE {ItemValuation._meta.db_table} SET value = -2 WHERE id = %s", [valuation.pk])

    found = checks(reconcile())
    assert set(found) == {"value_without_stock", "valuation_value", "valuation_value_total"}
    empty = found["value_without_stock"]
    assert (empty.item, empty.location, empty.expected, empty.found) == ("WIDGET", "WH1", D(0), D(-2))
    assert empty.entries == f"#{sale.pk} issue, #{receipt.pk} receipt"
    assert str(empty).endswith(f"expected 0, found -2 (entries: #{sale.pk} issue, #{receipt.pk} receipt)")
    # Ledger: 6.00 in - 6.00 out = 0; the books say -2.00, here and over everything.
    assert (found["valuation_value"].expected, found["valuation_value"].found) == (D(0), D(-2))
    assert (found["valuation_value_total"].expected, found["valuation_value_total"].found) == (D(0), D(-2))


def test_stock_valued_below_zero_and_a_negative_layer_value_are_negative_unit_costs(
    actor, warehouse, bin_a, fifo_item
) -> None:
    stock_receive(item=fifo_item, location=bin_a, quantity=D(4), unit_cost=D("1.00"), actor=actor)  # 4, 4.00
    layer = CostLayer.objects.get(item=fifo_item)
    valuation = ItemValuation.objects.get(item=fifo_item, warehouse=warehouse)
    execute(f"UPDATE {CostLayer._meta.db_table} SET remaining_value = -1 WHERE id = %s", [layer.pk])
    execute(f"UPDATE {ItemValuation._meta.db_table} SET value = -1 WHERE id = %s", [valuation.pk])

    found = [d for d in reconcile() if d.check == "negative_unit_cost"]
    # Both the pool (4 units at -1.00) and its layer (4 units at -1.00) are named.
    assert sorted((d.item, d.location, d.found) for d in found) == [("BOLT", "WH1", D(-1)), ("BOLT", "WH1", D(-1))]


def test_a_shortfall_is_checked_against_a_short_moving_average_pool(actor, virtual_locations) -> None:
    lax = WarehouseFactory(code="LAX", allow_negative_stock=True)
    spot = LocationFactory(warehouse=lax, code="S-1")
    item = ItemFactory(standard_cost=D("5.00"))
    [sale] = stock_issue(item=item, location=spot, quantity=D(3), actor=actor)  # -3 at 5.00 = -15.00
    assert reconcile() == []
    shortfall = CostLayer.objects.get(item=item)
    assert (shortfall.movement_id, shortfall.remaining_quantity, shortfall.remaining_value) == (
        sale.pk,
        D(-3),
        D("-15.00"),
    )
    execute(f"UPDATE {CostLayer._meta.db_table} SET remaining_value = -14 WHERE id = %s", [shortfall.pk])

    [difference] = reconcile()
    assert (difference.check, difference.expected, difference.found) == ("fifo_layers_value", D(-15), D(-14))
    assert difference.entries == f"#{sale.pk} {MovementKind.ISSUE}"
