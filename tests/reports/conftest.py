"""Fixtures of the report tests (tests/reports/test_reports_*): a ledger worked out by hand.

``ledger`` (built per test, inside its transaction): warehouses ``A`` (bins ``A1``, ``A2``) and
``B`` (bin ``B1``); item ``WIDGET`` (each, moving average, category Home > Kitchen). Postings,
all at 12:00 UTC, by the system (actor None, so back-dating is allowed):

| when       | what                                   | A qty / value | B qty / value |
|------------|----------------------------------------|---------------|---------------|
| 2025-01-10 | receive 10 @ 2.00 into A1              | 10 / 20       |               |
| 2025-01-15 | receive 10 @ 4.00 into A1              | 20 / 60 (avg 3) |             |
| 2025-01-20 | move 5 A1 -> A2 (no value crosses)     | 20 / 60       |               |
| 2025-02-05 | issue 4 from A1 at avg 3 (12)          | 16 / 48       |               |
| 2025-02-10 | scrap 1 from A2, reason damaged (3)    | 15 / 45       |               |
| 2025-02-12 | receive 8 @ 5.00 into B1               |               | 8 / 40        |
| 2025-02-20 | adjust +2 at A2, reason found (2 x 3)  | 17 / 51       |               |
| 2025-02-20 | issue 8 from B1 at avg 5 (40)          |               | 0 / 0         |

Bins now: A1 = 10 - 5 + 10 - 4 = 11, A2 = 5 - 1 + 2 = 6, B1 = 0.

``user(role, warehouses)``: a staff user of that role (common/roles.py) with the role's warehouse
rights (as in tests/api/conftest.py) in the warehouses named; ``client_for(user)`` and
``api_for(user)`` are a logged-in test client and a token API client.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from guardian.shortcuts import assign_perm
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from catalog.models import Item, Location, UnitOfMeasure, Warehouse
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


def noon(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T12:00:00").replace(tzinfo=UTC)


@pytest.fixture
def ledger(db) -> dict:
    ensure_virtual_locations()
    each = UnitOfMeasure.objects.get_or_create(code="each", defaults={"name": "Each", "ratio": Decimal(1)})[0]
    a = Warehouse.objects.create(code="A", name="Alpha")
    b = Warehouse.objects.create(code="B", name="Beta")
    a1 = Location.objects.create(warehouse=a, code="A1")
    a2 = Location.objects.create(warehouse=a, code="A2")
    b1 = Location.objects.create(warehouse=b, code="B1")
    widget = Item.objects.create(
        sku="WIDGET", name="Widget", base_unit=each, category=category_get_or_create_path(path="Home > Kitchen")
    )
    D = Decimal
    services.stock_receive(
        item=widget, location=a1, quantity=D(10), unit_cost=D(2), actor=None, occurred_at=noon("2025-01-10")
    )
    services.stock_receive(
        item=widget, location=a1, quantity=D(10), unit_cost=D(4), actor=None, occurred_at=noon("2025-01-15")
    )
    services.stock_transfer(
        item=widget, source=a1, destination=a2, quantity=D(5), actor=None, occurred_at=noon("2025-01-20")
    )
    services.stock_issue(item=widget, location=a1, quantity=D(4), actor=None, occurred_at=noon("2025-02-05"))
    services.stock_scrap(
        item=widget, location=a2, quantity=D(1), reason_code="damaged", actor=None, occurred_at=noon("2025-02-10")
    )
    services.stock_receive(
        item=widget, location=b1, quantity=D(8), unit_cost=D(5), actor=None, occurred_at=noon("2025-02-12")
    )
    services.stock_adjust(
        item=widget, location=a2, quantity_delta=D(2), reason_code="found", actor=None, occurred_at=noon("2025-02-20")
    )
    services.stock_issue(item=widget, location=b1, quantity=D(8), actor=None, occurred_at=noon("2025-02-20"))
    return {"A": a, "B": b, "A1": a1, "A2": a2, "B1": b1, "widget": widget, "each": each}


@pytest.fixture
def user(ledger) -> Callable[..., User]:
    def make(role: str | None, warehouses: tuple[str, ...] = ("A", "B"), *, username: str | None = None) -> User:
        name = username or (role or "nobody").lower().replace(" ", "_")
        made = User.objects.create_user(name, is_staff=True, email=f"{name}@example.com")
        if role is not None:
            made.groups.add(Group.objects.get(name=role))
            for code in warehouses:
                for action in SCOPED.get(role, ()):
                    assign_perm(f"catalog.{action}", made, ledger[code])
        return made

    return make


@pytest.fixture
def manager(user) -> User:
    return user(roles.INVENTORY_MANAGER)


@pytest.fixture
def client_for() -> Callable[[User], Client]:
    def make(for_user: User) -> Client:
        client = Client()
        client.force_login(for_user)
        return client

    return make


@pytest.fixture
def api_for() -> Callable[[User], APIClient]:
    def make(for_user: User) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=for_user)[0].key}")
        return client

    return make


@pytest.fixture
def ask_adjustment(ledger, user) -> Callable[[], object]:
    """``ask_adjustment()``: a clerk of A (who may not adjust) asks to take 1 WIDGET out of A1:
    a pending ``AdjustmentRequest`` (returned), nothing posted."""
    clerk = user(roles.WAREHOUSE_CLERK, ("A",), username="floor_clerk")

    def ask() -> object:
        return services.adjustment_submit(
            kind="adjustment",
            item=ledger["widget"],
            location=ledger["A1"],
            quantity_delta=Decimal(-1),
            reason_code="lost",
            actor=clerk,
        ).request

    return ask
