#!/usr/bin/env bash
# The README's main job: starts blobmark on embedded SQLite in a throw-away
# data directory, creates a demo user and project through the CLI and the
# Label-Studio-compatible API, and keeps serving until Ctrl-C, which stops
# everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."

addr=${BLOBMARK_DEMO_ADDR:-127.0.0.1:8080}
data=$(mktemp -d -t blobmark-demo.XXXXXX)
email=demo@example.com
password=demo-password

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT INT TERM

token=$(./bin/blobmark user create --data-dir "$data" --email "$email" --password "$password" | tail -n1)

./bin/blobmark serve --addr "$addr" --data-dir "$data" &
pids+=($!)
for _ in $(seq 1 50); do curl -fsS "http://$addr/healthz" >/dev/null 2>&1 && break; sleep 0.2; done

api() { curl -fsS -H "Authorization: Token $token" -H 'Content-Type: application/json' "$@"; }
project=$(api -X POST "http://$addr/api/projects/" -d '{"title":"Demo","label_config":"<View><Image name=\"image\" value=\"$image\"/><RectangleLabels name=\"label\" toName=\"image\"><Label value=\"Cat\"/><Label value=\"Dog\"/></RectangleLabels></View>"}')
project_id=$(printf '%s' "$project" | sed -E 's/.*"id":([0-9]+).*/\1/')
api -X POST "http://$addr/api/projects/$project_id/import" -d '[{"image":"https://example.invalid/cat.png"},{"image":"https://example.invalid/dog.png"}]' >/dev/null
tasks=$(api "http://$addr/api/tasks/?project=$project_id&page=1")

cat <<MSG

blobmark demo is running.
  URL:       http://$addr/
  user:      $email / $password
  API token: $token
  project:   $project_id (2 tasks)

Try: curl -H "Authorization: Token $token" "http://$addr/api/tasks/?project=$project_id&page=1"
First task page: ${tasks:0:200}…

Press Ctrl-C to stop.
MSG
wait
