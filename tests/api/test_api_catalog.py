"""Master data through the API: items (filters, pagination), categories, warehouses and locations
(scoped to the user's warehouses); authentication by token and session; reading needs the role's
view permission."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from catalog.models import Item, ItemStatus, UnitOfMeasure
from common import roles

ITEMS = "/api/v1/items/"


def test_items_with_their_barcodes_and_category(world, admin_api):
    response = admin_api.get(ITEMS)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    widget = next(item for item in body["results"] if item["sku"] == "WIDGET")
    assert widget["barcodes"] == ["4006381333931"]
    assert widget["category_path"] == "Home > Kitchen"
    assert widget["standard_cost"] == "2.0000"
    assert widget["base_unit"] == "each"
    assert admin_api.get(f"{ITEMS}{widget['id']}/").json()["sku"] == "WIDGET"


@pytest.mark.parametrize(
    ("query", "skus"),
    [
        ("sku=widget", ["WIDGET"]),
        ("sku=%20WIDGET%20", ["WIDGET"]),
        ("barcode=4006381333931", ["WIDGET"]),
        ("status=active", ["MILK", "WIDGET"]),
        ("status=discontinued", []),
        ("tracking=lot", ["MILK"]),
        ("search=wid", ["WIDGET"]),
    ],
)
def test_item_filters(world, admin_api, query, skus):
    response = admin_api.get(f"{ITEMS}?{query}")

    assert response.status_code == 200
    assert [item["sku"] for item in response.json()["results"]] == skus


def test_the_category_filter_includes_sub_categories(world, admin_api):
    home, kitchen, food = world["home"], world["kitchen"], world["food"]

    assert [i["sku"] for i in admin_api.get(f"{ITEMS}?category={home.pk}").json()["results"]] == ["WIDGET"]
    assert [i["sku"] for i in admin_api.get(f"{ITEMS}?category={kitchen.pk}").json()["results"]] == ["WIDGET"]
    assert [i["sku"] for i in admin_api.get(f"{ITEMS}?category={food.pk}").json()["results"]] == ["MILK"]
    assert admin_api.get(f"{ITEMS}?category=999999").json()["count"] == 0
    assert admin_api.get(f"{ITEMS}?category=abc").json()["code"] == "validation_error"
    assert admin_api.get(f"{ITEMS}?status=lost").json()["code"] == "validation_error"


def test_items_are_paginated_with_a_maximum_page_size(world, admin_api):
    each = UnitOfMeasure.objects.get(code="each")
    Item.objects.bulk_create([Item(sku=f"BULK-{n:03d}", name=f"Bulk {n}", base_unit=each) for n in range(600)])

    first = admin_api.get(ITEMS).json()
    big = admin_api.get(f"{ITEMS}?page_size=10000").json()
    last = admin_api.get(f"{ITEMS}?page=13").json()

    assert (first["count"], len(first["results"])) == (602, 50)
    assert first["next"].endswith("?page=2")
    assert len(big["results"]) == 500
    assert len(last["results"]) == 2
    assert admin_api.get(f"{ITEMS}?page=99").json()["code"] == "not_found"


def test_discontinued_items_are_listed_with_their_status(world, admin_api):
    Item.objects.filter(sku="MILK").update(status=ItemStatus.DISCONTINUED, discontinued_on="2024-01-01")

    (milk,) = admin_api.get(f"{ITEMS}?status=discontinued").json()["results"]

    assert (milk["sku"], milk["discontinued_on"]) == ("MILK", "2024-01-01")


def test_categories(world, admin_api):
    response = admin_api.get("/api/v1/categories/")

    assert [c["path"] for c in response.json()["results"]] == ["Food", "Home", "Home > Kitchen"]
    kitchen = admin_api.get(f"/api/v1/categories/?parent={world['home'].pk}").json()["results"]
    assert [c["name"] for c in kitchen] == ["Kitchen"]


@pytest.mark.parametrize(
    ("role", "codes"),
    [
        (roles.ADMINISTRATOR, ["A", "B"]),
        (roles.AUDITOR, ["A", "B"]),
        (roles.INVENTORY_MANAGER, ["A"]),
        (roles.PURCHASING_MANAGER, ["A"]),
        (roles.WAREHOUSE_CLERK, ["A"]),
    ],
)
def test_warehouses_and_locations_are_scoped_to_the_users_warehouses(world, user, api, role, codes):
    client = api(user(role))

    warehouses = client.get("/api/v1/warehouses/").json()["results"]
    locations = client.get("/api/v1/locations/?kind=internal").json()["results"]

    assert [w["code"] for w in warehouses] == codes
    assert sorted({loc["warehouse"] for loc in locations}) == codes
    other = world["B"]
    if "B" not in codes:
        assert client.get(f"/api/v1/warehouses/{other['warehouse'].pk}/").status_code == 404
        assert client.get(f"/api/v1/locations/{other['bin1'].pk}/").status_code == 404


def test_locations_by_warehouse_code_and_barcode_and_the_virtual_ones(world, admin_api):
    by_code = admin_api.get("/api/v1/locations/?warehouse=a&code=bin-2").json()["results"]
    by_barcode = admin_api.get("/api/v1/locations/?barcode=LOC-B-1").json()["results"]
    virtual = admin_api.get("/api/v1/locations/?kind=customer").json()["results"]

    assert [(loc["warehouse"], loc["code"]) for loc in by_code] == [("A", "BIN-2")]
    assert [(loc["warehouse"], loc["code"]) for loc in by_barcode] == [("B", "BIN-1")]
    assert [(loc["warehouse"], loc["code"]) for loc in virtual] == [(None, "CUSTOMER")]


# --- Authentication -------------------------------------------------------------------------------


def test_without_credentials_it_is_401_with_the_scheme_to_use(world):
    response = APIClient().get(ITEMS)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"


def test_a_wrong_token_is_401(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = client.get(ITEMS)

    assert (response.status_code, response.json()["code"]) == (401, "authentication_failed")


def test_an_inactive_users_token_is_refused(world, user, api):
    clerk = user(roles.WAREHOUSE_CLERK)
    client = api(clerk)
    clerk.is_active = False
    clerk.save()

    assert client.get(ITEMS).status_code == 401


def test_session_authentication_for_the_browsable_api(world, admin_user):
    client = APIClient()
    client.force_login(admin_user)

    response = client.get(ITEMS, HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert b"WIDGET" in response.content
    assert client.get("/api/v1/", HTTP_ACCEPT="application/json").json()["items"].endswith("/api/v1/items/")


def test_session_writes_need_the_csrf_token(world, admin_user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(admin_user)

    response = client.post("/api/v1/sales/", {"reference": "X", "warehouse": "A", "lines": []}, format="json")

    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")


def test_reading_needs_the_roles_view_permission(world, user, api):
    nobody = api(user(None))

    for path in (ITEMS, "/api/v1/categories/", "/api/v1/warehouses/", "/api/v1/locations/"):
        response = nobody.get(path)
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied"), path
