"""The database is away: a connection-level failure is answered 503 with ``Retry-After``, never a
500 (docs/operations.md, "When the database is away").

``database_unavailable(exc)`` tells such a failure from a bug by the driver's exception, never
by its text. Unavailable means the connection itself failed: PostgreSQL refused or dropped it
(psycopg raises a client-side ``OperationalError``/``InterfaceError`` without SQLSTATE: "connection
refused", "the connection is closed", "server closed the connection unexpectedly"), or the server
said so (SQLSTATE class 08, connection exception; 57P01 admin shutdown, 57P02 crash shutdown, 57P03
cannot connect now, 57P05 idle-session timeout; 53300 too many connections). Everything else
(``IntegrityError``, ``ProgrammingError``, a statement timeout, a deadlock, SQLite's "database is
locked") stays what it is: a bug or a refusal, a 500 if nobody handles it.

The doors answer it in their own shape: the API's error contract through
``common.api.errors.exception_handler`` (``{"code": "database_unavailable", "detail": ...}``),
the pages and anything raised outside a view (a session read in a middleware) through the
site's ``handler500`` (``inventory_site.errors``). Each logs it once, as one line without a
traceback (``log_unavailable``): an outage is not a bug, and a thread per request repeating the
same traceback would bury the log.

Nothing half-written can follow: every write runs in a transaction, and PostgreSQL rolls back
a transaction whose connection is gone. Recovery is Django's: the failed request's connection
is closed at its end (``errors_occurred``), and ``CONN_HEALTH_CHECKS`` (on by default, see
settings) checks a persistent connection before its first use in each request, so a connection
broken while idle (a restart between requests) is replaced instead of failing a request.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponseBase
from django.utils.log import log_response

CODE = "database_unavailable"
DETAIL = (
    "The service cannot reach its database just now. Try again in a few seconds; a write sent again "
    "with the same Idempotency-Key is posted once."
)
# SQLSTATEs with which the server itself refuses or ends a connection (besides class 08).
CONNECTION_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "57P05", "53300"})


def database_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` is Django's wrapper of a PostgreSQL connection failure (see above)."""
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is in the lock; SQLite alone has no connection to lose
        return False
    cause = exc.__cause__
    if not isinstance(cause, psycopg.OperationalError | psycopg.InterfaceError):
        return False
    state = cause.sqlstate
    return state is None or state.startswith("08") or state in CONNECTION_SQLSTATES


def retry_after() -> str:
    """The ``Retry-After`` header's value: whole seconds (``DATABASE_RETRY_AFTER_SECONDS``)."""
    return str(settings.DATABASE_RETRY_AFTER_SECONDS)


def api_body() -> dict[str, str]:
    return {"code": CODE, "detail": DETAIL}


def log_unavailable(request: Any, response: HttpResponseBase, exc: BaseException) -> None:
    """One line on ``django.request`` at ERROR (it carries the request id like every line), with
    the driver's first line of text and no traceback; Django then does not log the response again."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    log_response(
        "Database unavailable, answered %s: %s %s (%s: %s)",
        response.status_code,
        request.method,
        request.path,
        type(exc).__name__,
        message,
        response=response,
        request=getattr(request, "_request", request),  # DRF's Request wraps Django's
    )
