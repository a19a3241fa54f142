"""The record of background jobs' runs (``common.models.JobRun``), visible in the admin.

``job_run(name)`` wraps one run: the row is written (status running) before the work starts, in
its own short transaction, so a run that dies leaves a trace; it is finished as succeeded with
what the work reported, or as failed with the exception's type (never its text: it may hold
data or hosts, and the admin shows it to every manager; the text goes to the log). The work's
own writes are not inside this transaction: a failed run rolls back only what it did itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.db import DatabaseError
from django.utils import timezone

from common.models import JobRun

logger = logging.getLogger(__name__)

RECONCILIATION_JOB = "stock.reconcile_nightly"
BACKUP_JOB = "common.backup_nightly"
BACKUP_VERIFY_JOB = "common.backup_verify_weekly"


# Celery options of every recorded job: a failure (a database or mail server away, an alert
# digest that could not be sent) is retried after 1, 2, 4 ... minutes, up to 30, four times.
TASK_RETRY = {
    "autoretry_for": (OSError, DatabaseError),
    "retry_backoff": 60,
    "retry_backoff_max": 1800,
    "max_retries": 4,
}


@dataclass
class RunReport:
    """What a run tells its record: a one-sentence summary and the mails it sent."""

    summary: str = ""
    sent: list[dict] = field(default_factory=list)


@contextmanager
def job_run(job: str) -> Iterator[RunReport]:
    """Record one run of ``job``; the body fills the yielded report. An exception marks the run
    failed and propagates (a Celery task then retries)."""
    run = JobRun.objects.create(job=job, started_at=timezone.now())
    report = RunReport()
    try:
        yield report
    except BaseException as error:
        logger.exception("Job %s failed", job)
        run.status = JobRun.Status.FAILED
        # The summary the work wrote before failing is its own words; the exception's text is not shown.
        run.summary = f"Failed: {type(error).__name__} (details in the worker's log). {report.summary}".strip()
        run.sent = report.sent
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "summary", "sent", "finished_at"])
        raise
    run.status = JobRun.Status.OK
    run.summary = report.summary
    run.sent = report.sent
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "summary", "sent", "finished_at"])


def last_success(job: str) -> datetime | None:
    """When the last successful run of ``job`` finished (None: never)."""
    return (
        JobRun.objects.filter(job=job, status=JobRun.Status.OK)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
