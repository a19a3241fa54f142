"""Reconciliation: the projection and the valuation checked against the ledger.

A clean ledger has no differences. Then each test damages one table behind the services' back
(raw SQL, as a bad migration, a manual fix or a bug would) and expects the exact difference:
which check, item, place, what the ledger says (expected) and what the table says (found).
Nothing is ever repaired: after reconciling, the damaged row is still damaged.
"""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from stock.models import CostLayer, ItemValuation, StockLevel
from stock.reconciliation import Difference, reconcile
from stock.services import (
    movement_reverse,
    reservation_consume,
    reservation_create,
    stock_adjust,
    stock_customer_return,
    stock_issue,
    stock_receive,
    stock_scrap,
    stock_transfer,
    transfer_arrive,
    transfer_ship,
)
from tests.stock.factories import LocationFactory, UserFactory, WarehouseFactory, level_of

D = Decimal


def receive(item, location, quantity, unit_cost, actor, **kwargs):
    return stock_receive(
        item=item, location=location, quantity=D(quantity), unit_cost=D(unit_cost), actor=actor, **kwargs
    )


def execute(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def by_check(differences: list[Difference]) -> dict[str, list[Difference]]:
    found: dict[str, list[Difference]] = {}
    for difference in differences:
        found.setdefault(difference.check, []).append(difference)
    return found


def test_a_ledger_kept_by_the_services_has_no_differences(
    actor, warehouse, other_warehouse, bin_a, bin_b, bin_c, item, fifo_item, lot_item
):
    for product in (item, fifo_item):
        receive(product, bin_a, "10", "2.00", actor)
        receive(product, bin_b, "5", "3.10", actor)
        stock_issue(item=product, warehouse=warehouse, quantity=D(7), actor=actor)
        stock_transfer(item=product, quantity=D(2), source=bin_b, destination=bin_c, actor=actor)
        stock_transfer(item=product, quantity=D(1), source=bin_b, destination=bin_a, actor=actor)
        shipment = transfer_ship(item=product, quantity=D(3), source=bin_a, to_warehouse=other_warehouse, actor=actor)
        transfer_arrive(shipment=shipment, destination=bin_c, quantity=D(1), actor=actor)
        stock_customer_return(item=product, location=bin_a, quantity=D(1), actor=actor)
        stock_adjust(item=product, location=bin_a, quantity_delta=D(-1), reason_code="count", actor=actor)
        scrapped = stock_scrap(item=product, location=bin_c, quantity=D(1), reason_code="broken", actor=actor)
        movement_reverse(movement=scrapped[0], actor=actor, reason="not broken after all")
        reservation = reservation_create(item=product, warehouse=warehouse, quantity=D(2), actor=actor)
        reservation_consume(reservation=reservation, quantity=D(1), actor=actor)
    receive(lot_item, bin_a, "6", "1.25", actor, lot="L-1")
    stock_issue(item=lot_item, warehouse=warehouse, quantity=D(2), actor=actor)
    lax = WarehouseFactory(code="LAX", allow_negative_stock=True)
    stock_issue(item=item, location=LocationFactory(warehouse=lax, code="S-1"), quantity=D(3), actor=actor)

    assert reconcile() == []


def test_a_changed_on_hand_is_reported_against_the_ledger(actor, warehouse, bin_a, item):
    receive(item, bin_a, "10", "2.00", actor)
    level = StockLevel.objects.get(item=item, location=bin_a)

    execute(f"UPDATE {StockLevel._meta.db_table} SET on_hand = 7 WHERE id = %s", [level.pk])
    differences = by_check(reconcile())

    assert differences["level_vs_ledger"] == [
        Difference(check="level_vs_ledger", item="WIDGET", location="WH1/A-01", lot="", expected=D(10), found=D(7))
    ]
    # The same damage seen from the other checks: the item no longer sums to zero, and the
    # warehouse's valuation no longer matches its levels.
    assert differences["item_sum_zero"] == [
        Difference(check="item_sum_zero", item="WIDGET", location="", lot="", expected=D(0), found=D(-3))
    ]
    assert differences["valuation_quantity"] == [
        Difference(check="valuation_quantity", item="WIDGET", location="WH1", lot="", expected=D(7), found=D(10))
    ]
    assert set(differences) == {"level_vs_ledger", "item_sum_zero", "valuation_quantity"}
    assert level_of(item, bin_a) == (D(7), D(0))  # reported, not repaired


def test_a_changed_lot_level_names_the_lot(actor, bin_a, lot_item):
    lot = receive(lot_item, bin_a, "6", "1.25", actor, lot="L-1").lot
    level = StockLevel.objects.get(item=lot_item, location=bin_a, lot=lot)

    execute(f"UPDATE {StockLevel._meta.db_table} SET on_hand = 6.5 WHERE id = %s", [level.pk])

    [difference] = by_check(reconcile())["level_vs_ledger"]
    assert (difference.item, difference.location, difference.lot) == ("MILK", "WH1/A-01", "L-1")
    assert (difference.expected, difference.found) == (D(6), D("6.5"))


def test_a_missing_level_is_reported_as_found_zero(actor, bin_a, item):
    receive(item, bin_a, "10", "2.00", actor)

    execute(f"DELETE FROM {StockLevel._meta.db_table} WHERE location_id = %s", [bin_a.pk])

    [difference] = by_check(reconcile())["level_vs_ledger"]
    assert (difference.location, difference.expected, difference.found) == ("WH1/A-01", D(10), D(0))


def test_a_changed_valuation_value_is_reported_against_the_costs_in_the_ledger(actor, warehouse, bin_a, item):
    receipt = receive(item, bin_a, "10", "2.00", actor)
    [sale] = stock_issue(item=item, location=bin_a, quantity=D(3), actor=actor)  # 20.00 - 6.00 = 14.00
    valuation = ItemValuation.objects.get(item=item, warehouse=warehouse)

    execute(f"UPDATE {ItemValuation._meta.db_table} SET value = 15.5 WHERE id = %s", [valuation.pk])

    # Per item and warehouse, naming the entries involved (newest first), and overall.
    entries = f"#{sale.pk} issue, #{receipt.pk} receipt"
    assert reconcile() == [
        Difference("valuation_value", "WIDGET", "WH1", "", expected=D(14), found=D("15.5"), entries=entries),
        Difference("valuation_value_total", "(all items)", "", "", expected=D(14), found=D("15.5"), entries=""),
    ]


def test_a_changed_fifo_layer_quantity_is_reported_against_the_valuation(actor, warehouse, bin_a, fifo_item):
    receive(fifo_item, bin_a, "10", "2.00", actor)
    receive(fifo_item, bin_a, "5", "3.00", actor)
    layer = CostLayer.objects.filter(item=fifo_item).order_by("id").first()

    execute(f"UPDATE {CostLayer._meta.db_table} SET remaining_quantity = 4 WHERE id = %s", [layer.pk])

    # Layers: 4 + 5 = 9 where the valuation holds 15.
    assert reconcile() == [
        Difference(check="fifo_layers_quantity", item="BOLT", location="WH1", lot="", expected=D(15), found=D(9))
    ]


def test_a_changed_fifo_layer_value_is_reported_against_the_valuation(actor, warehouse, bin_a, fifo_item):
    receive(fifo_item, bin_a, "10", "2.00", actor)
    layer = CostLayer.objects.get(item=fifo_item)

    execute(f"UPDATE {CostLayer._meta.db_table} SET remaining_value = 19.9999 WHERE id = %s", [layer.pk])

    [difference] = reconcile()
    assert (difference.check, difference.item, difference.location) == ("fifo_layers_value", "BOLT", "WH1")
    assert (difference.expected, difference.found) == (D(20), D("19.9999"))
    assert difference.entries == f"#{layer.movement_id} receipt"


def test_a_changed_reserved_is_reported_against_the_open_reservations(actor, warehouse, bin_a, item):
    receive(item, bin_a, "10", "2.00", actor)
    reservation_create(item=item, warehouse=warehouse, quantity=D(3), actor=actor)
    level = StockLevel.objects.get(item=item, location=bin_a)

    execute(f"UPDATE {StockLevel._meta.db_table} SET reserved = 5 WHERE id = %s", [level.pk])

    assert reconcile() == [
        Difference(
            check="reserved_vs_reservations", item="WIDGET", location="WH1/A-01", lot="", expected=D(3), found=D(5)
        )
    ]


def test_a_negative_level_where_the_warehouse_does_not_allow_it_is_reported(actor, warehouse, bin_a, item):
    receive(item, bin_a, "2", "2.00", actor)
    level = StockLevel.objects.get(item=item, location=bin_a)

    # The CHECK constraint only lets a row be negative if it says negative is allowed; a row that
    # claims so in a warehouse that does not allow it is still caught.
    execute(f"UPDATE {StockLevel._meta.db_table} SET allow_negative = %s, on_hand = -1 WHERE id = %s", [True, level.pk])

    differences = by_check(reconcile())
    assert differences["negative_stock"] == [
        Difference(check="negative_stock", item="WIDGET", location="WH1/A-01", lot="", expected=D(0), found=D(-1))
    ]


def test_the_reconcile_command_says_the_books_balance_when_they_do(actor, bin_a, item):
    receive(item, bin_a, "10", "2.00", actor)
    out = StringIO()

    call_command("reconcile", stdout=out)

    assert "The books balance" in out.getvalue()


def test_the_reconcile_command_lists_every_difference_and_fails(actor, bin_a, item):
    receive(item, bin_a, "10", "2.00", actor)
    level = StockLevel.objects.get(item=item, location=bin_a)
    execute(f"UPDATE {StockLevel._meta.db_table} SET on_hand = 7 WHERE id = %s", [level.pk])
    out = StringIO()

    with pytest.raises(CommandError, match=r"^3 difference\(s\) between the ledger and the books\.$"):
        call_command("reconcile", stdout=out)

    printed = out.getvalue().splitlines()
    assert "level_vs_ledger: WIDGET WH1/A-01: expected 10, found 7" in printed
    assert "item_sum_zero: WIDGET: expected 0, found -3" in printed
    assert "valuation_quantity: WIDGET WH1: expected 7, found 10" in printed
    assert "The books balance" not in out.getvalue()


def test_a_movement_whose_user_was_deleted_is_reported(actor, bin_a, item):
    """Movements have no database foreign key to the user (docs/ledger.md): a user deleted
    behind Django's back (Django itself refuses: PROTECT) shows up in reconciliation."""
    gone = UserFactory(username="gone", is_superuser=True)
    receive(item, bin_a, "3", "2", gone)
    receive(item, bin_a, "1", "2", actor)
    execute("DELETE FROM auth_user WHERE id = %s", [gone.pk])
    assert by_check(reconcile())["movement_actor_missing"] == [
        Difference("movement_actor_missing", "WIDGET", "", "", D(0), D(1))
    ]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite checks foreign keys only at commit")
def test_locations_and_items_with_movements_cannot_be_deleted_even_in_raw_sql(actor, bin_a, item):
    """The movement's levels hold the item and location keys: deleting either fails in the
    database, not only in Django."""
    receive(item, bin_a, "3", "2", actor)
    execute("SET CONSTRAINTS ALL IMMEDIATE", [])
    for table, pk in (("catalog_location", bin_a.pk), ("catalog_item", item.pk)):
        with pytest.raises(IntegrityError), transaction.atomic():
            execute(f"DELETE FROM {table} WHERE id = %s", [pk])
