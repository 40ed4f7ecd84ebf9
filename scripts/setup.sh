#!/usr/bin/env bash
# Installs and starts what blobmark's demo and tests need on a fresh Debian
# machine: Go modules, the npm packages pinned in package-lock.json (Azurite,
# the annotator, the browser driver) and a running PostgreSQL. Idempotent, so
# every `make` target can call it.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v node >/dev/null || need_apt+=(nodejs npm)
command -v psql >/dev/null || need_apt+=(postgresql)
# Debian's browser for the end-to-end UI test (playwright-core drives it;
# no browser is ever downloaded).
command -v chromium >/dev/null || need_apt+=(chromium)
if [ "${#need_apt[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

# npm packages from the lockfile; reinstalled only when the lockfile changed.
if [ -f package-lock.json ]; then
  stamp=node_modules/.lock-stamp
  sum=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
    npm ci --no-audit --no-fund --loglevel=error
    echo "$sum" >"$stamp"
  fi
fi

# The annotator bundle the binary embeds, copied from node_modules.
./ui/build.sh

go mod download

# PostgreSQL for the store's conformance suite (skipped when a URL is given).
if [ -z "${BLOBMARK_TEST_POSTGRES_URL:-}" ] && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
