"""/api/v1/stock-levels/ and /api/v1/lots/: availability per item x location x lot, or summed
per warehouse, location or lot; filters; scoped to the user's warehouses."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog.models import Location
from common import roles
from stock import services

LEVELS = "/api/v1/stock-levels/"


def rows(client, query: str = "") -> list[tuple]:
    response = client.get(f"{LEVELS}?{query}")
    assert response.status_code == 200, response.json()
    return [
        (r["sku"], r["warehouse"], r.get("location"), r.get("lot"), r["on_hand"], r["reserved"], r["available"])
        for r in response.json()["results"]
    ]


@pytest.fixture
def reserved(world):
    """2 WIDGET held in A (taken from BIN-1 by FEFO)."""
    return services.reservation_create(
        item=world["widget"], warehouse=world["A"]["warehouse"], quantity=Decimal(2), actor=None
    )


def test_per_item_location_and_lot(world, admin_api, reserved):
    assert rows(admin_api, "sku=WIDGET") == [
        ("WIDGET", "A", "BIN-1", None, "10.0000", "2.0000", "8.0000"),
        ("WIDGET", "A", "BIN-2", None, "5.0000", "0.0000", "5.0000"),
        ("WIDGET", "B", "BIN-1", None, "10.0000", "0.0000", "10.0000"),
    ]
    milk = admin_api.get(f"{LEVELS}?sku=MILK").json()["results"]
    assert [(r["location"], r["lot"], r["expiry_date"] is not None) for r in milk] == [
        ("BIN-1", "L-LATE", True),
        ("BIN-2", "L-EARLY", True),
    ]


def test_per_warehouse(world, admin_api, reserved):
    assert rows(admin_api, "group_by=warehouse") == [
        ("MILK", "A", None, None, "10.0000", "0.0000", "10.0000"),
        ("WIDGET", "A", None, None, "15.0000", "2.0000", "13.0000"),
        ("WIDGET", "B", None, None, "10.0000", "0.0000", "10.0000"),
    ]


def test_per_location_and_per_lot(world, admin_api):
    assert rows(admin_api, "group_by=location&sku=MILK") == [
        ("MILK", "A", "BIN-1", None, "6.0000", "0.0000", "6.0000"),
        ("MILK", "A", "BIN-2", None, "4.0000", "0.0000", "4.0000"),
    ]
    assert rows(admin_api, "group_by=lot&sku=MILK") == [
        ("MILK", "A", None, "L-EARLY", "4.0000", "0.0000", "4.0000"),
        ("MILK", "A", None, "L-LATE", "6.0000", "0.0000", "6.0000"),
    ]


def test_filters_by_warehouse_location_and_lot(world, admin_api):
    zone = Location.objects.create(warehouse=world["A"]["warehouse"], code="ZONE")
    Location.objects.filter(pk=world["A"]["bin2"].pk).update(parent=zone)

    assert [r[2] for r in rows(admin_api, "warehouse=b")] == ["BIN-1"]
    assert [r[:3] for r in rows(admin_api, "warehouse=A&location=BIN-2")] == [
        ("MILK", "A", "BIN-2"),
        ("WIDGET", "A", "BIN-2"),
    ]
    assert [r[:3] for r in rows(admin_api, "location=LOC-B-1")] == [("WIDGET", "B", "BIN-1")]
    assert len(rows(admin_api, "warehouse=A&location=ZONE")) == 2  # its sub-locations count
    nowhere = admin_api.get(f"{LEVELS}?location=NOWHERE")  # a bin that does not exist: named, not an empty list
    assert (nowhere.status_code, nowhere.json()["code"], nowhere.json()["location"]) == (
        400,
        "unknown_location",
        "NOWHERE",
    )
    assert [r[3] for r in rows(admin_api, "lot=L-EARLY")] == ["L-EARLY"]
    assert rows(admin_api, f"item={world['widget'].pk}&warehouse=B")[0][0] == "WIDGET"


def test_empty_levels_only_on_request(world, admin_api):
    services.stock_issue(item=world["widget"], location=world["B"]["bin1"], quantity=Decimal(10), actor=None)

    assert rows(admin_api, "warehouse=B") == []
    assert rows(admin_api, "warehouse=B&include_empty=true") == [
        ("WIDGET", "B", "BIN-1", None, "0.0000", "0.0000", "0.0000")
    ]


def test_a_bad_grouping_is_a_validation_error(world, admin_api):
    response = admin_api.get(f"{LEVELS}?group_by=planet")

    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert "group_by" in response.json()["fields"]


@pytest.mark.parametrize(
    ("role", "warehouses"),
    [
        (roles.ADMINISTRATOR, {"A", "B"}),
        (roles.AUDITOR, {"A", "B"}),
        (roles.INVENTORY_MANAGER, {"A"}),
        (roles.WAREHOUSE_CLERK, {"A"}),
        (roles.PURCHASING_MANAGER, {"A"}),
    ],
)
def test_levels_are_scoped_to_the_users_warehouses(world, user, api, role, warehouses):
    client = api(user(role))

    assert {r[1] for r in rows(client)} == warehouses
    if "B" in warehouses:
        assert {r[1] for r in rows(client, "group_by=warehouse&warehouse=B")} == {"B"}
    else:  # B is not theirs: answered as an unknown warehouse (tests/api/test_api_list_filters.py)
        assert client.get(f"{LEVELS}?warehouse=B").json()["code"] == "unknown_warehouse"


def test_reading_levels_needs_the_view_permission(world, user, api):
    response = api(user(None)).get(LEVELS)

    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")


# --- Lots -----------------------------------------------------------------------------------------


def test_lots_with_expiry_and_filters(world, admin_api):
    lots = admin_api.get("/api/v1/lots/").json()["results"]
    assert [(lot["sku"], lot["code"]) for lot in lots] == [("MILK", "L-EARLY"), ("MILK", "L-LATE")]

    early = admin_api.get("/api/v1/lots/?code=L-EARLY").json()["results"][0]
    soon = admin_api.get(f"/api/v1/lots/?expires_before={lots[1]['expiry_date']}").json()["results"]
    assert [lot["code"] for lot in soon] == ["L-EARLY"]
    assert admin_api.get(f"/api/v1/lots/{early['id']}/").json()["code"] == "L-EARLY"
    assert admin_api.get("/api/v1/lots/?sku=widget").json()["count"] == 0
    assert admin_api.get("/api/v1/lots/?expires_before=soon").json()["code"] == "validation_error"
