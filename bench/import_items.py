"""Item import benchmark: ``import_items`` against PostgreSQL ``COPY`` of the same file.

Run ``python bench/import_items.py`` (``--rows N`` for another size; bench/README.md explains
the figures). It needs a PostgreSQL server (default ``postgres://postgres@127.0.0.1:5432/postgres``,
override with ``BENCH_DATABASE_URL``; the role must be allowed to create databases) and is never
part of the test run.

What it does, in order (progress on stderr, figures on stdout as ``name = value`` lines, the
ratios last):

1. drops and recreates the scratch database ``inventory_bench_import`` and migrates it with
   ``call_command("migrate")``;
2. writes a CSV of N items (default 100,000) with every column the import reads: SKU, name,
   description, one of 24 three-level category paths, base unit, purchase unit, one valid
   EAN-13 barcode, status, tracking, perishable with shelf life for one item in ten, standard
   cost, valuation method and weight;
3. times ``COPY bench_items_copy FROM STDIN (FORMAT csv, HEADER)`` of that file into a bare
   table with the same 15 columns (no index, no constraint), best of three;
4. times ``call_command("import_items", path, "--create-categories")`` into the empty item
   table: every row is a new item with a barcode, each written with its history record;
5. times the same import again, where every row is unchanged, and a third time with every
   name changed (updates with history);
6. prints rows/s for each, the process's peak resident memory and the load average (other
   work on the machine slows both sides), and ``ratio_import_vs_copy`` = import time / COPY
   time (the target is below 50).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from _common import django_setup, emit, progress, recreate_database, with_database

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DATABASE = "inventory_bench_import"
SEED = 20240601
COPY_TABLE = """
CREATE TABLE bench_items_copy (
    sku varchar(64), name varchar(200), description text, category varchar(1000), unit varchar(20),
    purchase_unit varchar(20), purchase_factor numeric(18, 4), barcodes varchar(1000), status varchar(15),
    tracking varchar(10), perishable boolean, shelf_life_days integer, standard_cost numeric(20, 4),
    valuation_method varchar(10), weight_kg numeric(18, 4)
)
"""


def ean13(number: int) -> str:
    body = f"200{number:09d}"  # GS1 prefix 200-299: in-store numbers, never real products
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def write_items_csv(path: Path, rows: int, *, rename: bool = False) -> None:
    rng = random.Random(SEED)
    categories = [
        f"{top} > {middle} > {leaf}"
        for top in ("Home", "Garden", "Food")
        for middle in ("Kitchen", "Storage")
        for leaf in ("Knives", "Boxes", "Pans", "Jars")
    ]
    from catalog.importing.items import ITEM_COLUMNS  # after django_setup(): the importer's own header

    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(ITEM_COLUMNS)
        for n in range(1, rows + 1):
            perishable = n % 10 == 0
            writer.writerow(
                [
                    f"BENCH-{n:07d}",
                    f"{'Renamed' if rename else 'Bench'} item {n}",
                    f"Item number {n}, generated for the import benchmark.",
                    categories[n % len(categories)],
                    "each",
                    "box12" if n % 3 == 0 else "",
                    "",
                    ean13(n),
                    "active",
                    "lot" if perishable else "none",
                    "true" if perishable else "false",
                    "30" if perishable else "",
                    f"{rng.randint(100, 99999) / 100:.2f}",
                    "fifo" if n % 4 == 0 else "average",
                    f"{rng.randint(1, 5000) / 1000:.3f}",
                ]
            )


def time_copy(path: Path, repeats: int = 3) -> float:
    from django.db import connection

    data = path.read_bytes()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_items_copy")
        cursor.execute(COPY_TABLE)
    best = float("inf")
    for _ in range(repeats):
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE bench_items_copy")
            started = time.perf_counter()
            with cursor.cursor.copy("COPY bench_items_copy FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
                for offset in range(0, len(data), 1 << 20):
                    copy.write(data[offset : offset + (1 << 20)])
            best = min(best, time.perf_counter() - started)
    return best


def time_import(path: Path) -> tuple[float, str]:
    from django.core.management import call_command

    out = io.StringIO()
    started = time.perf_counter()
    call_command("import_items", str(path), "--create-categories", "--no-progress", stdout=out, stderr=out)
    return time.perf_counter() - started, out.getvalue().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the generated file (default 100000)")
    args = parser.parse_args()
    server_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER_URL)
    progress(f"recreating database {DATABASE}")
    recreate_database(server_url, DATABASE)
    django_setup(with_database(server_url, DATABASE))
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from catalog.models import Barcode, Item

    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    path, renamed = work / "items.csv", work / "items-renamed.csv"
    progress(f"writing {args.rows} rows to {path}")
    write_items_csv(path, args.rows)
    write_items_csv(renamed, args.rows, rename=True)
    emit("rows", args.rows)
    emit("file_mb", path.stat().st_size / 1e6)

    progress("COPY into a bare table (best of 3)")
    copy_seconds = time_copy(path)
    emit("copy_seconds", copy_seconds)
    emit("copy_rows_per_s", args.rows / copy_seconds)

    progress("import_items: new items")
    new_seconds, summary = time_import(path)
    progress(summary)
    assert Item.objects.count() == args.rows and Barcode.objects.count() == args.rows, summary
    assert Item.history.count() == args.rows, "every new item has its history record"
    emit("import_new_seconds", new_seconds)
    emit("import_new_rows_per_s", args.rows / new_seconds)

    progress("import_items: the same file again (all unchanged)")
    unchanged_seconds, summary = time_import(path)
    progress(summary)
    emit("import_unchanged_seconds", unchanged_seconds)
    emit("import_unchanged_rows_per_s", args.rows / unchanged_seconds)

    progress("import_items: every name changed (updates)")
    update_seconds, summary = time_import(renamed)
    progress(summary)
    assert Item.history.count() == 2 * args.rows
    emit("import_update_seconds", update_seconds)
    emit("import_update_rows_per_s", args.rows / update_seconds)

    emit("peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    emit("load_average_1m", os.getloadavg()[0])
    emit("ratio_import_vs_copy", new_seconds / copy_seconds)
    emit("ratio_update_vs_copy", update_seconds / copy_seconds)


if __name__ == "__main__":
    main()
