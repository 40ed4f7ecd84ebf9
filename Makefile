# The README's two commands: `make demo` and `make test`. Both install what a
# fresh machine lacks first (scripts/setup.sh), so they work from a clean clone.
GO ?= go

.PHONY: setup test demo build bench vet

setup:
	./scripts/setup.sh

build:
	CGO_ENABLED=0 $(GO) build -o bin/blobmark ./cmd/blobmark

vet:
	$(GO) vet ./...

test: setup vet
	$(GO) test -count=1 -timeout 20m ./...

demo: setup build
	./scripts/demo.sh

# Every benchmark program under bench/ (or one: make bench BENCH=api).
BENCH ?= $(notdir $(patsubst %/,%,$(dir $(wildcard bench/*/main.go))))
bench: setup
	@for b in $(BENCH); do echo "== bench/$$b"; $(GO) run ./bench/$$b || exit 1; done
