"""One code look-up for every door (issue 13): the API's ``sku`` / location fields and the floor's
scan (its look-up page) name the same item or bin for the same code. The rule
(``catalog.selectors.item_by_code``, ``location_by_code``, ``stock.selectors.code_lookup``):

- items: SKU as stored, then barcode exactly, then SKU ignoring case (an exact match wins);
- locations: barcode exactly (unique everywhere), then a code of the warehouse ignoring case.

Before, the API tried the SKU ignoring case first and a bin code before a bin barcode; the floor
tried item barcodes before SKUs and bin barcodes ignoring case: some codes named different things."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from catalog.models import Barcode, BarcodeKind, Item, Location, UnitOfMeasure, Warehouse
from stock.models import Movement
from tests.stock.factories import ensure_virtual_locations

pytestmark = pytest.mark.django_db


@pytest.fixture
def codes() -> dict:
    ensure_virtual_locations()
    each = UnitOfMeasure.objects.get_or_create(code="each", defaults={"name": "Each", "ratio": Decimal(1)})[0]
    north = Warehouse.objects.create(code="NORTH", name="North")
    south = Warehouse.objects.create(code="SOUTH", name="South")

    def item(sku: str, barcode: str | None = None) -> Item:
        made = Item.objects.create(sku=sku, name=f"Item {sku}", base_unit=each, standard_cost=Decimal(1))
        if barcode:
            Barcode.objects.create(item=made, code=barcode, kind=BarcodeKind.INTERNAL)
        return made

    world = {
        "north": north,
        "south": south,
        "mixed": item("Mix-Case-1"),
        # a barcode equal to another item's SKU: DUO-1 is BARCODED's barcode and TWIN's SKU
        "barcoded": item("BARCODED", barcode="DUO-1"),
        "twin": item("DUO-1"),
        # a lower-case barcode that is another item's SKU ignoring case
        "upper": item("CASE-9"),
        "lower": item("LOWER", barcode="case-9"),
        # the same bin code in two warehouses
        "north_bin": Location.objects.create(warehouse=north, code="A-01", barcode="LOC-N-A-01"),
        "south_bin": Location.objects.create(warehouse=south, code="A-01", barcode="LOC-S-A-01"),
        # a bin whose barcode is another bin's code in the same warehouse
        "labelled": Location.objects.create(warehouse=south, code="B-07", barcode="Z-9"),
        "zed": Location.objects.create(warehouse=south, code="Z-9"),
    }
    root = User.objects.create_superuser("root", "root@example.com", "pw")
    world["api"] = APIClient()
    world["api"].credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=root).key}")
    world["floor"] = {}
    for warehouse in (north, south):
        client = Client()
        client.force_login(root)
        session = client.session
        session["floor_warehouse"] = warehouse.pk
        session.save()
        world["floor"][warehouse.code] = client
    return world


def api_names(world: dict, *, sku: str, location: str, warehouse: str) -> tuple[Item, Location]:
    """The item and bin the API's receipt took for these codes (from the movement it posted)."""
    body = {"kind": "receipt", "sku": sku, "quantity": "1", "warehouse": warehouse, "to_location": location}
    response = world["api"].post("/api/v1/movements/", body, format="json")
    assert response.status_code == 201, response.json()
    movement = Movement.objects.get(pk=response.json()["id"])
    return movement.item, movement.destination


def floor_names(world: dict, code: str, *, warehouse: str) -> Item | Location:
    """What the floor's look-up page shows for a scanned code."""
    response = world["floor"][warehouse].get("/floor/lookup/", {"code": code})
    assert response.status_code == 200
    assert "error" not in response.context, response.context.get("error")
    return response.context.get("item") or response.context["location"]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("Mix-Case-1", "mixed"),  # SKU as stored
        ("mix-case-1", "mixed"),  # SKU ignoring case
        (" MIX-CASE-1 ", "mixed"),  # spaces around are not part of a code
        ("DUO-1", "twin"),  # the SKU as stored beats BARCODED's barcode (the floor took BARCODED)
        ("duo-1", "twin"),  # no exact SKU or barcode: TWIN's SKU ignoring case
        ("case-9", "lower"),  # LOWER's barcode exactly beats CASE-9 ignoring case (the API took UPPER)
        ("CASE-9", "upper"),  # the SKU as stored
    ],
)
def test_an_item_code_names_the_same_item_at_both_doors(codes, code, expected):
    item, _ = api_names(codes, sku=code, location="A-01", warehouse="NORTH")
    assert item == codes[expected]
    assert floor_names(codes, code, warehouse="NORTH") == codes[expected]


@pytest.mark.parametrize(
    ("code", "warehouse", "expected"),
    [
        ("A-01", "NORTH", "north_bin"),  # the same code in two warehouses: the one worked in
        ("a-01", "SOUTH", "south_bin"),  # codes ignore case
        ("LOC-N-A-01", "NORTH", "north_bin"),  # a barcode
        ("Z-9", "SOUTH", "labelled"),  # a barcode beats another bin's code (the API took Z-9's bin)
        ("z-9", "SOUTH", "zed"),  # a barcode is exact: ignoring case only the code matches
    ],
)
def test_a_location_code_names_the_same_bin_at_both_doors(codes, code, warehouse, expected):
    _, location = api_names(codes, sku="BARCODED", location=code, warehouse=warehouse)
    assert location == codes[expected]
    assert floor_names(codes, code, warehouse=warehouse) == codes[expected]
