#!/usr/bin/env bash
# Filters `go test -v ./...` for people: drops the RUN/PAUSE/CONT chatter,
# keeps results and failures, and ends with a summary — every package with
# its passed, failed and skipped tests (subtests included) and time, the
# totals, and the slowest tests. Used by `make test`:
#   go test -v ./... 2>&1 | scripts/testlog.sh
exec awk '
/^=== (RUN|PAUSE|CONT|NAME)/ { next }
{ print; fflush() }
/^ *--- (PASS|FAIL|SKIP): / {
  kind = $2; sub(":", "", kind); count[kind]++
  if ($0 ~ /^---/) { d = $4; gsub(/[()s]/, "", d); pending[++np] = sprintf("%8.2fs  %s", d, $3) }
  next
}
/^(ok|FAIL|\?) *\t/ {
  split($0, f, "\t"); pkg = f[2]; sub(/^github.com\/blobmark\/blobmark\/?/, "", pkg); if (pkg == "") pkg = "."
  status = f[1]; gsub(/ /, "", status)
  if (status == "?") { notests++; np = 0; next }
  pkgs++; if (status == "FAIL") failed++
  rows[pkgs] = sprintf("%-5s %-28s %5d %5d %5d  %s", status, pkg, count["PASS"], count["FAIL"], count["SKIP"], f[3])
  tp += count["PASS"]; tf += count["FAIL"]; ts += count["SKIP"]; delete count
  for (i = 1; i <= np; i++) slow[++ns] = pending[i] " (" pkg ")"
  np = 0
}
END {
  printf "\n== test summary: %d packages tested, %d failed, %d without tests; %d tests passed, %d failed, %d skipped\n", pkgs, failed, notests, tp, tf, ts
  printf "%-5s %-28s %5s %5s %5s  %s\n", "", "package", "pass", "fail", "skip", "time"
  for (i = 1; i <= pkgs; i++) print rows[i]
  print "slowest tests:"
  cmd = "sort -rn | head -n 5"
  for (i = 1; i <= ns; i++) print slow[i] | cmd
  close(cmd)
}'
