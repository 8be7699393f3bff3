# billswitch — see README.md. Every target works on a fresh checkout with Go 1.26.
GO        ?= go
BIN       ?= bin/billswitch
DATA      ?= ./data
PKGS      ?= ./...
BENCHTIME ?= 1s

.PHONY: all build test test-short bench bench-e2e soak fuzz run demo lint vet fmt clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/billswitch

## test: the full unit/integration suite with the race detector (what CI runs).
test:
	$(GO) vet $(PKGS)
	$(GO) test -race -short -count=1 -timeout 12m $(PKGS)

## bench: micro and component benchmarks (codec, ledger, billpay).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

## bench-e2e: host and load generator in separate processes vs a stock echo server.
bench-e2e:
	GO=$(GO) ./scripts/bench-e2e.sh

## soak: the long crash/soak runs of the ledger (not part of `make test`).
soak:
	$(GO) test -race -count=1 -timeout 60m -run 'Crash|Soak' ./ledger/ -soak

## fuzz: run every fuzz target for FUZZTIME each.
FUZZTIME ?= 60s
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

## run: the host with its embedded demo (fresh Pebble data dir under $(DATA)).
run: build
	$(BIN) serve --demo --data $(DATA)

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
