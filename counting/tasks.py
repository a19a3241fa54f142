"""Celery tasks of counting: thin wrappers around the services and selectors (docs/counting.md).

- ``counting.abc_classify_all`` (weekly beat job): ``abc_classify`` for every active warehouse;
- ``counting.count_plan_all`` (daily beat job): ``count_plan`` for every active warehouse;
- ``counting.variances_digest`` (daily beat job): one digest per manager per run listing the
  variances newly waiting for their approval (``alerts.VARIANCES``, once per line, HTML and text).
"""

from __future__ import annotations

from celery import shared_task

from catalog.models import Warehouse
from common.alerts import alerts_run
from common.jobs import TASK_RETRY

from .alerts import VARIANCES
from .services import abc_classify, count_plan


@shared_task(name="counting.abc_classify_all")
def abc_classify_all() -> int:
    """Reclass the items of every active warehouse; returns the rows written."""
    return sum(abc_classify(warehouse=w, actor=None) for w in Warehouse.objects.filter(active=True))


@shared_task(name="counting.count_plan_all")
def count_plan_all() -> int:
    """Plan today's counts of every active warehouse (again the same day adds nothing);
    returns the counts made."""
    return sum(len(count_plan(warehouse=w, actor=None)) for w in Warehouse.objects.filter(active=True))


@shared_task(name="counting.variances_digest", **TASK_RETRY)
def variances_digest() -> int:
    """Mail every active Inventory manager and Administrator with an address one digest of the
    variances newly waiting for them (in the warehouses where they may approve counts), once per
    line until it is decided (``common.alerts``); nothing to those with none. Returns the mails sent."""
    return alerts_run("counting.variances_digest", [VARIANCES.kind])
