"""WSGI entry point (gunicorn inventory_site.wsgi).

After the application is built, its URLconf (and so every view, API and admin module) is
imported and the objects of start-up are frozen (``gc.freeze``): they live as long as the worker,
and a full garbage collection no longer walks them on every request that allocates a lot (a
report's rows). What Python's documentation of ``gc.freeze`` recommends for a process that
serves; bench/reports.py does the same before it measures (docs/reports.md, "How the reports read
(speed)")."""

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inventory_site.settings")
application = get_wsgi_application()
get_resolver().url_patterns  # noqa: B018 - imports the URLconf now, not at the first request
gc.collect()
gc.freeze()
