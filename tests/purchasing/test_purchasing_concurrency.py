"""Receiving one order from several connections at once, on real PostgreSQL: the order's row
lock queues them, so a line is never received beyond what was ordered and the ledger agrees."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection

from catalog.models import Item, Location, ValuationMethod, Warehouse
from purchasing.models import PurchaseOrder, PurchaseOrderStatus, Supplier
from purchasing.services import (
    OrderLine,
    PurchasingError,
    Receipt,
    purchase_order_create,
    purchase_order_place,
    purchase_order_receive,
)
from stock.models import Movement
from stock.reconciliation import reconcile
from tests.stock.test_concurrency import _ensure_virtual_locations, _errors, _race, _unit

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]


def test_four_clerks_receiving_the_same_line_at_once_receive_it_once():
    _ensure_virtual_locations()
    warehouse = Warehouse.objects.create(code="RACE", name="Race")
    dock = Location.objects.create(warehouse=warehouse, code="DOCK", name="Dock")
    item = Item.objects.create(
        sku="RACE-1", name="Raced", base_unit=_unit(), valuation_method=ValuationMethod.MOVING_AVERAGE
    )
    supplier = Supplier.objects.create(code="S", name="Supplier")
    order = purchase_order_place(
        order=purchase_order_create(
            supplier=supplier, warehouse=warehouse, lines=[OrderLine(item, Decimal(10), Decimal(3))], actor=None
        ),
        actor=None,
    )

    def receive_six() -> object:
        fresh = PurchaseOrder.objects.get(pk=order.pk)
        return purchase_order_receive(order=fresh, receipts=[Receipt(fresh.lines.get(), Decimal(6), dock)], actor=None)

    outcomes = _race([receive_six] * 4)

    errors = _errors(outcomes)
    assert len(errors) == 3 and all(isinstance(e, PurchasingError) for e in errors), errors
    assert all("6 received, 4 outstanding; cannot receive 6" in str(e) for e in errors)
    order.refresh_from_db()
    assert order.status == PurchaseOrderStatus.PARTIALLY_RECEIVED
    assert order.lines.get().received_quantity == 6
    assert Movement.objects.filter(reference_id=order.number).count() == 1
    assert reconcile() == []
