"""Fixtures of the purchasing tests (tests/purchasing/*): the stock tests' world (warehouses
``WH1`` and ``WH2``, bins ``A-01``/``A-02`` in WH1 and ``B-01`` in WH2, items ``WIDGET``,
``BOLT`` and lot-tracked perishable ``MILK``, the superuser ``actor``, ``snapshot``) plus:

- ``supplier``: ``ACME``, lead time 5 days, selling WIDGET at 2.50 (preferred) and MILK at 1.20;
- ``other_supplier``: ``BETA``, lead time 10 days, selling WIDGET at 2.00 (minimum 10, in 6s);
- ``person(role, *actions)``: a user of that role group with the warehouse ``actions`` on WH1;
- ``boss``: a test client signed in to the admin as ``actor``;
- ``forecast_of(item, warehouse, daily=20, sd=5)``: a stored forecast of a flat daily demand.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from guardian.shortcuts import assign_perm

from purchasing.models import DemandForecast, Supplier, SupplierItem
from tests.stock import conftest as stock_fixtures
from tests.stock.factories import UserFactory

# The stock tests' fixtures, shared.
actor, warehouse, other_warehouse = stock_fixtures.actor, stock_fixtures.warehouse, stock_fixtures.other_warehouse
bin_a, bin_b, bin_c = stock_fixtures.bin_a, stock_fixtures.bin_b, stock_fixtures.bin_c
item, lot_item, snapshot = stock_fixtures.item, stock_fixtures.lot_item, stock_fixtures.snapshot
virtual, virtual_locations = stock_fixtures.virtual, stock_fixtures.virtual_locations


@pytest.fixture
def supplier(item, lot_item) -> Supplier:
    acme = Supplier.objects.create(code="ACME", name="Acme Trading", lead_time_days=5)
    SupplierItem.objects.create(supplier=acme, item=item, unit_cost=Decimal("2.50"), preferred=True)
    SupplierItem.objects.create(supplier=acme, item=lot_item, unit_cost=Decimal("1.20"))
    return acme


@pytest.fixture
def other_supplier(item) -> Supplier:
    beta = Supplier.objects.create(code="BETA", name="Beta Supplies", lead_time_days=10)
    SupplierItem.objects.create(
        supplier=beta, item=item, unit_cost=Decimal("2.00"), min_order_quantity=Decimal(10), order_multiple=Decimal(6)
    )
    return beta


@pytest.fixture
def person(warehouse) -> Callable[..., object]:
    def make(role: str, *actions: str) -> object:
        user = UserFactory()
        user.groups.add(Group.objects.get(name=role))
        for action in actions:
            assign_perm(f"catalog.{action}", user, warehouse)
        return user

    return make


@pytest.fixture
def boss(client, actor):
    actor.is_staff = True
    actor.save()
    client.force_login(actor)
    return client


@pytest.fixture
def forecast_of(db) -> Callable[..., DemandForecast]:
    def make(item, warehouse, daily: str = "20", sd: str = "5") -> DemandForecast:  # noqa: ANN001
        return DemandForecast.objects.create(
            item=item,
            warehouse=warehouse,
            method="Holt-Winters (weekly season)",
            daily_demand=Decimal(daily),
            daily_sd=Decimal(sd),
            mase=Decimal("0.5"),
            history_days=140,
            daily=[daily] * 91,
            fitted_at=timezone.now(),
        )

    return make
