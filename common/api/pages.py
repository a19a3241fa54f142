"""The API's pages outside DRF: the docs pages' way to the login, and the JSON 404."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt


def docs_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """A docs page (HTML, for people) sends a stranger to the API's login page and back, where
    ``DocsAccess`` alone would answer a bare 401 (the schema itself answers 401 in JSON)."""

    def page(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not settings.API_DOCS_PUBLIC and not request.user.is_authenticated:
            from django.contrib.auth.views import redirect_to_login
            from django.urls import reverse

            return redirect_to_login(request.get_full_path(), reverse("rest_framework:login"))
        return view(request, *args, **kwargs)

    return page


@csrf_exempt  # it changes nothing; a POST to an unknown URL is a 404, not a CSRF failure
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)
