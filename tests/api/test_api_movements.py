"""/api/v1/movements/: the ledger's movements (list, filters, one by id) and the door to post a
receipt, issue, transfer, scrap or adjustment, many at once (all or nothing), and to reverse one."""

from __future__ import annotations

from decimal import Decimal

import pytest

from inventory_site import roles
from stock import services
from stock.models import Lot, Movement, MovementKind
from tests.stock.factories import ledger_snapshot, level_of

MOVEMENTS = "/api/v1/movements/"


def receipt(**overrides: object) -> dict:
    body = {
        "kind": "receipt",
        "sku": "WIDGET",
        "quantity": "3",
        "warehouse": "A",
        "to_location": "BIN-1",
        "unit_cost": "2.50",
        "reference": "PO-1",
    }
    return {**body, **overrides}


# --- Reading --------------------------------------------------------------------------------------


def test_the_list_is_in_posting_order_with_both_sides_and_decimal_strings(world, admin_api):
    response = admin_api.get(MOVEMENTS)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 5
    first = body["results"][0]
    assert [m["id"] for m in body["results"]] == sorted(m["id"] for m in body["results"])
    assert first["kind"] == "receipt"
    assert first["sku"] == "WIDGET"
    assert first["quantity"] == "10.0000"
    assert first["unit_cost"] == "2.0000"
    assert first["from_location"] == {
        "id": first["from_location"]["id"],
        "warehouse": None,
        "code": "SUPPLIER",
        "kind": "supplier",
    }
    assert first["to_location"]["warehouse"] == "A"
    assert first["to_location"]["code"] == "BIN-1"
    assert first["reversed_by"] is None


@pytest.mark.parametrize(
    ("query", "count"),
    [
        ("sku=widget", 3),
        ("warehouse=B", 1),
        ("kind=receipt", 5),
        ("kind=issue", 0),
        ("lot=L-EARLY", 1),
        ("since_id=0", 5),
        ("occurred_after=2000-01-01T00:00:00Z", 5),
        ("occurred_before=2000-01-01T00:00:00Z", 0),
    ],
)
def test_filters(world, admin_api, query, count):
    response = admin_api.get(f"{MOVEMENTS}?{query}")

    assert response.status_code == 200
    assert response.json()["count"] == count


def test_filter_by_batch_and_reference(world, admin_api):
    posted = admin_api.post(MOVEMENTS, receipt(reference="PO-77")).json()

    assert admin_api.get(f"{MOVEMENTS}?batch={posted['batch']}").json()["count"] == 1
    assert admin_api.get(f"{MOVEMENTS}?reference=PO-77").json()["count"] == 1


def test_bad_filters_are_validation_errors(world, admin_api):
    response = admin_api.get(f"{MOVEMENTS}?occurred_after=yesterday&batch=nope&kind=teleport")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert set(response.json()["fields"]) == {"occurred_after", "batch", "kind"}


def test_a_clerk_sees_only_the_movements_of_their_warehouse(world, user, api):
    clerk = api(user(roles.WAREHOUSE_CLERK))
    other = Movement.objects.get(destination=world["B"]["bin1"])

    listed = clerk.get(MOVEMENTS).json()

    assert listed["count"] == 4
    assert other.pk not in [m["id"] for m in listed["results"]]
    assert clerk.get(f"{MOVEMENTS}{other.pk}/").status_code == 404
    assert clerk.get(f"{MOVEMENTS}{other.pk}/").json()["code"] == "not_found"


def test_one_movement_by_id(world, admin_api):
    movement = Movement.objects.first()

    response = admin_api.get(f"{MOVEMENTS}{movement.pk}/")

    assert response.status_code == 200
    assert response.json()["id"] == movement.pk
    assert admin_api.get(f"{MOVEMENTS}999999999/").status_code == 404
    assert admin_api.get(f"{MOVEMENTS}99999999999999999999999/").status_code == 404
    assert admin_api.get(f"{MOVEMENTS}abc/").status_code == 404


# --- Posting one movement -------------------------------------------------------------------------


def test_a_receipt(world, admin_api):
    response = admin_api.post(MOVEMENTS, receipt())

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["kind"], body["quantity"], body["unit_cost"], body["total_cost"]) == (
        "receipt",
        "3.0000",
        "2.5000",
        "7.5000",
    )
    assert (body["reference_type"], body["reference"], body["actor"]) == ("api.movement", "PO-1", "root")
    assert level_of(world["widget"], world["A"]["bin1"])[0] == Decimal(13)


def test_a_receipt_of_a_new_lot_with_expiry_located_by_barcode(world, admin_api):
    response = admin_api.post(
        MOVEMENTS,
        {
            "kind": "receipt",
            "sku": "MILK",
            "quantity": 2,
            "to_location": "LOC-B-2",
            "lot": "L-NEW",
            "expiry": "2099-12-31",
        },
    )

    assert response.status_code == 201, response.json()
    lot = Lot.objects.get(code="L-NEW")
    assert lot.expiry_date.isoformat() == "2099-12-31"
    assert response.json()["lot"] == "L-NEW"
    assert level_of(world["milk"], world["B"]["bin2"], lot)[0] == Decimal(2)


def test_a_receipt_without_unit_cost_is_at_standard_cost(world, admin_api):
    response = admin_api.post(MOVEMENTS, receipt(unit_cost=None))

    assert response.json()["unit_cost"] == "2.0000"


def test_an_issue_a_transfer_and_a_scrap(world, admin_api):
    issue = admin_api.post(
        MOVEMENTS, {"kind": "issue", "sku": "WIDGET", "quantity": "1", "warehouse": "A", "from_location": "BIN-1"}
    )
    transfer = admin_api.post(
        MOVEMENTS,
        {
            "kind": "transfer",
            "sku": "WIDGET",
            "quantity": "2",
            "warehouse": "A",
            "from_location": "BIN-1",
            "to_location": "BIN-2",
        },
    )
    between = admin_api.post(
        MOVEMENTS,
        {
            "kind": "transfer",
            "sku": "WIDGET",
            "quantity": "1",
            "warehouse": "A",
            "from_location": "BIN-2",
            "to_warehouse": "B",
            "to_location": "BIN-2",
        },
    )
    scrap = admin_api.post(
        MOVEMENTS,
        {
            "kind": "scrap",
            "sku": "WIDGET",
            "quantity": "1",
            "warehouse": "A",
            "from_location": "BIN-1",
            "reason": "damaged",
        },
    )

    assert [r.status_code for r in (issue, transfer, between, scrap)] == [201, 201, 201, 201]
    assert scrap.json()["reason"] == "damaged"
    assert scrap.json()["to_location"]["kind"] == "scrap"
    assert level_of(world["widget"], world["A"]["bin1"])[0] == Decimal(6)
    assert level_of(world["widget"], world["A"]["bin2"])[0] == Decimal(6)
    assert level_of(world["widget"], world["B"]["bin2"])[0] == Decimal(1)


def test_adjustments_carry_a_signed_quantity(world, admin_api):
    loss = admin_api.post(
        MOVEMENTS,
        {
            "kind": "adjustment",
            "sku": "WIDGET",
            "quantity": "-2",
            "warehouse": "A",
            "to_location": "BIN-1",
            "reason": "count",
        },
    )
    gain = admin_api.post(
        MOVEMENTS,
        {
            "kind": "adjustment",
            "sku": "WIDGET",
            "quantity": 1,
            "warehouse": "A",
            "from_location": "BIN-2",
            "reason": "found",
        },
    )

    assert (loss.status_code, gain.status_code) == (201, 201)
    assert loss.json()["from_location"]["code"] == "BIN-1"
    assert loss.json()["to_location"]["kind"] == "adjustment"
    assert gain.json()["to_location"]["code"] == "BIN-2"
    assert level_of(world["widget"], world["A"]["bin1"])[0] == Decimal(8)
    assert level_of(world["widget"], world["A"]["bin2"])[0] == Decimal(6)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (receipt(from_location="BIN-2"), {"from_location"}),
        (receipt(to_location=None), {"to_location"}),
        ({"kind": "issue", "sku": "WIDGET", "quantity": "1", "warehouse": "A"}, {"from_location"}),
        ({"kind": "scrap", "sku": "WIDGET", "quantity": "1", "warehouse": "A", "from_location": "BIN-1"}, {"reason"}),
        (
            {"kind": "adjustment", "sku": "WIDGET", "quantity": "0", "to_location": "LOC-A-1", "reason": "x"},
            {"quantity"},
        ),
        ({"kind": "adjustment", "sku": "WIDGET", "quantity": "1", "reason": "x"}, {"to_location"}),
        (receipt(quantity="-3"), {"quantity"}),
        (receipt(quantity="1000000000"), {"quantity"}),
        (receipt(unit_cost="-1"), {"unit_cost"}),
        (receipt(unit_cost="10000000"), {"unit_cost"}),
        (receipt(kind="teleport"), {"kind"}),
        (receipt(expiry="2099-01-01"), {"expiry"}),
        (receipt(expiry="not a date", lot="L"), {"expiry"}),
        (receipt(to_warehouse="B"), {"to_warehouse"}),
        (receipt(sku=""), {"sku"}),
        (receipt(sku="x" * 65), {"sku"}),
        (receipt(reference="nul\x00byte"), {"reference"}),
    ],
)
def test_invalid_movements_are_validation_errors(world, admin_api, body, fields):
    before = ledger_snapshot()

    response = admin_api.post(MOVEMENTS, {k: v for k, v in body.items() if v is not None})

    assert response.status_code == 400, response.json()
    # A NUL character is refused by the JSON parser's input-hygiene rule (issue 12), before validation.
    nul = any("\x00" in str(value) for value in body.values())
    assert response.json()["code"] == ("invalid_characters" if nul else "validation_error")
    assert set(response.json()["fields"]) == fields
    assert ledger_snapshot() == before


def test_ledger_refusals_are_invalid_movement(world, admin_api):
    response = admin_api.post(MOVEMENTS, receipt(sku="MILK"))  # lot-tracked, without lot

    assert (response.status_code, response.json()["code"]) == (400, "invalid_movement")
    assert "lot" in response.json()["detail"]


def test_an_issue_beyond_the_stock_is_409_and_writes_nothing(world, admin_api):
    before = ledger_snapshot()

    response = admin_api.post(
        MOVEMENTS, {"kind": "issue", "sku": "WIDGET", "quantity": "11", "warehouse": "A", "from_location": "BIN-1"}
    )

    assert response.status_code == 409
    assert response.json() | {"detail": ""} == {
        "code": "insufficient_stock",
        "detail": "",
        "sku": "WIDGET",
        "available": "10.0000",
        "asked": "11.0000",
        "warehouse": "A",
        "location": "A/BIN-1",
        "lot": None,
    }
    assert ledger_snapshot() == before


# --- Bulk -------------------------------------------------------------------------------------------


def test_a_bulk_request_posts_all_lines_as_one_batch(world, admin_api):
    response = admin_api.post(
        f"{MOVEMENTS}bulk/",
        {
            "lines": [
                receipt(quantity="1"),
                {"kind": "issue", "sku": "WIDGET", "quantity": "2", "warehouse": "A", "from_location": "BIN-2"},
            ]
        },
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert [m["kind"] for m in body["movements"]] == ["receipt", "issue"]
    assert {m["batch"] for m in body["movements"]} == {body["batch"]}


def test_one_bad_line_refuses_the_whole_bulk_request(world, admin_api):
    before = ledger_snapshot()

    too_much = admin_api.post(
        f"{MOVEMENTS}bulk/",
        {
            "lines": [
                receipt(quantity="1"),
                {"kind": "issue", "sku": "WIDGET", "quantity": "99", "warehouse": "A", "from_location": "BIN-2"},
            ]
        },
    )
    unknown = admin_api.post(f"{MOVEMENTS}bulk/", {"lines": [receipt(), receipt(sku="NOPE")]})
    invalid = admin_api.post(f"{MOVEMENTS}bulk/", {"lines": [receipt(), receipt(quantity="x")]})
    empty = admin_api.post(f"{MOVEMENTS}bulk/", {"lines": []})

    assert (too_much.status_code, too_much.json()["code"]) == (409, "insufficient_stock")
    assert (unknown.status_code, unknown.json()["code"], unknown.json()["line"]) == (400, "unknown_sku", 1)
    assert (invalid.status_code, invalid.json()["code"]) == (400, "validation_error")
    assert invalid.json()["fields"]["lines"]["1"]["quantity"]  # refused lines by index
    assert (empty.status_code, empty.json()["code"]) == (400, "validation_error")
    assert ledger_snapshot() == before


# --- Reversal ---------------------------------------------------------------------------------------


def test_a_movement_is_reversed_once(world, admin_api):
    original = Movement.objects.filter(destination=world["A"]["bin2"]).first()

    first = admin_api.post(f"{MOVEMENTS}{original.pk}/reverse/", {"reason": "wrong item"})
    second = admin_api.post(f"{MOVEMENTS}{original.pk}/reverse/", {"reason": "again"})

    assert first.status_code == 201, first.json()
    assert (first.json()["kind"], first.json()["reverses"], first.json()["note"]) == (
        "reversal",
        original.pk,
        "wrong item",
    )
    assert admin_api.get(f"{MOVEMENTS}{original.pk}/").json()["reversed_by"] == first.json()["id"]
    assert (second.status_code, second.json()["code"]) == (409, "already_reversed")


def test_a_reversal_needs_a_reason_and_an_existing_movement(world, admin_api):
    original = Movement.objects.first()

    assert admin_api.post(f"{MOVEMENTS}{original.pk}/reverse/", {}).json()["code"] == "validation_error"
    assert admin_api.post(f"{MOVEMENTS}999999/reverse/", {"reason": "x"}).status_code == 404


def test_reversing_a_reversal_is_invalid(world, admin_api):
    original = Movement.objects.first()
    reversal = admin_api.post(f"{MOVEMENTS}{original.pk}/reverse/", {"reason": "oops"}).json()

    response = admin_api.post(f"{MOVEMENTS}{reversal['id']}/reverse/", {"reason": "undo the undo"})

    assert (response.status_code, response.json()["code"]) == (400, "invalid_movement")


# --- Who may post what where --------------------------------------------------------------------

POSTING = {  # role -> (in own warehouse A, in other warehouse B)
    roles.ADMINISTRATOR: (True, True),
    roles.INVENTORY_MANAGER: (True, False),
    roles.WAREHOUSE_CLERK: (True, False),
    roles.PURCHASING_MANAGER: (False, False),
    roles.AUDITOR: (False, False),
    None: (False, False),
}
ADJUSTING = {
    roles.ADMINISTRATOR: (True, True),
    roles.INVENTORY_MANAGER: (True, False),
    roles.WAREHOUSE_CLERK: (False, False),
    roles.PURCHASING_MANAGER: (False, False),
    roles.AUDITOR: (False, False),
    None: (False, False),
}
ACTIONS = {
    "receipt": (POSTING, lambda w: receipt(warehouse=w)),
    "issue": (
        POSTING,
        lambda w: {"kind": "issue", "sku": "WIDGET", "quantity": 1, "warehouse": w, "from_location": "BIN-1"},
    ),
    "scrap": (
        POSTING,
        lambda w: {
            "kind": "scrap",
            "sku": "WIDGET",
            "quantity": 1,
            "warehouse": w,
            "from_location": "BIN-1",
            "reason": "x",
        },
    ),
    "adjustment": (
        ADJUSTING,
        lambda w: {
            "kind": "adjustment",
            "sku": "WIDGET",
            "quantity": 1,
            "warehouse": w,
            "to_location": "BIN-1",
            "reason": "x",
        },
    ),
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("role", list(POSTING))
@pytest.mark.parametrize("where", ["A", "B"])
def test_posting_permission_matrix(world, user, api, action, role, where):
    expectations, body = ACTIONS[action]
    allowed = expectations[role][0 if where == "A" else 1]
    before = ledger_snapshot()

    response = api(user(role)).post(MOVEMENTS, body(where))

    if allowed:
        assert response.status_code == 201, response.json()
    else:
        assert response.status_code == 403, response.json()
        assert response.json()["code"] == "permission_denied"
        assert ledger_snapshot() == before


@pytest.mark.parametrize("role", list(ADJUSTING))
def test_reversal_permission(world, user, api, role):
    original = services.stock_receive(
        item=world["widget"], location=world["A"]["bin1"], quantity=Decimal(1), unit_cost=Decimal(1), actor=None
    )
    allowed, _ = ADJUSTING[role]

    response = api(user(role)).post(f"{MOVEMENTS}{original.pk}/reverse/", {"reason": "wrong"})

    if allowed:
        assert response.status_code == 201, response.json()
    else:
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
        assert not Movement.objects.filter(reverses=original).exists()


def test_another_warehouses_movement_cannot_be_reversed_by_id(world, user, api):
    other = Movement.objects.get(destination=world["B"]["bin1"])

    response = api(user(roles.INVENTORY_MANAGER)).post(f"{MOVEMENTS}{other.pk}/reverse/", {"reason": "wrong"})

    assert (response.status_code, response.json()["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("role", "count"),
    [
        (roles.ADMINISTRATOR, 5),
        (roles.AUDITOR, 5),
        (roles.INVENTORY_MANAGER, 4),
        (roles.PURCHASING_MANAGER, 4),
        (roles.WAREHOUSE_CLERK, 4),
    ],
)
def test_who_sees_which_movements(world, user, api, role, count):
    response = api(user(role)).get(MOVEMENTS)

    assert response.status_code == 200
    assert response.json()["count"] == count


def test_reading_needs_the_view_permission(world, user, api):
    response = api(user(None)).get(MOVEMENTS)

    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")


def test_every_movement_kind_is_named_in_the_output(world, admin_api):
    kinds = {m["kind"] for m in admin_api.get(MOVEMENTS).json()["results"]}

    assert kinds <= set(MovementKind.values)
