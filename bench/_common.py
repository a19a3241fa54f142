"""What the benchmark scripts share: printing figures, scratch databases, starting Django.

The scripts run as ``python bench/<name>.py``, so this folder is on ``sys.path``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from urllib.parse import urlsplit, urlunsplit


def emit(name: str, value: object) -> None:
    """One figure on stdout, ``name = value``."""
    if isinstance(value, float):
        value = f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    print(f"{name} = {value}", flush=True)


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def timed(function, repeat: int) -> tuple[float, float]:  # noqa: ANN001
    """Median and p99 milliseconds of ``function()`` over ``repeat`` calls (after one warm-up)."""
    function()
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        function()
        samples.append((time.perf_counter() - began) * 1_000)
    return statistics.median(samples), percentile(samples, 0.99)


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` on the same server."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def recreate_database(server_url: str, name: str) -> None:
    """Drop and create the scratch database ``name``, so every run starts from the same state."""
    import psycopg

    with psycopg.connect(with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def django_setup(database_url: str) -> None:
    """Point the project's settings at ``database_url`` and start Django (production-like:
    DEBUG off, so no query log grows in the loops)."""
    os.environ["DATABASE_URL"] = database_url
    os.environ["DEBUG"] = "False"
    os.environ.setdefault("SECRET_KEY", f"bench-only-{'x' * 40}-not-for-production")
    os.environ["DJANGO_SETTINGS_MODULE"] = "inventory_site.settings"
    import django

    django.setup()
