"""Celery tasks of the reports: mail the report subscriptions (docs/reports.md, "Subscriptions")."""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage
from django.utils import timezone

from .exports import CONTENT_TYPES, file_name, report_file
from .framework import get_report, run_report
from .models import Frequency, ReportSubscription

logger = logging.getLogger(__name__)


def subscriptions_due(today=None):  # noqa: ANN001, ANN201 - a date, a queryset
    """Active subscriptions of active users with an e-mail address that are due ``today``
    (daily: every day; weekly: Mondays) and not yet sent that day."""
    today = today or timezone.localdate()
    frequencies = [Frequency.DAILY] + ([Frequency.WEEKLY] if today.weekday() == 0 else [])
    due = ReportSubscription.objects.filter(active=True, user__is_active=True, frequency__in=frequencies).exclude(
        user__email=""
    )
    return [s for s in due.select_related("user") if not s.last_sent_at or timezone.localdate(s.last_sent_at) < today]


def subscription_send(subscription: ReportSubscription) -> bool:
    """Run the report as its subscriber and mail it as XLSX; record when. A subscription whose
    report or filters no longer work (a warehouse renamed, a right withdrawn) is mailed as a
    note saying why instead, so it does not fail silently. Returns whether the report went."""
    report = get_report(subscription.report)
    user = subscription.user
    message = EmailMessage(to=[user.email])
    sent = False
    try:
        if report is None:
            raise ValidationError({"report": [f"No report named {subscription.report!r}."]})
        result = run_report(report, user, subscription.filters or {})
    except (ValidationError, PermissionDenied) as error:
        message.subject = f"Report subscription {subscription.report}: could not run"
        message.body = f"Your subscription #{subscription.pk} could not run: {error}. Change or cancel it in the admin."
    else:
        message.subject = f"{report.title}: {len(result.rows)} row(s)"
        message.body = f"{report.title}, filters {subscription.filters or 'none'}: the report is attached."
        message.attach(file_name(result, "xlsx"), report_file(result, "xlsx"), CONTENT_TYPES["xlsx"])
        sent = True
    message.send()
    ReportSubscription.objects.filter(pk=subscription.pk).update(last_sent_at=timezone.now())
    return sent


@shared_task(name="reports.mail_report_subscriptions")
def mail_report_subscriptions() -> int:
    """Mail every subscription due today (safe to run twice a day: each goes once a day).
    Returns how many reports went out."""
    sent = 0
    for subscription in subscriptions_due():
        sent += subscription_send(subscription)
    logger.info("Mailed %d report subscription(s).", sent)
    return sent
