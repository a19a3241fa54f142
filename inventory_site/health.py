"""``/healthz`` and ``/readyz`` for load balancers, orchestrators and monitoring (docs/operations.md).

Both answer JSON, with ``Cache-Control: no-store``, to anyone: so they say nothing an attacker
could use (no version, host, database name, exception text; only "ok"/"failed" and ages).
``HealthCheckMiddleware`` answers them first in ``MIDDLEWARE``, before the host check, the HTTPS
redirect, sessions and the login throttle: a probe arrives over plain HTTP with the pod's address
as its Host header, and must neither be redirected nor refused as a bad host nor open a session.

- ``/healthz``: the process answers (200). It touches nothing else, so a database outage does not
  make an orchestrator restart every web process.
- ``/readyz``: 200 when the database answers, every migration is applied and the broker takes a
  connection; 503 otherwise (take this process out of rotation). It also reports the age of the
  last successful reconciliation and backup (from ``common.models.JobRun``), marked "stale" past
  ``READYZ_MAX_RECONCILIATION_AGE_HOURS`` / ``READYZ_MAX_BACKUP_AGE_HOURS``; a stale job does not
  make the process unready (every web process would leave rotation for a missed backup), it is
  for monitoring to alert on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from common.jobs import BACKUP_JOB, RECONCILIATION_JOB, last_success

logger = logging.getLogger(__name__)

OK, FAILED = "ok", "failed"
_migrations_applied = False  # once true in a process it stays true: the code's migrations cannot change


def _json(body: dict, status: int = 200) -> HttpResponse:
    response = HttpResponse(json.dumps(body), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


def _check(name: str, probe: Callable[[], bool]) -> str:
    """``probe``'s verdict; any exception is a failure, logged here and never shown to the caller."""
    try:
        return OK if probe() else FAILED
    except Exception:
        logger.warning("Readiness check %s failed", name, exc_info=True)
        return FAILED


def database_answers() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)


def migrations_applied() -> bool:
    global _migrations_applied
    if not _migrations_applied:
        executor = MigrationExecutor(connection)
        _migrations_applied = not executor.migration_plan(executor.loader.graph.leaf_nodes())
    return _migrations_applied


def broker_answers() -> bool:
    from inventory_site.celery import app

    with app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1, timeout=settings.READYZ_BROKER_TIMEOUT_SECONDS)
    return True


def _age(job: str, max_hours: int) -> dict:
    try:
        finished = last_success(job)
    except Exception:
        logger.warning("Readiness: the job runs of %s could not be read", job, exc_info=True)
        return {"status": "unknown", "age_seconds": None}
    if finished is None:
        return {"status": "never", "age_seconds": None}
    age = int((timezone.now() - finished).total_seconds())
    return {"status": "ok" if age <= max_hours * 3600 else "stale", "age_seconds": age}


def readiness() -> tuple[int, dict]:
    """The status code and body of ``/readyz``."""
    checks = {"database": _check("database", database_answers)}
    checks["migrations"] = _check("migrations", migrations_applied) if checks["database"] == OK else FAILED
    checks["broker"] = _check("broker", broker_answers)
    ready = all(value == OK for value in checks.values())
    body: dict = {"status": "ok" if ready else "unavailable", "checks": checks}
    if checks["database"] == OK:
        body["last_reconciliation"] = _age(RECONCILIATION_JOB, settings.READYZ_MAX_RECONCILIATION_AGE_HOURS)
        body["last_backup"] = _age(BACKUP_JOB, settings.READYZ_MAX_BACKUP_AGE_HOURS)
    return (200 if ready else 503), body


class HealthCheckMiddleware:
    """Answers ``/healthz`` and ``/readyz`` (GET or HEAD) before any other middleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path not in ("/healthz", "/readyz"):
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            response = _json({"status": "method not allowed"}, status=405)
            response["Allow"] = "GET, HEAD"
            return response
        if request.path == "/healthz":
            return _json({"status": "ok"})
        status, body = readiness()
        return _json(body, status=status)
