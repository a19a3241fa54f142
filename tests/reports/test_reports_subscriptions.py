"""Report subscriptions mailed by beat as XLSX (reports.tasks)."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

from django.core import mail
from openpyxl import load_workbook

from common import roles
from reports.models import ReportSubscription
from reports.tasks import mail_report_subscriptions, subscriptions_due

MONDAY, TUESDAY = date(2026, 11, 30), date(2026, 12, 1)


def test_due_daily_every_day_weekly_on_mondays(ledger, manager):
    daily = ReportSubscription.objects.create(user=manager, report="valuation", frequency="daily")
    weekly = ReportSubscription.objects.create(user=manager, report="stock-on-hand", frequency="weekly")
    assert subscriptions_due(TUESDAY) == [daily]
    assert set(subscriptions_due(MONDAY)) == {daily, weekly}


def test_the_report_goes_as_xlsx_with_the_subscribers_rows_once_a_day(ledger, user):
    only_b = user(roles.INVENTORY_MANAGER, ("B",), username="b_manager")
    ReportSubscription.objects.create(
        user=only_b, report="valuation", frequency="daily", filters={"as_of": "2025-02-15"}
    )
    assert mail_report_subscriptions() == 1
    assert mail_report_subscriptions() == 0  # already sent today
    (message,) = mail.outbox
    assert message.to == ["b_manager@example.com"]
    name, content, _type = message.attachments[0]
    assert name.endswith(".xlsx")
    rows = list(load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True))
    # B only: 8 worth 40 on 2025-02-15; A's 15 worth 45 is not this subscriber's.
    assert [(r[3], Decimal(str(r[7]))) for r in rows[1:2]] == [("B", Decimal(40))]


def test_a_subscription_that_no_longer_runs_says_why(ledger, user):
    clerk = user(roles.WAREHOUSE_CLERK, username="clerk_a")
    ReportSubscription.objects.create(user=clerk, report="valuation", frequency="daily")
    assert mail_report_subscriptions() == 0
    (message,) = mail.outbox
    assert "could not run" in message.subject and not message.attachments
