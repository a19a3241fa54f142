"""``/healthz`` and ``/readyz`` (inventory_site/health.py): JSON, 200 or 503, and nothing in them
an attacker could use; they answer before the host check, the HTTPS redirect and sessions."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from common.jobs import BACKUP_JOB, RECONCILIATION_JOB, job_run
from common.models import JobRun
from inventory_site import health

pytestmark = pytest.mark.django_db

# What a body may contain: these keys and these words, numbers, null. No version, host, path,
# database name or exception text can hide in it.
ALLOWED_WORDS = {"ok", "failed", "unavailable", "stale", "never", "unknown"}


def words_of(body: dict) -> set:
    found = set()
    for value in body.values():
        if isinstance(value, dict):
            found |= words_of(value)
        elif isinstance(value, str):
            found.add(value)
    return found


def test_healthz_answers_ok_as_json_without_a_session_or_the_database(django_assert_num_queries):
    with django_assert_num_queries(0):
        response = Client().get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {"status": "ok"}
    assert "sessionid" not in response.cookies


def test_readyz_is_ready_when_database_migrations_and_broker_answer():
    response = Client().get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "migrations": "ok", "broker": "ok"}
    assert body["last_reconciliation"] == {"status": "never", "age_seconds": None}
    assert body["last_backup"] == {"status": "never", "age_seconds": None}


def test_readyz_reports_the_age_of_the_last_successful_reconciliation_and_backup():
    now = timezone.now()
    JobRun.objects.create(
        job=RECONCILIATION_JOB, started_at=now, finished_at=now - timedelta(hours=2), status=JobRun.Status.OK
    )
    # A later failed run does not count: the last success was 2 hours ago.
    JobRun.objects.create(job=RECONCILIATION_JOB, started_at=now, finished_at=now, status=JobRun.Status.FAILED)
    JobRun.objects.create(job=BACKUP_JOB, started_at=now, finished_at=now - timedelta(hours=40), status="ok")
    body = Client().get("/readyz").json()
    # 2 h = 7,200 s (a second or two pass while the request runs)
    assert body["last_reconciliation"]["status"] == "ok"
    assert 7200 <= body["last_reconciliation"]["age_seconds"] < 7260
    # 40 h > READYZ_MAX_BACKUP_AGE_HOURS (36): stale, and still ready (monitoring alerts on it)
    assert body["last_backup"]["status"] == "stale"
    assert 144000 <= body["last_backup"]["age_seconds"] < 144060  # 40 x 3,600
    assert body["status"] == "ok"


def test_readyz_is_503_when_the_broker_is_down_and_says_only_failed():
    # A port nobody listens on; the error's text (host, port, errno) must not reach the body.
    with override_settings(READYZ_BROKER_TIMEOUT_SECONDS=1):
        from inventory_site.celery import app

        saved = app.conf.broker_url
        app.conf.broker_url = "redis://127.0.0.1:1/0"
        try:
            response = Client().get("/readyz")
        finally:
            app.conf.broker_url = saved
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"] == "failed"
    assert body["checks"]["database"] == "ok"
    assert words_of(body) <= ALLOWED_WORDS
    assert "127.0.0.1" not in response.content.decode() and "redis" not in response.content.decode()


def test_readyz_is_503_when_the_database_fails(monkeypatch):
    def broken() -> bool:
        raise RuntimeError("connection to server at db.internal (10.0.0.5), port 5432 failed: secret")

    monkeypatch.setattr(health, "database_answers", broken)
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "failed"
    assert body["checks"]["migrations"] == "failed"  # not asked of a database that does not answer
    assert "last_backup" not in body
    assert words_of(body) <= ALLOWED_WORDS
    assert b"db.internal" not in response.content and b"secret" not in response.content


def test_readyz_is_503_while_a_migration_is_pending(monkeypatch):
    class PendingExecutor:
        def __init__(self, connection) -> None:
            self.loader = type("Loader", (), {"graph": type("Graph", (), {"leaf_nodes": lambda self: []})()})()

        def migration_plan(self, targets):
            return [("stock", "9999_not_yet")]

    monkeypatch.setattr(health, "_migrations_applied", False)
    monkeypatch.setattr(health, "MigrationExecutor", PendingExecutor)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == "failed"


@override_settings(DEBUG=False, ALLOWED_HOSTS=["inventory.example.com"], SECURE_SSL_REDIRECT=True)
def test_probes_over_plain_http_with_a_pod_address_as_host_are_answered_not_redirected():
    client = Client(HTTP_HOST="10.1.2.3:8000")
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    # Every other page still gets the host check (400) and the HTTPS redirect.
    assert client.get("/admin/").status_code == 400
    assert Client(HTTP_HOST="inventory.example.com").get("/admin/").status_code == 301


def test_health_endpoints_take_only_get_and_head():
    client = Client()
    assert client.head("/healthz").status_code == 200
    response = client.post("/readyz")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


def test_job_run_records_success_and_failure_without_the_exception_text():
    with job_run("test.job") as report:
        report.summary = "did 3 things"
    with pytest.raises(ValueError), job_run("test.job"):
        raise ValueError("password=hunter2")
    ok, failed = JobRun.objects.filter(job="test.job").order_by("started_at", "pk")
    assert (ok.status, ok.summary) == ("ok", "did 3 things")
    assert ok.finished_at >= ok.started_at
    assert failed.status == "failed"
    assert "ValueError" in failed.summary and "hunter2" not in failed.summary
    assert json.dumps(failed.sent) == "[]"


def test_the_nightly_reconciliation_records_its_run_for_readyz():
    from stock.tasks import reconcile_nightly

    assert reconcile_nightly.apply().get() == 0  # an empty ledger balances
    body = Client().get("/readyz").json()
    assert body["last_reconciliation"]["status"] == "ok"
    assert 0 <= body["last_reconciliation"]["age_seconds"] < 60
    run = JobRun.objects.get(job=RECONCILIATION_JOB)
    assert (run.status, run.summary) == ("ok", "The books balance; 0 digest(s) sent.")
