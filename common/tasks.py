"""Celery tasks of the shared plumbing: the nightly backup and the weekly verified restore
(docs/operations.md, "Backups"). Each run is recorded as a ``JobRun`` (``/readyz`` reads the age of
the last successful backup from there); a failure is retried with backoff, and a verification
that finds problems fails its run (visible in the admin) without retrying: the backup will not
change by trying again."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from common import backups
from common.backups import backup_create, backup_verify, backups_in
from common.jobs import BACKUP_JOB, BACKUP_VERIFY_JOB, TASK_RETRY, job_run

logger = logging.getLogger(__name__)


class BackupVerificationFailed(Exception):
    """The newest backup did not pass ``backup --verify`` (the run's record and the log say why)."""


@shared_task(name=BACKUP_JOB, **TASK_RETRY)
def backup_nightly() -> str:
    """Take a backup into ``BACKUP_DIR`` and keep the newest ``BACKUP_KEEP``. Running it twice
    takes two backups (retention bounds them). Returns the backup's folder."""
    with job_run(BACKUP_JOB) as report:
        path = backup_create(
            output_dir=settings.BACKUP_DIR,
            database=backups.site_database(),
            keep=settings.BACKUP_KEEP,
        )
        report.summary = f"Backup {path.name} written ({settings.BACKUP_KEEP} kept)."
    logger.info("Backup written to %s", path)
    return str(path)


@shared_task(name=BACKUP_VERIFY_JOB, **TASK_RETRY)
def backup_verify_weekly() -> int:
    """Restore the newest backup in ``BACKUP_DIR`` into a scratch database and check it; the run
    fails (``BackupVerificationFailed``) on any problem, or when there is no backup at all.
    Reads only (the scratch database is dropped). Returns 0."""
    with job_run(BACKUP_VERIFY_JOB) as report:
        found = backups_in(settings.BACKUP_DIR)
        if not found:
            raise BackupVerificationFailed(f"No backup in {settings.BACKUP_DIR} to verify.")
        problems = backup_verify(found[-1], server=backups.site_database())
        for problem in problems:
            logger.error("Backup %s: %s", found[-1].name, problem)
        if problems:
            report.summary = f"{found[-1].name}: {len(problems)} problem(s) (see the worker's log)."
            raise BackupVerificationFailed(report.summary)
        report.summary = f"{found[-1].name} restores, its row counts match and its books balance."
    return 0
