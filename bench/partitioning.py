"""Partitioning benchmark: the movement table as it is today against the same ledger partitioned
by month (declarative, ``PARTITION BY RANGE (occurred_at)``) with a BRIN index on ``occurred_at``.

Run ``python bench/partitioning.py`` (1M movements, about 10 minutes on 2 busy cores) or
``python bench/partitioning.py --movements 10000000`` (the size issue 18 asks about: plan an hour
or more here). It needs what bench/ledger.py needs (a PostgreSQL superuser at
``BENCH_DATABASE_URL``, pgbench) and reuses its data builders, so both ledgers are built the same
way: 2 warehouses, 200 bins, 2,000 moving-average items, a year of back-dated receipt/issue pairs.

What it does (progress on stderr, figures on stdout, the ratios monthly / flat last):

1. builds the ledger once in ``inventory_bench_part`` (today's layout: one heap, btree indexes)
   and checks that the reconciliation finds no difference;
2. copies that database (``CREATE DATABASE ... TEMPLATE``) to ``inventory_bench_part_monthly``
   and converts its ``stock_movement`` into a table partitioned by month (one partition per
   month of the history and three ahead, plus a default one), with the same columns, CHECKs and
   btree indexes, a BRIN index on ``occurred_at`` in place of the btree one, and the primary key
   ``(id, occurred_at)``. A partitioned table cannot hold a unique index without the partition
   key, so the two ledger-wide unique rules (an idempotency key once, a movement reversed once)
   move to two small side tables filled by an ``AFTER INSERT`` trigger in the same transaction:
   a second use still fails with a unique violation. The foreign keys that point at movements
   (cost layers, their consumptions, adjustment requests, ``reverses``) are dropped: this bench
   posts moving-average items only, so none of those rows is written. docs/scaling.md says what
   the product's migration would do instead;
3. on each layout: postings per second through ``stock.services.movement_post`` (1 and 4
   clients, random stocked bins: bench/ledger.py's workers), the on-hand and as-of look-ups
   (bench/ledger.py's), the reconciliation, two reports (a month's issues summed per item, for a
   random month; the audit trail's first page as a superuser), and the table's size on disk;
4. pgbench tpcb-like (1 and 4 clients) before the first and after the last postings, for the
   postings / pgbench ratio of bench/ledger.py.

The SQL that builds and converts the scratch databases writes ledger tables directly: that is
the benchmark building data fast, not a second write path of the product.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from contextlib import contextmanager
from datetime import timedelta

import ledger
from _common import django_setup, emit, progress, recreate_database, timed, with_database

FLAT_DB = os.environ.get("BENCH_PART_DB", "inventory_bench_part")
MONTHLY_DB = f"{FLAT_DB}_monthly"
LAYOUTS = ("flat", "monthly")
SEED = 20261205


@contextmanager
def prefixed(prefix: str):  # noqa: ANN201
    """bench/ledger.py's figures printed as ``<prefix>_<name>`` (its functions emit as they go)."""
    plain = ledger.emit
    ledger.emit = lambda name, value: emit(f"{prefix}_{name}", value)
    try:
        yield
    finally:
        ledger.emit = plain


def use_database(name: str) -> None:
    """Point this process's Django connection at database ``name`` on the same server."""
    from django.db import connections

    connections.close_all()
    connections["default"].settings_dict["NAME"] = name


def copy_database(server_url: str, source: str, target: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')


# --- The conversion ---------------------------------------------------------------------------------

UNIQUE_KEYS_TRIGGER = """
CREATE TABLE stock_movement_key (idempotency_key varchar(200) PRIMARY KEY, movement_id bigint NOT NULL);
CREATE TABLE stock_movement_reversal (reverses_id bigint PRIMARY KEY, movement_id bigint NOT NULL);
INSERT INTO stock_movement_key SELECT idempotency_key, id FROM stock_movement WHERE idempotency_key IS NOT NULL;
INSERT INTO stock_movement_reversal SELECT reverses_id, id FROM stock_movement WHERE reverses_id IS NOT NULL;
CREATE FUNCTION stock_movement_unique_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- the ledger-wide unique rules a partitioned table cannot index: a second use is a unique violation
    IF NEW.idempotency_key IS NOT NULL THEN
        INSERT INTO stock_movement_key VALUES (NEW.idempotency_key, NEW.id);
    END IF;
    IF NEW.reverses_id IS NOT NULL THEN
        INSERT INTO stock_movement_reversal VALUES (NEW.reverses_id, NEW.id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER stock_movement_unique_keys AFTER INSERT ON stock_movement
    FOR EACH ROW EXECUTE FUNCTION stock_movement_unique_keys();
"""


def partition_by_month() -> int:
    """Convert ``stock_movement`` of the current database in one transaction; returns the
    number of partitions."""
    from django.db import transaction

    sql = ledger.sql
    with transaction.atomic():
        sql("SET LOCAL maintenance_work_mem = '256MB'")
        indexes = sql(
            """SELECT indexname, indexdef FROM pg_indexes
                WHERE schemaname = current_schema() AND tablename = 'stock_movement'
                  AND indexname NOT IN (
                      SELECT conname FROM pg_constraint WHERE conrelid = 'stock_movement'::regclass)"""
        )
        for table, constraint in sql(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint "
            "WHERE confrelid = 'stock_movement'::regclass AND contype = 'f'"
        ):
            sql(f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}"')
        sql("ALTER TABLE stock_movement RENAME TO stock_movement_flat")
        sql(
            "CREATE TABLE stock_movement (LIKE stock_movement_flat INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
            "PARTITION BY RANGE (occurred_at)"
        )
        # PostgreSQL 15 has no identity column on a partitioned table (17 has): a sequence default.
        sql("CREATE SEQUENCE stock_movement_part_id_seq OWNED BY stock_movement.id")
        sql("ALTER TABLE stock_movement ALTER COLUMN id SET DEFAULT nextval('stock_movement_part_id_seq')")
        first, last = sql(
            "SELECT date_trunc('month', min(occurred_at)), date_trunc('month', greatest(max(occurred_at), now())) "
            "FROM stock_movement_flat"
        )[0]
        months = sql(
            "SELECT m, m + interval '1 month' FROM generate_series(%s::timestamptz, %s::timestamptz + interval "
            "'3 months', interval '1 month') AS m",
            [first, last],
        )
        for start, end in months:
            sql(  # DDL takes no parameters: the bounds are timestamps read from the database above
                f"CREATE TABLE stock_movement_{start:%Y_%m} PARTITION OF stock_movement "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
        sql("CREATE TABLE stock_movement_default PARTITION OF stock_movement DEFAULT")
        sql("INSERT INTO stock_movement SELECT * FROM stock_movement_flat")
        sql("SELECT setval('stock_movement_part_id_seq', (SELECT max(id) FROM stock_movement))")
        sql("DROP TABLE stock_movement_flat")
        sql("ALTER TABLE stock_movement ADD PRIMARY KEY (id, occurred_at)")
        for name, definition in indexes:
            if name == "movement_occurred":  # replaced by the BRIN index
                continue
            sql(definition.replace(" ON public.stock_movement_flat ", " ON public.stock_movement "))
        sql("CREATE INDEX movement_occurred_brin ON stock_movement USING brin (occurred_at)")
        sql("CREATE INDEX movement_key ON stock_movement (idempotency_key) WHERE idempotency_key IS NOT NULL")
        sql(UNIQUE_KEYS_TRIGGER)
    sql("VACUUM (ANALYZE)")
    return len(months) + 1


# --- Measurements -----------------------------------------------------------------------------------


def movement_bytes() -> int:
    """The movement table on disk with its indexes (all partitions, and the key side tables)."""
    return ledger.sql(
        """SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
            WHERE c.relname = 'stock_movement' AND c.relkind = 'r'
               OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'stock_movement'::regclass)
               OR c.relname IN ('stock_movement_key', 'stock_movement_reversal')"""
    )[0][0]


def occurred_index_bytes(index: str) -> int:
    """The occurred_at index on disk (a partitioned index: the sum over its partitions)."""
    return ledger.sql(
        "SELECT coalesce((SELECT sum(pg_relation_size(relid)) FROM pg_partition_tree(%s::regclass)),"
        " pg_relation_size(%s::regclass))::bigint",
        [index, index],
    )[0][0]


def measure_reports(start, end, repeat: int) -> dict[str, float]:  # noqa: ANN001
    """A month's issues per item (a random month of the history) and the audit trail's first page."""
    from django.contrib.auth import get_user_model
    from django.db.models import Sum

    from reports.audit import AuditFilters, audit_trail_page
    from stock.models import Movement, MovementKind

    rng = random.Random(SEED)
    months = max(1, int((end - start).days // 31) - 1)

    def month_issues() -> None:
        month_start = start + timedelta(days=31 * rng.randrange(months))
        list(
            Movement.objects.filter(
                kind=MovementKind.ISSUE, occurred_at__gte=month_start, occurred_at__lt=month_start + timedelta(days=30)
            )
            .values("item_id")
            .annotate(quantity=Sum("quantity"))
        )

    boss = get_user_model().objects.filter(is_superuser=True).first() or get_user_model().objects.create_superuser(
        "bench-boss", "boss@example.com", None
    )

    def audit_first_page() -> None:
        audit_trail_page(user=boss, filters=AuditFilters(), page=1, per_page=100)

    figures = {}
    for name, function in (("report_month_issues", month_issues), ("report_audit_page", audit_first_page)):
        figures[f"{name}_p50_ms"], figures[f"{name}_p99_ms"] = timed(function, repeat)
    return figures


def measure_static(layout: str, database: str, pairs, start, end, lookups: int) -> dict[str, float]:  # noqa: ANN001
    """Reconciliation, sizes, reports and look-ups of one layout, printed as ``<layout>_<name>``."""
    use_database(database)
    figures: dict[str, float] = {}
    began = time.perf_counter()
    figures["reconcile_differences"] = ledger.reconcile_count()
    figures["reconcile_seconds"] = time.perf_counter() - began
    figures["movement_mb"] = movement_bytes() / 2**20
    index = "movement_occurred" if layout == "flat" else "movement_occurred_brin"
    figures["occurred_index_mb"] = occurred_index_bytes(index) / 2**20
    figures.update(measure_reports(start, end, max(5, lookups // 20)))
    with prefixed(layout):
        found = ledger.measure_lookups(pairs, lookups, start, end, "n")
    figures.update({name.removesuffix("_n"): value for name, value in found.items() if "queries" not in name})
    for name, value in figures.items():
        if not name.startswith(("onhand", "asof")):  # those were printed as measured
            emit(f"{layout}_{name}", value)
    return figures


def measure_postings(layout: str, database: str, url: str, pairs, clients: int, config) -> float:  # noqa: ANN001
    use_database(database)
    with prefixed(layout):
        return ledger.measure_postings(url, pairs, "low", clients, config)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--movements", type=int, default=1_000_000, help="ledger size (default 1M; 10M as asked)")
    parser.add_argument("--seconds", type=float, default=10, help="timed seconds of each postings case (default 10)")
    parser.add_argument("--lookups", type=int, default=400, help="look-ups per kind (default 400)")
    arguments = parser.parse_args()
    config = ledger.Config(
        post_seconds=arguments.seconds,
        pgbench_seconds=int(arguments.seconds),
        pgbench_scale=10,
        lookups=arguments.lookups,
        large_ledger=arguments.movements,
    )
    server_url = os.environ.get("BENCH_DATABASE_URL", ledger.DEFAULT_SERVER_URL)
    flat_url, monthly_url = with_database(server_url, FLAT_DB), with_database(server_url, MONTHLY_DB)
    run_began = time.perf_counter()

    progress(f"building {arguments.movements:,} movements in {FLAT_DB}")
    recreate_database(server_url, FLAT_DB)
    recreate_database(server_url, ledger.PGBENCH_DB)
    django_setup(flat_url)
    from django.core.management import call_command
    from django.utils import timezone

    call_command("migrate", verbosity=0, interactive=False)
    emit("load_average_start", os.getloadavg()[0])
    emit("postgres_version", ledger.sql("SHOW server_version")[0][0])
    now = timezone.now()
    start, opening_end = now - timedelta(days=365), now - timedelta(days=364)
    pairs = ledger.create_master_data()
    ledger.create_clerk()
    ledger.insert_opening_stock(pairs, start)
    began = time.perf_counter()
    ledger.grow_ledger(pairs, arguments.movements - ledger.movement_count(), opening_end, now - timedelta(hours=1))
    ledger.rebuild_projection()
    emit("build_seconds", time.perf_counter() - began)
    emit("movements", ledger.movement_count())

    progress(f"copying to {MONTHLY_DB} and partitioning by month")
    copy_database(server_url, FLAT_DB, MONTHLY_DB)
    use_database(MONTHLY_DB)
    began = time.perf_counter()
    emit("partitions", partition_by_month())
    emit("partition_conversion_seconds", time.perf_counter() - began)
    emit("movements_monthly", ledger.movement_count())

    progress("pgbench before")
    use_database(FLAT_DB)
    ledger.pgbench(server_url, "-i", "-q", "-s", str(config.pgbench_scale))
    tps_before = {
        clients: ledger.measure_pgbench(server_url, clients, config.pgbench_seconds) for clients in ledger.CLIENTS
    }
    # Each measurement on both layouts back to back, the order swapped each time (flat first,
    # then monthly first, ...): the machine's load moves between measurements, not within a pair.
    databases = {"flat": (FLAT_DB, flat_url), "monthly": (MONTHLY_DB, monthly_url)}
    results: dict[str, dict[str, float]] = {layout: {} for layout in LAYOUTS}
    order = list(LAYOUTS)
    end = timezone.now()
    for step in ("static", *ledger.CLIENTS):
        for layout in order:
            database, url = databases[layout]
            progress(f"measuring the {layout} layout: {step if step == 'static' else f'postings, {step} client(s)'}")
            if step == "static":
                results[layout].update(measure_static(layout, database, pairs, start, end, config.lookups))
            else:
                results[layout][f"postings_per_s_{step}"] = measure_postings(layout, database, url, pairs, step, config)
        order.reverse()
    progress("pgbench after")
    tps = {}
    for clients in ledger.CLIENTS:
        after = ledger.measure_pgbench(server_url, clients, config.pgbench_seconds)
        tps[clients] = (tps_before[clients] + after) / 2
        emit(f"pgbench_tps_{clients}", tps[clients])
    emit("load_average_end", os.getloadavg()[0])
    emit("run_seconds", time.perf_counter() - run_began)

    for layout in LAYOUTS:
        for clients in ledger.CLIENTS:
            emit(
                f"ratio_{layout}_postings_vs_pgbench_{clients}",
                results[layout][f"postings_per_s_{clients}"] / tps[clients],
            )
    for name, flat in results["flat"].items():
        if isinstance(flat, float) and flat and name != "reconcile_differences":
            emit(f"ratio_monthly_to_flat_{name}", results["monthly"][name] / flat)
    return 0 if not any(results[layout]["reconcile_differences"] for layout in LAYOUTS) else 1


if __name__ == "__main__":
    sys.exit(main())
