"""Load and faults: Locust (headless, as a library) against gunicorn on loopback.

``python bench/load.py`` raises the number of simulated users step by step until the throughput
stops growing (saturation) and prints, per step, requests/s, p50/p99 latency and errors, then the
ratios. ``python bench/load.py --soak --minutes 10`` holds a steady load while it injects faults
and then checks the ledger. bench/README.md and docs/scaling.md explain the figures.

The mix (one Locust user class per kind of client, weights 5 : 3 : 1):

- **shops** (REST API, token): one-line sales (``POST /api/v1/sales/``), reservations created
  then consumed or released, stock-level reads. Every write carries an ``Idempotency-Key``; a
  5xx or a dropped connection is retried with the same key (as a shop must), and a sale or
  consume the client saw succeed is recorded with its key (``api:<user id>:<key>`` in the ledger).
- **clerks** (``/floor/``, session and CSRF like a browser): sign in, then the Move job scan by
  scan (from bin, item, quantity, to bin: 4 posts, each followed by its redirect) and look-ups;
  a move that shows "Done" (or "Already posted" after a retry) is recorded with its form key
  (``floor:<user id>:<key>``).
- **managers** (admin, session): the movement and stock-level lists, the audit trail, and a small
  item import (upload, preview, confirm).

The world is bench/api_sales.py's (one warehouse, 20 bins, 200 items with opening stock, the
shop's token) plus 16 clerks and a manager; gunicorn is started as bench/api_sales.py starts it.

Load (default): the scratch database ``inventory_bench_load`` on ``BENCH_DATABASE_URL``
(default ``postgres://postgres@127.0.0.1:5432/postgres``), gunicorn with 4 gthread workers x 2
threads, steps of 2, 4, 8, 16, 32, 48 users of ``--step-seconds`` each; it stops early after
two steps without 5 % more throughput than the best so far.

Soak (``--soak``): everything of its own, so that no fault reaches anyone else's work: a
PostgreSQL 15 cluster ``load_soak`` on 127.0.0.1:``--pg-port`` (default 5452, created with
pg_createcluster, dropped after; needs root), a redis-server on 127.0.0.1:``--redis-port``
(default 6391, no persistence) as the Celery broker, gunicorn, and a Celery worker (consuming
every queue) to which the driver sends a reconciliation task every 20 s. Faults, each once, at
fixed fractions of the run: kill -9 of a gunicorn worker (20 %), restart of Redis (35 %), restart
of PostgreSQL (``pg_ctlcluster 15 load_soak restart``, 50 %), kill -9 of the Celery worker and
its restart (65 %), kill -9 of another gunicorn worker (80 %). ``--restart-main-cluster`` uses
the shared server and restarts ``15 main`` instead (other users of the server see it: once per
run, and it is started again in a ``finally``). After the load stops: every posting a client saw
succeed is in the ledger exactly once (by its idempotency key), no key is there twice, and
``stock.reconciliation.reconcile()`` finds no difference; the exit status is non-zero otherwise.

Only loopback addresses are used. Every phase is bounded in time and every process started is
stopped in a ``finally``.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import api_sales
from _common import emit, progress, recreate_database, with_database

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DATABASE = "inventory_bench_load"
CLERKS = 16
PASSWORD = "load-bench-password-2026"
STEPS = (2, 4, 8, 16, 32, 48)
RETRIES = 6  # attempts of one write with the same key before the client gives up
SOAK_CLUSTER = "load_soak"
SOAK_FAULTS = (
    (0.20, "kill_web_worker"),
    (0.35, "restart_redis"),
    (0.50, "restart_postgresql"),
    (0.65, "kill_celery_worker"),
    (0.80, "kill_web_worker"),
)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


# --- The world ------------------------------------------------------------------------------------


@dataclass
class World:
    warehouse: str  # its code
    token: str
    shop_id: int
    skus: list[str]
    stocked: list[tuple[str, str]]  # (sku, bin barcode) with opening stock
    bins: list[str]  # bin barcodes
    clerks: dict[str, int]  # username -> id
    manager: str


def server_environment(database_url: str, broker_url: str = "filesystem://") -> dict[str, str]:
    """bench/api_sales.py's production-like settings (DEBUG off, plain HTTP on loopback,
    persistent connections, no per-user API throttle) with this run's broker and var folder."""
    return {
        **api_sales.server_environment(database_url),
        "CELERY_BROKER_URL": broker_url,
        "INVENTORY_VAR_DIR": str(ROOT / "var" / "bench-load"),
    }


def create_world() -> World:
    """bench/api_sales.py's world (one warehouse, its bins, items with opening stock in two bins
    each, a superuser with an API token: the shop), plus clerks allowed to post there and a manager."""
    from django.contrib.auth.models import Group, User
    from guardian.shortcuts import assign_perm
    from rest_framework.authtoken.models import Token

    from catalog.models import Location, LocationKind, Warehouse
    from catalog.permissions import WarehouseAction
    from common.roles import INVENTORY_MANAGER, WAREHOUSE_CLERK
    from stock.models import StockLevel

    token, skus = api_sales.create_world()
    warehouse = Warehouse.objects.get()
    stocked = StockLevel.objects.filter(location__kind=LocationKind.INTERNAL, on_hand__gt=0)
    clerks = {}
    for n in range(1, CLERKS + 1):
        clerk = User.objects.create_user(f"clerk{n:02d}", password=PASSWORD)
        clerk.groups.add(Group.objects.get(name=WAREHOUSE_CLERK))
        for action in (WarehouseAction.VIEW, WarehouseAction.POST):
            assign_perm(f"catalog.{action}", clerk, warehouse)
        clerks[clerk.username] = clerk.pk
    manager = User.objects.create_user("manager", password=PASSWORD, is_staff=True)
    manager.groups.add(Group.objects.get(name=INVENTORY_MANAGER))
    for action in WarehouseAction.ALL:
        assign_perm(f"catalog.{action}", manager, warehouse)
    return World(
        warehouse=warehouse.code,
        token=token,
        shop_id=Token.objects.get(key=token).user_id,
        skus=skus,
        stocked=sorted(stocked.values_list("item__sku", "location__barcode")),
        bins=sorted(Location.objects.filter(warehouse=warehouse).values_list("barcode", flat=True)),
        clerks=clerks,
        manager=manager.username,
    )


# --- What the clients saw -------------------------------------------------------------------------


@dataclass
class Ledgerbook:
    """The postings clients saw succeed (ledger idempotency keys) and those whose outcome they
    never learned (gave up after RETRIES attempts)."""

    confirmed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    replayed: int = 0


BOOK = Ledgerbook()
TOTALS = {"requests": 0, "errors": 0}  # over the soak's phases (each phase resets Locust's stats)
# Failed requests by HTTP status ("no_answer": a dropped or refused connection) in the current step
# or phase (cleared with Locust's stats), and over the whole soak.
FAILED: Counter[str] = Counter()
FAILED_TOTAL: Counter[str] = Counter()


def count_failure(response=None, exception=None, **_: object) -> None:  # noqa: ANN001 - Locust's request event
    """Listener of Locust's ``request`` event: a failed request counted under its status."""
    if exception is None:
        return
    status = getattr(response, "status_code", 0) or 0
    FAILED[str(status) if status else "no_answer"] += 1


def reset_stats(runner) -> None:  # noqa: ANN001
    runner.stats.reset_all()
    FAILED.clear()


# --- Locust users -----------------------------------------------------------------------------------


def loopback_cookies(client) -> None:  # noqa: ANN001
    """DEBUG off marks the session and CSRF cookies Secure (docs/security.md); this client talks
    plain HTTP to 127.0.0.1 only, so after every answer it unmarks them and sends them anyway, as a
    browser behind a TLS-terminating proxy would (requests drops a jar's own cookie policy)."""
    request = client.request

    def unmarking(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        try:
            return request(*args, **kwargs)
        finally:
            for cookie in client.cookies:
                cookie.secure = False

    client.request = unmarking


def define_users(world: World):  # noqa: ANN201 - Locust classes, built after gevent's monkey-patching
    from locust import HttpUser, between, task

    def retried(client, method: str, url: str, name: str, **kwargs):  # noqa: ANN001, ANN202
        """Send until an answer below 500 arrives (same body, same key), at most RETRIES times,
        waiting a little longer each time; None when every attempt failed."""
        for attempt in range(RETRIES):
            try:
                response = client.request(method, url, name=name, timeout=30, **kwargs)
            except Exception:  # noqa: BLE001 - Locust already counted the failure
                response = None
            if response is not None and response.status_code < 500:
                return response
            time.sleep(0.25 * 2**attempt)
        return None

    class Shop(HttpUser):
        weight = 5
        wait_time = between(0, 0.1)

        def on_start(self) -> None:
            self.client.headers["Authorization"] = f"Token {world.token}"
            self.rng = random.Random()

        def write(self, url: str, name: str, body: dict, expected: int) -> dict | None:
            key = str(uuid.uuid4())
            response = retried(self.client, "POST", url, name, json=body, headers={"Idempotency-Key": key})
            ledger_key = f"api:{world.shop_id}:{key}"
            if response is None:
                BOOK.unknown.append(ledger_key)
                return None
            if response.status_code != expected:
                return None
            if response.headers.get("Idempotent-Replayed") == "true":
                BOOK.replayed += 1
            return {"key": ledger_key, **response.json()}

        @task(5)
        def sale(self) -> None:
            body = {
                "reference": f"LOAD-{uuid.uuid4().hex[:12]}",
                "warehouse": world.warehouse,
                "lines": [{"sku": self.rng.choice(world.skus), "quantity": "1"}],
            }
            if (answer := self.write("/api/v1/sales/", "api sale", body, 201)) is not None:
                BOOK.confirmed.append(answer["key"])

        @task(2)
        def reservation(self) -> None:
            body = {
                "sku": self.rng.choice(world.skus),
                "warehouse": world.warehouse,
                "quantity": "2",
                "reference": f"ORDER-{uuid.uuid4().hex[:12]}",
            }
            held = self.write("/api/v1/reservations/", "api reserve", body, 201)
            if held is None:
                return
            if self.rng.random() < 0.7:
                url = f"/api/v1/reservations/{held['id']}/consume/"
                if (answer := self.write(url, "api consume", {}, 201)) is not None:
                    BOOK.confirmed.append(answer["key"])
            else:
                self.write(f"/api/v1/reservations/{held['id']}/release/", "api release", {}, 200)

        @task(3)
        def stock_levels(self) -> None:
            self.client.get(f"/api/v1/stock-levels/?sku={self.rng.choice(world.skus)}", name="api stock levels")

    class SessionUser(HttpUser):
        abstract = True
        wait_time = between(0, 0.1)
        login_url = ""

        def form(self, url: str, data: dict, name: str):  # noqa: ANN202
            data = {**data, "csrfmiddlewaretoken": self.client.cookies.get("csrftoken", "")}
            return retried(self.client, "POST", url, name, data=data, headers={"Referer": self.host + url})

        def sign_in(self, username: str) -> None:
            """Sign in through the login form (CSRF cookie first); tried again when the answer
            is not the page after the login (a cold worker, a restarting server)."""
            loopback_cookies(self.client)
            for _ in range(3):
                self.client.get(self.login_url, name="login page")
                done = self.form(self.login_url, {"username": username, "password": PASSWORD}, "login")
                if done is not None and done.status_code == 200 and self.login_url not in done.url:
                    return
                if done is not None and done.status_code == 403:
                    page = " ".join(re.sub("<[^>]+>", " ", done.text.partition("<body>")[2]).split())
                    progress(f"login refused: {page[:200]}")
                time.sleep(1)

    class Clerk(SessionUser):
        weight = 3
        login_url = "/floor/login/"

        def on_start(self) -> None:
            self.rng = random.Random()
            self.username = self.rng.choice(sorted(world.clerks))
            self.sign_in(self.username)
            self.client.get("/floor/warehouse/", name="floor warehouse")

        @task(3)
        def move(self) -> None:
            sku, source = self.rng.choice(world.stocked)
            target = self.rng.choice([b for b in world.bins if b != source])
            page = self.client.get("/floor/move/", name="floor move")
            fields = dict(_HIDDEN.findall(page.text))
            key = fields.get("key")
            if not key:
                return
            for scan in (source, sku, "1", target):
                response = self.form("/floor/move/", {**fields, "scan": scan}, "floor move scan")
                if response is None:
                    BOOK.unknown.append(f"floor:{world.clerks[self.username]}:{key}")
                    return
                fields = dict(_HIDDEN.findall(response.text))
            if "✓ Done" in response.text:
                BOOK.confirmed.append(f"floor:{world.clerks[self.username]}:{key}")
                BOOK.replayed += "Already posted" in response.text

        @task(1)
        def lookup(self) -> None:
            self.client.get(f"/floor/lookup/?code={self.rng.choice(world.skus)}", name="floor lookup")

    class Manager(SessionUser):
        weight = 1
        login_url = "/admin/login/"

        def on_start(self) -> None:
            self.rng = random.Random()
            self.sign_in(world.manager)

        @task(3)
        def movements(self) -> None:
            self.client.get("/admin/stock/movement/", name="admin movements")

        @task(2)
        def stock_levels(self) -> None:
            self.client.get(f"/admin/stock/stocklevel/?q={self.rng.choice(world.skus)}", name="admin stock levels")

        @task(1)
        def audit_trail(self) -> None:
            self.client.get("/admin/audit-trail/", name="admin audit trail")

        @task(1)
        def item_import(self) -> None:
            batch = uuid.uuid4().hex[:8].upper()
            content = "sku;name\n" + "".join(f"IMP-{batch}-{n};Imported {n}\n" for n in range(10))
            self.client.get("/admin/catalog/item/import/", name="admin import page")
            token = self.client.cookies.get("csrftoken", "")
            preview = self.client.post(
                "/admin/catalog/item/import/",
                data={"resource": "0", "format": "0", "csrfmiddlewaretoken": token},
                files={"import_file": ("items.csv", content.encode(), "text/csv")},
                headers={"Referer": self.host + "/admin/catalog/item/import/"},
                name="admin import preview",
            )
            confirm = dict(_HIDDEN.findall(preview.text))
            if "import_file_name" in confirm:
                self.form("/admin/catalog/item/process_import/", confirm, "admin import confirm")

    return [Shop, Clerk, Manager]


# --- Processes ------------------------------------------------------------------------------------


class Processes:
    """The processes this run started, each stopped in ``stop_all`` (and only those)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.running: dict[str, subprocess.Popen] = {}
        self.started: set[str] = set()
        self.logs = ROOT / "var" / "bench-load"
        self.logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, command: list[str]) -> subprocess.Popen:
        """Start ``name``; its output goes to var/bench-load/<name>.log, begun anew each run."""
        mode = "ab" if name in self.started else "wb"
        self.started.add(name)
        log = open(self.logs / f"{name}.log", mode)  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.running[name] = process
        return process

    def stop(self, name: str) -> None:
        process = self.running.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


def start_gunicorn(processes: Processes, port: int, token: str) -> None:
    """bench/api_sales.py's gunicorn (gthread workers, loopback), with this run's environment
    (``main`` puts it in ``os.environ``); returns when it answers."""
    processes.running["gunicorn"] = server = api_sales.start_gunicorn(processes.env["DATABASE_URL"], port)
    api_sales.wait_until_up(port, token, server, timeout=90)


def web_workers(processes: Processes) -> list[int]:
    import psutil

    return [child.pid for child in psutil.Process(processes.running["gunicorn"].pid).children()]


# --- Steps --------------------------------------------------------------------------------------------


def run_users(environment, users: int, seconds: float) -> dict[str, float]:  # noqa: ANN001
    """Hold ``users`` for ``seconds`` (after they have all started) and return the figures."""
    import gevent

    runner = environment.runner
    runner.start(users, spawn_rate=max(users, 1))
    gevent.sleep(min(5.0, 0.5 + users * 0.1))  # every user signed in before the clock starts
    reset_stats(runner)
    confirmed, began = len(BOOK.confirmed), time.perf_counter()
    gevent.sleep(seconds)
    elapsed = time.perf_counter() - began
    return {**step_figures(runner.stats, elapsed), "postings_per_s": (len(BOOK.confirmed) - confirmed) / elapsed}


def step_figures(stats, elapsed: float) -> dict[str, float]:  # noqa: ANN001
    total = stats.total
    for entry in sorted(stats.entries.values(), key=lambda e: -e.num_requests):
        p50, p99 = entry.get_response_time_percentile(0.5), entry.get_response_time_percentile(0.99)
        progress(f"  {entry.num_requests:6d} x {entry.method} {entry.name}: p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    for error in sorted(stats.errors.values(), key=lambda e: -e.occurrences)[:5]:
        progress(f"  {error.occurrences} x {error.method} {error.name}: {error.error}")
    if FAILED:
        progress("  failed by status: " + ", ".join(f"{status}: {n}" for status, n in sorted(FAILED.items())))
    return {
        **{f"failed_{status}": n for status, n in sorted(FAILED.items())},
        "requests_per_s": total.num_requests / elapsed,
        "p50_ms": total.get_response_time_percentile(0.5) or 0.0,
        "p99_ms": total.get_response_time_percentile(0.99) or 0.0,
        "errors": total.num_failures,
        "error_rate": total.num_failures / max(1, total.num_requests),
        "requests": total.num_requests,
    }


def load_steps(environment, step_seconds: float, max_users: int) -> dict[str, float]:  # noqa: ANN001
    """Users raised step by step until throughput stops growing; returns the ratios to print last."""
    best, best_users, flat, first = 0.0, 0, 0, None
    for users in [n for n in STEPS if n <= max_users]:
        progress(f"step: {users} users for {step_seconds:.0f} s")
        figures = run_users(environment, users, step_seconds)
        for name, value in figures.items():
            emit(f"step_{users}_{name}", value)
        emit(f"step_{users}_load_average", os.getloadavg()[0])
        first = first or (users, figures["requests_per_s"])
        if figures["requests_per_s"] > best * 1.05:
            best, best_users, flat = figures["requests_per_s"], users, 0
        else:
            flat += 1
        if flat >= 2 or figures["error_rate"] > 0.05:
            break
    environment.runner.stop()
    emit("saturation_users", best_users)
    emit("saturation_requests_per_s", best)
    return {f"ratio_saturation_to_{first[0]}_users": best / first[1]}


# --- Soak: faults -----------------------------------------------------------------------------------


class Faults:
    """The soak's own PostgreSQL cluster, Redis and Celery worker, and the faults done to them."""

    def __init__(self, processes: Processes, pg_port: int, redis_port: int, restart_main: bool) -> None:
        self.processes, self.pg_port, self.redis_port = processes, pg_port, redis_port
        self.restart_main = restart_main
        self.cluster = "main" if restart_main else SOAK_CLUSTER
        self.done: list[tuple[float, str]] = []

    def create_cluster(self) -> str:
        """A fresh cluster of our own (unless the shared one is asked for); its server URL."""
        if self.restart_main:
            return os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER_URL)
        self.drop_cluster()
        subprocess.run(
            [
                "pg_createcluster",
                "-p",
                str(self.pg_port),
                "15",
                SOAK_CLUSTER,
                "--",
                "--auth-local=trust",
                "--auth-host=trust",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(["pg_ctlcluster", "15", SOAK_CLUSTER, "start"], check=True, timeout=120)
        return f"postgres://postgres@127.0.0.1:{self.pg_port}/postgres"

    def drop_cluster(self) -> None:
        if self.restart_main:
            return
        listed = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, timeout=30).stdout
        if any(line.split()[:2] == ["15", SOAK_CLUSTER] for line in listed.splitlines()):
            subprocess.run(["pg_dropcluster", "--stop", "15", SOAK_CLUSTER], timeout=120)

    def ensure_postgresql_running(self) -> None:
        """Never leave a cluster stopped: start it if a restart was cut short."""
        status = subprocess.run(["pg_ctlcluster", "15", self.cluster, "status"], capture_output=True, timeout=30)
        if status.returncode != 0:
            subprocess.run(["pg_ctlcluster", "15", self.cluster, "start"], timeout=120)

    def start_redis(self) -> None:
        self.processes.start(
            "redis",
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.redis_port), "--save", "", "--appendonly", "no"],
        )

    def start_celery(self) -> None:
        self.processes.start(
            "celery",
            [sys.executable, "-m", "celery", "-A", "inventory_site", "worker", "-l", "INFO", "--concurrency", "1"],
        )

    def fault(self, name: str, began: float) -> None:
        progress(f"fault: {name}")
        try:
            getattr(self, name)()
        finally:
            if name == "restart_postgresql":
                self.ensure_postgresql_running()
        self.done.append((time.perf_counter() - began, name))

    def kill_web_worker(self) -> None:
        pids = web_workers(self.processes)
        os.kill(random.choice(pids), signal.SIGKILL)  # the gunicorn master starts another

    def restart_redis(self) -> None:
        self.processes.stop("redis")
        time.sleep(2)
        self.start_redis()

    def restart_postgresql(self) -> None:
        subprocess.run(["pg_ctlcluster", "15", self.cluster, "restart"], check=True, timeout=180)

    def kill_celery_worker(self) -> None:
        os.kill(self.processes.running["celery"].pid, signal.SIGKILL)
        time.sleep(2)
        self.start_celery()  # as a supervisor (systemd, compose) would


def soak(environment, faults: Faults, users: int, minutes: float) -> None:  # noqa: ANN001
    """Hold ``users`` for ``minutes``; the faults at their fractions of the run; a reconciliation
    task sent to the Celery worker every 20 s. Figures per phase between faults."""
    import gevent

    from inventory_site.celery import app

    runner = environment.runner
    runner.start(users, spawn_rate=users)
    gevent.sleep(3)
    reset_stats(runner)
    seconds = minutes * 60
    began = time.perf_counter()
    plan = [(fraction * seconds, name) for fraction, name in SOAK_FAULTS]
    phase_began, phase = began, 0
    sent = failed_sends = 0
    next_task = began
    while (now := time.perf_counter()) < began + seconds:
        if now >= next_task:
            next_task = now + 20
            try:
                app.send_task("stock.reconcile_nightly", retry=False)
                sent += 1
            except Exception as exc:  # noqa: BLE001 - the broker is down during its restart
                failed_sends += 1
                progress(f"task not sent: {exc!r}")
        if plan and now - began >= plan[0][0]:
            _, name = plan.pop(0)
            emit_phase(phase, runner.stats, now - phase_began)
            reset_stats(runner)
            phase, phase_began = phase + 1, time.perf_counter()
            faults.fault(name, began)
        gevent.sleep(0.5)
    emit_phase(phase, runner.stats, time.perf_counter() - phase_began)
    runner.stop()
    for at, name in faults.done:
        emit(f"fault_{name}_at_s", at)
    gevent.sleep(20)  # the last tasks sent are run
    log = (faults.processes.logs / "celery.log").read_text(errors="replace")
    emit("tasks_sent", sent)
    emit("tasks_not_sent", failed_sends)
    emit("tasks_succeeded", len(re.findall(r"Task stock\.reconcile_nightly\[[^]]+\] succeeded", log)))


def emit_phase(phase: int, stats, elapsed: float) -> None:  # noqa: ANN001
    figures = step_figures(stats, elapsed)
    for name, value in figures.items():
        emit(f"soak_phase_{phase}_{name}", value)
    TOTALS["requests"] += figures["requests"]
    TOTALS["errors"] += figures["errors"]
    FAILED_TOTAL.update(FAILED)


def check_ledger(environment) -> bool:  # noqa: ANN001
    """Every confirmed posting exactly once, no key twice, reconciliation clean."""
    from django.db import connections
    from django.db.models import Count

    from stock.models import Movement
    from stock.reconciliation import reconcile

    connections.close_all()  # the server may have restarted under this process's connection
    confirmed = set(BOOK.confirmed)
    found: dict[str, int] = {}
    keys = sorted(confirmed | set(BOOK.unknown))
    for start in range(0, len(keys), 5_000):
        rows = (
            Movement.objects.filter(idempotency_key__in=keys[start : start + 5_000])
            .values("idempotency_key")
            .annotate(n=Count("id"))
        )
        found.update({row["idempotency_key"]: row["n"] for row in rows})
    once = sum(1 for key in confirmed if found.get(key) == 1)
    missing = sum(1 for key in confirmed if key not in found)
    twice_confirmed = sum(1 for key in confirmed if found.get(key, 0) > 1)
    twice_anywhere = (
        Movement.objects.exclude(idempotency_key=None)
        .values("idempotency_key")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    unknown_posted = sum(1 for key in set(BOOK.unknown) if key in found)
    differences = reconcile()
    emit("postings_confirmed", len(confirmed))
    for door in ("api", "floor"):
        emit(f"postings_confirmed_{door}", sum(1 for key in confirmed if key.startswith(f"{door}:")))
    emit("postings_confirmed_in_ledger_once", once)
    emit("postings_confirmed_missing", missing)
    emit("postings_confirmed_twice", twice_confirmed)
    emit("ledger_keys_twice", twice_anywhere)
    emit("postings_unknown_outcome", len(set(BOOK.unknown)))
    emit("postings_unknown_outcome_in_ledger", unknown_posted)
    emit("replayed_answers", BOOK.replayed)
    emit("reconcile_differences", len(differences))
    if TOTALS["requests"]:
        emit("soak_requests", TOTALS["requests"])
        emit("soak_request_errors", TOTALS["errors"])
        for status, n in sorted(FAILED_TOTAL.items()):
            emit(f"soak_request_errors_{status}", n)
    return missing == 0 and twice_confirmed == 0 and twice_anywhere == 0 and not differences


# --- Main -------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--step-seconds", type=float, default=15, help="duration of each load step (default 15)")
    parser.add_argument("--max-users", type=int, default=48, help="the last step's users (default 48)")
    parser.add_argument("--soak", action="store_true", help="steady load with faults, then the ledger checks")
    parser.add_argument("--minutes", type=float, default=10, help="soak duration (default 10)")
    parser.add_argument("--users", type=int, default=8, help="soak users (default 8)")
    parser.add_argument("--pg-port", type=int, default=5452, help="the soak's own PostgreSQL cluster (default 5452)")
    parser.add_argument("--redis-port", type=int, default=6391, help="the soak's own redis-server (default 6391)")
    parser.add_argument(
        "--restart-main-cluster", action="store_true", help="soak on the shared server and restart 15 main"
    )
    args = parser.parse_args()
    if args.soak and (os.geteuid() != 0 or not shutil.which("pg_ctlcluster") or not shutil.which("redis-server")):
        parser.error("--soak needs root, Debian's pg_ctlcluster and redis-server")

    from gevent import monkey

    monkey.patch_all()  # before Locust, requests and the rest are imported
    from locust.env import Environment

    broker = f"redis://127.0.0.1:{args.redis_port}/0" if args.soak else "filesystem://"
    faults = None
    processes = None
    try:
        if args.soak:
            faults = Faults(Processes({}), args.pg_port, args.redis_port, args.restart_main_cluster)
            progress(f"PostgreSQL cluster {faults.cluster}")
            server_url = faults.create_cluster()
        else:
            server_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER_URL)
        database_url = with_database(server_url, DATABASE)
        env = server_environment(database_url, broker)
        os.environ.update(env)
        processes = Processes(env)
        if faults:
            faults.processes = processes
            faults.start_redis()
        progress(f"recreating {DATABASE} and migrating")
        recreate_database(server_url, DATABASE)
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0)
        world = create_world()
        connections.close_all()

        port = api_sales.free_port()
        progress(f"gunicorn on 127.0.0.1:{port}")
        start_gunicorn(processes, port, world.token)
        if faults:
            faults.start_celery()
        emit("cpus", os.cpu_count())
        emit("load_average_start", os.getloadavg()[0])
        emit("gunicorn_workers", f"{api_sales.GUNICORN_WORKERS} gthread x {api_sales.GUNICORN_THREADS} threads")
        environment = Environment(user_classes=define_users(world), host=f"http://127.0.0.1:{port}")
        environment.create_local_runner()
        environment.events.request.add_listener(count_failure)
        ratios = {}
        if args.soak:
            soak(environment, faults, args.users, args.minutes)
        else:
            ratios = load_steps(environment, args.step_seconds, args.max_users)
        ok = check_ledger(environment)
        emit("load_average_end", os.getloadavg()[0])
        for name, value in ratios.items():
            emit(name, value)
        if not ok:
            progress("FAILED: a confirmed posting is missing or twice, or the books do not balance")
        return 0 if ok else 1
    finally:
        if processes:
            processes.stop_all()
        if faults:
            faults.ensure_postgresql_running()
            if not faults.restart_main:
                from django.db import connections

                connections.close_all()
                faults.drop_cluster()


if __name__ == "__main__":
    sys.exit(main())
