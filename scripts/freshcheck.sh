#!/usr/bin/env bash
# Checks the README's two commands the way a newcomer meets them: a clean
# clone of the committed HEAD, run by a new unprivileged user with an empty
# home — so no Go build or module cache, no npm cache, no node_modules, no
# built binary, no annotator bundle — and a minimal environment (only PATH,
# HOME and LANG). It runs `make demo` in a pseudo-terminal, waits for the
# demo to hand over, presses Ctrl-C and expects a quiet exit 0; then runs
# `make test`. The log ends with what each took and the test summary.
#
#   sudo scripts/freshcheck.sh            both commands
#   sudo scripts/freshcheck.sh demo       the demo only
#   sudo scripts/freshcheck.sh test       the tests only
#
# Needs root to create (and afterwards remove) the user. System packages are
# the machine's: what setup.sh would install with apt must already be there,
# since the new user cannot install any (setup.sh then says to use sudo).
# BLOBMARK_DEMO_ADDR / BLOBMARK_DEMO_BLOB_PORT are passed on, for machines
# where the default ports are taken.
set -euo pipefail
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
what=${1:-all}
[ "$(id -u)" -eq 0 ] || { echo "freshcheck: run as root (it creates a throw-away user)" >&2; exit 1; }

user=blobmark-fresh-$$
tmp=$(mktemp -d -t blobmark-fresh.XXXXXX)
home=$tmp/home
log=$repo/.cache/freshcheck.log
mkdir -p "$repo/.cache"
: >"$log"
cleanup() {
  # The new user's test cluster (scripts/testdb.sh) goes with the user.
  local pgdir=/tmp/blobmark-test-postgres-$user
  if [ -f "$pgdir/PG_VERSION" ]; then
    runuser -u "$user" -- "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)/pg_ctl" -D "$pgdir" -m fast stop >/dev/null 2>&1 || true
  fi
  pkill -u "$user" 2>/dev/null || true
  rm -rf "$pgdir" "$pgdir.init.log"
  userdel "$user" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
say() { echo "freshcheck: $*" | tee -a "$log"; }

useradd --home-dir "$home" --create-home --shell /bin/bash "$user"
chmod 755 "$tmp"
# Cloned by root (git refuses another user's repository) and handed over.
git clone --quiet --no-local "$repo" "$home/blobmark"
chown -R "$user:" "$home/blobmark"
say "clone of $(git -C "$repo" rev-parse --short HEAD) as $user, empty HOME $home"

# as runs a command as the new user in a clean environment.
as() {
  runuser -u "$user" -- env -i HOME="$home" LANG=C.UTF-8 PATH=/usr/local/go/bin:/usr/local/bin:/usr/bin:/bin \
    ${BLOBMARK_DEMO_ADDR:+BLOBMARK_DEMO_ADDR=$BLOBMARK_DEMO_ADDR} \
    ${BLOBMARK_DEMO_BLOB_PORT:+BLOBMARK_DEMO_BLOB_PORT=$BLOBMARK_DEMO_BLOB_PORT} "$@"
}

if [ "$what" != test ]; then
start=$SECONDS
say "make demo (in a pseudo-terminal; Ctrl-C once it is serving)"
as python3 - "$home/blobmark" >>"$log" 2>&1 <<'PY' || { say "make demo FAILED (log: $log)"; exit 1; }
import os, pty, select, signal, sys, time
pid, fd = pty.fork()
if pid == 0:
    # As at a terminal: an interrupt ignored by whatever started this check
    # (a background job ignores SIGINT) would be ignored by the demo too.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.chdir(sys.argv[1])
    os.execvp("make", ["make", "demo"])
out, deadline, ready = b"", time.time() + 1200, False
while time.time() < deadline:
    if select.select([fd], [], [], 1)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        sys.stdout.write(chunk.decode(errors="replace")); sys.stdout.flush()
    if not ready and b"Press Ctrl-C" in out:
        ready = True
        time.sleep(1)
        os.write(fd, b"\x03")
if not ready:
    os.kill(pid, 9)
status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
tail = out.split(b"Press Ctrl-C", 1)[-1].decode(errors="replace")
noisy = [l for l in tail.splitlines() if l.strip() and l.strip() not in ("^C", "demo: stopped", "to stop blobmark and Azurite.")]
print(f"\nmake demo: served={ready} exit={status} lines after Ctrl-C besides 'demo: stopped': {noisy}")
sys.exit(0 if ready and status == 0 and not noisy else 1)
PY
say "make demo passed in $((SECONDS - start))s"
[ "$what" = demo ] && exit 0
fi

start=$SECONDS
# A fresh machine has no test cluster running: stop whichever cluster
# answers on the tests' port (this machine's own, from whatever directory it
# runs; it is not the new user's to edit), so the new user's `make test`
# starts its own, as it would there.
if pgdata=$(psql -h 127.0.0.1 -p 55432 -U postgres -d postgres -qtAc "SHOW data_directory" 2>/dev/null) && [ -n "$pgdata" ]; then
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  runuser -u "$(stat -c %U "$pgdata")" -- "$pgbin/pg_ctl" -D "$pgdata" -m fast stop >/dev/null
  say "stopped the test cluster of $pgdata"
fi
say "make test"
if as bash -c 'cd ~/blobmark && make test' >>"$log" 2>&1; then
  say "make test passed in $((SECONDS - start))s"
else
  say "make test FAILED after $((SECONDS - start))s"
  sed -n '/^== test summary/,$p' "$log"
  exit 1
fi
sed -n '/^== test summary/,$p' "$log"
