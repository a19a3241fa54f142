"""API benchmark: sales posted through ``POST /api/v1/sales/`` against the framework's floor
(the smallest token-authenticated DRF view that inserts one row, ``bench/api_baseline.py``),
both served by the same gunicorn in the same run (8 concurrent HTTP clients on loopback), and
against direct ``stock.services.movement_post`` calls (8 worker processes).

Run ``python bench/api_sales.py`` (``--seconds N`` to change the timed duration of each side,
default 10; ``--rounds N``, default 3; ``--clerk``: the HTTP side, baseline and sales, as a
Warehouse clerk of the warehouse, whose sales pass the role's and the warehouse's permission
checks, instead of the superuser). It needs a PostgreSQL server (default
``postgres://postgres@127.0.0.1:5432/postgres``, override with ``BENCH_DATABASE_URL``; the role
must be allowed to create databases) and is never part of the test run. docs/api.md
("Performance") explains the figures.

What it does, in order (progress on stderr, figures on stdout as ``name = value``, ratios last):

1. drops and recreates the scratch database ``inventory_bench_api``, migrates it and creates the
   baseline's table (``bench_baseline_row``, not in any migration);
2. creates one warehouse (``BEN``), 20 bins and 200 items, opening stock of 100,000 per item in
   two bins (one ``movement_post`` batch of receipts), and a superuser with an API token;
3. direct: 8 worker processes (each its own ``django.setup()`` and connection, released
   together by a barrier) call ``movement_post`` for ``--seconds``: one issue line of 1 unit of a
   random item from one of its stocked bins to the customer location, with an idempotency key;
4. HTTP: starts gunicorn on a free port of 127.0.0.1 (4 gthread workers x 2 threads, DEBUG off,
   persistent database connections) with the settings ``bench.api_baseline_settings`` (the
   product's, plus the baseline's URL; the product never mounts it), waits until it answers,
   then, ``--rounds`` times, 8 client threads (one keep-alive connection each, released
   together) post baseline rows for ``--seconds / --rounds``, then sales for as long: one line of
   1 unit of a random item, without location (the product picks the bin by FEFO), with an
   ``Idempotency-Key``; every answer must be 201. Alternating keeps both sides under the same
   load of a shared machine. Then stops gunicorn;
5. checks that every successful sale is in the ledger, every baseline request left its row and
   ``stock.reconciliation`` finds no difference, and prints requests/s (``baseline_rps``,
   ``api_sales_rps``), p50/p99/mean latency of each side and the ratios, ``ratio_api_to_baseline``
   last (the target is 0.5).

A sale through the API does more than the baseline: the SKU and warehouse look-ups, the FEFO
plan, the posting, the idempotency claim and its stored answer in one transaction, the available
quantity after posting; ``bench/api_profile.py`` shows where its time goes.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from _common import emit, percentile, progress, recreate_database, with_database

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DATABASE = "inventory_bench_api"
CLIENTS = 8
GUNICORN_WORKERS = 4
GUNICORN_THREADS = 2
ITEMS = 200
BINS = 20
BINS_PER_ITEM = 2
OPENING_QUANTITY = Decimal(100_000)
WARMUP_REQUESTS = 5  # per client, before the timed run (connections, caches, first queries)
SEED = 20260101
SECRET_KEY = "bench-only-" + "x" * 40 + "-not-for-production"
SALES_PATH = "/api/v1/sales/"
BASELINE_PATH = "/bench/baseline/"


# --- Output -------------------------------------------------------------------------------------


# --- Database and Django ------------------------------------------------------------------------


def server_environment(database_url: str) -> dict[str, str]:
    """Production-like settings: DEBUG off (no query log), a secret key, plain HTTP on loopback;
    no per-user throttle (one token posts hundreds of sales a second: the ledger is measured)."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "False",
        "SECRET_KEY": SECRET_KEY,
        "SECURE_SSL_REDIRECT": "False",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CONN_MAX_AGE": "600",
        "API_THROTTLE_USER": "",
        "GUNICORN_ACCESS_LOG": "",  # one JSON line per sale would cost the server and flood the terminal
        # the product's settings and URLs, plus the baseline view (bench/api_baseline.py)
        "DJANGO_SETTINGS_MODULE": "bench.api_baseline_settings",
    }


def django_setup(database_url: str) -> None:
    os.environ.update(server_environment(database_url))  # the server's settings, baseline view included
    import django

    django.setup()


def create_world() -> tuple[str, list[str]]:
    """Warehouse, bins, items with opening stock (through the posting service) and a superuser's
    token. Returns (token, SKUs)."""
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    from catalog.models import Item, Location, LocationKind, UnitOfMeasure, ValuationMethod, Warehouse
    from stock.models import MovementKind
    from stock.services import MovementLine, movement_post

    each = UnitOfMeasure.objects.get(code="each")
    warehouse = Warehouse.objects.create(code="BEN", name="Bench warehouse")
    Location.objects.bulk_create(
        Location(warehouse=warehouse, code=f"B{n:03d}", name=f"Bin {n}", barcode=f"BEN-B{n:03d}")
        for n in range(1, BINS + 1)
    )
    bins = list(Location.objects.filter(warehouse=warehouse).select_related("warehouse").order_by("code"))
    items = Item.objects.bulk_create(
        Item(
            sku=f"SALE-{n:04d}",
            name=f"Bench item {n}",
            base_unit=each,
            valuation_method=ValuationMethod.MOVING_AVERAGE,
            standard_cost=Decimal(10),
        )
        for n in range(1, ITEMS + 1)
    )
    supplier = Location.objects.virtual(LocationKind.SUPPLIER)
    rng = random.Random(SEED)
    lines = [
        MovementLine(
            item=item,
            quantity=OPENING_QUANTITY,
            source=supplier,
            destination=bin_,
            kind=MovementKind.RECEIPT,
            unit_cost=Decimal(10),
        )
        for item in items
        for bin_ in rng.sample(bins, BINS_PER_ITEM)
    ]
    movement_post(lines=lines, actor=None, idempotency_key="bench-opening")
    user = User.objects.create_superuser("bench", email="bench@example.com", password=None)
    return Token.objects.create(user=user).key, [item.sku for item in items]


def clerk_token() -> str:
    """A Warehouse clerk of warehouse BEN (role group, warehouse grant) and their token."""
    from django.contrib.auth.models import Group, User
    from guardian.shortcuts import assign_perm
    from rest_framework.authtoken.models import Token

    from catalog.models import Warehouse
    from catalog.permissions import WarehouseAction
    from common.roles import WAREHOUSE_CLERK

    clerk = User.objects.create_user("bench-clerk", password=None)
    clerk.groups.add(Group.objects.get(name=WAREHOUSE_CLERK))
    warehouse = Warehouse.objects.get(code="BEN")
    for action in (WarehouseAction.VIEW, WarehouseAction.POST):
        assign_perm(f"catalog.{action}", clerk, warehouse)
    return Token.objects.create(user=clerk).key


# --- Direct: movement_post from worker processes ------------------------------------------------


def direct_worker(database_url: str, seconds: float, barrier, results, number: int) -> None:  # noqa: ANN001
    django_setup(database_url)
    from django.contrib.auth.models import User
    from django.db import connection

    from catalog.models import Location, LocationKind
    from stock.models import MovementKind, StockLevel
    from stock.services import MovementLine, movement_post

    actor = User.objects.get(username="bench")
    customer = Location.objects.virtual(LocationKind.CUSTOMER)
    pairs = [
        (level.item, level.location)
        for level in StockLevel.objects.filter(location__kind=LocationKind.INTERNAL, on_hand__gt=0).select_related(
            "item", "location__warehouse"
        )
    ]
    rng = random.Random(SEED + number)

    def post() -> None:
        item, location = rng.choice(pairs)
        line = MovementLine(
            item=item, quantity=Decimal(1), source=location, destination=customer, kind=MovementKind.ISSUE
        )
        movement_post(lines=line, actor=actor, idempotency_key=f"bench-direct-{uuid.uuid4()}")

    for _ in range(WARMUP_REQUESTS):
        post()
    barrier.wait()
    latencies: list[float] = []
    end = time.perf_counter() + seconds
    while (started := time.perf_counter()) < end:
        post()
        latencies.append(time.perf_counter() - started)
    connection.close()
    results.put(latencies)


def run_direct(database_url: str, seconds: float) -> tuple[int, list[float], float]:
    context = mp.get_context("spawn")  # fresh interpreters: no database connection is inherited
    barrier = context.Barrier(CLIENTS + 1)
    results = context.Queue()
    workers = [
        context.Process(target=direct_worker, args=(database_url, seconds, barrier, results, n)) for n in range(CLIENTS)
    ]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=300)
    started = time.perf_counter()
    latencies = [latency for _ in workers for latency in results.get(timeout=seconds + 300)]
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join(timeout=60)
    return len(latencies), latencies, elapsed


# --- API: gunicorn and HTTP clients -------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(database_url: str, port: int) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        str(ROOT / "gunicorn.conf.py"),  # the production settings; the flags below override them
        "inventory_site.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(GUNICORN_WORKERS),
        "--worker-class",
        "gthread",
        "--threads",
        str(GUNICORN_THREADS),
        "--log-level",
        "warning",
        "--chdir",
        str(ROOT),
    ]
    return subprocess.Popen(command, cwd=ROOT, env=server_environment(database_url))


def wait_until_up(port: int, token: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/warehouses/", headers={"Authorization": f"Token {token}"})
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer in time")


def stop_gunicorn(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=30)


class HttpClient:
    """One keep-alive connection posting one kind of request: a one-line sale
    (``/api/v1/sales/``) or a baseline row (``/bench/baseline/``), each with a new
    ``Idempotency-Key`` (the baseline ignores it)."""

    def __init__(self, port: int, token: str, skus: list[str], number: int, target: str) -> None:
        self.port, self.token, self.skus, self.target = port, token, skus, target
        self.rng = random.Random(SEED + 100 + number)
        self.number = number
        self.sent = 0
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def body(self) -> tuple[str, str]:
        if self.target == "baseline":
            return BASELINE_PATH, json.dumps({"note": f"BENCH-{self.number}-{self.sent}"})
        sale = {
            "reference": f"BENCH-{self.number}-{self.sent}",
            "warehouse": "BEN",
            "lines": [{"sku": self.rng.choice(self.skus), "quantity": "1"}],
        }
        return SALES_PATH, json.dumps(sale)

    def post(self) -> int:
        self.sent += 1
        path, body = self.body()
        headers = {
            "Authorization": f"Token {self.token}",
            "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        for attempt in range(2):
            try:
                self.conn.request("POST", path, body=body, headers=headers)
                response = self.conn.getresponse()
                response.read()
                return response.status
            except (http.client.HTTPException, OSError):  # the server closed a kept-alive connection
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        raise AssertionError("unreachable")


@dataclass
class Side:
    """The HTTP figures of one side (baseline or sales), summed over the rounds."""

    count: int = 0
    failures: int = 0
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    def add(self, count: int, failures: int, latencies: list[float], elapsed: float) -> None:
        self.count += count
        self.failures += failures
        self.latencies += latencies
        self.elapsed += elapsed


def run_http(
    port: int, token: str, skus: list[str], seconds: float, target: str
) -> tuple[int, int, list[float], float]:
    """``CLIENTS`` threads posting ``target`` requests for ``seconds``: (requests, failures
    (not 201), latencies, elapsed seconds)."""
    barrier = threading.Barrier(CLIENTS + 1)
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    failures = [0] * CLIENTS

    def client(number: int) -> None:
        http_client = HttpClient(port, token, skus, number, target)
        for _ in range(WARMUP_REQUESTS):
            http_client.post()
        barrier.wait()
        end = time.perf_counter() + seconds
        while (started := time.perf_counter()) < end:
            status = http_client.post()
            latencies[number].append(time.perf_counter() - started)
            if status != 201:
                failures[number] += 1
        http_client.conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=120)
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    flat = [latency for per_client in latencies for latency in per_client]
    return len(flat), sum(failures), flat, elapsed


# --- Main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="timed duration of each side (default 10)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="baseline and sales alternate this many times over the HTTP side"
    )
    parser.add_argument(
        "--clerk", action="store_true", help="both sides as a Warehouse clerk of BEN (a superuser skips the grants)"
    )
    args = parser.parse_args()
    server_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER_URL)
    database_url = with_database(server_url, DATABASE)

    progress(f"recreating {DATABASE} and migrating")
    recreate_database(server_url, DATABASE)
    django_setup(database_url)
    from django.core.management import call_command
    from django.db import connection

    from bench.api_baseline import BaselineRow, create_baseline_table

    call_command("migrate", verbosity=0)
    token, skus = create_world()
    if args.clerk:
        token = clerk_token()
    create_baseline_table()
    connection.close()

    progress(f"direct: {CLIENTS} processes calling movement_post for {args.seconds:.0f} s")
    direct_count, direct_latencies, direct_elapsed = run_direct(database_url, args.seconds)

    port = free_port()
    progress(f"gunicorn on 127.0.0.1:{port}: {CLIENTS} clients, baseline then sales, {args.seconds:.0f} s each")
    server = start_gunicorn(database_url, port)
    try:
        wait_until_up(port, token, server)
        sides = {"baseline": Side(), "sales": Side()}
        for number in range(args.rounds):  # alternating, so both sides see the same load on the machine
            progress(f"round {number + 1} of {args.rounds}: baseline, then sales")
            for target, side in sides.items():
                side.add(*run_http(port, token, skus, args.seconds / args.rounds, target))
    finally:
        stop_gunicorn(server)

    from stock.models import Movement
    from stock.reconciliation import reconcile

    posted_sales = Movement.objects.filter(reference_type="api.sale").count()
    baseline_rows = BaselineRow.objects.count()
    differences = len(reconcile())
    base, api = sides["baseline"], sides["sales"]
    base_count, base_failures, base_latencies, base_elapsed = base.count, base.failures, base.latencies, base.elapsed
    api_count, api_failures, api_latencies, api_elapsed = api.count, api.failures, api.latencies, api.elapsed
    api_ok, base_ok = api_count - api_failures, base_count - base_failures
    api_rate, base_rate, direct_rate = api_ok / api_elapsed, base_ok / base_elapsed, direct_count / direct_elapsed
    ms = {
        name: (percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000, statistics.fmean(values) * 1000)
        for name, values in (("direct", direct_latencies), ("baseline", base_latencies), ("api", api_latencies))
    }

    emit("cpus", os.cpu_count())
    emit("load_average_1m", round(os.getloadavg()[0], 2))
    emit("clients", CLIENTS)
    emit("seconds", args.seconds)
    emit("rounds", args.rounds)
    emit("user", "clerk" if args.clerk else "superuser")
    emit("gunicorn_workers", f"{GUNICORN_WORKERS} gthread x {GUNICORN_THREADS} threads")
    emit("direct_postings", direct_count)
    emit("direct_postings_per_s", direct_rate)
    emit("baseline_requests", base_count)
    emit("baseline_failed_requests", base_failures)
    emit("baseline_rps", base_rate)
    emit("api_requests", api_count)
    emit("api_failed_requests", api_failures)
    emit("api_sales_rps", api_rate)
    for name, (p50, p99, mean) in ms.items():
        emit(f"{name}_p50_ms", p50)
        emit(f"{name}_p99_ms", p99)
        emit(f"{name}_mean_ms", mean)
    emit("api_sales_in_ledger", posted_sales)  # warm-up sales included
    emit("reconciliation_differences", differences)
    emit("ratio_api_to_direct_requests_per_s", api_rate / direct_rate)
    emit("ratio_api_to_direct_p50", ms["api"][0] / ms["direct"][0])
    emit("ratio_api_to_baseline_p50", ms["api"][0] / ms["baseline"][0])
    emit("ratio_api_to_baseline", api_rate / base_rate)
    connection.close()
    warmups = CLIENTS * WARMUP_REQUESTS * args.rounds
    if api_failures or base_failures or differences or posted_sales != api_ok + warmups:
        progress("FAILED: a sale was refused, lost, or the books do not balance")
        sys.exit(1)
    if baseline_rows != base_ok + warmups:
        progress(f"FAILED: {baseline_rows} baseline rows for {base_ok + warmups} answered requests")
        sys.exit(1)


if __name__ == "__main__":
    main()
