"""Request-wide guards of the site (listed in ``MIDDLEWARE``)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from catalog.hygiene import printable, text_problem


class AdminQueryHygieneMiddleware:
    """The input-hygiene rule (``catalog.hygiene``) on the admin's query strings: a NUL
    character in a parameter (``/admin/catalog/warehouse/?code=%00``: a list filter or a search)
    answers 400 naming the parameter instead of reaching PostgreSQL (a 500). Admin forms need
    no guard here: Django's form ``CharField`` refuses NUL with a form error, and form data
    cannot carry a lone surrogate (it is decoded with replacement characters)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/admin/"):
            for key, values in request.GET.lists():
                for value in (key, *values):
                    problem = text_problem(value)
                    if problem is not None:
                        return HttpResponseBadRequest(
                            f"The address's parameter {printable(key)!r} {problem}. Nothing was looked up: "
                            "go back and search or filter again.",
                            content_type="text/plain; charset=utf-8",
                        )
        return self.get_response(request)
