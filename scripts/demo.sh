#!/usr/bin/env bash
# Install everything, migrate, load the demo data and start the product: web server, Celery
# worker and Celery beat, on embedded defaults (SQLite file and filesystem broker in var/).
# Ctrl-C stops all three. PORT (default 8000) chooses the web port.
source "$(dirname "$0")/_bootstrap.sh"
PORT="${PORT:-8000}"
mkdir -p var/log
"$PY" manage.py migrate --noinput
"$PY" manage.py seed_demo
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
"$PY" -m celery -A inventory_site worker --loglevel=INFO --concurrency=2 >var/log/worker.log 2>&1 &
pids+=($!)
"$PY" -m celery -A inventory_site beat --loglevel=INFO >var/log/beat.log 2>&1 &
pids+=($!)
cat <<MSG

  Perpetual inventory is starting at  http://127.0.0.1:${PORT}/admin/   (managers, purchasers, auditors)
  Clerk pages (scanners, phones):     http://127.0.0.1:${PORT}/floor/
  Celery worker and beat logs:        var/log/worker.log, var/log/beat.log

MSG
PORT="$PORT" "$PY" manage.py shell -v0 -c '
import os
from catalog.demo import DEMO_PASSWORDS, USERS
base = "http://127.0.0.1:" + os.environ["PORT"]
print("  Demo logins (user / password / role / where to sign in):")
for spec in USERS:
    where = "/admin/" if spec.is_staff else "/floor/"
    print(f"    {spec.username:<10} {DEMO_PASSWORDS[spec.username]:<22} {spec.role:<20} {base}{where}")
print()'

"$PY" manage.py runserver "127.0.0.1:${PORT}" --noreload &
pids+=($!)
wait "${pids[-1]}"
