"""Signed-in sessions: where a user lands, and how long a session lasts (docs/security.md,
"Sessions").

- ``home``: the user's home: the admin for staff, the clerk pages (``/floor/``) for everyone
  else. ``LOGIN_REDIRECT_URL`` names it, so a login whose ``next=`` was refused (another site)
  lands here, never on Django's ``/accounts/profile/`` (a 404 here).
- ``ShiftSessionMiddleware``: every signed-in session ends ``SESSION_HOURS`` (12) after it began,
  however busy it is. Django renews a session's age each time the session is saved, and the
  clerk pages save it on every scan: a shared handheld would stay signed in as the last clerk
  forever. A fixed end time (``set_expiry(datetime)``, kept in the session itself) does not move.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone

EXPIRY_KEY = "_session_expiry"  # where Django's set_expiry keeps a session's end


def home(request: HttpRequest) -> HttpResponse:
    """``/``: staff (and strangers, to sign in) to the admin, everyone else to the floor."""
    user = request.user
    if user.is_authenticated and not user.is_staff:
        return HttpResponseRedirect(reverse("floor:home"))
    return HttpResponseRedirect(reverse("admin:index"))


class ShiftSessionMiddleware:
    """Fix the end of a signed-in session at its first request: ``SESSION_HOURS`` from then.
    Placed after ``AuthenticationMiddleware``. Token requests of the API carry no session."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated and request.session.get(EXPIRY_KEY) is None:
            request.session.set_expiry(timezone.now() + timedelta(hours=settings.SESSION_HOURS))
        return self.get_response(request)
