"""Fixtures of the counting tests (tests/counting/*): the stock tests' world (warehouses ``WH1``
and ``WH2``, bins ``A-01``/``A-02`` in WH1 and ``B-01`` in WH2, items ``WIDGET`` (untracked,
moving average) and lot-tracked ``MILK``, the superuser ``actor``, ``snapshot``) plus:

- ``manager``: an Inventory manager who may view, post, adjust and approve in WH1;
- ``clerk`` and ``other_clerk``: Warehouse clerks who may view and post in WH1;
- ``stocked``: 100 WIDGET received into A-01 at 1.00 each (value 100.00) by ``actor``;
- ``counted(count, quantity, by)``: record ``quantity`` of WIDGET at A-01 on ``count`` by ``by``.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from guardian.shortcuts import assign_perm

from catalog.permissions import WarehouseAction
from common.roles import INVENTORY_MANAGER, WAREHOUSE_CLERK
from counting.models import Count, CountLine
from counting.services import count_line_record
from stock.services import stock_receive
from tests.stock import conftest as stock_fixtures
from tests.stock.factories import UserFactory

actor, warehouse, other_warehouse = stock_fixtures.actor, stock_fixtures.warehouse, stock_fixtures.other_warehouse
bin_a, bin_b, bin_c = stock_fixtures.bin_a, stock_fixtures.bin_b, stock_fixtures.bin_c
item, lot_item, snapshot = stock_fixtures.item, stock_fixtures.lot_item, stock_fixtures.snapshot
virtual, virtual_locations = stock_fixtures.virtual, stock_fixtures.virtual_locations


def make_person(warehouse, role: str, *actions: str, username: str | None = None):  # noqa: ANN001, ANN201
    user = UserFactory(**({"username": username} if username else {}))
    user.groups.add(Group.objects.get(name=role))
    for action in actions:
        assign_perm(f"catalog.{action}", user, warehouse)
    return user


@pytest.fixture
def manager(warehouse):  # noqa: ANN001, ANN201
    return make_person(
        warehouse,
        INVENTORY_MANAGER,
        WarehouseAction.VIEW,
        WarehouseAction.POST,
        WarehouseAction.ADJUST,
        WarehouseAction.APPROVE,
        username="manager",
    )


@pytest.fixture
def clerk(warehouse):  # noqa: ANN001, ANN201
    return make_person(warehouse, WAREHOUSE_CLERK, WarehouseAction.VIEW, WarehouseAction.POST, username="clerk1")


@pytest.fixture
def other_clerk(warehouse):  # noqa: ANN001, ANN201
    return make_person(warehouse, WAREHOUSE_CLERK, WarehouseAction.VIEW, WarehouseAction.POST, username="clerk2")


@pytest.fixture
def stocked(item, bin_a, actor):  # noqa: ANN001, ANN201
    return stock_receive(item=item, location=bin_a, quantity=Decimal(100), unit_cost=Decimal("1.00"), actor=actor)


@pytest.fixture
def counted(item, bin_a) -> Callable[..., CountLine]:  # noqa: ANN001
    def record(count: Count, quantity: str, by, **kwargs) -> CountLine:  # noqa: ANN001, ANN003
        return count_line_record(count=count, location=bin_a, item=item, quantity=Decimal(quantity), actor=by, **kwargs)

    return record
