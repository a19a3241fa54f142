"""Ledger benchmark: posting throughput against pgbench, and look-up latency as the ledger grows.

Run ``python bench/ledger.py`` (``--quick`` for a smoke run, ``--profile`` to see where one
posting's time goes, ``--batch`` for the batch figure alone; bench/README.md explains every
figure). It needs a PostgreSQL server (default ``postgres://postgres@127.0.0.1:5432/postgres``,
override with ``BENCH_DATABASE_URL``; a superuser: it creates databases and runs ``CHECKPOINT``)
and ``pgbench`` on the PATH. It is never part of the test run.

What it does, in order (progress goes to stderr, figures to stdout as ``name = value`` lines,
the ratios last):

1. drops and recreates two scratch databases on that server: ``inventory_bench`` (migrated
   with Django's ``migrate``) and ``pgbench_scratch``;
2. creates 2 warehouses, 200 bins and 2,000 items (``bulk_create``), and opening stock as
   10,000 receipts written with set-based SQL, then builds the ``StockLevel`` projection and the
   ``ItemValuation`` rows from the ledger sums (the same sums ``stock.reconciliation`` checks);
3. times one ``movement_post`` of 1,000 receipt lines (distinct item and bin, moving average)
   against bare SQL making the same writes (``INSERT ... SELECT``, ``UPDATE ... FROM``) in the
   same run (``--batch`` stops after this, printing ``ratio_batch_to_bare_sql``), then measures
   ``stock_on_hand``, ``stock_quantity_as_of`` and ``stock_as_of`` latency at 10k movements;
4. for 1 and then 4 clients: pgbench's built-in tpcb-like script (``-s 10``) before and after
   (the ratio uses the mean), and in between postings per second through
   ``stock.services.movement_post`` from worker processes (each its own ``django.setup()`` and
   connection, released together by a barrier), each posting one ``MovementLine`` with an
   idempotency key as a Warehouse clerk allowed in both warehouses (the service checks it),
   alternating a receipt and an issue of the same quantity: "low" picks a
   random stocked (item, bin) for every pair, "hot" sends every worker to the same (item, bin),
   so they queue on the same StockLevel rows;
5. grows the ledger to 1M movements with one ``INSERT ... SELECT generate_series`` (back-dated
   receipt/issue pairs into the stocked bins), rebuilds the projection and valuation from the
   ledger with set-based upserts, runs ``VACUUM (ANALYZE)`` and
   ``stock.reconciliation.reconcile()``, which must find no difference;
6. measures the look-ups again and prints the ratios: postings/s / pgbench TPS per case, and
   1M / 10k latency per look-up.

The SQL of steps 2 and 5 writes ledger tables directly: that is the benchmark building a
scratch database fast, not a second write path of the product.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from _common import django_setup, emit, percentile, progress, recreate_database, with_database

if TYPE_CHECKING:
    from stock.services import MovementLine

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
PRODUCT_DB = os.environ.get("BENCH_PRODUCT_DATABASE", "inventory_bench")
PGBENCH_DB = "pgbench_scratch"

WAREHOUSES = 2
BINS_PER_WAREHOUSE = 100
ITEMS = 2_000
BINS_PER_ITEM = 5  # opening stock: 2,000 items x 5 bins = 10,000 receipts
OPENING_QUANTITY = 1_000
UNIT_COST = Decimal("10.0000")
CLIENTS = (1, 4)
SEED = 20240601
# Two runs can share a server with other scratch databases (BENCH_PRODUCT_DATABASE above too).
PGBENCH_DB = os.environ.get("BENCH_PGBENCH_DATABASE", PGBENCH_DB)


@dataclass(frozen=True)
class Config:
    post_seconds: float
    pgbench_seconds: int
    pgbench_scale: int
    lookups: int
    large_ledger: int
    warmup_postings: int = 20

    @classmethod
    def make(cls, quick: bool) -> Config:
        if quick:
            return cls(post_seconds=3, pgbench_seconds=3, pgbench_scale=10, lookups=200, large_ledger=100_000)
        return cls(post_seconds=10, pgbench_seconds=10, pgbench_scale=10, lookups=500, large_ledger=1_000_000)


# --- Output -----------------------------------------------------------------------------------


def size_label(movements: int) -> str:
    if movements >= 1_000_000 and movements % 1_000_000 == 0:
        return f"{movements // 1_000_000}m"
    return f"{movements // 1_000}k"


# --- Server and Django ------------------------------------------------------------------------


def sql(statement: str, params: object = None) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def backend_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a PostgreSQL backend process, when the server runs on
    this machine and /proc shows it; None otherwise."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 1 :].split()
    if name != "postgres":  # a remote server: this pid is someone else
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def checkpoint() -> None:
    """Flush dirty pages now so that no checkpoint lands in the middle of a timed run."""
    sql("CHECKPOINT")


def tables() -> dict[str, str]:
    from catalog.models import Location, Warehouse
    from stock.models import ItemValuation, Movement, StockLevel

    return {
        "movement": Movement._meta.db_table,
        "level": StockLevel._meta.db_table,
        "valuation": ItemValuation._meta.db_table,
        "location": Location._meta.db_table,
        "warehouse": Warehouse._meta.db_table,
    }


# --- Data -------------------------------------------------------------------------------------


def create_master_data() -> list[tuple[int, int]]:
    """Warehouses, bins and items; returns the stocked (item_id, bin_id) pairs, 5 per item."""
    from catalog.models import Item, Location, LocationKind, LocationLevel, UnitOfMeasure, ValuationMethod, Warehouse

    each = UnitOfMeasure.objects.get(code="each")
    warehouses = Warehouse.objects.bulk_create(
        Warehouse(code=f"WH{n}", name=f"Bench warehouse {n}") for n in range(1, WAREHOUSES + 1)
    )
    bins = Location.objects.bulk_create(
        Location(
            warehouse=wh,
            code=f"B{n:03d}",
            name=f"Bin {n}",
            kind=LocationKind.INTERNAL,
            level=LocationLevel.BIN,
            barcode=f"{wh.code}-B{n:03d}",
        )
        for wh in warehouses
        for n in range(1, BINS_PER_WAREHOUSE + 1)
    )
    items = Item.objects.bulk_create(
        Item(
            sku=f"BENCH-{n:05d}",
            name=f"Bench item {n}",
            base_unit=each,
            valuation_method=ValuationMethod.MOVING_AVERAGE,
            standard_cost=UNIT_COST,
        )
        for n in range(1, ITEMS + 1)
    )
    rng = random.Random(SEED)
    bin_ids = [b.pk for b in bins]
    return [(item.pk, bin_id) for item in items for bin_id in sorted(rng.sample(bin_ids, BINS_PER_ITEM))]


def insert_opening_stock(pairs: list[tuple[int, int]], start: datetime) -> None:
    """One receipt of OPENING_QUANTITY per pair, a second apart from ``start``."""
    from catalog.models import Location, LocationKind

    supplier = Location.objects.virtual(LocationKind.SUPPLIER).pk
    t = tables()
    sql(
        f"""
        INSERT INTO {t["movement"]} (batch, batch_line, item_id, lot_id, quantity, source_id, destination_id,
               kind, reason_code, note, unit_cost, total_cost, reference_type, reference_id, reference_line,
               actor_id, occurred_at, posted_at, idempotency_key, reverses_id)
        SELECT gen_random_uuid(), 1, o.item_id, NULL, %(qty)s, %(supplier)s, o.bin_id,
               'receipt', '', '', %(cost)s, %(qty)s * %(cost)s, 'bench', 'opening', o.n::text,
               NULL, %(start)s + o.n * interval '1 second', now(), NULL, NULL
          FROM unnest(%(items)s::bigint[], %(bins)s::bigint[]) WITH ORDINALITY AS o(item_id, bin_id, n)
         ORDER BY o.n
        """,
        {
            "qty": OPENING_QUANTITY,
            "cost": UNIT_COST,
            "supplier": supplier,
            "start": start,
            "items": [p[0] for p in pairs],
            "bins": [p[1] for p in pairs],
        },
    )


GROWTH_SQL = """
    INSERT INTO {movement} (batch, batch_line, item_id, lot_id, quantity, source_id, destination_id,
           kind, reason_code, note, unit_cost, total_cost, reference_type, reference_id, reference_line,
           actor_id, occurred_at, posted_at, idempotency_key, reverses_id)
    SELECT gen_random_uuid(), 1, o.item_id, NULL, s.qty,
           CASE WHEN s.side = 0 THEN %(supplier)s ELSE o.bin_id END,
           CASE WHEN s.side = 0 THEN o.bin_id ELSE %(customer)s END,
           CASE WHEN s.side = 0 THEN 'receipt' ELSE 'issue' END,
           '', '', %(cost)s, s.qty * %(cost)s, 'bench', 'growth', s.g::text,
           NULL, s.at, now(), NULL, NULL
      FROM (
            SELECT n / 2 AS g, n %% 2 AS side, 1 + (n / 2) %% 5 AS qty,
                   %(start)s + (((n / 2) * 7919::bigint) %% %(span)s) * interval '1 second'
                             + (n %% 2) * interval '1 minute' AS at
              FROM generate_series(0, %(extra)s - 1) AS n
           ) s
      JOIN unnest(%(items)s::bigint[], %(bins)s::bigint[]) WITH ORDINALITY AS o(item_id, bin_id, k)
        ON o.k = s.g %% %(npairs)s + 1
     ORDER BY s.at, s.side
"""


def grow_ledger(pairs: list[tuple[int, int]], extra: int, start: datetime, end: datetime) -> None:
    """Append ``extra`` back-dated movements in one statement: receipt/issue pairs of the same
    quantity into and out of the stocked bins, the issue a minute after its receipt, spread
    over [start, end] and inserted in time order. Every pair nets to zero and no issue comes
    before its receipt, so no level is ever negative at any moment of the history.

    The indexes that back no constraint are dropped first and rebuilt after, in the same
    transaction: about twice as fast as maintaining them row by row (rebuilt indexes are
    denser than grown ones; that does not change what a look-up reads)."""
    from django.db import transaction

    from catalog.models import Location, LocationKind

    t = tables()
    params = {
        "supplier": Location.objects.virtual(LocationKind.SUPPLIER).pk,
        "customer": Location.objects.virtual(LocationKind.CUSTOMER).pk,
        "cost": UNIT_COST,
        "start": start,
        "span": int((end - start).total_seconds()) - 120,
        "extra": extra,
        "npairs": len(pairs),
        "items": [p[0] for p in pairs],
        "bins": [p[1] for p in pairs],
    }
    with transaction.atomic():
        sql("SET LOCAL maintenance_work_mem = '256MB'")
        sql("SET LOCAL work_mem = '64MB'")
        rebuilt = sql(
            """SELECT indexname, indexdef FROM pg_indexes
                WHERE schemaname = current_schema() AND tablename = %s
                  AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)""",
            [t["movement"], t["movement"]],
        )
        for name, _ in rebuilt:
            sql(f'DROP INDEX "{name}"')
        # No foreign-key trigger events (they would also block CREATE INDEX): every row names
        # an existing item and location by construction. Needs a superuser, as CHECKPOINT does.
        sql("SET LOCAL session_replication_role = replica")
        sql(GROWTH_SQL.format(movement=t["movement"]), params)
        sql("SET LOCAL session_replication_role = origin")
        for _, definition in rebuilt:
            sql(definition)


def rebuild_projection() -> None:
    """Set StockLevel.on_hand and ItemValuation from the ledger sums (set-based upserts that
    touch only rows that differ), then VACUUM and ANALYZE the database."""
    t = tables()
    sql(
        f"""
        INSERT INTO {t["level"]} (item_id, location_id, lot_id, on_hand, reserved, allow_negative)
        SELECT s.item_id, s.location_id, NULL, s.qty, 0,
               loc.kind <> 'internal' OR COALESCE(wh.allow_negative_stock, false)
          FROM (SELECT item_id, location_id, SUM(q) AS qty FROM (
                    SELECT item_id, destination_id AS location_id, quantity AS q FROM {t["movement"]}
                    UNION ALL SELECT item_id, source_id, -quantity FROM {t["movement"]}
                ) x GROUP BY item_id, location_id) s
          JOIN {t["location"]} loc ON loc.id = s.location_id
          LEFT JOIN {t["warehouse"]} wh ON wh.id = loc.warehouse_id
        ON CONFLICT (item_id, location_id) WHERE lot_id IS NULL
        DO UPDATE SET on_hand = EXCLUDED.on_hand WHERE {t["level"]}.on_hand <> EXCLUDED.on_hand
        """
    )
    sql(
        f"""
        INSERT INTO {t["valuation"]} (item_id, warehouse_id, quantity, value, last_unit_cost)
        SELECT item_id, warehouse_id, SUM(q), SUM(v), %(cost)s FROM (
                SELECT m.item_id, d.warehouse_id, m.quantity AS q, m.total_cost AS v
                  FROM {t["movement"]} m
                  JOIN {t["location"]} d ON d.id = m.destination_id
                  JOIN {t["location"]} s ON s.id = m.source_id
                 WHERE d.kind = 'internal' AND (s.kind <> 'internal' OR s.warehouse_id <> d.warehouse_id)
                UNION ALL
                SELECT m.item_id, s.warehouse_id, -m.quantity, -m.total_cost
                  FROM {t["movement"]} m
                  JOIN {t["location"]} d ON d.id = m.destination_id
                  JOIN {t["location"]} s ON s.id = m.source_id
                 WHERE s.kind = 'internal' AND (d.kind <> 'internal' OR s.warehouse_id <> d.warehouse_id)
            ) x GROUP BY item_id, warehouse_id
        ON CONFLICT (item_id, warehouse_id)
        DO UPDATE SET quantity = EXCLUDED.quantity, value = EXCLUDED.value
        WHERE ({t["valuation"]}.quantity, {t["valuation"]}.value) <> (EXCLUDED.quantity, EXCLUDED.value)
        """,
        {"cost": UNIT_COST},
    )
    # Every table, master data included: with stale statistics on catalog_location the planner
    # cross-joins locations in stock_value_as_of (65 ms instead of 1 ms at 1M movements), and
    # autovacuum may be off (it is on this box) or slow to notice. Also no autovacuum run
    # lands in a measurement.
    sql("VACUUM (ANALYZE)")


def reconcile_count() -> int:
    from stock.reconciliation import reconcile

    differences = reconcile()
    for difference in differences[:10]:
        progress(f"reconciliation: {difference}")
    return len(differences)


def movement_count() -> int:
    from stock.models import Movement

    return Movement.objects.count()


# --- Look-ups ---------------------------------------------------------------------------------


def measure_lookups(
    pairs: list[tuple[int, int]], iterations: int, start: datetime, end: datetime, label: str
) -> dict[str, float]:
    """Median and p99 (microseconds) of each look-up for random stocked (item, bin) pairs and,
    for the as-of ones, a random moment between the first movement and now."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from catalog.models import Item, Location
    from stock.selectors import stock_as_of, stock_on_hand, stock_quantity_as_of

    items = Item.objects.in_bulk()
    locations = Location.objects.select_related("warehouse").in_bulk()
    span = (end - start).total_seconds()
    lookups = {
        "onhand": lambda item, loc, at: stock_on_hand(item=item, location=loc),
        "asof_qty": lambda item, loc, at: stock_quantity_as_of(item=item, location=loc, at=at),
        "asof": lambda item, loc, at: stock_as_of(item=item, location=loc, at=at),
    }
    figures: dict[str, float] = {}
    for name, lookup in lookups.items():
        rng = random.Random(f"{SEED}-{name}")

        def arguments(rng: random.Random = rng) -> tuple:
            item_id, bin_id = rng.choice(pairs)
            return items[item_id], locations[bin_id], start + timedelta(seconds=rng.uniform(0, span))

        for _ in range(min(200, iterations)):  # warm the caches
            lookup(*arguments())
        with CaptureQueriesContext(connection) as captured:
            lookup(*arguments())
        samples = []
        for _ in range(iterations):
            args = arguments()
            began = time.perf_counter_ns()
            lookup(*args)
            samples.append((time.perf_counter_ns() - began) / 1_000)
        figures[f"{name}_p50_us_{label}"] = statistics.median(samples)
        figures[f"{name}_p99_us_{label}"] = percentile(samples, 0.99)
        figures[f"{name}_queries_{label}"] = len(captured)
    for name, value in figures.items():
        emit(name, value)
    return figures


# --- Postings ---------------------------------------------------------------------------------


CLERK = "bench-clerk"


def create_clerk() -> None:
    """The actor of every posting: a Warehouse clerk allowed to post in both warehouses (the
    posting service checks the role's model permission and the warehouse grant)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from guardian.shortcuts import assign_perm

    from catalog.models import Warehouse
    from catalog.permissions import WarehouseAction
    from common.roles import WAREHOUSE_CLERK

    clerk = get_user_model().objects.create_user(CLERK)
    clerk.groups.add(Group.objects.get(name=WAREHOUSE_CLERK))
    for warehouse in Warehouse.objects.all():
        assign_perm(f"catalog.{WarehouseAction.POST}", clerk, warehouse)


class Poster:
    """Posts receipt/issue pairs through ``movement_post`` as the bench clerk. Items, bins and
    the clerk are loaded once, as a caller holding them would, so the time is the service's."""

    def __init__(self, pairs: list[tuple[int, int]], actor: bool = True) -> None:
        from django.contrib.auth import get_user_model

        from catalog.models import Item, Location, LocationKind

        self.items = Item.objects.in_bulk({item_id for item_id, _ in pairs})
        self.bins = Location.objects.select_related("warehouse").in_bulk({bin_id for _, bin_id in pairs})
        self.supplier = Location.objects.virtual(LocationKind.SUPPLIER)
        self.customer = Location.objects.virtual(LocationKind.CUSTOMER)
        self.actor = get_user_model().objects.get(username=CLERK) if actor else None

    def lines(self, pair: tuple[int, int], quantity: Decimal) -> tuple[MovementLine, MovementLine]:
        """A receipt of ``quantity`` into the bin and an issue of the same out of it."""
        from stock.models import MovementKind
        from stock.services import MovementLine

        item, where = self.items[pair[0]], self.bins[pair[1]]
        return (
            MovementLine(
                item=item,
                quantity=quantity,
                source=self.supplier,
                destination=where,
                kind=MovementKind.RECEIPT,
                unit_cost=UNIT_COST,
            ),
            MovementLine(
                item=item, quantity=quantity, source=where, destination=self.customer, kind=MovementKind.ISSUE
            ),
        )

    def post(self, line: MovementLine) -> None:
        """One posting, with its own idempotency key (as the API and the scanners send)."""
        from stock.services import movement_post

        movement_post(lines=line, actor=self.actor, idempotency_key=f"bench-{uuid.uuid4()}")

    def post_pair(self, pair: tuple[int, int], quantity: Decimal, latencies: list[float] | None = None) -> None:
        """Post the receipt, then the issue; append each posting's seconds to ``latencies``."""
        for line in self.lines(pair, quantity):
            began = time.perf_counter()
            self.post(line)
            if latencies is not None:
                latencies.append(time.perf_counter() - began)


def _posting_worker(
    database_url: str,
    pairs: list[tuple[int, int]],
    seed: int,
    seconds: float,
    warmup: int,
    barrier,  # multiprocessing Barrier: all clients start together
    results,  # multiprocessing Queue: ("ready",) then (postings, seconds, errors, latencies, cpu, server cpu)
) -> None:
    """One client: its own Django and connection; posts receipt/issue pairs until ``seconds``
    have passed after the barrier."""
    django_setup(database_url)
    poster = Poster(pairs)
    rng = random.Random(seed)
    for _ in range(warmup):
        poster.post_pair(rng.choice(pairs), Decimal(1))
    backend = sql("SELECT pg_backend_pid()")[0][0]
    results.put(("ready",))
    barrier.wait()
    latencies: list[float] = []
    errors = 0
    server_cpu, client_cpu = backend_cpu_seconds(backend), time.process_time()
    began = time.perf_counter()
    deadline = began + seconds
    while time.perf_counter() < deadline:
        try:
            poster.post_pair(rng.choice(pairs), Decimal(rng.randint(1, 5)), latencies)
        except Exception as exc:
            errors += 1
            if errors <= 3:
                progress(f"worker error: {exc!r}")
    elapsed, client_cpu = time.perf_counter() - began, time.process_time() - client_cpu
    server_end = backend_cpu_seconds(backend)
    server_cpu = None if server_cpu is None or server_end is None else server_end - server_cpu
    results.put((len(latencies), elapsed, errors, latencies, client_cpu, server_cpu))


def measure_postings(database_url: str, pairs: list[tuple[int, int]], case: str, clients: int, config: Config) -> float:
    """Postings per second of ``clients`` worker processes started together; emits the rate,
    latency percentiles, errors and CPU per posting of the case."""
    import queue

    from django.db import connections

    connections.close_all()
    checkpoint()
    connections.close_all()
    workers, barrier, results = start_clients(
        _posting_worker,
        [
            (database_url, pairs, SEED + 100 * clients + n, config.post_seconds, config.warmup_postings)
            for n in range(clients)
        ],
    )
    ready = 0
    while ready < clients:  # a worker that dies while starting ends the run instead of hanging it
        try:
            results.get(timeout=1)
            ready += 1
        except queue.Empty:
            if any(worker.exitcode is not None for worker in workers):
                barrier.abort()
                for worker in workers:
                    worker.join(timeout=10)
                raise RuntimeError(
                    f"a posting worker died while starting ({case}, {clients} clients): see above"
                ) from None
    barrier.wait(timeout=60)
    outcomes = [results.get(timeout=config.post_seconds + 120) for _ in workers]
    for worker in workers:
        worker.join()
    rate = sum(posted / elapsed for posted, elapsed, *_ in outcomes)
    postings = sum(posted for posted, *_ in outcomes)
    latencies = [value for outcome in outcomes for value in outcome[3]]
    emit(f"postings_per_s_{case}_{clients}", rate)
    emit(f"posting_p50_ms_{case}_{clients}", statistics.median(latencies) * 1_000)
    emit(f"posting_p99_ms_{case}_{clients}", percentile(latencies, 0.99) * 1_000)
    emit(f"posting_errors_{case}_{clients}", sum(outcome[2] for outcome in outcomes))
    # CPU per posting: the Python client and (when the server is local) its PostgreSQL backend.
    emit(f"posting_client_cpu_ms_{case}_{clients}", 1_000 * sum(outcome[4] for outcome in outcomes) / postings)
    if all(outcome[5] is not None for outcome in outcomes):
        emit(f"posting_server_cpu_ms_{case}_{clients}", 1_000 * sum(outcome[5] for outcome in outcomes) / postings)
    return rate


PROFILED_PHASES = {
    # stock.services (package) function -> phase name (the ones that exist in the version measured)
    "_authorize": "authorize",
    "_validate_line": "validate",
    "movements_for_key": "idempotency_lookups",
    "_lock_levels": "lock_levels",
    "_cost_lines": "valuation",
    "_save_costings": "cost_layers",
    "_levels_apply": "level_updates",
    "_post": "post_total",
    "_post_line_in_database": "post_in_database",
}


def profile_postings(pairs: list[tuple[int, int]], postings: int) -> None:
    """Where one posting's time goes, single client: wall time per phase of
    ``stock.services`` (functions wrapped with timers), round trips, and the time spent inside
    the driver waiting for PostgreSQL (``execute`` and ``COMMIT``) versus in Python."""
    import functools
    import importlib
    import pkgutil
    from collections import defaultdict

    from django.db import connection

    import stock.services as services

    # The package's modules each look a name up in their own namespace: time it in every one.
    modules = [services] + [
        importlib.import_module(f"stock.services.{module.name}") for module in pkgutil.iter_modules(services.__path__)
    ]
    poster = Poster(pairs)
    rng = random.Random(SEED)
    seconds: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)

    def timed(name: str, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[name] += time.perf_counter() - began
                counts[name] += 1

        return wrapper

    def database(execute, statement, params, many, context):
        return timed("database_execute", execute)(statement, params, many, context)

    for _ in range(20):  # warm up
        poster.post_pair(rng.choice(pairs), Decimal(1))
    originals = {
        (module, name): vars(module)[name] for module in modules for name in PROFILED_PHASES if name in vars(module)
    }
    connection.ensure_connection()
    commit = connection._commit
    try:
        for (module, name), function in originals.items():
            setattr(module, name, timed(PROFILED_PHASES[name], function))
        connection._commit = timed("database_commit", commit)
        began, cpu = time.perf_counter(), time.process_time()
        with connection.execute_wrapper(database):
            for _ in range(postings // 2):
                poster.post_pair(rng.choice(pairs), Decimal(rng.randint(1, 5)))
        total, cpu = time.perf_counter() - began, time.process_time() - cpu
    finally:
        for (module, name), function in originals.items():
            setattr(module, name, function)
        del connection._commit
    n = 2 * (postings // 2)
    emit("profile_postings", n)
    emit("profile_ms_per_posting", 1_000 * total / n)
    # each COMMIT also had a BEGIN; a statement outside a transaction (autocommit) has neither
    emit("profile_round_trips_per_posting", (counts["database_execute"] + 2 * counts["database_commit"]) / n)
    for name in (*(PROFILED_PHASES[name] for name in originals), "database_execute", "database_commit"):
        emit(f"profile_ms_{name}", 1_000 * seconds[name] / n)
    waiting = seconds["database_execute"] + seconds["database_commit"]
    emit("profile_ms_python", 1_000 * (total - waiting) / n)
    emit("profile_client_cpu_ms", 1_000 * cpu / n)


def posting_query_counts(pairs: list[tuple[int, int]]) -> None:
    """Statements of one receipt and one issue (with an idempotency key, levels existing,
    ``BEGIN`` and ``COMMIT`` included), as the clerk and as the system (``actor=None``)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for suffix, actor in (("", True), ("_system", False)):
        poster = Poster(pairs[-1:], actor=actor)
        for name, line in zip(("receipt", "issue"), poster.lines(pairs[-1], Decimal(1)), strict=True):
            poster.post(line)  # creates the levels and warms the permission caches
            with CaptureQueriesContext(connection) as captured:
                poster.post(line)
            emit(f"queries_per_{name}{suffix}", len(captured))


BATCH_LINES = 1_000
BATCH_REPEATS = 5


def batch_receipt_lines(pairs: list[tuple[int, int]]) -> tuple[list[MovementLine], list[tuple[int, int, int]]]:
    """``BATCH_LINES`` receipt lines, each a distinct item into one of its stocked bins (moving
    average, levels and valuations exist), and their (item, bin, warehouse) ids."""
    from catalog.models import Item, Location, LocationKind
    from stock.models import MovementKind
    from stock.services import MovementLine

    chosen = list({item_id: (item_id, bin_id) for item_id, bin_id in pairs}.values())[:BATCH_LINES]
    items = Item.objects.in_bulk({item_id for item_id, _ in chosen})
    bins = Location.objects.select_related("warehouse").in_bulk({bin_id for _, bin_id in chosen})
    supplier = Location.objects.virtual(LocationKind.SUPPLIER)
    lines = [
        MovementLine(
            item=items[item_id],
            quantity=Decimal(1 + n % 5),
            source=supplier,
            destination=bins[bin_id],
            kind=MovementKind.RECEIPT,
            unit_cost=UNIT_COST + Decimal(n % 7),
        )
        for n, (item_id, bin_id) in enumerate(chosen)
    ]
    return lines, [(item_id, bin_id, bins[bin_id].warehouse_id) for item_id, bin_id in chosen]


BARE_BATCH_SQL = (
    """
    INSERT INTO {movement} (batch, batch_line, item_id, lot_id, quantity, source_id, destination_id,
           kind, reason_code, note, unit_cost, total_cost, reference_type, reference_id, reference_line,
           actor_id, occurred_at, posted_at, idempotency_key, reverses_id)
    SELECT %(batch)s, d.n, d.item_id, NULL, d.qty, %(supplier)s, d.bin_id, 'receipt', '', '', d.cost,
           d.qty * d.cost, '', '', '', %(actor)s, now(), now(), CASE WHEN d.n = 1 THEN %(key)s END, NULL
      FROM unnest(%(items)s::bigint[], %(bins)s::bigint[], %(qty)s::numeric[], %(cost)s::numeric[])
           WITH ORDINALITY AS d(item_id, bin_id, qty, cost, n)
     ORDER BY d.n
    """,
    """
    UPDATE {level} AS l SET on_hand = l.on_hand + d.delta
      FROM unnest(%(level_items)s::bigint[], %(level_locations)s::bigint[], %(level_deltas)s::numeric[])
           AS d(item_id, location_id, delta)
     WHERE l.item_id = d.item_id AND l.location_id = d.location_id AND l.lot_id IS NULL
    """,
    """
    UPDATE {valuation} AS v SET quantity = v.quantity + d.qty, value = v.value + d.qty * d.cost,
           last_unit_cost = d.cost
      FROM unnest(%(items)s::bigint[], %(warehouses)s::bigint[], %(qty)s::numeric[], %(cost)s::numeric[])
           AS d(item_id, warehouse_id, qty, cost)
     WHERE v.item_id = d.item_id AND v.warehouse_id = d.warehouse_id
    """,
)


def measure_batch(pairs: list[tuple[int, int]]) -> dict[str, float]:
    """One ``movement_post`` of ``BATCH_LINES`` receipt lines (distinct item and bin, moving
    average, as the clerk, with an idempotency key) against bare SQL that makes the same writes
    in one transaction: the 1,000 movements (``INSERT ... SELECT``), the 2,000 levels (bin and
    supplier, ``UPDATE ... FROM``) and the 1,000 valuations (``UPDATE ... FROM``). Each is run
    ``BATCH_REPEATS`` times, alternating, after one warm-up of each; the median counts. For
    context, the same batch through the line-by-line path (``STOCK_POSTING_SETS=False``), 3 times."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.test import override_settings

    from catalog.models import Location, LocationKind
    from stock.services import movement_post

    lines, ids = batch_receipt_lines(pairs)
    actor = get_user_model().objects.get(username=CLERK)
    supplier = Location.objects.virtual(LocationKind.SUPPLIER).pk
    t = tables()
    statements = [statement.format(**t) for statement in BARE_BATCH_SQL]

    def bare() -> None:
        params = {
            "batch": uuid.uuid4(),
            "key": f"bench-batch-bare-{uuid.uuid4()}",
            "supplier": supplier,
            "actor": actor.pk,
            "items": [item for item, _, _ in ids],
            "bins": [bin_id for _, bin_id, _ in ids],
            "warehouses": [warehouse for _, _, warehouse in ids],
            "qty": [line.quantity for line in lines],
            "cost": [line.unit_cost for line in lines],
            "level_items": [item for item, _, _ in ids] * 2,
            "level_locations": [bin_id for _, bin_id, _ in ids] + [supplier] * len(ids),
            "level_deltas": [line.quantity for line in lines] + [-line.quantity for line in lines],
        }
        with transaction.atomic():
            for statement in statements:
                sql(statement, params)

    def post() -> None:
        movement_post(lines=lines, actor=actor, idempotency_key=f"bench-batch-{uuid.uuid4()}")

    def line_by_line() -> None:
        with override_settings(STOCK_POSTING_SETS=False):
            post()

    seconds: dict[str, list[float]] = {"post": [], "bare": [], "reference": []}
    post(), bare(), line_by_line()  # warm-up: caches, prepared statements
    for repeat in range(BATCH_REPEATS):
        runs = [("post", post), ("bare", bare)] + ([("reference", line_by_line)] if repeat < 3 else [])
        for name, run in runs:
            checkpoint()
            began = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - began)
    figures = {
        "batch_1000_receipts_ms": 1_000 * statistics.median(seconds["post"]),
        "batch_1000_bare_sql_ms": 1_000 * statistics.median(seconds["bare"]),
        "batch_1000_receipts_line_by_line_ms": 1_000 * statistics.median(seconds["reference"]),
    }
    for name, value in figures.items():
        emit(name, value)
    return figures


# --- pgbench ----------------------------------------------------------------------------------


def pgbench_environment(server_url: str) -> dict[str, str]:
    parts = urlsplit(server_url)
    env = dict(os.environ)
    env.update({"PGHOST": parts.hostname or "127.0.0.1", "PGPORT": str(parts.port or 5432)})
    if parts.username:
        env["PGUSER"] = unquote(parts.username)
    if parts.password:
        env["PGPASSWORD"] = unquote(parts.password)
    return env


def pgbench(server_url: str, *args: str) -> str:
    done = subprocess.run(
        ["pgbench", *args, PGBENCH_DB], env=pgbench_environment(server_url), capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"pgbench {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def measure_pgbench(server_url: str, clients: int, seconds: int) -> float:
    """TPS of pgbench's built-in tpcb-like script with ``clients`` clients and threads."""
    checkpoint()
    output = pgbench(server_url, "-c", str(clients), "-j", str(clients), "-T", str(seconds), "-n")
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output) or re.search(
        r"tps = ([\d.]+)", output
    )
    if match is None:
        raise RuntimeError(f"no TPS in pgbench output:\n{output}")
    return float(match.group(1))


# --- The physical floor of a posting ----------------------------------------------------------
# What one posting costs the database at the least: one INSERT into a movement table and one
# UPDATE of a level row, sent as one prepared statement in autocommit (one round trip, as our
# posting's call of stock_post_line is), with no permission check, validation, valuation or
# idempotency look-up. The tables are copies of the product's (same columns, defaults, CHECKs and
# indexes, so the same unique idempotency key; no foreign keys, no triggers); the level rows are
# the product's, copied. Postings/s of the product / moves/s of this floor, same clients and
# cases, is how far above the floor the product runs.

FLOOR_MOVEMENT = "bench_floor_movement"
FLOOR_LEVEL = "bench_floor_level"
FLOOR_MOVE_SQL = f"""
    WITH moved AS (
        INSERT INTO {FLOOR_MOVEMENT} (batch, batch_line, item_id, lot_id, quantity, source_id, destination_id,
               kind, reason_code, note, unit_cost, total_cost, reference_type, reference_id, reference_line,
               actor_id, occurred_at, posted_at, idempotency_key, reverses_id)
        VALUES (gen_random_uuid(), 1, %(item)s, NULL, %(quantity)s, %(source)s, %(destination)s, %(kind)s, '', '',
                %(cost)s, %(quantity)s * %(cost)s, 'bench', 'floor', '', NULL, now(), now(), %(key)s, NULL)
        RETURNING 1
    )
    UPDATE {FLOOR_LEVEL} SET on_hand = on_hand + %(delta)s
     WHERE item_id = %(item)s AND location_id = %(bin)s AND lot_id IS NULL AND EXISTS (SELECT FROM moved)
"""


def create_floor_tables() -> None:
    """(Re)create the floor's movement table (empty) and level table (the product's rows)."""
    t = tables()
    sql(f"DROP TABLE IF EXISTS {FLOOR_MOVEMENT}, {FLOOR_LEVEL}")
    sql(f"CREATE TABLE {FLOOR_MOVEMENT} (LIKE {t['movement']} INCLUDING ALL)")
    sql(f"CREATE TABLE {FLOOR_LEVEL} (LIKE {t['level']} INCLUDING ALL)")
    sql(f"INSERT INTO {FLOOR_LEVEL} SELECT * FROM {t['level']}")
    sql(f"VACUUM ANALYZE {FLOOR_LEVEL}")


def _floor_worker(
    database_url: str,
    pairs: list[tuple[int, int]],
    supplier: int,
    customer: int,
    seed: int,
    seconds: float,
    *,
    barrier,  # multiprocessing Barrier: all clients start together
    results,  # multiprocessing Queue: ("ready",) then (moves, seconds, errors, latencies, cpu)
) -> None:
    """One floor client: its own psycopg connection, receipt/issue pairs like ``Poster``'s, each
    move one execution of the prepared FLOOR_MOVE_SQL."""
    import psycopg

    rng = random.Random(seed)
    latencies: list[float] = []
    errors = 0
    with psycopg.connect(database_url, autocommit=True) as conn:

        def move_pair(pair: tuple[int, int], quantity: int, record: bool) -> None:
            item, where = pair
            for source, destination, kind, delta in (
                (supplier, where, "receipt", quantity),
                (where, customer, "issue", -quantity),
            ):
                params = {
                    "item": item,
                    "bin": where,
                    "quantity": quantity,
                    "delta": delta,
                    "source": source,
                    "destination": destination,
                    "kind": kind,
                    "cost": UNIT_COST,
                    "key": f"floor-{uuid.uuid4()}",
                }
                began = time.perf_counter()
                conn.execute(FLOOR_MOVE_SQL, params, prepare=True)
                if record:
                    latencies.append(time.perf_counter() - began)

        for _ in range(10):  # prepares the statement
            move_pair(rng.choice(pairs), 1, record=False)
        results.put(("ready",))
        barrier.wait()
        cpu, began = time.process_time(), time.perf_counter()
        deadline = began + seconds
        while time.perf_counter() < deadline:
            try:
                move_pair(rng.choice(pairs), rng.randint(1, 5), record=True)
            except psycopg.Error as exc:
                errors += 1
                if errors <= 3:
                    progress(f"floor worker error: {exc!r}")
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    results.put((len(latencies), elapsed, errors, latencies, cpu))


def start_clients(target, arguments: list[tuple]) -> tuple[list, object, object]:  # noqa: ANN001
    """One spawned process per tuple of ``arguments`` running ``target(*args, barrier=,
    results=)``; returns the processes, the barrier that releases them together (one party more,
    for the caller) and the queue they answer on."""
    context = mp.get_context("spawn")  # fresh interpreters: no database connection is inherited
    barrier = context.Barrier(len(arguments) + 1)
    results = context.Queue()
    workers = [
        context.Process(target=target, args=args, kwargs={"barrier": barrier, "results": results}) for args in arguments
    ]
    for worker in workers:
        worker.start()
    return workers, barrier, results


def measure_floor(database_url: str, pairs: list[tuple[int, int]], case: str, clients: int, seconds: float) -> float:
    """Moves per second of ``clients`` floor clients started together; emits rate, latency and errors."""
    from catalog.models import Location, LocationKind

    supplier = Location.objects.virtual(LocationKind.SUPPLIER).pk
    customer = Location.objects.virtual(LocationKind.CUSTOMER).pk
    checkpoint()
    workers, barrier, results = start_clients(
        _floor_worker,
        [(database_url, pairs, supplier, customer, SEED + 7 * clients + n, seconds) for n in range(clients)],
    )
    for _ in workers:
        results.get(timeout=120)
    barrier.wait(timeout=60)
    outcomes = [results.get(timeout=seconds + 120) for _ in workers]
    for worker in workers:
        worker.join()
    rate = sum(moved / elapsed for moved, elapsed, *_ in outcomes)
    latencies = [value for outcome in outcomes for value in outcome[3]]
    emit(f"floor_moves_per_s_{case}_{clients}", rate)
    emit(f"floor_p50_ms_{case}_{clients}", statistics.median(latencies) * 1_000)
    emit(f"floor_p99_ms_{case}_{clients}", percentile(latencies, 0.99) * 1_000)
    emit(f"floor_errors_{case}_{clients}", sum(outcome[2] for outcome in outcomes))
    emit(f"floor_client_cpu_ms_{case}_{clients}", 1_000 * sum(o[4] for o in outcomes) / max(1, len(latencies)))
    return rate


def emit_floor_ratios(rates: dict[tuple[str, int], float], floors: dict[tuple[str, int], float]) -> None:
    """Our postings/s over the floor's moves/s, per case (printed with the other ratios, last)."""
    for (case, clients), floor in floors.items():
        emit(f"ratio_posting_vs_floor_{case}_{clients}", rates[(case, clients)] / floor)


# --- Main -------------------------------------------------------------------------------------


def load_average() -> float:
    return os.getloadavg()[0]


def python_calibration_us() -> float:
    """Best of 5 of a fixed pure-Python loop (``sum(range(1000))``), in microseconds: how fast
    this machine runs Python, to compare runs on different machines (a recent laptop: ~8)."""
    import timeit

    return min(timeit.repeat("sum(range(1000))", number=2_000, repeat=5)) / 2_000 * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs and a 100k ledger (smoke run)")
    parser.add_argument(
        "--profile", action="store_true", help="only set up and profile movement_post phase by phase, single client"
    )
    parser.add_argument(
        "--batch",
        action="store_true",
        help="only set up and time one movement_post of 1,000 receipt lines against the bare SQL",
    )
    arguments = parser.parse_args()
    config = Config.make(arguments.quick)
    if shutil.which("pgbench") is None:
        parser.error("pgbench is not on the PATH (Debian: apt-get install postgresql-client)")
    server_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER_URL)
    product_url = with_database(server_url, PRODUCT_DB)
    run_began = time.perf_counter()

    progress(f"recreating {PRODUCT_DB}")
    recreate_database(server_url, PRODUCT_DB)
    if not (arguments.batch or arguments.profile):
        recreate_database(server_url, PGBENCH_DB)
    django_setup(product_url)
    from django.core.management import call_command
    from django.utils import timezone

    progress("migrating")
    call_command("migrate", verbosity=0, interactive=False)
    emit("cpu_count", os.cpu_count())
    emit("load_average_start", load_average())
    emit("python_calibration_us", python_calibration_us())
    emit("postgres_version", sql("SHOW server_version")[0][0])
    emit("synchronous_commit", sql("SHOW synchronous_commit")[0][0])
    emit("autovacuum", sql("SHOW autovacuum")[0][0])

    progress("master data and opening stock")
    now = timezone.now()
    history_start, opening_end = now - timedelta(days=365), now - timedelta(days=364)
    pairs = create_master_data()
    create_clerk()
    insert_opening_stock(pairs, history_start)
    rebuild_projection()
    small = movement_count()
    emit("items", ITEMS)
    emit("bins", WAREHOUSES * BINS_PER_WAREHOUSE)
    emit("ledger_small", small)
    posting_query_counts(pairs)
    if arguments.profile:
        progress("profiling movement_post")
        profile_postings(pairs, 200 if arguments.quick else 1_000)
        return 0
    progress(f"one movement_post of {BATCH_LINES} receipt lines against bare SQL")
    batch = measure_batch(pairs)
    if arguments.batch:
        emit("load_average_end", load_average())
        emit("ratio_batch_to_bare_sql", batch["batch_1000_receipts_ms"] / batch["batch_1000_bare_sql_ms"])
        return 0

    progress(f"look-ups at {small} movements")
    small_label = size_label(small)
    small_figures = measure_lookups(pairs, config.lookups, history_start, timezone.now(), small_label)

    # pgbench runs right before and right after the postings it is compared with, and the
    # ratio uses the mean: both then see the same machine (other load, disk, checkpoints).
    progress(f"pgbench -i -s {config.pgbench_scale}")
    pgbench(server_url, "-i", "-q", "-s", str(config.pgbench_scale))
    tps: dict[int, float] = {}
    rates: dict[tuple[str, int], float] = {}
    floors: dict[tuple[str, int], float] = {}  # the physical floor, right after each postings case
    create_floor_tables()
    for clients in CLIENTS:
        progress(f"pgbench tpcb-like, {clients} client(s), {config.pgbench_seconds} s")
        before = measure_pgbench(server_url, clients, config.pgbench_seconds)
        for case, case_pairs in (("low", pairs), ("hot", pairs[:1])):
            progress(f"postings: {case} contention, {clients} client(s), {config.post_seconds} s")
            rates[(case, clients)] = measure_postings(product_url, case_pairs, case, clients, config)
            progress(f"the floor: plain-SQL moves, {case} contention, {clients} client(s), {config.post_seconds} s")
            floors[(case, clients)] = measure_floor(product_url, case_pairs, case, clients, config.post_seconds)
        progress(f"pgbench tpcb-like, {clients} client(s), {config.pgbench_seconds} s")
        after = measure_pgbench(server_url, clients, config.pgbench_seconds)
        tps[clients] = (before + after) / 2
        emit(f"pgbench_tps_{clients}_before", before)
        emit(f"pgbench_tps_{clients}_after", after)
        emit(f"pgbench_tps_{clients}", tps[clients])

    extra = config.large_ledger - movement_count()
    progress(f"growing the ledger by {extra} movements")
    began = time.perf_counter()
    grow_ledger(pairs, extra, opening_end, timezone.now() - timedelta(hours=1))
    emit("grow_seconds", time.perf_counter() - began)
    began = time.perf_counter()
    rebuild_projection()
    emit("rebuild_projection_seconds", time.perf_counter() - began)
    large = movement_count()
    large_label = size_label(large)
    emit("ledger_large", large)
    began = time.perf_counter()
    emit(f"reconcile_differences_{large_label}", reconcile_count())
    emit(f"reconcile_seconds_{large_label}", time.perf_counter() - began)
    checkpoint()

    progress(f"look-ups at {large} movements")
    large_figures = measure_lookups(pairs, config.lookups, history_start, timezone.now(), large_label)
    emit("load_average_end", load_average())
    emit("run_seconds", time.perf_counter() - run_began)

    for case in ("low", "hot"):
        for clients in CLIENTS:
            emit(f"ratio_{case}_{clients}", rates[(case, clients)] / tps[clients])
    emit("ratio_batch_to_bare_sql", batch["batch_1000_receipts_ms"] / batch["batch_1000_bare_sql_ms"])
    for name in ("onhand", "asof_qty", "asof"):
        for stat in ("p50", "p99"):
            emit(
                f"ratio_{name}_{stat}_{large_label}_{small_label}",
                large_figures[f"{name}_{stat}_us_{large_label}"] / small_figures[f"{name}_{stat}_us_{small_label}"],
            )
    emit_floor_ratios(rates, floors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
