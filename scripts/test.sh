#!/usr/bin/env bash
# Install everything and run the whole test suite: lint, Django checks, migrations check,
# then pytest on SQLite and on PostgreSQL. PostgreSQL comes from TEST_POSTGRES_URL (default
# postgres://postgres@127.0.0.1:5432/inventory); without a reachable server the PostgreSQL
# run is skipped with a notice, except under CI=true, where it is required.
source "$(dirname "$0")/_bootstrap.sh"
source "$(dirname "$0")/_system_packages.sh"
export PYTHONWARNINGS="error::DeprecationWarning:__main__,error::RuntimeWarning"
unset DATABASE_URL
echo "== ruff"
ruff check .
ruff format --check .
echo "== lint-imports (layers: inventory_site > reports > purchasing | counting > stock > catalog > common)"
lint-imports --no-cache
echo "== mypy (services and selectors, with django-stubs and djangorestframework-stubs)"
mypy
echo "== manage.py check"
"$PY" -W error manage.py check --fail-level WARNING
echo "== makemigrations --check"
"$PY" -W error manage.py makemigrations --check --dry-run
PG_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/inventory}"
pg_up=0
if "$PY" - "$PG_URL" <<'PYCODE'
import sys, psycopg
try:
    psycopg.connect(sys.argv[1].rsplit("/", 1)[0] + "/postgres", connect_timeout=3).close()
except Exception as exc:
    print(f"PostgreSQL not reachable: {exc}", file=sys.stderr)
    sys.exit(1)
PYCODE
then pg_up=1; fi
# Two pytest-xdist workers (the machine's cores); TEST_WORKERS=0 runs in one process.
WORKERS="${TEST_WORKERS:-2}"
echo "== pytest on SQLite ($WORKERS workers)"
"$PY" -m pytest -q -p no:cacheprovider -n "$WORKERS" "$@"
if [ "$pg_up" = 1 ]; then
  echo "== pytest on PostgreSQL ($PG_URL)"
  DATABASE_URL="$PG_URL" "$PY" -m pytest -q -p no:cacheprovider -n "$WORKERS" "$@"
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL is required under CI." >&2
  exit 1
else
  echo "== PostgreSQL not reachable: the PostgreSQL run (locking, concurrency) was skipped."
fi
