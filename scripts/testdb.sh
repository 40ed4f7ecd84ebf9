#!/usr/bin/env bash
# Starts the PostgreSQL server the tests use: a throw-away cluster of the
# project's own, so the tests rely on nothing a machine's own PostgreSQL may
# or may not be configured with (a trust rule, a "test" database). It
# listens on 127.0.0.1:55432 only, lets local connections in without a
# password (it holds nothing but test data), and has a database "test" —
# exactly the tests' default URL:
#
#   postgres://postgres@127.0.0.1:55432/test?sslmode=disable
#
# Idempotent: a running cluster is left alone. BLOBMARK_TEST_POSTGRES_URL
# set means the tests use that server instead and this script does nothing.
#   scripts/testdb.sh         start (initialising on first use)
#   scripts/testdb.sh stop    stop it; its files stay for the next start
set -euo pipefail

port=55432
# One directory per account: a cluster initialised by another user (root's
# belongs to postgres) is not this user's to start.
dir=${BLOBMARK_TEST_POSTGRES_DIR:-${TMPDIR:-/tmp}/blobmark-test-postgres-$(id -un)}
[ -n "${BLOBMARK_TEST_POSTGRES_URL:-}" ] && exit 0

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
if [ -z "$bin" ]; then
  bin=$(dirname "$(command -v initdb || true)")
fi
[ -x "$bin/initdb" ] || { echo "testdb: PostgreSQL's server programs (initdb) are not installed; run scripts/setup.sh" >&2; exit 1; }

# PostgreSQL refuses to run as root: then the cluster belongs to the
# postgres account the Debian package creates.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-start}" = stop ]; then
  [ -f "$dir/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$dir" -m fast stop >/dev/null 2>&1 || true
  exit 0
fi

if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
  exit 0
fi
if [ ! -f "$dir/PG_VERSION" ]; then
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
  as_owner "$bin/initdb" -D "$dir" -U postgres --auth=trust --no-instructions -E UTF8 >"$dir.init.log" 2>&1 ||
    { cat "$dir.init.log" >&2; exit 1; }
fi
as_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$dir' -c fsync=off -c max_connections=200" \
  start >/dev/null || { tail -n 20 "$dir/server.log" >&2; exit 1; }
as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qtAc \
  "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 ||
  as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres test
echo "testdb: PostgreSQL for the tests at postgres://postgres@127.0.0.1:$port/test ($dir)"
