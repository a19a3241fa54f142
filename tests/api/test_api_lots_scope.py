"""Lots are scoped like stock (issue 12, 5): ``/api/v1/lots/`` and the admin's lot list show a
lot only to users who may view stock in a warehouse the lot has moved in (or out of); another
warehouse's lot by id is a 404. A lot with no movement yet is visible to anyone with a warehouse."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from inventory_site import roles
from stock import services
from stock.models import Lot

LOTS = "/api/v1/lots/"


@pytest.fixture
def lot_in_b(world) -> Lot:
    """MILK lot L-B received in warehouse B only (the world's clerk and manager work in A)."""
    return services.stock_receive(
        item=world["milk"],
        location=world["B"]["bin1"],
        quantity=Decimal(3),
        unit_cost=Decimal(1),
        lot="L-B",
        expiry_date=timezone.localdate() + timedelta(days=20),
        actor=None,
    ).lot


def codes(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {lot["code"] for lot in response.json()["results"]}


def test_a_clerk_of_a_sees_only_the_lots_of_a(world, user, api, lot_in_b):
    clerk = api(user(roles.WAREHOUSE_CLERK))

    assert codes(clerk.get(LOTS)) == {"L-EARLY", "L-LATE"}  # before: L-B too, with its received date
    assert codes(clerk.get(LOTS, {"code": "L-B"})) == set()


def test_another_warehouses_lot_by_id_is_a_404(world, user, api, lot_in_b):
    clerk = api(user(roles.WAREHOUSE_CLERK))

    response = clerk.get(f"{LOTS}{lot_in_b.pk}/")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}
    assert "L-B" not in response.content.decode()


def test_a_lot_that_moved_from_b_into_a_is_visible_in_a(world, user, api, lot_in_b):
    services.stock_transfer(
        item=world["milk"],
        quantity=Decimal(1),
        source=world["B"]["bin1"],
        destination=world["A"]["bin1"],
        lot=lot_in_b,
        actor=None,
    )
    clerk = api(user(roles.WAREHOUSE_CLERK))

    assert "L-B" in codes(clerk.get(LOTS))


def test_global_viewers_see_every_lot(world, user, api, admin_api, lot_in_b):
    assert codes(api(user(roles.AUDITOR)).get(LOTS)) == {"L-EARLY", "L-LATE", "L-B"}
    assert codes(admin_api.get(LOTS)) == {"L-EARLY", "L-LATE", "L-B"}


def test_a_lot_without_movements_is_visible_to_whoever_has_a_warehouse(world, user, api):
    Lot.objects.create(item=world["milk"], code="L-NEW")

    assert "L-NEW" in codes(api(user(roles.WAREHOUSE_CLERK)).get(LOTS))
    # A user of the role without any warehouse sees no lot at all (model permission only).
    clerk_nowhere = user(None, username="nowhere")
    clerk_nowhere.groups.add(*user(roles.WAREHOUSE_CLERK, username="template").groups.all())
    assert codes(api(clerk_nowhere).get(LOTS)) == set()


def test_the_admin_lot_list_and_pages_are_scoped_too(world, user, lot_in_b):
    manager = user(roles.INVENTORY_MANAGER)
    client = Client()
    client.force_login(manager)

    listing = client.get("/admin/stock/lot/")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "L-LATE" in page
    assert "L-B" not in page  # before: listed, with its received date

    assert client.get(f"/admin/stock/lot/{lot_in_b.pk}/change/").status_code == 404
    assert client.get(f"/admin/stock/lot/{lot_in_b.pk}/history/").status_code == 404
    lot_in_a = Lot.objects.get(code="L-LATE")
    assert client.get(f"/admin/stock/lot/{lot_in_a.pk}/change/").status_code == 200
