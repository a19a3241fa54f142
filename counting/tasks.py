"""Celery tasks of counting: thin wrappers around the services and selectors (docs/counting.md).

- ``counting.abc_classify_all`` (weekly beat job): ``abc_classify`` for every active warehouse;
- ``counting.count_plan_all`` (daily beat job): ``count_plan`` for every active warehouse;
- ``counting.variances_digest`` (daily beat job): one mail per manager per run listing the
  variances waiting for their approval (``selectors.variances_waiting_for``), HTML and text.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from catalog.models import Warehouse
from common.roles import ADMINISTRATOR, INVENTORY_MANAGER, mail_recipients

from .selectors import variances_waiting_for
from .services import abc_classify, count_plan

logger = logging.getLogger(__name__)


@shared_task(name="counting.abc_classify_all")
def abc_classify_all() -> int:
    """Reclass the items of every active warehouse; returns the rows written."""
    return sum(abc_classify(warehouse=w, actor=None) for w in Warehouse.objects.filter(active=True))


@shared_task(name="counting.count_plan_all")
def count_plan_all() -> int:
    """Plan today's counts of every active warehouse (again the same day adds nothing);
    returns the counts made."""
    return sum(len(count_plan(warehouse=w, actor=None)) for w in Warehouse.objects.filter(active=True))


@shared_task(name="counting.variances_digest")
def variances_digest() -> int:
    """Mail every active Inventory manager and Administrator with an address one digest of the
    variances waiting for them (in the warehouses where they may approve counts); nothing to
    those with none. Reads and mails only. Returns the number of mails sent."""
    page = reverse("admin:counting_countline_changelist") + "?status__exact=waiting"
    sent = 0
    for user in mail_recipients(INVENTORY_MANAGER, ADMINISTRATOR):
        lines = list(variances_waiting_for(user))
        if not lines:
            continue
        context = {"lines": lines, "page": page, "user": user}
        mail = EmailMultiAlternatives(
            subject=f"Counts: {len(lines)} variance(s) waiting for your approval",
            body=render_to_string("counting/variances_digest.txt", context),
            to=[user.email],
        )
        mail.attach_alternative(render_to_string("counting/variances_digest.html", context), "text/html")
        mail.send()
        sent += 1
    logger.info("Count variance digests: %d mail(s) sent.", sent)
    return sent
