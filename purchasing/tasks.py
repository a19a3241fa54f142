"""Celery tasks of purchasing: thin wrappers around selectors and services."""

from __future__ import annotations

from celery import shared_task

from common.alerts import alerts_run
from common.jobs import TASK_RETRY

from .alerts import REORDER


@shared_task(name="purchasing.reorder_alerts", **TASK_RETRY)
def reorder_alerts() -> int:
    """Mail every active Purchasing manager and Administrator with an address the items newly at
    or below their reorder point in the warehouses they may see, once per (warehouse, item) until
    it recovers (``common.alerts``). Idempotent. Returns the number of mails sent."""
    return alerts_run("purchasing.reorder_alerts", [REORDER.kind])
