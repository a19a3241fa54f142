"""Alerts end to end with the real things: a Celery worker consuming from Redis and an SMTP
server (aiosmtpd) on loopback, both started here and bounded in time. The expiry alert of a lot
goes out once, as one multipart mail; a task enqueued in a transaction that rolls back never
runs; when the mail server refuses a message for a moment the run fails and the task's retry
delivers it.

Skipped when Redis does not answer on 127.0.0.1:6379, except under CI=true (where it must)."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from celery.contrib.testing.worker import start_worker
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm

from common.models import JobRun
from common.roles import INVENTORY_MANAGER
from inventory_site.celery import app
from stock import services
from stock.tasks import expiry_alerts
from tests.stock.factories import (
    ItemFactory,
    LocationFactory,
    UserFactory,
    WarehouseFactory,
    ensure_virtual_locations,
)

REDIS = ("127.0.0.1", 6379)
WAIT = 90  # seconds; bounded, generous for a loaded 2-core machine


def redis_answers() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


if not redis_answers():
    if os.environ.get("CI") == "true":
        raise RuntimeError("CI=true and Redis does not answer on 127.0.0.1:6379: the live alert tests must run")
    pytest.skip("Redis does not answer on 127.0.0.1:6379", allow_module_level=True)


def wait_for(condition: Callable[[], object], what: str) -> object:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"waited {WAIT} s for {what}")


class Inbox:
    """aiosmtpd's handler: keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.refuse = 0  # answer this many next messages with a temporary failure (451)
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            if self.refuse:
                self.refuse -= 1
                return "451 4.3.0 Try again later"
            self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


class SmtpServer:
    def __init__(self) -> None:
        self.inbox = Inbox()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, ready_timeout=WAIT)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp(settings) -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", server.port, 5
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def worker(transactional_db) -> Iterator[str]:
    """A Celery worker thread (solo pool) on Redis database 13, on a queue of its own; yields
    the queue's name."""
    queue = f"ops-test-{uuid.uuid4().hex[:8]}"
    saved = (app.conf.broker_url, app.conf.broker_transport_options, app._pool, app.amqp._producer_pool)
    app.conf.broker_url, app.conf.broker_transport_options = "redis://127.0.0.1:6379/13", {}
    # An earlier test in this process may have published through the default broker: drop the
    # pooled connections so that publishing here goes to Redis, where the worker listens.
    app._pool = app.amqp._producer_pool = None
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=WAIT):
            yield queue
    finally:
        app.conf.broker_url, app.conf.broker_transport_options, app._pool, app.amqp._producer_pool = saved


@pytest.fixture
def lots(transactional_db, settings) -> Callable[[str, int], None]:
    """A manager of WH1 with an address; ``receive(lot, days)`` puts 4 MILK of that lot,
    expiring in ``days`` days, into WH1/A-01."""
    settings.STOCK_EXPIRY_ALERT_DAYS = 14
    ensure_virtual_locations()
    warehouse = WarehouseFactory(code="WH1")
    bin_a = LocationFactory(warehouse=warehouse, code="A-01")
    milk = ItemFactory(sku="MILK", name="Milk 1 l", lot_tracked=True)
    manager = UserFactory(email="manager@example.com")
    manager.groups.add(Group.objects.get_or_create(name=INVENTORY_MANAGER)[0])
    assign_perm("catalog.view_warehouse_stock", manager, warehouse)
    today = timezone.localdate()

    def receive(lot: str, days: int) -> None:
        services.stock_receive(
            item=milk, location=bin_a, quantity=Decimal(4), lot=lot, expiry_date=today + timedelta(days), actor=None
        )

    return receive


def parts_of(message: Message) -> dict[str, str]:
    """The leaf parts of a mail by content type."""
    return {p.get_content_type(): p.get_payload(decode=True).decode() for p in message.walk() if not p.is_multipart()}


def runs() -> list[str]:
    return list(
        JobRun.objects.filter(job="stock.expiry_alerts").order_by("started_at").values_list("status", flat=True)
    )


def test_an_alert_goes_once_through_redis_and_smtp(smtp, worker, lots):
    lots("SOON", 5)

    # Enqueued in a transaction that rolls back: never sent to the broker.
    with pytest.raises(RuntimeError), transaction.atomic():
        expiry_alerts.apply_async_on_commit(queue=worker)
        raise RuntimeError("the request failed")
    # Enqueued in one that commits: runs once the transaction is over.
    with transaction.atomic():
        expiry_alerts.apply_async_on_commit(queue=worker)
    wait_for(lambda: smtp.inbox.messages, "the first alert mail")
    wait_for(lambda: runs() == ["ok"], "the first run's record")
    (message,) = smtp.inbox.messages
    assert message["To"] == "manager@example.com"
    assert message["Subject"] == "Expiring stock: 1 lot(s) within 14 days (0 expired)"
    assert message.is_multipart()
    parts = parts_of(message)
    assert set(parts) == {"text/plain", "text/html"}
    assert "WH1: MILK Milk 1 l, lot SOON, 4 each on hand, expires in 5 day(s)" in parts["text/plain"]
    assert "lot SOON" in parts["text/html"] and "<li" in parts["text/html"]

    # The same condition the next day: the job runs, nobody is mailed again.
    expiry_alerts.apply_async(queue=worker)
    wait_for(lambda: runs() == ["ok", "ok"], "the second run")
    assert len(smtp.inbox.messages) == 1


def test_a_refused_mail_fails_the_run_and_celerys_retry_delivers_it(smtp, lots):
    """The task's own retry policy (autoretry on OSError, which smtplib's errors are), run
    eagerly: the retry happens at once instead of after its backoff. (Through the Redis worker
    above, the retry message sat in Redis unconsumed by celery's in-process test worker.)"""
    lots("NEXT", 3)
    smtp.inbox.refuse = 1  # the mail server answers 451 once
    assert expiry_alerts.apply().get() == 1
    assert runs() == ["failed", "ok"]
    (message,) = smtp.inbox.messages
    assert "lot NEXT" in parts_of(message)["text/plain"]
    assert expiry_alerts.apply().get() == 0  # delivered once: not again
    assert len(smtp.inbox.messages) == 1
