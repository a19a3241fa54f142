"""Returns to the supplier against a receipt: the ledger movement with the line's reference, at
most what was received and not yet returned, from a bin of the order's warehouse, with a reason;
refusals write nothing; from the admin and the API."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from catalog.permissions import WarehousePermissionDenied
from purchasing.returns import purchase_order_return, returned_quantity
from purchasing.services import (
    OrderLine,
    PurchasingError,
    Receipt,
    purchase_order_create,
    purchase_order_place,
    purchase_order_receive,
)
from stock.models import Movement, MovementKind
from tests.stock.factories import level_of

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def received(supplier, warehouse, bin_a, item, actor):
    """PO of 10 WIDGET, all received into A-01."""
    draft = purchase_order_create(supplier=supplier, warehouse=warehouse, lines=[OrderLine(item, D(10))], actor=actor)
    order = purchase_order_place(order=draft, actor=actor)
    purchase_order_receive(order=order, receipts=[Receipt(order.lines.get(), D(10), bin_a)], actor=actor)
    return order


def test_a_return_posts_a_supplier_return_with_the_lines_reference(received, bin_a, item, actor):
    line = received.lines.get()
    (movement,) = purchase_order_return(
        order=received, line=line, quantity=D(3), location=bin_a, actor=actor, reason_code="damaged"
    )
    assert (movement.kind, movement.source, movement.quantity) == (MovementKind.SUPPLIER_RETURN, bin_a, 3)
    assert (movement.reference_id, movement.reference_line) == (received.number, str(line.pk))
    assert level_of(item, bin_a)[0] == 7  # 10 received - 3 back
    assert returned_quantity(line) == 3
    line.refresh_from_db()
    assert line.received_quantity == 10  # what arrived stays what arrived


def test_refusals_write_nothing(received, bin_a, bin_c, item, actor, person, snapshot):
    line = received.lines.get()
    purchase_order_return(order=received, line=line, quantity=D(3), location=bin_a, actor=actor, reason_code="damaged")
    before = snapshot()
    attempts = [
        ({"quantity": D(8)}, "WIDGET: 10 received, 3 returned already; cannot return 8 (at most 7)."),
        ({"reason_code": " "}, "Say why WIDGET goes back"),
        ({"location": bin_c}, "WH2/B-01 is not a location of warehouse WH1"),
        ({"quantity": D("0.5")}, "WIDGET is counted in whole units"),
    ]
    for change, message in attempts:
        arguments = {"quantity": D(1), "location": bin_a, "reason_code": "damaged", **change}
        with pytest.raises(PurchasingError, match=message.replace("(", r"\(").replace(")", r"\)")):
            purchase_order_return(order=received, line=line, actor=actor, **arguments)
    viewer = person("Purchasing manager", "view_warehouse_stock")  # may not post movements in WH1
    with pytest.raises(WarehousePermissionDenied):
        purchase_order_return(order=received, line=line, quantity=D(1), location=bin_a, actor=viewer, reason_code="x")
    assert snapshot() == before


def test_return_through_the_api_and_the_admin(received, bin_a, item, actor, boss):
    client = APIClient()
    client.force_authenticate(actor)
    url = f"/api/v1/purchase-orders/{received.pk}/return/"
    body = {"sku": "WIDGET", "quantity": "2", "location": "A-01", "reason_code": "damaged"}
    response = client.post(url, body, format="json")
    assert response.status_code == 201 and response.json()[0]["quantity"] == "2.0000"
    too_many = client.post(url, {**body, "quantity": "9"}, format="json")
    assert too_many.status_code == 400 and "at most 8" in too_many.json()["detail"]

    page = reverse("admin:purchasing_purchaseorder_return", args=[received.pk])
    form = {"line": received.lines.get().pk, "quantity": "1", "location": bin_a.pk, "reason_code": "wrong item"}
    done = boss.post(page, form, follow=True).content.decode()
    assert "returned to ACME" in done
    refused = boss.post(page, {**form, "quantity": "8"}, follow=True).content.decode()
    assert "Nothing was returned" in refused and "at most 7" in refused
    assert Movement.objects.filter(kind=MovementKind.SUPPLIER_RETURN).count() == 2
    assert level_of(item, bin_a)[0] == 7  # 10 - 2 (API) - 1 (admin)
