"""The audit trail shows a lot's history only to those who may see the lot (issue 12, 5: lots
are scoped like stock): an AMS manager does not learn an RTM-only lot's code or dates there."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from guardian.shortcuts import assign_perm

from catalog.models import Item, Location, Tracking, UnitOfMeasure, Warehouse
from catalog.permissions import WarehouseAction
from inventory_site.roles import AUDITOR, INVENTORY_MANAGER
from stock.services import stock_receive

pytestmark = pytest.mark.django_db

URL = "/admin/audit-trail/"


def _user(username: str, role: str) -> User:
    user = User.objects.create_user(username, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def test_an_rtm_only_lot_stays_out_of_an_ams_managers_audit_trail(client):
    ams = Warehouse.objects.create(code="AMS", name="Amsterdam")
    rtm = Warehouse.objects.create(code="RTM", name="Rotterdam")
    each = UnitOfMeasure.objects.get(code="each")
    milk = Item.objects.create(
        sku="MLK", name="Milk", base_unit=each, tracking=Tracking.LOT, valuation_method="average"
    )
    for warehouse, lot in ((ams, "LOT-AMS-1"), (rtm, "LOT-RTM-SECRET")):
        bin_ = Location.objects.create(warehouse=warehouse, code=f"{warehouse.code}-01")
        stock_receive(
            item=milk, location=bin_, quantity=Decimal(2), unit_cost=Decimal(1), lot=lot,
            expiry_date=date(2031, 1, 1), actor=None,
        )  # fmt: skip
    anna = _user("anna", INVENTORY_MANAGER)
    for action in WarehouseAction.ALL:
        assign_perm(f"catalog.{action}", anna, ams)

    client.force_login(anna)
    page = client.get(URL).content.decode()
    assert "LOT-AMS-1" in page
    assert "LOT-RTM-SECRET" not in page  # before: "Created lot LOT-RTM-SECRET ..." for everyone

    client.force_login(_user("otto", AUDITOR))
    assert "LOT-RTM-SECRET" in client.get(URL).content.decode()
