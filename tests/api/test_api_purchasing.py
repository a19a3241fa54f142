"""Purchasing through the API: a purchaser drafts, places and receives an order; a clerk reads
and receives it but drafts nothing; refusals are 4xx with nothing written; receipts are
idempotent; the reorder suggestions; another warehouse's order is a 404."""

from __future__ import annotations

from decimal import Decimal

import pytest

from common import roles
from purchasing.models import PurchaseOrder, PurchaseOrderStatus, ReorderPolicy, Supplier, SupplierItem
from stock.models import Movement
from tests.stock.factories import ledger_snapshot, level_of


@pytest.fixture
def supplier(world) -> Supplier:
    nordic = Supplier.objects.create(code="NORDIC", name="Nordic Homeware", lead_time_days=4)
    SupplierItem.objects.create(supplier=nordic, item=world["widget"], unit_cost=Decimal("1.75"), preferred=True)
    return nordic


@pytest.fixture
def purchaser(user, api):
    return api(user(roles.PURCHASING_MANAGER))


DRAFT = {
    "supplier": "nordic",
    "warehouse": "A",
    "lines": [{"sku": "4006381333931", "quantity": "20"}, {"sku": "MILK", "quantity": "6", "unit_cost": "0.9"}],
}


def test_a_purchaser_drafts_places_and_receives_an_order(world, supplier, purchaser):
    created = purchaser.post("/api/v1/purchase-orders/", DRAFT, format="json")
    assert created.status_code == 201, created.json()
    order = created.json()
    assert (order["status"], order["supplier"], order["warehouse"]) == ("draft", "NORDIC", "A")
    assert [(line["sku"], line["unit_cost"]) for line in order["lines"]] == [("WIDGET", "1.7500"), ("MILK", "0.9000")]

    placed = purchaser.post(f"/api/v1/purchase-orders/{order['id']}/place/")
    assert placed.status_code == 200 and placed.json()["status"] == "ordered" and placed.json()["expected_on"]

    received = purchaser.post(
        f"/api/v1/purchase-orders/{order['id']}/receive/",
        {"lines": [{"sku": "WIDGET", "quantity": "8", "location": "BIN-2"}]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="grn-1",
    )
    assert received.status_code == 201, received.json()
    body = received.json()
    assert body["order"]["status"] == "partial" and body["order"]["lines"][0]["outstanding"] == "12.0000"
    assert [(m["sku"], m["quantity"], m["unit_cost"]) for m in body["movements"]] == [("WIDGET", "8.0000", "1.7500")]
    assert level_of(world["widget"], world["A"]["bin2"])[0] == 13


def test_a_clerk_reads_and_receives_but_drafts_nothing(world, supplier, purchaser, user, api):
    order = purchaser.post("/api/v1/purchase-orders/", DRAFT, format="json").json()
    purchaser.post(f"/api/v1/purchase-orders/{order['id']}/place/")
    clerk = api(user(roles.WAREHOUSE_CLERK))

    assert clerk.post("/api/v1/purchase-orders/", DRAFT, format="json").status_code == 403
    assert [o["number"] for o in clerk.get("/api/v1/purchase-orders/?status=ordered").json()["results"]] == [
        order["number"]
    ]
    received = clerk.post(
        f"/api/v1/purchase-orders/{order['id']}/receive/",
        {
            "lines": [
                {"sku": "MILK", "quantity": "6", "location": "LOC-A-1", "lot": "L-NEW", "expiry_date": "2031-05-01"}
            ]
        },
        format="json",
    )
    assert received.status_code == 201, received.json()
    assert Movement.objects.get(reference_id=order["number"]).actor.username == "warehouse_clerk"


@pytest.mark.parametrize(
    ("lines", "code", "text"),
    [
        (
            [{"sku": "WIDGET", "quantity": "21", "location": "BIN-1"}],
            "purchasing_error",
            "20 outstanding; cannot receive 21",
        ),
        ([{"sku": "WIDGET", "quantity": "1", "location": "NOWHERE"}], "unknown_location", "NOWHERE"),
        ([{"sku": "WIDGET", "quantity": "0", "location": "BIN-1"}], "validation_error", ""),
        ([{"sku": "MILK", "quantity": "1", "location": "BIN-1"}], "invalid_movement", "give a lot code"),
    ],
)
def test_a_refused_receipt_writes_nothing(world, supplier, purchaser, lines, code, text):
    order = purchaser.post("/api/v1/purchase-orders/", DRAFT, format="json").json()
    purchaser.post(f"/api/v1/purchase-orders/{order['id']}/place/")
    before = ledger_snapshot()

    response = purchaser.post(f"/api/v1/purchase-orders/{order['id']}/receive/", {"lines": lines}, format="json")

    assert response.status_code == 400 and response.json()["code"] == code, response.json()
    assert text in response.json()["detail"] or not text
    assert ledger_snapshot() == before
    assert PurchaseOrder.objects.get(pk=order["id"]).status == PurchaseOrderStatus.ORDERED


def test_unknown_supplier_or_item_and_a_second_place_are_refused(world, supplier, purchaser):
    assert (
        purchaser.post("/api/v1/purchase-orders/", {**DRAFT, "supplier": "NOPE"}, format="json").json()["code"]
        == "unknown_supplier"
    )
    unknown = purchaser.post(
        "/api/v1/purchase-orders/", {**DRAFT, "lines": [{"sku": "NOPE", "quantity": "1"}]}, format="json"
    )
    assert unknown.status_code == 400 and unknown.json()["code"] == "unknown_sku"
    assert not PurchaseOrder.objects.exists()
    order = purchaser.post("/api/v1/purchase-orders/", DRAFT, format="json").json()
    purchaser.post(f"/api/v1/purchase-orders/{order['id']}/place/")
    again = purchaser.post(f"/api/v1/purchase-orders/{order['id']}/place/")
    assert again.status_code == 400 and "only a draft can be placed" in again.json()["detail"]


def test_another_warehouses_order_is_not_found(world, supplier, purchaser, admin_api):
    other = admin_api.post("/api/v1/purchase-orders/", {**DRAFT, "warehouse": "B"}, format="json").json()
    assert purchaser.get(f"/api/v1/purchase-orders/{other['id']}/").status_code == 404
    assert purchaser.post(f"/api/v1/purchase-orders/{other['id']}/place/").status_code == 404


def test_reorder_suggestions(world, supplier, purchaser):
    ReorderPolicy.objects.create(
        item=world["widget"], warehouse=world["A"]["warehouse"], reorder_point=Decimal(20), order_up_to=Decimal(40)
    )
    response = purchaser.get("/api/v1/reorder-suggestions/?warehouse=A")
    assert response.status_code == 200
    (suggestion,) = response.json()
    assert (suggestion["sku"], suggestion["available"], suggestion["quantity"], suggestion["supplier"]) == (
        "WIDGET",
        "15.0000",
        "25.0000",
        "NORDIC",
    )
    assert purchaser.get("/api/v1/reorder-suggestions/?warehouse=ZZ").json()["code"] == "unknown_warehouse"
