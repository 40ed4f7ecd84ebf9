#!/usr/bin/env bash
# The README's main job. On embedded SQLite and a local Azure Blob emulator
# (Azurite, installed from the lockfile), it shows blobmark's whole loop:
#   1. seed a container with sample images (drawn by scripts/seed),
#   2. connect it to a project as a source storage and sync: one task per image,
#   3. add a target storage and annotate a task through the API,
#   4. show the annotation's JSON that landed in the target container,
# then prints everything needed to continue by hand and keeps serving. Ctrl-C
# stops everything this script started and exits 0.
#
# Ports: BLOBMARK_DEMO_ADDR (blobmark, default 127.0.0.1:8080) and
# BLOBMARK_DEMO_BLOB_PORT (Azurite, default 10000).
set -euo pipefail
cd "$(dirname "$0")/.."

# Ctrl-C in a terminal signals the whole foreground process group: under
# `make demo` that includes make, which then reports "Error 130" whatever the
# script does. So on a terminal the script runs itself again as a job of its
# own (job control gives that job the terminal): the interrupt reaches only
# it, and make sees the clean exit status it returns.
if [ -t 0 ] && [ -z "${BLOBMARK_DEMO_FOREGROUND:-}" ]; then
  set -m
  BLOBMARK_DEMO_FOREGROUND=1 "$0" "$@" && exit 0 || exit $?
fi

addr=${BLOBMARK_DEMO_ADDR:-127.0.0.1:8080}
blob_port=${BLOBMARK_DEMO_BLOB_PORT:-10000}
endpoint="http://127.0.0.1:$blob_port/devstoreaccount1"
account=devstoreaccount1
# Azurite's well-known, public development key: it opens nothing but the emulator.
account_key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
email=demo@example.com
password=demo-password

# Both ports are checked before anything starts, so a conflict costs one line
# instead of a half-started demo.
port_free() {
  python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Go's and Node's listeners do
try:
    s.bind((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
PY
}
port_free "${addr%:*}" "${addr##*:}" ||
  { echo "demo: $addr is in use; pick another address with BLOBMARK_DEMO_ADDR=127.0.0.1:8081" >&2; exit 1; }
port_free 127.0.0.1 "$blob_port" ||
  { echo "demo: port $blob_port (Azurite) is in use; pick another with BLOBMARK_DEMO_BLOB_PORT=10010" >&2; exit 1; }

data=$(mktemp -d -t blobmark-demo.XXXXXX)
pids=()
stop() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$data"
}
trap stop EXIT
trap 'echo; echo "demo: stopped"; stop; exit 0' INT TERM
# start runs a background process in a session of its own, so a terminal's
# Ctrl-C reaches only this script, which then stops each process exactly once.
start() { setsid "$@" & pids+=($!); }
step() { printf '\n==> %s\n' "$*"; }
fail() { echo "demo: $*" >&2; exit 1; }

step "Starting Azurite (Azure Blob emulator) on 127.0.0.1:$blob_port"
start node_modules/.bin/azurite-blob --blobHost 127.0.0.1 --blobPort "$blob_port" --inMemoryPersistence \
  --skipApiVersionCheck --disableTelemetry --silent >/dev/null
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$blob_port/" && break; sleep 0.1; done

step "Seeding container demo-images with sample pictures"
go build -o "$data/seed" ./scripts/seed
"$data/seed" -endpoint "$endpoint" -container demo-images,demo-labels

step "Starting blobmark on embedded SQLite at http://$addr"
token=$(./bin/blobmark user create --data-dir "$data" --log-level warn --email "$email" --password "$password" | tail -n1)
start ./bin/blobmark serve --addr "$addr" --data-dir "$data" --log-level warn --allow-private-network
up=""
for _ in $(seq 1 100); do curl -fsS "http://$addr/healthz" >/dev/null 2>&1 && { up=1; break; }; sleep 0.1; done
[ -n "$up" ] || fail "blobmark did not come up on $addr (see its error above)"

api() {
  local method=$1 path=$2; shift 2
  curl -fsS -X "$method" -H "Authorization: Token $token" -H 'Content-Type: application/json' "http://$addr$path" "$@" ||
    fail "$method $path failed"
}
field() { python3 -c 'import json,sys; v=json.load(sys.stdin); print(eval("v"+sys.argv[1]))' "$1"; }

step "Creating a bounding-box project"
project=$(api POST /api/projects/ -d '{"title":"Shapes","label_config":"<View><Image name=\"image\" value=\"$image\"/><RectangleLabels name=\"label\" toName=\"image\"><Label value=\"Circle\"/><Label value=\"Square\"/></RectangleLabels></View>"}' | field '["id"]')
echo "project $project"

conn='"auth_type":"account_key","account_name":"'"$account"'","account_key":"'"$account_key"'","endpoint":"'"$endpoint"'"'

step "Connecting container demo-images as a source storage and syncing"
source=$(api POST /api/storages/azure/ -d '{"project":'"$project"',"title":"Demo images",'"$conn"',"container":"demo-images","prefix":"images/","use_blob_urls":true,"presign":true,"presign_ttl":15}' | field '["id"]')
api POST "/api/storages/azure/$source/sync" >/dev/null
status=""
for _ in $(seq 1 300); do
  status=$(api GET "/api/storages/azure/$source" | field '["status"]')
  case $status in completed|completed_with_errors|failed) break ;; esac
  sleep 0.2
done
tasks=$(api GET "/api/tasks/?project=$project&page=1" | field '["total"]')
echo "sync $status: $tasks tasks"

step "Adding container demo-labels as a target storage"
target=$(api POST /api/storages/export/azure -d '{"project":'"$project"',"title":"Demo labels",'"$conn"',"container":"demo-labels","prefix":"annotations","can_delete_objects":true}' | field '["id"]')
echo "target storage $target"

step "Annotating the first task through the API"
task=$(api GET "/api/tasks/?project=$project&page=1&page_size=1" | field '["tasks"][0]["id"]')
annotation=$(api POST "/api/tasks/$task/annotations/" -d '{"result":[{"from_name":"label","to_name":"image","type":"rectanglelabels","original_width":320,"original_height":240,"value":{"x":9.4,"y":29.2,"width":31.3,"height":41.7,"rotation":0,"rectanglelabels":["Circle"]}}]}' | field '["id"]')
echo "annotation $annotation on task $task"

step "What landed in demo-labels (exported by the job queue)"
for _ in $(seq 1 100); do
  out=$("$data/seed" -endpoint "$endpoint" -show demo-labels)
  [ "$out" != "(empty)" ] && break
  sleep 0.3
done
echo "$out"

cat <<MSG

blobmark demo is running — import → annotate → export, end to end.
  Open:      http://$addr/
  Sign in:   $email / $password
  API token: $token
  Project $project ("Shapes") has $tasks image tasks from demo-images; labels go to demo-labels/annotations/.

To add a storage by hand (project → Settings → Storage), Azurite's connection:
  Auth type:     Account key
  Endpoint:      $endpoint
  Account name:  $account
  Account key:   $account_key
  Containers:    demo-images (pictures under images/), demo-labels (annotations/)

or through the API, a second source storage on the same pictures:
  curl -X POST -H 'Authorization: Token $token' -H 'Content-Type: application/json' \\
    http://$addr/api/storages/azure/ \\
    -d '{"project":$project,"title":"More images",$conn,"container":"demo-images","prefix":"images/","use_blob_urls":true}'

Press Ctrl-C to stop blobmark and Azurite.
MSG
wait
