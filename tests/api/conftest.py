"""Fixtures of the API tests (tests/api/*): a small world of two warehouses with stock, and
clients that authenticate with a token as a user of each role.

- ``world`` (built once per module, see ``_module_world``): warehouses ``A`` and ``B``, each
  with bins ``BIN-1`` and ``BIN-2`` (barcodes ``LOC-A-1`` ...); items ``WIDGET`` (untracked,
  moving average, standard cost 2, barcode ``4006381333931``, category Home > Kitchen) and
  ``MILK`` (lot-tracked, perishable, category Food). Stock: WIDGET 10 in A/BIN-1, 5 in A/BIN-2,
  10 in B/BIN-1 (unit cost 2); MILK lot ``L-EARLY`` (expires in 10 days) 4 in A/BIN-2 and lot
  ``L-LATE`` (30 days) 6 in A/BIN-1.
- ``user(role)``: a user of that role (a group of common/roles.py) whose scoped
  warehouse permissions are on ``A`` only (as in docs/roles.md: clerks view, post and receive;
  managers everything; purchasers view and receive); Administrators and Auditors have their
  global grants. ``user(None)`` has no role at all.
- ``api(user)``: an ``APIClient`` sending ``Authorization: Token <key>`` of that user;
  ``admin_api``: the same for a superuser.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from catalog.models import Barcode, Item, Location, Tracking, UnitOfMeasure, Warehouse
from catalog.permissions import WarehouseAction
from catalog.services import category_get_or_create_path
from common import roles
from stock import services
from tests.stock.factories import ensure_virtual_locations

SCOPED = {
    roles.INVENTORY_MANAGER: WarehouseAction.ALL,
    roles.PURCHASING_MANAGER: (WarehouseAction.VIEW, WarehouseAction.RECEIVE_PURCHASES),
    roles.WAREHOUSE_CLERK: (WarehouseAction.VIEW, WarehouseAction.POST, WarehouseAction.RECEIVE_PURCHASES),
}


@pytest.fixture(scope="module")
def _module_world(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict]:
    """The world, built once per test module inside a transaction rolled back after the
    module's last test; each test's own changes roll back to it (savepoints)."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield _build_world()
        transaction.set_rollback(True)


@pytest.fixture
def world(db, _module_world) -> dict:
    return _module_world


def _build_world() -> dict:
    ensure_virtual_locations()
    each = UnitOfMeasure.objects.get_or_create(code="each", defaults={"name": "Each", "ratio": Decimal(1)})[0]
    kitchen = category_get_or_create_path(path="Home > Kitchen")
    food = category_get_or_create_path(path="Food")
    widget = Item.objects.create(
        sku="WIDGET",
        name="Widget",
        base_unit=each,
        category=kitchen,
        standard_cost=Decimal(2),
        valuation_method="average",
    )
    Barcode.objects.create(item=widget, code="4006381333931")
    milk = Item.objects.create(
        sku="MILK",
        name="Milk 1 l",
        base_unit=each,
        category=food,
        tracking=Tracking.LOT,
        perishable=True,
        shelf_life_days=30,
        valuation_method="average",
    )
    world: dict = {"widget": widget, "milk": milk, "kitchen": kitchen, "home": kitchen.parent, "food": food}
    for code in ("A", "B"):
        warehouse = Warehouse.objects.create(code=code, name=f"Warehouse {code}")
        world[code] = {
            "warehouse": warehouse,
            "bin1": Location.objects.create(warehouse=warehouse, code="BIN-1", barcode=f"LOC-{code}-1"),
            "bin2": Location.objects.create(warehouse=warehouse, code="BIN-2", barcode=f"LOC-{code}-2"),
        }
    receive = services.stock_receive
    receive(item=widget, location=world["A"]["bin1"], quantity=Decimal(10), unit_cost=Decimal(2), actor=None)
    receive(item=widget, location=world["A"]["bin2"], quantity=Decimal(5), unit_cost=Decimal(2), actor=None)
    receive(item=widget, location=world["B"]["bin1"], quantity=Decimal(10), unit_cost=Decimal(2), actor=None)
    today = timezone.localdate()
    receive(
        item=milk,
        location=world["A"]["bin2"],
        quantity=Decimal(4),
        unit_cost=Decimal(1),
        lot="L-EARLY",
        expiry_date=today + timedelta(days=10),
        actor=None,
    )
    receive(
        item=milk,
        location=world["A"]["bin1"],
        quantity=Decimal(6),
        unit_cost=Decimal(1),
        lot="L-LATE",
        expiry_date=today + timedelta(days=30),
        actor=None,
    )
    return world


@pytest.fixture
def user(world) -> Callable[[str | None], User]:
    def make(role: str | None, *, username: str | None = None) -> User:
        name = username or (role or "nobody").lower().replace(" ", "_")
        made = User.objects.create_user(name, is_staff=role not in (None, roles.WAREHOUSE_CLERK))
        if role is not None:
            made.groups.add(Group.objects.get(name=role))
            for action in SCOPED.get(role, ()):
                assign_perm(f"catalog.{action}", made, world["A"]["warehouse"])
        return made

    return make


@pytest.fixture
def api() -> Callable[[User], APIClient]:
    def make(for_user: User) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=for_user)[0].key}")
        return client

    return make


@pytest.fixture
def admin_user(world) -> User:
    return User.objects.create_superuser("root", email="root@example.com", password=None)


@pytest.fixture
def admin_api(api, admin_user) -> APIClient:
    return api(admin_user)
