"""Who may knock, and how often (docs/api.md, "Throttling and tokens"; docs/security.md).

- ``TokenAuthentication``: DRF's ``Authorization: Token <key>`` with three refusals more:
  1. an address that sent more bad tokens than ``API_THROTTLE_AUTH_FAILURES`` allows gets 429
     with ``Retry-After`` for every token it sends until the window has passed (guessing tokens
     costs the guesser, not the database);
  2. a token older than ``API_TOKEN_TTL_HOURS`` (0: tokens never expire) is refused (401,
     code ``token_expired``): ``manage.py create_api_token USER --rotate`` issues a new one;
  3. a user whom django-axes has locked out from this address (the rule of the login form:
     too many failed passwords for the user, or from the address) is refused (401, code
     ``locked_out``): a lockout locks the API too, not only the login form.
- ``UserRateThrottle``: every authenticated request counts against its user's
  ``API_THROTTLE_USER`` rate (429 with ``Retry-After`` beyond it).

Counters live in Django's default cache (``CACHE_URL``): one shared cache (Redis) in production
makes the limits hold across web workers; the default local-memory cache counts per process.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions, throttling
from rest_framework.request import Request

from common.db import ModelRows, fetch_rows


class _AlwaysWait:
    """A wait for every 429, so ``Retry-After`` is always sent. DRF's ``wait()`` gives None once
    the history holds more entries than the limit (concurrent requests overshoot it): then the
    wait is until enough of the oldest entries have left the window to go below the limit."""

    def wait(self) -> float:
        history, limit = self.history, self.num_requests
        if len(history) < limit:
            return super().wait() or 1.0
        # ``history`` is newest first: below the limit once entry ``limit - 1`` has expired.
        return max(1.0, self.duration - (self.now - history[limit - 1]))


class AuthFailureThrottle(_AlwaysWait, throttling.SimpleRateThrottle):
    """Bad tokens per client address (``API_THROTTLE_AUTH_FAILURES``): ``exceeded`` reads the
    count without adding to it, ``record`` adds a failure."""

    scope = "auth_failure"

    def get_rate(self) -> str | None:
        return settings.API_THROTTLE_AUTH_FAILURES or None

    def get_cache_key(self, request: Request, view: Any = None) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def _load(self, request: Request) -> str:
        key = self.get_cache_key(request)
        self.now = self.timer()
        self.history = [at for at in self.cache.get(key, []) if at > self.now - self.duration]
        return key

    def exceeded(self, request: Request) -> bool:
        if self.rate is None:
            return False
        self._load(request)
        return len(self.history) >= self.num_requests

    def record(self, request: Request) -> None:
        if self.rate is None:
            return
        key = self._load(request)
        self.history.insert(0, self.now)
        self.cache.set(key, self.history, self.duration)


class UserRateThrottle(_AlwaysWait, throttling.UserRateThrottle):
    """Requests per user (``API_THROTTLE_USER``; empty: no limit), read at request time."""

    def get_rate(self) -> str | None:
        return settings.API_THROTTLE_USER or None


class TokenAuthentication(authentication.TokenAuthentication):
    """``Authorization: Token <key>``, throttled per address, with expiry and axes lockout.

    The token, its user and whether django-axes holds any recent failed sign-in for that user
    or this address come in ONE plain-SQL statement (``authenticate_credentials``), on every
    request: nothing about a token is cached, so a deleted (revoked or rotated) token, a
    deactivated user or a fresh lockout counts from the next request. Axes' own rule runs only
    when that statement found recent attempts (``_refuse_locked_out``)."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None  # not a token request: the next authentication class decides
        failures = AuthFailureThrottle()
        if failures.exceeded(request):
            raise exceptions.Throttled(
                wait=failures.wait(),
                detail="Too many invalid tokens from this address; try again later.",
            )
        self._django_request = request._request
        AxesProxyHandler.update_request(self._django_request)
        try:
            user, token = super().authenticate(request)  # DRF's header checks, then authenticate_credentials
        except exceptions.AuthenticationFailed:
            failures.record(request)
            raise
        self._refuse_expired(token)
        if self._recent_attempts:  # the common case skips axes' rule: no failed sign-in in the cool-off
            self._refuse_locked_out(request, user)
        return user, token

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        """The token and its active user, DRF's refusals (``Invalid token.``, ``User inactive or
        deleted.``), and ``_recent_attempts``: does axes hold a failed sign-in within the
        cool-off for the user's name or the client address (the query axes' rule needs at all)."""
        token_rows, user_rows, sql = _credentials_sql()
        ip_address = getattr(self._django_request, "axes_ip_address", None)
        cooloff = settings.AXES_COOLOFF_TIME if isinstance(settings.AXES_COOLOFF_TIME, timedelta) else None
        params: list[Any] = []  # None cool-off: axes counts every attempt ever
        if ip_address is not None:
            params.append(_IP_FIELD().get_db_prep_value(ip_address, connection))
        if cooloff is not None:
            params.append(_TIME_FIELD().get_db_prep_value(timezone.now() - cooloff, connection))
        rows = fetch_rows(sql(ip_address is not None, cooloff is not None), [*params, key])
        if not rows:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        token = token_rows.instance(rows[0])
        user = user_rows.instance(rows[0], token_rows.width)
        token_rows.model._meta.get_field("user").set_cached_value(token, user)
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        self._recent_attempts = bool(rows[0][-1])
        return user, token

    def _refuse_expired(self, token: Any) -> None:
        hours = settings.API_TOKEN_TTL_HOURS
        if hours and token.created < timezone.now() - timedelta(hours=hours):
            raise exceptions.AuthenticationFailed(
                f"This token expired (tokens last {hours} hours): ask an administrator for a new one "
                "(manage.py create_api_token USER --rotate).",
                code="token_expired",
            )

    def _refuse_locked_out(self, request: Request, user: Any) -> None:
        username = user.get_username()
        if AxesProxyHandler.is_locked(request._request, {"username": username}):
            raise exceptions.AuthenticationFailed(
                f"{username} is locked out after too many failed sign-ins from this address; "
                "try again after the cool-off or ask an administrator (manage.py axes_reset).",
                code="locked_out",
            )


def _IP_FIELD() -> Any:  # noqa: N802 - a field, read when first needed
    return AccessAttempt._meta.get_field("ip_address")


def _TIME_FIELD() -> Any:  # noqa: N802
    return AccessAttempt._meta.get_field("attempt_time")


@cache
def _credentials_sql() -> tuple[ModelRows, ModelRows, Any]:
    """(token rows, user rows, sql(by_address, since)): the statement of
    ``authenticate_credentials``, built once (the models are read after the app registry)."""
    from rest_framework.authtoken.models import Token

    user_model = get_user_model()
    token_rows, user_rows = ModelRows(Token), ModelRows(user_model)

    @cache
    def sql(by_address: bool, since: bool) -> str:
        quote = connection.ops.quote_name
        username = quote(user_model._meta.get_field(user_model.USERNAME_FIELD).column)
        attempts = AccessAttempt._meta
        who = f"a.{quote(_IP_FIELD().column)} " + ("= %s" if by_address else "IS NULL")
        recent = f" AND a.{quote(_TIME_FIELD().column)} >= %s" if since else ""
        return (
            f"SELECT {token_rows.columns('t')}, {user_rows.columns('u')}, "  # noqa: S608 - names from _meta
            f"EXISTS (SELECT 1 FROM {quote(attempts.db_table)} a "
            f"WHERE (a.{quote(attempts.get_field('username').column)} = u.{username} OR {who}){recent}) "
            f"FROM {quote(Token._meta.db_table)} t JOIN {quote(user_model._meta.db_table)} u "
            f"ON u.{quote(user_model._meta.pk.column)} = t.{quote(Token._meta.get_field('user').column)} "
            f"WHERE t.{quote(Token._meta.pk.column)} = %s"
        )

    return token_rows, user_rows, sql
