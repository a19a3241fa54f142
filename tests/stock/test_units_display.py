"""Quantities shown with their unit's places where people read them (issue 12, finding 4):
the admin's ledger lists and change pages, the stock card; the API keeps its 4-place strings."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from stock.models import Movement, StockLevel
from stock.services import reservation_create, stock_receive
from tests.stock.factories import ItemFactory, UnitFactory

D = Decimal


def cells(html: str, css_class: str) -> list[str]:
    """The texts of the change list's cells of one column (``field-<name>``)."""
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(rf'class="{css_class}"[^>]*>(.*?)</t[dh]>', html)]


@pytest.fixture
def stocked(bin_a, item):
    """15 WIDGET (each) and 1.25 BEANS (kg, 3 places) in A-01; 2 WIDGET reserved."""
    beans = ItemFactory(
        sku="BEANS", base_unit=UnitFactory(code="kg", name="Kilogram", dimension="mass", decimal_places=3)
    )
    beans.base_unit.refresh_from_db()
    stock_receive(item=item, location=bin_a, quantity=D(15), unit_cost=D(1), actor=None)
    stock_receive(item=beans, location=bin_a, quantity=D("1.25"), unit_cost=D(12), actor=None)
    reservation_create(item=item, warehouse=bin_a.warehouse, quantity=D(2), actor=None)
    return {"item": item, "beans": beans}


def test_the_stock_level_list_shows_15_each_and_1_250_kg(admin_client, stocked):
    html = admin_client.get(reverse("admin:stock_stocklevel_changelist") + "?location__kind__exact=internal").content
    html = html.decode()

    assert sorted(cells(html, "field-on_hand_display")) == ["1.250 kg", "15 each"]
    assert sorted(cells(html, "field-reserved_display")) == ["0.000 kg", "2 each"]
    assert sorted(cells(html, "field-available_display")) == ["1.250 kg", "13 each"]  # 15 - 2 reserved
    assert "15.0000" not in html


def test_the_movement_list_and_change_page_show_the_units_places(admin_client, stocked):
    html = admin_client.get(reverse("admin:stock_movement_changelist")).content.decode()
    assert sorted(cells(html, "field-quantity_display")) == ["1.250 kg", "15 each"]

    movement = Movement.objects.get(item=stocked["item"])
    page = admin_client.get(reverse("admin:stock_movement_change", args=[movement.pk])).content.decode()
    assert '<div class="readonly">15 each</div>' in page  # the quantity (its total cost stays 15.0000)
    assert "#1 Receipt 15 WIDGET" in page or f"#{movement.pk} Receipt 15 WIDGET" in page


def test_the_stock_level_change_page_and_reservation_pages(admin_client, stocked, bin_a):
    level = StockLevel.objects.get(item=stocked["item"], location=bin_a)
    page = admin_client.get(reverse("admin:stock_stocklevel_change", args=[level.pk])).content.decode()
    assert "15 each" in page and "15.0000" not in page

    listing = admin_client.get(reverse("admin:stock_reservation_changelist")).content.decode()
    assert cells(listing, "field-quantity_display") == ["2 each"]
    reservation = stocked["item"].reservations.get()
    page = admin_client.get(reverse("admin:stock_reservation_change", args=[reservation.pk])).content.decode()
    assert "2 each" in page and "2.0000" not in page


def test_the_stock_card_shows_the_balance_in_the_units_places(admin_client, stocked, warehouse):
    page = admin_client.get(reverse("admin:stock_card"), {"item": "BEANS", "warehouse": warehouse.pk})

    assert "<strong>1.250 kg</strong>" in page.content.decode()


def test_the_api_keeps_its_four_place_strings(stocked, bin_a):
    from rest_framework.test import APIClient

    from tests.stock.factories import UserFactory

    client = APIClient()
    client.force_authenticate(UserFactory(username="boss", is_superuser=True))
    body = client.get("/api/v1/stock-levels/", {"sku": "WIDGET"}).json()

    assert "15.0000" in str(body)
