# The README's two commands: `make demo` and `make test`. Both install what a
# fresh machine lacks first (scripts/setup.sh: the demo only what it needs),
# so they work from a clean clone.
GO ?= go
SHELL := /bin/bash

.PHONY: setup test demo build bench vet

setup:
	./scripts/setup.sh test

build:
	CGO_ENABLED=0 $(GO) build -o bin/blobmark ./cmd/blobmark

vet:
	$(GO) vet ./...

# -v so the log names every test that ran (both database backends included);
# scripts/testlog.sh drops the RUN/PAUSE/CONT chatter, keeps results and
# failures, and ends with a summary per package and the slowest tests.
test: setup vet
	set -o pipefail; $(GO) test -count=1 -timeout 20m -v ./... 2>&1 | scripts/testlog.sh

demo:
	./scripts/setup.sh demo
	$(MAKE) --no-print-directory build
	./scripts/demo.sh

# Every benchmark program under bench/ (or one: make bench BENCH=api).
BENCH ?= $(notdir $(patsubst %/,%,$(dir $(wildcard bench/*/main.go))))
bench: setup
	@for b in $(BENCH); do echo "== bench/$$b"; $(GO) run ./bench/$$b || exit 1; done
