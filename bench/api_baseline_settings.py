"""Settings of ``bench/api_sales.py``'s gunicorn: the product's settings, with the URL map of
``bench/api_baseline.py`` (the product's URLs plus the baseline view). Only the benchmarks name
this module (``DJANGO_SETTINGS_MODULE=bench.api_baseline_settings``); the product never mounts
the baseline."""

from inventory_site.settings import *  # noqa: F403

ROOT_URLCONF = "bench.api_baseline"
