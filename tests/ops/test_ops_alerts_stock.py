"""The ledger's alerts through ``common.alerts``: an item out of stock in a warehouse is mailed
once, clears when stock arrives and is mailed again when it runs out again; expiring lots and
items out of stock come in one digest per manager per run."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.utils import timezone
from guardian.shortcuts import assign_perm

from catalog.permissions import WarehouseAction
from common.models import AlertCondition
from common.roles import INVENTORY_MANAGER, WAREHOUSE_CLERK
from stock import services
from stock.tasks import expiry_alerts
from tests.stock.factories import ItemFactory, LocationFactory, UserFactory, WarehouseFactory, ensure_virtual_locations

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def world(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.STOCK_EXPIRY_ALERT_DAYS = 14
    ensure_virtual_locations()
    wh1, wh2 = WarehouseFactory(code="WH1"), WarehouseFactory(code="WH2")
    manager = UserFactory(email="manager@example.com")
    manager.groups.add(Group.objects.get(name=INVENTORY_MANAGER))
    assign_perm("catalog.view_warehouse_stock", manager, wh1)  # not WH2
    return {
        "bin": LocationFactory(warehouse=wh1, code="A-01"),
        "other": LocationFactory(warehouse=wh2, code="B-01"),
        "widget": ItemFactory(sku="WIDGET", name="Widget"),
        "milk": ItemFactory(sku="MILK", name="Milk 1 l", lot_tracked=True),
    }


def test_out_of_stock_is_mailed_once_clears_on_receipt_and_comes_back(world):
    widget, bin_a = world["widget"], world["bin"]
    services.stock_receive(item=widget, location=bin_a, quantity=D(2), actor=None)
    assert expiry_alerts() == 0  # 2 available: nothing to say
    services.stock_issue(item=widget, location=bin_a, quantity=D(2), actor=None)  # 2 - 2 = 0 available
    # An item out of stock in WH2 only, where the manager has no right: not theirs.
    services.stock_receive(item=widget, location=world["other"], quantity=D(1), actor=None)
    services.stock_issue(item=widget, location=world["other"], quantity=D(1), actor=None)

    assert expiry_alerts() == 1
    (message,) = mail.outbox
    assert message.subject == "Out of stock: 1 item(s) (0 below zero)"
    assert "WH1: WIDGET Widget, 0 each available" in message.body and "WH2" not in message.body

    assert expiry_alerts() == 0  # still out of stock: not again
    services.stock_receive(item=widget, location=bin_a, quantity=D(1), actor=None)
    assert expiry_alerts() == 0  # back in stock: the condition clears quietly
    assert AlertCondition.objects.get(kind="low_stock").cleared_at is not None
    services.stock_issue(item=widget, location=bin_a, quantity=D(1), actor=None)
    assert expiry_alerts() == 1  # out again: told again
    assert len(mail.outbox) == 2


def test_expiring_lots_and_items_out_of_stock_come_in_one_digest(world):
    widget, milk, bin_a = world["widget"], world["milk"], world["bin"]
    services.stock_receive(item=widget, location=bin_a, quantity=D(1), actor=None)
    services.stock_issue(item=widget, location=bin_a, quantity=D(1), actor=None)
    expiry = timezone.localdate() + timedelta(5)
    services.stock_receive(item=milk, location=bin_a, quantity=D(4), lot="SOON", expiry_date=expiry, actor=None)

    assert expiry_alerts() == 1
    (message,) = mail.outbox
    # 1 lot expiring + 1 item out of stock = 2 new, in one mail
    assert message.subject == "Inventory alerts: 2 new (Expiring stock 1, Out of stock 1)"
    assert "lot SOON, 4 each on hand, expires in 5 day(s)" in message.body
    assert "WH1: WIDGET Widget, 0 each available" in message.body


def test_adjustment_requests_waiting_reach_the_approvers_once_and_clear_when_decided(world, settings):
    """A clerk's scrap of 6 widgets (limit 5) waits for approval: the manager who may approve in
    WH1 hears of it once; it clears when approved; the clerk who asked hears nothing."""
    settings.STOCK_ADJUSTMENT_APPROVAL_QUANTITY = "5"
    widget, bin_a = world["widget"], world["bin"]
    manager = Group.objects.get(name=INVENTORY_MANAGER).user_set.get(email="manager@example.com")
    for action in (WarehouseAction.POST, WarehouseAction.APPROVE):  # approving posts the scrap
        assign_perm(f"catalog.{action}", manager, bin_a.warehouse)
    clerk = UserFactory(email="clerk@example.com")
    clerk.groups.add(Group.objects.get(name=WAREHOUSE_CLERK))
    for action in (WarehouseAction.VIEW, WarehouseAction.POST):
        assign_perm(f"catalog.{action}", clerk, bin_a.warehouse)
    services.stock_receive(item=widget, location=bin_a, quantity=D(10), actor=None)  # 10 on hand
    outcome = services.adjustment_submit(
        kind="scrap", item=widget, location=bin_a, quantity_delta=D(-6), reason_code="DAMAGED", actor=clerk
    )
    assert outcome.request is not None and outcome.movements == []  # 6 > 5: waits

    assert expiry_alerts() == 1
    (message,) = mail.outbox
    assert message.to == ["manager@example.com"]
    assert message.subject == "Approvals: 1 adjustment request(s) waiting"
    assert f"WH1 A-01 WIDGET: scrap of -6 each (DAMAGED), request #{outcome.request.pk}" in message.body
    assert expiry_alerts() == 0  # still waiting: not again

    services.adjustment_request_approve(request=outcome.request, actor=manager)
    assert expiry_alerts() == 0  # decided: the condition clears quietly
    assert AlertCondition.objects.get(kind="approvals").cleared_at is not None
