"""The site's ``handler500``: a database that cannot be reached answers 503, anything else stays
Django's 500 (common/outage.py, docs/operations.md "When the database is away").

Django calls it for every exception nobody handled, from a view or from a middleware (a session
read while PostgreSQL restarts happens in ``ShiftSessionMiddleware``, before any view), while the
exception is still being handled, so ``sys.exception()`` is it. The 503 page is a constant: no
template, no context processor, nothing that could ask the database again. With ``DEBUG`` on
Django shows its debug page instead and never calls this (the API's 503 comes from its own
exception handler, so the API answers alike in both modes when the failure is in its view).
"""

from __future__ import annotations

import json
import sys

from django.http import HttpRequest, HttpResponse
from django.views import defaults

from common import outage

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Briefly unavailable</title></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto; padding: 0 1em">
<h1>Briefly unavailable</h1>
<p>The inventory cannot reach its database just now. Wait a few seconds and try again.</p>
<p>If you were saving something, look whether it was saved before you send it again
(a clerk job sent again is posted only once).</p>
</body></html>
"""


def server_error(request: HttpRequest) -> HttpResponse:
    exc = sys.exception()
    if exc is None or not outage.database_unavailable(exc):
        return defaults.server_error(request)
    if request.path.startswith("/api/"):
        response = HttpResponse(json.dumps(outage.api_body()), status=503, content_type="application/json")
    else:
        response = HttpResponse(PAGE, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = outage.retry_after()
    response["Cache-Control"] = "no-store"
    outage.log_unavailable(request, response, exc)
    return response
