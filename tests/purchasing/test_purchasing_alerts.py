"""The daily reorder alert: each purchasing manager gets the suggestions of their warehouses,
nobody gets an empty mail; the job is scheduled in the database, where managers can edit it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail
from django_celery_beat.models import PeriodicTask

from purchasing.models import ReorderPolicy
from purchasing.tasks import reorder_alerts

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def test_purchasers_get_the_suggestions_of_their_warehouses(supplier, warehouse, other_warehouse, item, person):
    ReorderPolicy.objects.create(item=item, warehouse=warehouse, reorder_point=Decimal(5), safety_stock=Decimal(2))
    ReorderPolicy.objects.create(item=item, warehouse=other_warehouse, reorder_point=Decimal(5))
    mine = person("Purchasing manager", "view_warehouse_stock")
    mine.email = "buyer@example.com"
    mine.save()
    person("Purchasing manager")  # no warehouse, and no address anyway

    assert reorder_alerts() == 1

    (message,) = mail.outbox
    assert message.to == ["buyer@example.com"]
    assert "1 item(s) at or below the reorder point (1 urgent)" in message.subject
    assert "URGENT WIDGET Widget in WH1" in message.body and "ACME at 2.50" in message.body
    assert "WH2" not in message.body


def test_nothing_to_reorder_sends_nothing(supplier, warehouse, item, person):
    buyer = person("Purchasing manager", "view_warehouse_stock")
    buyer.email = "buyer@example.com"
    buyer.save()
    assert reorder_alerts() == 0 and mail.outbox == []


def test_the_alert_is_scheduled_daily():
    task = PeriodicTask.objects.get(name="Daily reorder alerts")
    assert task.task == "purchasing.reorder_alerts" and task.enabled and task.crontab.hour == "6"
