#!/usr/bin/env bash
# Installs and starts what blobmark's demo or tests need on a fresh Debian
# machine, and nothing more:
#   scripts/setup.sh demo   Node.js + npm (Azurite and the annotator come from
#                           package-lock.json), curl, python3, Go modules
#   scripts/setup.sh test   the demo's, plus PostgreSQL's server programs and
#                           Chromium, and the tests' own PostgreSQL cluster
#                           (scripts/testdb.sh)
# Idempotent, so every `make` target can call it. Package installs need root
# (run `sudo make …` the first time, or as root); their output goes to
# .cache/setup.log, and only a line per step is shown.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-test}
mkdir -p .cache
log=.cache/setup.log
: >"$log"
: >"$log.go"

# Go modules download while the packages below install: on a fresh machine
# both are mostly waiting on the network. For the tests, the chart tools
# (deploy/tools: Helm's library, a minute to compile) are built meanwhile
# too, into go's cache, where the deploy tests find them.
{
  go mod download
  if [ "$what" = test ]; then
    for tool in chart yamltojson; do GOWORK=off go -C deploy/tools tool -n "$tool" >/dev/null; done
  fi
} >>"$log.go" 2>&1 &
go_download=$!

need_apt=()
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
command -v curl >/dev/null || need_apt+=(curl)
command -v python3 >/dev/null || need_apt+=(python3)
if [ "$what" = test ]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
  # PgBouncer, in front of it for the transaction-pooling test.
  command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || need_apt+=(pgbouncer)
  # Debian's browser for the end-to-end UI test (playwright-core drives it;
  # no browser is ever downloaded).
  command -v chromium >/dev/null || need_apt+=(chromium)
fi
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} (apt-get; log in $log)"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: installing packages needs root: run this once with sudo" >&2
    exit 1
  fi
  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_apt[@]}"; } >>"$log" 2>&1 ||
    { tail -n 30 "$log" >&2; exit 1; }
fi

# npm packages from the lockfile; reinstalled only when the lockfile changed.
stamp=node_modules/.lock-stamp
sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
  echo "setup: npm ci (log in $log)"
  npm ci --no-audit --no-fund --loglevel=error >>"$log" 2>&1 || { tail -n 30 "$log" >&2; exit 1; }
  echo "$sum" >"$stamp"
fi

# The annotator bundle the binary embeds, copied from node_modules.
./ui/build.sh

wait "$go_download" || { echo "setup: downloading Go modules or building the chart tools failed:" >&2; tail -n 30 "$log.go" >&2; exit 1; }

if [ "$what" = test ]; then
  ./scripts/testdb.sh
fi
