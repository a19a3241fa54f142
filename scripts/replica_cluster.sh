#!/usr/bin/env bash
# A throw-away PostgreSQL 15 primary and its streaming replica on loopback, for the replica
# router's test (tests/site/test_site_replica.py) and for trying REPLICA_DATABASE_URL by hand.
#
#   bash scripts/replica_cluster.sh up     # creates both, prints DATABASE_URL and REPLICA_DATABASE_URL
#   bash scripts/replica_cluster.sh down   # stops and drops both (also after a half-finished "up")
#
# Needs root (or the postgres user) and Debian's postgresql-common (pg_createcluster,
# pg_ctlcluster, pg_dropcluster) with PostgreSQL 15. Ports: REPLICA_TEST_PORT (primary, default
# 5442) and the next one (replica). Only 127.0.0.1, trust authentication: never on a shared host
# that others can reach (they listen on localhost only, the default). Leaves every other cluster alone (only the two named below are touched).
set -euo pipefail

VERSION=15
PRIMARY=replica_test_primary
STANDBY=replica_test_standby
PORT=${REPLICA_TEST_PORT:-5442}
STANDBY_PORT=$((PORT + 1))
DATABASE=${REPLICA_TEST_DATABASE:-inventory}

as_postgres() {
    if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

down() {
    for name in "$STANDBY" "$PRIMARY"; do
        if pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$VERSION $name"; then
            pg_dropcluster --stop "$VERSION" "$name"
        fi
    done
}

up() {
    down
    local options=(-p "$PORT" "$VERSION" "$PRIMARY" -- --auth-local=trust --auth-host=trust)
    pg_createcluster -o shared_buffers=32MB -o fsync=off "${options[@]}" >/dev/null
    pg_ctlcluster "$VERSION" "$PRIMARY" start
    as_postgres psql -q -h 127.0.0.1 -p "$PORT" -d postgres -c "CREATE DATABASE \"$DATABASE\""
    # The replica: a cluster whose data directory is a base backup of the primary, with
    # standby.signal and primary_conninfo written by -R; it streams the WAL from then on.
    pg_createcluster -o shared_buffers=32MB -p "$STANDBY_PORT" \
        "$VERSION" "$STANDBY" -- --auth-local=trust --auth-host=trust >/dev/null
    local data=/var/lib/postgresql/$VERSION/$STANDBY
    rm -rf "${data:?}"/*
    as_postgres pg_basebackup -h 127.0.0.1 -p "$PORT" -U postgres -D "$data" -R -X stream -c fast
    pg_ctlcluster "$VERSION" "$STANDBY" start
    for _ in $(seq 1 50); do
        if [ "$(as_postgres psql -h 127.0.0.1 -p "$STANDBY_PORT" -d postgres -Atc 'SELECT pg_is_in_recovery()' 2>/dev/null)" = t ]; then
            echo "DATABASE_URL=postgres://postgres@127.0.0.1:$PORT/$DATABASE"
            echo "REPLICA_DATABASE_URL=postgres://postgres@127.0.0.1:$STANDBY_PORT/$DATABASE"
            return 0
        fi
        sleep 0.2
    done
    echo "the replica on port $STANDBY_PORT did not start streaming" >&2
    return 1
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
