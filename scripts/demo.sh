#!/usr/bin/env bash
# The README's main job. On embedded SQLite and a local Azure Blob emulator
# (Azurite, installed from the lockfile), it shows blobmark's whole loop:
#   1. seed a container with sample images (drawn by scripts/seed),
#   2. connect it to a project as a source storage and sync: one task per image,
#   3. add a target storage and annotate a task through the API,
#   4. show the annotation's JSON that landed in the target container,
# then keeps serving so you can label the rest in the browser. Ctrl-C stops
# everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."

addr=${BLOBMARK_DEMO_ADDR:-127.0.0.1:8080}
blob_port=${BLOBMARK_DEMO_BLOB_PORT:-10000}
endpoint="http://127.0.0.1:$blob_port/devstoreaccount1"
data=$(mktemp -d -t blobmark-demo.XXXXXX)
email=demo@example.com
password=demo-password

pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT INT TERM
step() { printf '\n==> %s\n' "$*"; }

step "Starting Azurite (Azure Blob emulator) on 127.0.0.1:$blob_port"
node_modules/.bin/azurite-blob --blobHost 127.0.0.1 --blobPort "$blob_port" --inMemoryPersistence \
  --skipApiVersionCheck --disableTelemetry --silent &
pids+=($!)
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$blob_port/" && break; sleep 0.1; done

step "Seeding container demo-images with sample pictures"
go run ./scripts/seed -endpoint "$endpoint" -container demo-images,demo-labels

step "Starting blobmark on embedded SQLite at http://$addr"
token=$(./bin/blobmark user create --data-dir "$data" --email "$email" --password "$password" | tail -n1)
./bin/blobmark serve --addr "$addr" --data-dir "$data" --log-level warn --allow-private-network &
pids+=($!)
for _ in $(seq 1 100); do curl -fsS "http://$addr/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

api() {
  local method=$1 path=$2; shift 2
  curl -fsS -X "$method" -H "Authorization: Token $token" -H 'Content-Type: application/json' "http://$addr$path" "$@"
}
field() { python3 -c 'import json,sys; v=json.load(sys.stdin); print(eval("v"+sys.argv[1]))' "$1"; }

step "Creating a bounding-box project"
project=$(api POST /api/projects/ -d '{"title":"Shapes","label_config":"<View><Image name=\"image\" value=\"$image\"/><RectangleLabels name=\"label\" toName=\"image\"><Label value=\"Circle\"/><Label value=\"Square\"/></RectangleLabels></View>"}' | field '["id"]')
echo "project $project"

conn='"auth_type":"account_key","account_name":"devstoreaccount1","account_key":"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==","endpoint":"'"$endpoint"'"'

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
  out=$(go run ./scripts/seed -endpoint "$endpoint" -show demo-labels)
  [ "$out" != "(empty)" ] && break
  sleep 0.3
done
echo "$out"

cat <<MSG

blobmark demo is running — import → annotate → export, end to end.
  Open:      http://$addr/
  Sign in:   $email / $password
  API token: $token
  Project $project has $tasks image tasks from demo-images; labels go to demo-labels/annotations/.

Press Ctrl-C to stop blobmark and Azurite.
MSG
wait
