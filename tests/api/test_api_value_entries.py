"""/api/v1/value-entries/: write-downs, landed costs and price differences (issue 14, part 3),
and how they show in /api/v1/movements/ (kind, quantity 0, the signed value change in
``total_cost``). World: WIDGET 10 in A/BIN-1 and 5 in A/BIN-2 at 2.00 (A: 15, 30.00), 10 in
B/BIN-1 at 2.00."""

from __future__ import annotations

from decimal import Decimal

from common import roles
from stock.models import ItemValuation, Movement, MovementKind

ENTRIES = "/api/v1/value-entries/"
D = Decimal


def _value(world, code: str) -> tuple[Decimal, Decimal]:
    row = ItemValuation.objects.get(item=world["widget"], warehouse=world[code]["warehouse"])
    return row.quantity, row.value


def _receipt(world, code: str, location: str = "bin1") -> Movement:
    return Movement.objects.get(item=world["widget"], kind=MovementKind.RECEIPT, destination=world[code][location])


def test_a_landed_cost_per_receipt_is_posted_and_listed_with_quantity_zero(world, admin_api) -> None:
    first, second = _receipt(world, "A"), _receipt(world, "A", "bin2")
    body = {
        "kind": "landed_cost",
        "reason": "freight",
        "reference": "INV-1",
        "receipts": [{"movement": first.pk, "amount": "3.00"}, {"movement": second.pk, "amount": "1.50"}],
    }
    response = admin_api.post(ENTRIES, body, format="json", HTTP_IDEMPOTENCY_KEY="lc-1")
    assert response.status_code == 201, response.content
    posted = response.json()["entries"]
    assert [(e["kind"], e["quantity"], e["total_cost"], e["origin"]) for e in posted] == [
        ("landed_cost", "0.0000", "3.0000", first.pk),
        ("landed_cost", "0.0000", "1.5000", second.pk),
    ]
    assert _value(world, "A") == (D(15), D("34.50"))  # 30.00 + 3.00 + 1.50
    # The same key again: the same answer, nothing new.
    again = admin_api.post(ENTRIES, body, format="json", HTTP_IDEMPOTENCY_KEY="lc-1")
    assert again.status_code == 201 and [e["id"] for e in again.json()["entries"]] == [e["id"] for e in posted]
    assert _value(world, "A") == (D(15), D("34.50"))
    listed = admin_api.get("/api/v1/movements/", {"kind": "landed_cost"}).json()["results"]
    assert [(m["quantity"], m["total_cost"]) for m in listed] == [("0.0000", "3.0000"), ("0.0000", "1.5000")]


def test_a_write_down_through_the_api(world, admin_api) -> None:
    body = {"kind": "write_down", "reason": "damaged", "sku": "WIDGET", "warehouse": "A", "amount": "6"}
    response = admin_api.post(ENTRIES, body, format="json")
    assert response.status_code == 201, response.content
    [entry] = response.json()["entries"]
    assert (entry["kind"], entry["quantity"], entry["total_cost"]) == ("write_down", "0.0000", "-6.0000")
    assert _value(world, "A") == (D(15), D("24.00"))  # 30.00 - 6.00


def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(world, admin_api) -> None:
    before = Movement.objects.count()
    cases = [
        ({"kind": "write_down", "reason": "x", "sku": "WIDGET", "warehouse": "A"}, "amount"),
        ({"kind": "landed_cost", "reason": "x"}, "receipts"),
        ({"kind": "write_down", "reason": "x", "sku": "WIDGET", "warehouse": "A", "amount": "-1"}, "amount"),
        ({"kind": "cost_correction", "reason": "x"}, "kind"),
    ]
    for body, field in cases:
        response = admin_api.post(ENTRIES, body, format="json")
        assert response.status_code == 400, body
        assert field in response.content.decode(), body
    # More than is on hand: 31 > 30.00
    response = admin_api.post(
        ENTRIES,
        {"kind": "write_down", "reason": "x", "sku": "WIDGET", "warehouse": "A", "amount": "31"},
        format="json",
    )
    assert response.status_code == 400 and "Only 30.00" in response.content.decode()
    assert Movement.objects.count() == before


def test_a_clerk_may_not_and_a_manager_of_A_cannot_touch_Bs_receipt(world, api, user) -> None:
    before = Movement.objects.count()
    clerk = api(user(roles.WAREHOUSE_CLERK))
    body = {"kind": "write_down", "reason": "x", "sku": "WIDGET", "warehouse": "A", "amount": "1"}
    assert clerk.post(ENTRIES, body, format="json").status_code == 403
    manager = api(user(roles.INVENTORY_MANAGER))
    other = {"kind": "landed_cost", "reason": "x", "receipts": [{"movement": _receipt(world, "B").pk, "amount": "1"}]}
    response = manager.post(ENTRIES, other, format="json")
    assert response.status_code == 400 and "that you may see" in response.content.decode()
    assert manager.post(ENTRIES, {**body, "warehouse": "B"}, format="json").status_code == 403
    assert Movement.objects.count() == before
