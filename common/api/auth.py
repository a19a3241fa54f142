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
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from rest_framework import authentication, exceptions, throttling
from rest_framework.request import Request


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
    """``Authorization: Token <key>``, throttled per address, with expiry and axes lockout."""

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
        try:
            user, token = super().authenticate(request)
        except exceptions.AuthenticationFailed:
            failures.record(request)
            raise
        self._refuse_expired(token)
        self._refuse_locked_out(request, user)
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
        django_request, username = request._request, user.get_username()
        AxesProxyHandler.update_request(django_request)
        recent = AccessAttempt.objects.filter(Q(username=username) | Q(ip_address=django_request.axes_ip_address))
        if isinstance(settings.AXES_COOLOFF_TIME, timedelta):  # None: axes counts every attempt ever
            recent = recent.filter(attempt_time__gte=timezone.now() - settings.AXES_COOLOFF_TIME)
        if not recent.exists():  # the common case, one query; axes' own rule only when it may lock
            return
        if AxesProxyHandler.is_locked(django_request, {"username": username}):
            raise exceptions.AuthenticationFailed(
                f"{username} is locked out after too many failed sign-ins from this address; "
                "try again after the cool-off or ask an administrator (manage.py axes_reset).",
                code="locked_out",
            )
