"""POST /api/v1/sales/ and /api/v1/returns/: a shop's or POS's sale or customer return is one
posting of all its lines (FEFO across the warehouse's bins without a location), answered with
what is available afterwards; refusals write nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from inventory_site import roles
from stock.models import Lot, Movement, MovementKind
from stock.selectors import stock_available
from tests.stock.factories import ledger_snapshot, level_of

SALES = "/api/v1/sales/"
RETURNS = "/api/v1/returns/"


def sale(*lines: dict, warehouse: str = "A", reference: str = "ORDER-1001") -> dict:
    return {"reference": reference, "warehouse": warehouse, "lines": list(lines)}


def test_a_sale_is_posted_and_answers_what_is_available_afterwards(world, admin_api):
    response = admin_api.post(SALES, sale({"sku": "WIDGET", "quantity": "2"}))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["reference"] == "ORDER-1001"
    assert body["warehouse"] == "A"
    assert body["lines"] == [{"sku": "WIDGET", "quantity": "2.0000", "available": "13.0000"}]
    movements = Movement.objects.filter(batch=body["id"])
    assert [m.pk for m in movements] == body["movements"]
    assert {(m.kind, m.reference_type, m.reference_id, m.reference_line) for m in movements} == {
        (MovementKind.ISSUE, "api.sale", "ORDER-1001", "1")
    }
    assert stock_available(item=world["widget"], warehouse=world["A"]["warehouse"]) == Decimal(13)


def test_without_a_location_stock_is_picked_across_bins_and_lines_of_one_item_add_up(world, admin_api):
    response = admin_api.post(
        SALES,
        sale({"sku": "WIDGET", "quantity": 8}, {"sku": "4006381333931", "quantity": 4}),
    )

    assert response.status_code == 201, response.json()
    assert [line["available"] for line in response.json()["lines"]] == ["3.0000", "3.0000"]  # 10 + 5 - 8 - 4
    assert [line["sku"] for line in response.json()["lines"]] == ["WIDGET", "WIDGET"]  # barcode named the item
    # FEFO without lots: bins by code; the second line takes what the first left.
    assert level_of(world["widget"], world["A"]["bin1"])[0] == Decimal(0)
    assert level_of(world["widget"], world["A"]["bin2"])[0] == Decimal(3)  # 5 - (4 - the 2 left in BIN-1)
    assert len({m.batch for m in Movement.objects.filter(reference_id="ORDER-1001")}) == 1  # one posting


def test_a_lot_tracked_item_is_sold_first_expiry_first(world, admin_api):
    response = admin_api.post(SALES, sale({"sku": "MILK", "quantity": "5"}))

    assert response.status_code == 201, response.json()
    taken = {m.lot.code: m.quantity for m in Movement.objects.filter(pk__in=response.json()["movements"])}
    assert taken == {"L-EARLY": Decimal(4), "L-LATE": Decimal(1)}


def test_a_sale_from_a_named_location_and_lot(world, admin_api):
    response = admin_api.post(
        SALES,
        sale(
            {"sku": "WIDGET", "quantity": "1", "location": "BIN-2"},
            {"sku": "MILK", "quantity": "1", "location": "LOC-A-1", "lot": "L-LATE"},
        ),
    )

    assert response.status_code == 201, response.json()
    assert level_of(world["widget"], world["A"]["bin2"])[0] == Decimal(4)
    late = Lot.objects.get(code="L-LATE")
    assert level_of(world["milk"], world["A"]["bin1"], late)[0] == Decimal(5)


def test_an_insufficient_line_refuses_the_whole_sale_with_409(world, admin_api):
    before = ledger_snapshot()

    response = admin_api.post(SALES, sale({"sku": "WIDGET", "quantity": "1"}, {"sku": "MILK", "quantity": "11"}))

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "insufficient_stock"
    assert body["sku"] == "MILK"
    assert body["available"] == "10.0000"
    assert body["asked"] == "11.0000"
    assert ledger_snapshot() == before  # the WIDGET line was not posted either


def test_an_unknown_sku_names_the_line(world, admin_api):
    before = ledger_snapshot()

    response = admin_api.post(SALES, sale({"sku": "WIDGET", "quantity": "1"}, {"sku": "NOPE", "quantity": "1"}))

    assert response.status_code == 400
    assert response.json() | {"detail": ""} == {"code": "unknown_sku", "detail": "", "sku": "NOPE", "line": 1}
    assert ledger_snapshot() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"warehouse": "A", "lines": [{"sku": "WIDGET", "quantity": "1"}]}, "reference"),
        (sale(), "lines"),
        (sale({"sku": "WIDGET", "quantity": "0"}), "lines"),
        (sale({"sku": "WIDGET", "quantity": "-1"}), "lines"),
        (sale({"sku": "WIDGET", "quantity": "1.00001"}), "lines"),
        (sale({"sku": "WIDGET", "quantity": "abc"}), "lines"),
        (sale({"sku": "WIDGET", "quantity": True}), "lines"),
        (sale({"sku": "WIDGET", "quantity": "1e9"}), "lines"),
        (sale({"sku": "WIDGET"}), "lines"),
    ],
)
def test_bad_input_is_a_validation_error_naming_the_field(world, admin_api, body, field):
    response = admin_api.post(SALES, body)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert field in response.json()["fields"]


def test_unknown_warehouse_and_location(world, admin_api):
    response = admin_api.post(SALES, sale({"sku": "WIDGET", "quantity": "1"}, warehouse="ZZ"))
    assert (response.status_code, response.json()["code"]) == (400, "unknown_warehouse")

    response = admin_api.post(SALES, sale({"sku": "WIDGET", "quantity": "1", "location": "NOWHERE"}))
    assert (response.status_code, response.json()["code"], response.json()["line"]) == (400, "unknown_location", 0)


def test_an_expired_lot_is_not_sold(world, admin_api):
    Lot.objects.filter(code="L-EARLY").update(expiry_date="2000-01-01")

    response = admin_api.post(SALES, sale({"sku": "MILK", "quantity": "7"}))

    assert response.status_code == 409  # only L-LATE (6) is sellable
    assert response.json()["available"] == "6.0000"


@pytest.mark.parametrize(
    ("role", "where", "allowed"),
    [
        (roles.ADMINISTRATOR, "A", True),
        (roles.ADMINISTRATOR, "B", True),
        (roles.INVENTORY_MANAGER, "A", True),
        (roles.INVENTORY_MANAGER, "B", False),
        (roles.WAREHOUSE_CLERK, "A", True),
        (roles.WAREHOUSE_CLERK, "B", False),
        (roles.PURCHASING_MANAGER, "A", False),
        (roles.AUDITOR, "A", False),
        (None, "A", False),
    ],
)
def test_who_may_sell_where(world, user, api, role, where, allowed):
    before = ledger_snapshot()

    response = api(user(role)).post(SALES, sale({"sku": "WIDGET", "quantity": "1"}, warehouse=where))

    if allowed:
        assert response.status_code == 201, response.json()
    else:
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
        assert ledger_snapshot() == before


def test_a_clerk_learns_nothing_about_another_warehouses_stock(world, user, api):
    response = api(user(roles.WAREHOUSE_CLERK)).post(SALES, sale({"sku": "WIDGET", "quantity": "999"}, warehouse="B"))

    assert response.status_code == 403  # refused before the stock is looked at, not 409
    assert "available" not in response.json()


# --- Customer returns -----------------------------------------------------------------------------


def test_a_return_goes_to_its_location(world, admin_api):
    response = admin_api.post(
        RETURNS,
        {"reference": "RMA-1", "warehouse": "A", "lines": [{"sku": "WIDGET", "quantity": "2", "location": "BIN-2"}]},
    )

    assert response.status_code == 201, response.json()
    assert response.json()["lines"] == [{"sku": "WIDGET", "quantity": "2.0000", "available": "17.0000"}]
    assert level_of(world["widget"], world["A"]["bin2"])[0] == Decimal(7)
    movement = Movement.objects.get(pk=response.json()["movements"][0])
    assert (movement.kind, movement.reference_type, movement.source.kind) == (
        MovementKind.CUSTOMER_RETURN,
        "api.return",
        "customer",
    )


def test_a_return_without_location_goes_back_to_the_bin_it_was_sold_from(world, admin_api):
    admin_api.post(SALES, sale({"sku": "WIDGET", "quantity": "1", "location": "BIN-2"}))

    response = admin_api.post(
        RETURNS, {"reference": "RMA-2", "warehouse": "A", "lines": [{"sku": "WIDGET", "quantity": 1}]}
    )

    assert response.status_code == 201, response.json()
    assert level_of(world["widget"], world["A"]["bin2"])[0] == Decimal(5)


def test_a_return_of_an_item_never_sold_there_needs_a_location(world, admin_api):
    response = admin_api.post(
        RETURNS, {"reference": "RMA-3", "warehouse": "A", "lines": [{"sku": "MILK", "quantity": 1}]}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_movement"


def test_a_returned_lot_can_be_new(world, admin_api):
    response = admin_api.post(
        RETURNS,
        {
            "reference": "RMA-4",
            "warehouse": "A",
            "lines": [{"sku": "MILK", "quantity": "1", "location": "BIN-1", "lot": "L-NEW", "expiry": "2099-01-01"}],
        },
    )

    assert response.status_code == 201, response.json()
    assert Lot.objects.get(code="L-NEW").expiry_date.isoformat() == "2099-01-01"


def test_a_clerk_may_not_take_returns_into_another_warehouse(world, user, api):
    before = ledger_snapshot()

    response = api(user(roles.WAREHOUSE_CLERK)).post(
        RETURNS,
        {"reference": "RMA-5", "warehouse": "B", "lines": [{"sku": "WIDGET", "quantity": 1, "location": "BIN-1"}]},
    )

    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert ledger_snapshot() == before
