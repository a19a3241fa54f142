"""Celery tasks of the ledger: thin wrappers around services and selectors."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from common.alerts import alerts_run
from common.jobs import RECONCILIATION_JOB, TASK_RETRY, job_run
from common.services import idempotent_requests_purge

from .alerts import APPROVALS, EXPIRY, LOW_STOCK, RECONCILIATION, reconciliation_found
from .reconciliation import reconcile_and_record
from .services import period_balances_close

logger = logging.getLogger(__name__)


@shared_task(name=RECONCILIATION_JOB, **TASK_RETRY)
def reconcile_nightly() -> int:
    """Run the reconciliation and store the run (``ReconciliationRun``, shown in the admin and on
    the managers' dashboard); mail every active Administrator and Inventory manager each new
    difference once (``common.alerts``: a difference already mailed is not mailed again while it
    lasts). It repairs nothing. Each run is also recorded as a job run (``common.jobs``: /readyz
    shows the age of the last one). Returns the number of differences."""
    with job_run(RECONCILIATION_JOB) as report:
        _run, differences = reconcile_and_record("nightly")
        found = {RECONCILIATION.kind: reconciliation_found(differences)}
        alerts_run(RECONCILIATION_JOB, [RECONCILIATION.kind], found=found, report=report)
        balance = f"{len(differences)} difference(s)" if differences else "The books balance"
        report.summary = f"{balance}; {report.summary}"
    if differences:
        logger.error("Nightly reconciliation found %d differences", len(differences))
    else:
        logger.info("Nightly reconciliation: the books balance.")
    return len(differences)


@shared_task(name="stock.period_balances_close")
def period_balances_close_nightly() -> int:
    """Close every period (week or month) that has ended and is not closed yet
    (``stock.services.period_balances_close``). Idempotent: a closed period is left as it is.
    Returns how many periods were closed."""
    closed = period_balances_close()
    logger.info("Closed %d period(s) of stock balances.", len(closed))
    return len(closed)


@shared_task(name="stock.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Delete the API's stored answers older than ``API_IDEMPOTENCY_RETENTION_DAYS`` (a retry
    within that window replays the first answer byte for byte). Returns how many went."""
    before = timezone.now() - timedelta(days=settings.API_IDEMPOTENCY_RETENTION_DAYS)
    deleted = idempotent_requests_purge(before=before)
    logger.info("Purged %d API idempotency key(s) older than %s.", deleted, before.isoformat())
    return deleted


@shared_task(name="stock.expiry_alerts", **TASK_RETRY)
def expiry_alerts() -> int:
    """Mail every active Administrator and Inventory manager with an address, in one digest, the
    lots newly expiring within ``STOCK_EXPIRY_ALERT_DAYS`` days (or newly expired) and the items
    newly out of stock in the warehouses they may view, and the scrap and adjustment requests
    newly waiting for their approval, once per condition (``common.alerts``);
    nobody gets an empty mail. Reads and mails only. Returns the mails sent."""
    return alerts_run("stock.expiry_alerts", [EXPIRY.kind, LOW_STOCK.kind, APPROVALS.kind])
