"""The daily expiry alert: each manager gets the lots with stock expiring soon (expired ones
flagged) in the warehouses they may view; lots further out, empty lots and managers without a
warehouse get nothing; the job is scheduled in the database."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from guardian.shortcuts import assign_perm

from common.roles import INVENTORY_MANAGER
from stock import services
from stock.tasks import expiry_alerts
from tests.stock.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.STOCK_EXPIRY_ALERT_DAYS = 14


def _manager(email: str, *warehouses) -> object:
    user = UserFactory(email=email)
    user.groups.add(Group.objects.get(name=INVENTORY_MANAGER))
    for warehouse in warehouses:
        assign_perm("catalog.view_warehouse_stock", user, warehouse)
    return user


def test_managers_get_the_lots_expiring_soon_in_their_warehouses(
    warehouse, other_warehouse, bin_a, bin_b, bin_c, lot_item
):
    today = timezone.localdate()
    for location, code, days in ((bin_a, "SOON", 5), (bin_b, "LATER", 40), (bin_c, "ELSEWHERE", 3)):
        services.stock_receive(
            item=lot_item,
            location=location,
            quantity=Decimal(4),
            lot=code,
            expiry_date=today + timedelta(days),
            actor=None,
        )
    services.stock_receive(
        item=lot_item, location=bin_b, quantity=Decimal(2), lot="GONE", expiry_date=today + timedelta(2), actor=None
    )
    services.stock_issue(item=lot_item, location=bin_b, lot="GONE", quantity=Decimal(2), actor=None)
    services.stock_receive(
        item=lot_item, location=bin_a, quantity=Decimal(1), lot="OLD", expiry_date=today - timedelta(1), actor=None
    )
    _manager("wh1@example.com", warehouse)
    _manager("nowhere@example.com")

    assert expiry_alerts() == 1

    (message,) = mail.outbox
    assert message.to == ["wh1@example.com"]
    assert message.subject == "Expiring stock: 2 lot(s) within 14 days (1 expired)"
    body = message.body
    assert "WH1: MILK Milk 1 l, lot OLD, 1 each on hand, EXPIRED" in body  # issue 12: with its unit
    assert "WH1: MILK Milk 1 l, lot SOON, 4 each on hand, expires in 5 day(s)" in body
    assert body.index("lot OLD") < body.index("lot SOON")
    assert "LATER" not in body and "ELSEWHERE" not in body and "GONE" not in body


def test_nothing_expiring_sends_nothing(warehouse):
    _manager("wh1@example.com", warehouse)
    assert expiry_alerts() == 0 and mail.outbox == []


def test_the_alert_is_scheduled_daily():
    task = PeriodicTask.objects.get(name="Daily expiry alerts")
    assert task.task == "stock.expiry_alerts" and task.enabled and task.crontab.hour == "5"


def test_the_expired_count_comes_from_the_dates_not_from_the_words_in_the_mail(warehouse, bin_a, lot_item):
    """Issue 13: the subject counted lines containing "EXPIRED". A lot code and an item name
    that say it must not count; only a date before today does."""
    today = timezone.localdate()
    lot_item.name = "EXPIRED-look-alike cheese"
    lot_item.save(update_fields=["name"])
    services.stock_receive(
        item=lot_item,
        location=bin_a,
        quantity=Decimal(1),
        lot="EXPIRED-42",
        expiry_date=today + timedelta(3),
        actor=None,
    )
    services.stock_receive(
        item=lot_item, location=bin_a, quantity=Decimal(1), lot="OLD", expiry_date=today - timedelta(2), actor=None
    )
    _manager("wh1@example.com", warehouse)

    assert expiry_alerts() == 1
    (message,) = mail.outbox
    # Two lots within 14 days (in 3 days, and 2 days ago); one of them (OLD) is past its date.
    # Every line carries the item's name "EXPIRED-look-alike": the text count said 2.
    assert message.subject == "Expiring stock: 2 lot(s) within 14 days (1 expired)"
