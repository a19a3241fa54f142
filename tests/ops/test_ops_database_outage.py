"""While PostgreSQL is away a request answers 503 with ``Retry-After`` (the API's error contract,
or a short plain page), never a 500 and never a traceback; nothing half-written remains; the
next request after the database is back succeeds; a real bug stays a 500 (common/outage.py,
inventory_site/errors.py, docs/operations.md "When the database is away").

For real, on PostgreSQL: the app is pointed at a port where nobody listens (connection refused),
or its own backend is ended with ``pg_terminate_backend`` from a second connection, between two
requests or in the middle of a posting's transaction. The clients run Django's
``close_old_connections`` before and after every request, as a WSGI server does (Django's test
client leaves it out): that is where a broken connection is dropped and ``CONN_HEALTH_CHECKS``
rearmed, so the recovery tested is the one gunicorn gets.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, InterfaceError, OperationalError, close_old_connections, connection
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from common import outage
from common.models import IdempotentRequest
from stock.models import Movement, MovementKind
from stock.reconciliation import reconcile
from tests.floor.conftest import KNIFE_EAN, Scanner, World, build_world
from tests.stock.factories import level_of

POSTGRES = connection.vendor == "postgresql"


def needs_postgres(test: Callable[..., Any]) -> Callable[..., Any]:
    test = pytest.mark.skipif(not POSTGRES, reason="needs PostgreSQL (a server to lose)")(test)
    return pytest.mark.postgres(test)


SALE = {"reference": "ORDER-503", "warehouse": "AMS", "lines": [{"sku": "KNF-0001", "quantity": "1"}]}
UNAVAILABLE = "database_unavailable"


# --- Clients as a WSGI server runs the app ----------------------------------------------------------


class ServedMixin:
    """Runs ``close_old_connections`` around each request, as Django's WSGI handler does through
    ``request_started`` / ``request_finished``; never re-raises the view's exception (the answer,
    503 or 500, is what is tested)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.raise_request_exception = False

    def request(self, **request: Any) -> Any:
        close_old_connections()
        try:
            return super().request(**request)  # type: ignore[misc]
        finally:
            close_old_connections()


class ServedClient(ServedMixin, Client):
    pass


class ServedAPIClient(ServedMixin, APIClient):
    pass


@pytest.fixture
def world(transactional_db: None) -> World:
    return build_world()


@pytest.fixture
def shop(world: World) -> tuple[ServedAPIClient, User]:
    user = User.objects.create_superuser("shop", password=None)
    client = ServedAPIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client, user


@pytest.fixture
def clerk(world: World) -> ServedClient:
    client = ServedClient()
    client.force_login(world.clerk)
    session = client.session
    session["floor_warehouse"] = world.ams.pk
    session.save()
    return client


def sell(client: APIClient, key: str) -> Any:
    return client.post("/api/v1/sales/", SALE, format="json", HTTP_IDEMPOTENCY_KEY=key)


# --- Taking the database away ------------------------------------------------------------------------


@contextmanager
def database_refusing() -> Iterator[None]:
    """The app's connection points at a loopback port that is bound but not listening: every
    connection attempt is refused at once. The real address is back on leaving."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    saved = {key: connection.settings_dict[key] for key in ("HOST", "PORT")}
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(closed.getsockname()[1]))
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)
        closed.close()


def terminate_own_backend() -> None:
    """End the server process of the app's connection from a second connection, and wait until
    it is gone (``pg_terminate_backend``'s timeout, PostgreSQL 14+)."""
    pid = connection.connection.info.backend_pid
    given = connection.settings_dict
    params = {"host": given["HOST"], "port": given["PORT"], "user": given["USER"], "password": given["PASSWORD"]}
    with psycopg.connect(dbname=given["NAME"], **params, autocommit=True) as other:
        ended = other.execute("SELECT pg_terminate_backend(%s, 10000)", [pid]).fetchone()
    assert ended == (True,)


class CutAt:
    """An execute wrapper that ends the connection's backend just before the ``nth`` statement
    containing ``marker``, which then meets a dead connection (statements before it, in the
    same transaction, were written, uncommitted: the server must roll them back)."""

    def __init__(self, marker: str, nth: int = 1) -> None:
        self.marker, self.nth, self.seen = marker, nth, 0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if self.marker in sql:
            self.seen += 1
            if self.seen == self.nth:
                terminate_own_backend()
        return execute(sql, params, many, context)


def unavailable_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.getMessage().startswith("Database unavailable")]


def assert_unavailable_page(response: Any) -> None:
    assert response.status_code == 503
    assert response["Retry-After"] == "5"  # DATABASE_RETRY_AFTER_SECONDS
    assert response["Content-Type"] == "text/html; charset=utf-8"
    text = response.content.decode()
    assert "Briefly unavailable" in text and "try again" in text
    assert "Traceback" not in text and "OperationalError" not in text and "127.0.0.1" not in text


def assert_unavailable_api(response: Any) -> None:
    assert response.status_code == 503
    assert response["Retry-After"] == "5"  # DATABASE_RETRY_AFTER_SECONDS
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": UNAVAILABLE, "detail": outage.DETAIL}
    assert b"Traceback" not in response.content and b"127.0.0.1" not in response.content


# --- The database refuses connections -----------------------------------------------------------------


@needs_postgres
def test_api_answers_503_while_the_database_refuses_and_the_same_key_posts_once_after(shop, world, caplog):
    client, user = shop
    key = str(uuid.uuid4())
    with database_refusing():
        response = sell(client, key)
    assert_unavailable_api(response)
    assert response["X-Request-ID"]
    # Logged once, as one line without a traceback; Django's own "Service Unavailable" line is not added.
    [line] = unavailable_lines(caplog)
    assert line.levelname == "ERROR" and line.exc_info is None
    assert "POST /api/v1/sales/" in line.getMessage() and "Connection refused" in line.getMessage()
    assert not [r for r in caplog.records if r is not line and r.levelno >= logging.ERROR]
    # Nothing written: no movement, no claim of the key, the level as it was (12 knives in A-01-01).
    assert not Movement.objects.filter(kind=MovementKind.ISSUE).exists()
    assert not IdempotentRequest.objects.exists()
    assert level_of(world.knife, world.bins["A-01-01"])[0] == Decimal(12)

    # The database is back: the client's retry with the same key posts, once.
    retried = sell(client, key)
    assert retried.status_code == 201
    assert Movement.objects.filter(idempotency_key=f"api:{user.pk}:{key}").count() == 1
    assert level_of(world.knife, world.bins["A-01-01"])[0] == Decimal(11)  # 12 - 1


@needs_postgres
def test_a_page_answers_a_plain_503_while_the_database_refuses_and_works_after(clerk, caplog):
    with database_refusing():
        # The session is read in a middleware (ShiftSessionMiddleware), before any view:
        # the site's handler500 answers, not a view.
        response = clerk.get("/floor/move/")
    assert_unavailable_page(response)
    [line] = unavailable_lines(caplog)
    assert line.exc_info is None and "GET /floor/move/" in line.getMessage()
    assert clerk.get("/floor/move/").status_code == 200


@needs_postgres
def test_an_api_request_whose_session_cannot_be_read_answers_the_api_contract(world):
    # A browser's session on the API (the docs page, the browsable API): the failure is in a
    # middleware, before DRF, yet the answer is the API's JSON.
    client = ServedClient()
    client.force_login(world.manager)
    with database_refusing():
        response = client.get("/api/v1/stock-levels/")
    assert_unavailable_api(response)


@needs_postgres
def test_readyz_answers_503_while_the_database_refuses_and_200_after(world):
    with database_refusing():
        response = ServedClient().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "failed"
    assert ServedClient().get("/readyz").json()["checks"]["database"] == "ok"


# --- The connection is cut in the middle of a posting -----------------------------------------------


@needs_postgres
def test_a_sale_cut_off_inside_its_transaction_writes_nothing_and_its_retry_posts_once(shop, world, caplog):
    client, user = shop
    key = str(uuid.uuid4())
    # The last statement of the sale's transaction inserts the answer under the key: by then the
    # movement and the level have been written, uncommitted.
    cut = CutAt('INSERT INTO "stock_idempotentrequest"')
    with connection.execute_wrapper(cut):
        response = sell(client, key)
    assert cut.seen == 1, "the connection was cut"
    assert_unavailable_api(response)
    assert len(unavailable_lines(caplog)) == 1
    # Rolled back by the server: no movement, no claim, 12 knives as before, the books balance.
    assert not Movement.objects.filter(kind=MovementKind.ISSUE).exists()
    assert not IdempotentRequest.objects.exists()
    assert level_of(world.knife, world.bins["A-01-01"])[0] == Decimal(12)
    assert reconcile() == []

    retried = sell(client, key)
    assert retried.status_code == 201
    assert Movement.objects.filter(idempotency_key=f"api:{user.pk}:{key}").count() == 1
    assert level_of(world.knife, world.bins["A-01-01"])[0] == Decimal(11)  # 12 - 1
    assert reconcile() == []


@needs_postgres
def test_a_floor_move_cut_off_inside_its_transaction_writes_nothing_and_sent_again_posts_once(clerk, world, caplog):
    page = Scanner(clerk, "move").scan("LOC-AMS-A-01-01").scan(KNIFE_EAN).scan("4")
    # The move is one call of the posting function (``stock_post_line_guarded``: it creates the
    # knife's missing level row in A-01-03 inside the same statement); the connection is cut just
    # before it. (The API test above cuts after writes, inside the transaction.)
    cut = CutAt("stock_post_line_guarded(", nth=1)
    with connection.execute_wrapper(cut):
        page.scan("LOC-AMS-A-01-03")
    assert cut.seen == 1, "the posting met the cut connection"
    assert_unavailable_page(page.response)
    assert len(unavailable_lines(caplog)) == 1
    # Neither line stayed: 12 knives in A-01-01, none in A-01-03, no transfer, the books balance.
    assert not Movement.objects.filter(kind=MovementKind.TRANSFER).exists()
    assert level_of(world.knife, world.bins["A-01-01"])[0] == Decimal(12)
    assert level_of(world.knife, world.bins["A-01-03"])[0] == Decimal(0)
    assert reconcile() == []

    page.resend()  # the clerk sends the same form again (same key)
    assert "✓ Done" in page.html
    [transfer] = Movement.objects.filter(kind=MovementKind.TRANSFER)
    assert (transfer.source, transfer.destination, transfer.quantity) == (
        world.bins["A-01-01"],
        world.bins["A-01-03"],
        Decimal(4),
    )
    assert level_of(world.knife, world.bins["A-01-01"])[0] == Decimal(8)  # 12 - 4
    assert level_of(world.knife, world.bins["A-01-03"])[0] == Decimal(4)  # 0 + 4


# --- Recovery: a connection broken while idle does not fail the next request -----------------------


@needs_postgres
def test_a_connection_ended_between_requests_is_replaced_not_failed_on(shop, world, clerk):
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True
    client, user = shop
    assert sell(client, str(uuid.uuid4())).status_code == 201
    # As after a PostgreSQL restart: the persistent connection's server process is gone.
    terminate_own_backend()
    assert sell(client, str(uuid.uuid4())).status_code == 201  # not a 503: checked, replaced
    terminate_own_backend()
    assert clerk.get("/floor/move/").status_code == 200
    assert level_of(world.knife, world.bins["A-01-01"])[0] == Decimal(10)  # 12 - 1 - 1


# --- A real bug stays a 500 -----------------------------------------------------------------------------

# Each raised by PostgreSQL itself (PL/pgSQL RAISE of the condition), through the real driver.
BUGS = {
    "unique_violation": "IntegrityError",
    "undefined_table": "ProgrammingError",
    "query_canceled": "OperationalError",  # a statement timeout: not the connection
    "deadlock_detected": "OperationalError",  # retryable, but not an outage
}


def failing_with(condition: str) -> Callable[..., Any]:
    """Runs ``RAISE <condition>`` in the database instead of the request's first statement."""

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        return execute(f"DO $$ BEGIN RAISE {condition}; END $$", None, False, context)

    return wrapper


@needs_postgres
@pytest.mark.parametrize("condition", sorted(BUGS))
def test_a_database_error_that_is_not_the_connection_stays_a_500(shop, clerk, world, caplog, condition):
    client, _ = shop
    with connection.execute_wrapper(failing_with(condition)):
        api = sell(client, str(uuid.uuid4()))
        page = clerk.get("/floor/move/")
    for response in (api, page):
        assert response.status_code == 500
        assert not response.has_header("Retry-After")
        assert UNAVAILABLE.encode() not in response.content and b"Briefly unavailable" not in response.content
    assert not unavailable_lines(caplog)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert {r.exc_info[0].__name__ for r in errors if r.exc_info} == {BUGS[condition]}  # with its traceback
    assert not Movement.objects.filter(kind=MovementKind.ISSUE).exists()


# --- The rule itself (any database) ----------------------------------------------------------------


def wrapped(django_class: type[Exception], cause: Exception) -> Exception:
    """A Django database exception as Django's error wrapper raises it: ``raise ... from cause``."""
    exc = django_class(str(cause))
    exc.__cause__ = cause
    return exc


def driver_error(cls: type[psycopg.Error], sqlstate: str | None) -> psycopg.Error:
    """The driver's exception: its class for the SQLSTATE (as psycopg raises it), or ``cls``
    for a client-side failure (no SQLSTATE)."""
    error = (cls if sqlstate is None else psycopg.errors.lookup(sqlstate))("x")
    assert isinstance(error, cls)
    return error


@pytest.mark.parametrize(
    ("django_class", "driver_class", "sqlstate", "unavailable"),
    [
        (OperationalError, psycopg.OperationalError, None, True),  # refused, closed, lost
        (InterfaceError, psycopg.InterfaceError, None, True),
        (OperationalError, psycopg.OperationalError, "08006", True),  # connection failure
        (OperationalError, psycopg.OperationalError, "57P01", True),  # admin shutdown
        (OperationalError, psycopg.OperationalError, "57P02", True),  # crash shutdown
        (OperationalError, psycopg.OperationalError, "57P03", True),  # cannot connect now (starting up)
        (OperationalError, psycopg.OperationalError, "53300", True),  # too many connections
        (OperationalError, psycopg.OperationalError, "57014", False),  # query canceled (statement timeout)
        (OperationalError, psycopg.OperationalError, "40P01", False),  # deadlock
        (OperationalError, psycopg.OperationalError, "40001", False),  # serialization failure
        (IntegrityError, psycopg.IntegrityError, "23505", False),
    ],
)
def test_only_connection_level_failures_count_as_unavailable(django_class, driver_class, sqlstate, unavailable):
    assert outage.database_unavailable(wrapped(django_class, driver_error(driver_class, sqlstate))) is unavailable


def test_sqlite_errors_and_unwrapped_errors_are_not_an_outage():
    import sqlite3

    assert not outage.database_unavailable(wrapped(OperationalError, sqlite3.OperationalError("database is locked")))
    assert not outage.database_unavailable(OperationalError("no cause"))
    assert not outage.database_unavailable(RuntimeError("connection refused"))


def test_retry_after_is_the_setting():
    assert outage.retry_after() == str(settings.DATABASE_RETRY_AFTER_SECONDS) == "5"
