"""A list filter that NAMES something (a warehouse, an item, a bin, a lot, a supplier) must name
something that exists and that the user may view: otherwise 400 in the API's error contract
naming the unknown code, never an empty 200 that reads as "nothing there" (docs/api.md,
"Lists"). A warehouse (bin, lot) the user may not view gets the same answer as one that does
not exist, so a filter never tells whether another warehouse exists.

The world (tests/api/conftest.py): warehouses A and B; the Inventory manager's warehouse is A."""

from __future__ import annotations

from decimal import Decimal

import pytest

from common import roles
from stock import services

# Every list whose ``warehouse`` parameter names a warehouse.
WAREHOUSE_FILTERED = [
    "/api/v1/stock-levels/",
    "/api/v1/movements/",
    "/api/v1/reservations/",
    "/api/v1/counts/",
    "/api/v1/purchase-orders/",
    "/api/v1/locations/",
    "/api/v1/reorder-suggestions/",
    "/api/v1/transfers/",
]


@pytest.fixture
def manager(world, user, api):  # noqa: ANN001, ANN201 - fixtures
    return api(user(roles.INVENTORY_MANAGER))


@pytest.mark.parametrize("path", WAREHOUSE_FILTERED)
def test_an_unknown_warehouse_is_a_400_naming_it(world, admin_api, path):
    response = admin_api.get(f"{path}?warehouse=ZZZ")

    assert response.status_code == 400, response.json()
    body = response.json()
    assert (body["code"], body["warehouse"], body["field"]) == ("unknown_warehouse", "ZZZ", "warehouse")
    assert "'ZZZ'" in body["detail"]


@pytest.mark.parametrize("path", [path for path in WAREHOUSE_FILTERED if path != "/api/v1/transfers/"])
def test_a_warehouse_the_user_may_not_view_is_answered_as_unknown(world, manager, path):
    mine = manager.get(f"{path}?warehouse=a")  # their own warehouse, any case: the list
    hidden = manager.get(f"{path}?warehouse=B")  # exists, not theirs
    missing = manager.get(f"{path}?warehouse=ZZZ")  # does not exist

    assert mine.status_code == 200, mine.json()
    assert (hidden.status_code, missing.status_code) == (400, 400)
    # Word for word the same answer but for the code echoed back: nothing tells B exists.
    assert hidden.json() == {key: str(value).replace("ZZZ", "B") for key, value in missing.json().items()}


@pytest.mark.parametrize("path", WAREHOUSE_FILTERED)
def test_an_empty_warehouse_parameter_is_no_filter(world, admin_api, path):
    assert admin_api.get(f"{path}?warehouse=").status_code == 200


def test_a_known_warehouse_with_nothing_to_list_is_still_an_empty_200(world, admin_api):
    # B has no reservation and no count: a real "nothing there", not an error.
    for path in ("/api/v1/reservations/", "/api/v1/counts/"):
        response = admin_api.get(f"{path}?warehouse=B")
        assert (response.status_code, response.json()["count"]) == (200, 0)


def test_reports_refuse_an_unknown_or_hidden_warehouse_alike(world, admin_api, manager):
    # Reports name every bad filter at once in one validation_error (docs/reports.md).
    path = "/api/v1/reports/stock-on-hand/"
    unknown = admin_api.get(f"{path}?warehouse=ZZZ")
    hidden = manager.get(f"{path}?warehouse=B")
    missing = manager.get(f"{path}?warehouse=ZZZ")

    assert (unknown.status_code, unknown.json()["code"]) == (400, "validation_error")
    assert "warehouse" in unknown.json()["fields"]
    assert hidden.json()["fields"]["warehouse"] == [
        m.replace("ZZZ", "B") for m in missing.json()["fields"]["warehouse"]
    ]


@pytest.mark.parametrize(
    "path", ["/api/v1/stock-levels/", "/api/v1/movements/", "/api/v1/reservations/", "/api/v1/lots/"]
)
def test_an_unknown_sku_is_a_400_and_a_barcode_names_the_item(world, admin_api, path):
    unknown = admin_api.get(f"{path}?sku=NOPE-1")
    by_barcode = admin_api.get(f"{path}?sku=4006381333931")  # WIDGET's barcode: the shared look-up rule

    assert (unknown.status_code, unknown.json()["code"], unknown.json()["sku"]) == (400, "unknown_sku", "NOPE-1")
    assert by_barcode.status_code == 200


def test_sku_filters_still_select_their_rows(world, admin_api):
    levels = admin_api.get("/api/v1/stock-levels/?sku=widget&group_by=warehouse").json()["results"]
    # WIDGET: A has 10 + 5 = 15, B has 10.
    assert [(r["warehouse"], r["on_hand"]) for r in levels] == [("A", "15.0000"), ("B", "10.0000")]
    # WIDGET is a known item with no lot: an empty list, not an error.
    lots = admin_api.get("/api/v1/lots/?sku=WIDGET")
    assert (lots.status_code, lots.json()["count"]) == (200, 0)


def test_an_unknown_or_hidden_bin_is_unknown_location(world, admin_api, manager):
    unknown = admin_api.get("/api/v1/stock-levels/?warehouse=A&location=NOWHERE")
    hidden = manager.get("/api/v1/stock-levels/?location=LOC-B-1")  # B's bin by barcode
    missing = manager.get("/api/v1/stock-levels/?location=LOC-Z-1")
    mine = manager.get("/api/v1/stock-levels/?location=LOC-A-1")

    assert (unknown.status_code, unknown.json()["code"], unknown.json()["field"]) == (
        400,
        "unknown_location",
        "location",
    )
    assert "warehouse A" in unknown.json()["detail"]
    assert (hidden.status_code, hidden.json()["code"]) == (400, "unknown_location")
    assert hidden.json() == {key: str(value).replace("LOC-Z-1", "LOC-B-1") for key, value in missing.json().items()}
    # A/BIN-1 holds WIDGET 10 and MILK lot L-LATE 6.
    assert sorted((r["sku"], r["on_hand"]) for r in mine.json()["results"]) == [
        ("MILK", "6.0000"),
        ("WIDGET", "10.0000"),
    ]


def test_an_unknown_or_hidden_lot_is_unknown_lot(world, admin_api, manager):
    services.stock_receive(
        item=world["milk"],
        location=world["B"]["bin1"],
        quantity=Decimal(2),
        unit_cost=Decimal(1),
        lot="L-B-ONLY",
        actor=None,
    )
    hidden = manager.get("/api/v1/movements/?lot=L-B-ONLY")  # a lot only ever in B
    missing = manager.get("/api/v1/movements/?lot=L-NONE")
    seen_by_admin = admin_api.get("/api/v1/stock-levels/?lot=L-B-ONLY").json()["results"]

    assert (missing.status_code, missing.json()["code"], missing.json()["lot"]) == (400, "unknown_lot", "L-NONE")
    assert hidden.json() == {key: str(value).replace("L-NONE", "L-B-ONLY") for key, value in missing.json().items()}
    assert [(r["warehouse"], r["lot"], r["on_hand"]) for r in seen_by_admin] == [("B", "L-B-ONLY", "2.0000")]


def test_an_unknown_supplier_is_a_400(world, admin_api):
    response = admin_api.get("/api/v1/purchase-orders/?supplier=NOBODY")

    assert (response.status_code, response.json()["code"]) == (400, "unknown_supplier")
    assert "'NOBODY'" in response.json()["detail"]


def test_transfers_may_name_the_other_end_of_a_shipment(world, manager):
    # The transfers list is only what leaves or reaches the manager's own warehouse A, so naming
    # B (which they may not view) filters it: 3 widgets shipped A -> B are listed under B.
    services.transfer_ship(
        item=world["widget"],
        quantity=Decimal(3),
        source=world["A"]["bin1"],
        to_warehouse=world["B"]["warehouse"],
        actor=None,
    )

    response = manager.get("/api/v1/transfers/?warehouse=B")

    assert response.status_code == 200, response.json()
    assert [(row["from_warehouse"], row["to_warehouse"]) for row in response.json()] == [("A", "B")]
    assert manager.get("/api/v1/transfers/?warehouse=ZZZ").status_code == 400  # unknown is still unknown
