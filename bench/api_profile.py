"""Where a sale's time goes: one-line sales through Django's WSGI handler in this process (no
gunicorn, no sockets), profiled.

Run ``python bench/api_profile.py`` (``--requests N``, default 2000; ``--clerk`` posts as a
Warehouse clerk of the warehouse instead of a superuser; ``--top N`` rows of the cProfile listing
on stderr). Same PostgreSQL server and world as ``bench/api_sales.py`` (its scratch database
``inventory_bench_api_profile``, dropped and recreated), then:

1. ``queries_per_sale``, ``queries_per_baseline``: statements of one sale and of one baseline
   request (``bench/api_baseline.py``), ``BEGIN``/``COMMIT``/savepoints included
   (``CaptureQueriesContext``); the statements of one sale on stderr;
2. ``sale_ms``, ``baseline_ms``: wall time of one request, mean over ``--requests``, one client;
   ``sale_cpu_ms``, ``baseline_cpu_ms``: this process's CPU per request (the database's not
   included);
3. ``phase_*_percent``: each phase's share of a sale's CPU, from cProfile (timer: this
   process's CPU, so waits on PostgreSQL are left out) over the same loop, by the cumulative time
   of the functions that begin each phase: authentication, throttling, permission, input
   validation, idempotency (claim, fingerprint, stored answer, BEGIN/COMMIT), look-ups (SKU and
   warehouse, one statement since the third round), the posting (``stock_post_batch``: its
   idempotency look-up, FEFO plan and ``movement_post``; since the third round, on PostgreSQL, the
   available quantity after posting too), the available quantity after posting (when read apart),
   serialization of the answer,
   rendering, and the middleware with the rest (``request``); ``phase_database_driver_percent``:
   the driver's ``execute`` (psycopg);
4. ``ratio_sale_to_baseline_cpu`` and ``ratio_sale_to_baseline`` (wall) last.

docs/api.md ("Where a sale's time goes") reads these figures.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
import uuid
from pathlib import Path

from _common import emit, progress, recreate_database, with_database
from api_sales import DEFAULT_SERVER_URL, clerk_token, create_world, django_setup

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "inventory_bench_api_profile"

# phase -> the functions whose cumulative time is that phase ((file suffix, function name));
# nested phases are subtracted from the outer ones they sit in (see ``phases``).
PHASES: dict[str, list[tuple[str, str]]] = {
    "authentication": [("rest_framework/request.py", "_authenticate")],
    "throttling": [("rest_framework/views.py", "check_throttles")],
    "permission": [("rest_framework/views.py", "check_permissions")],
    "input_validation": [("rest_framework/serializers.py", "is_valid")],
    "idempotency": [("common/api/idempotency.py", "idempotent")],
    "lookups": [
        ("catalog/api.py", "item_from_reference"),
        ("catalog/api.py", "warehouse_from_code"),
        ("catalog/api.py", "warehouse_and_items"),  # the two above in one statement (third round)
    ],
    "posting": [("stock/services/batches.py", "stock_post_batch")],  # with the available quantity (third round)
    # stock_on_hand and the serializer: the code before issue 13's item 7 (a before/after profile)
    "available_after": [("stock/selectors.py", "stock_on_hand"), ("stock/selectors.py", "stock_available_by_item")],
    "output_serialization": [("rest_framework/serializers.py", "data")],
    "render": [("rest_framework/response.py", "rendered_content")],
    "request": [("django/core/handlers/base.py", "get_response")],
}
# phase -> the phases inside it, subtracted from its own time
INNER = {
    "idempotency": ["lookups", "posting", "available_after", "output_serialization"],
    "request": [
        "authentication",
        "throttling",
        "permission",
        "input_validation",
        "idempotency",
        "render",
    ],
}


def wsgi_environ(path: str, token: str, body: bytes, key: str) -> dict:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Token {token}",
        "HTTP_IDEMPOTENCY_KEY": key,
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


class Caller:
    """Posts through the WSGI handler, as gunicorn would call it."""

    def __init__(self, token: str, skus: list[str]) -> None:
        from django.core.handlers.wsgi import WSGIHandler

        self.handler, self.token, self.skus, self.sent = WSGIHandler(), token, skus, 0

    def call(self, path: str, payload: dict) -> int:
        body = json.dumps(payload).encode()
        statuses: list[str] = []
        chunks = self.handler(
            wsgi_environ(path, self.token, body, str(uuid.uuid4())), lambda s, h, e=None: statuses.append(s)
        )
        b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
        return int(statuses[0].split()[0])

    def sale(self) -> int:
        self.sent += 1
        sku = self.skus[self.sent % 10]  # ten items, all sold in the warm-up: steady-state statements
        payload = {"reference": f"PROFILE-{self.sent}", "warehouse": "BEN", "lines": [{"sku": sku, "quantity": "1"}]}
        return self.call("/api/v1/sales/", payload)

    def baseline(self) -> int:
        self.sent += 1
        return self.call("/bench/baseline/", {"note": f"PROFILE-{self.sent}"})


def statements(caller: Caller, request: str) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        status = getattr(caller, request)()
    assert status in (200, 201), f"{request}: {status}"
    return [query["sql"] for query in captured.captured_queries]


def timed(caller: Caller, request: str, count: int) -> tuple[float, float]:
    """ms per request: (wall, CPU of this process)."""
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        status = getattr(caller, request)()
        assert status in (200, 201), f"{request}: {status}"
    return (time.perf_counter() - started) / count * 1000, (time.process_time() - cpu) / count * 1000


def phases(profile: cProfile.Profile) -> dict[str, float]:
    """Each phase's share (%) of a request's CPU under the profiler (outer phases without the
    inner ones; the profiler slows Python several times, so shares, not its milliseconds)."""
    stats = pstats.Stats(profile).stats  # (file, line, name) -> (cc, nc, tt, ct, callers)
    cumulative: dict[str, float] = {}
    database = 0.0
    for phase, functions in PHASES.items():
        cumulative[phase] = 0.0
        for (filename, _, name), (_, _, _, ct, _) in stats.items():
            if any(filename.endswith(suffix) and name == wanted for suffix, wanted in functions):
                cumulative[phase] += ct
    for (filename, _, name), (_, _, _, ct, _) in stats.items():
        if filename.endswith("psycopg/cursor.py") and name == "execute":
            database += ct
    own = dict(cumulative)
    for outer, inner in INNER.items():
        own[outer] = cumulative[outer] - sum(cumulative[name] for name in inner)
    total = cumulative["request"]
    figures = {f"phase_{name}_percent": seconds / total * 100 for name, seconds in own.items()}
    figures["phase_database_driver_percent"] = database / total * 100
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests of each kind (default 2000)")
    parser.add_argument("--clerk", action="store_true", help="post as a Warehouse clerk, not a superuser")
    parser.add_argument("--top", type=int, default=0, help="print this many rows of the cProfile listing")
    parser.add_argument("--dump", help="write the cProfile statistics to this file (pstats)")
    args = parser.parse_args()
    server_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER_URL)
    database_url = with_database(server_url, DATABASE)

    progress(f"recreating {DATABASE} and migrating")
    recreate_database(server_url, DATABASE)
    django_setup(database_url)  # bench/api_sales.py's server settings: the baseline view is mounted
    from django.core.management import call_command

    from bench.api_baseline import create_baseline_table

    call_command("migrate", verbosity=0)
    token, skus = create_world()
    create_baseline_table()
    if args.clerk:
        token = clerk_token()
    caller = Caller(token, skus)
    for _ in range(20):  # warm-up: connection, prepared statements, caches
        caller.sale()
        caller.baseline()

    sale_sql, baseline_sql = statements(caller, "sale"), statements(caller, "baseline")
    progress("statements of one sale:\n  " + "\n  ".join(sql[:160] for sql in sale_sql))
    progress("statements of one baseline request:\n  " + "\n  ".join(sql[:160] for sql in baseline_sql))

    progress(f"{args.requests} sales and {args.requests} baseline requests, one client")
    baseline_ms = timed(caller, "baseline", args.requests)
    sale_ms = timed(caller, "sale", args.requests)

    progress(f"profiling {args.requests} sales")
    profile = cProfile.Profile(time.process_time)  # CPU of this process: waits on PostgreSQL left out
    profile.enable()
    timed(caller, "sale", args.requests)
    profile.disable()
    if args.dump:
        profile.dump_stats(args.dump)
    if args.top:
        listing = io.StringIO()
        pstats.Stats(profile, stream=listing).sort_stats("cumulative").print_stats(args.top)
        progress(listing.getvalue())

    emit("load_average_1m", round(os.getloadavg()[0], 2))
    emit("user", "clerk" if args.clerk else "superuser")
    emit("requests", args.requests)
    emit("queries_per_sale", len(sale_sql))
    emit("queries_per_baseline", len(baseline_sql))
    emit("baseline_ms", baseline_ms[0])
    emit("baseline_cpu_ms", baseline_ms[1])
    emit("sale_ms", sale_ms[0])
    emit("sale_cpu_ms", sale_ms[1])
    for name, value in phases(profile).items():
        emit(name, value)
    emit("ratio_sale_to_baseline_cpu", sale_ms[1] / baseline_ms[1])
    emit("ratio_sale_to_baseline", sale_ms[0] / baseline_ms[0])


if __name__ == "__main__":
    main()
