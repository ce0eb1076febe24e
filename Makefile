# kmsd — make run starts a dev server; make test runs every test.
GO          ?= go
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck
STATICCHECK_VERSION := v0.8.2
BIN         := bin/kmsd

.PHONY: run build test deps vet lint unit fips bench bench-all bench-scale bench-cluster fuzz clean

run: build
	./$(BIN) dev

build:
	$(GO) build -o $(BIN) ./cmd/kmsd

# deps installs what the tests need when it is missing: staticcheck, the AWS
# CLI, openssl, valgrind and the PostgreSQL server. The PostgreSQL store's
# tests start their own throwaway cluster with it, or use the server whose
# DSN is in KMSD_TEST_POSTGRES (restart tests still start their own).
deps:
	@scripts/ensure-tools.sh $(STATICCHECK_VERSION)

vet:
	$(GO) vet ./...

lint: deps
	$(STATICCHECK) ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

# TEST_PATH puts the AWS CLI that pyenv's shim would run, if pyenv installed
# it, ahead of the shim: the tests call the CLI several hundred times, and
# each call through the shim costs about 0.4 s of CPU on top of the CLI's
# own 0.7 s. Without pyenv it is PATH unchanged.
TEST_PATH = $(shell cli=$$(pyenv which aws 2>/dev/null) && printf '%s:' "$${cli%/aws}")$(PATH)

unit:
	PATH="$(TEST_PATH)" $(GO) test -race -count=1 -timeout 30m ./...
	CGO_ENABLED=0 $(GO) build ./... && CGO_ENABLED=0 $(GO) test -count=1 -timeout 5m ./internal/hsm/

# fips runs the suite again in FIPS 140-only mode, against the Go
# Cryptographic Module's certified snapshot: the specs outside it must be
# refused with clear errors, and nothing may panic. TestTerraform runs in
# the unit pass only: its 80 s are nearly all the AWS provider's own CPU,
# and every server path it drives (key specs, grants, replicas, Encrypt)
# runs in this pass through the SDK tests too.
fips:
	PATH="$(TEST_PATH)" GOFIPS140=v1.0.0 GODEBUG=fips140=only $(GO) test -count=1 -timeout 30m -skip '^TestTerraform$$' ./...

test: deps vet lint unit fips

# bench decides the performance targets: kmsd --enforce and a do-nothing
# server driven by the same AWS SDK loader in BENCH_ROUNDS interleaved
# rounds, ratios per round (median and spread), server CPU from /proc, the
# host's load beside every sample; the table prints each target and whether
# it holds, and bin/bench.json holds the same. Encrypt also runs on a kmsd
# with --audit-async in the same rounds, which says how much of kmsd's CPU
# is making each audit record durable before answering. Then it compares Encrypt on a
# standard key, an AWS_CLOUDHSM key (SoftHSM2) and an EXTERNAL_KEY_STORE key
# (a second kmsd as XKS proxy), each round measuring all three (ratios per
# round to the standard key), a few seconds a sample; BENCH_CKS=false skips it.
BENCH_ROUNDS   ?= 3
BENCH_DURATION ?= 5s
BENCH_CKS      ?= true
bench: build
	$(GO) run ./cmd/kmsbench -bin $(BIN) -decide -rounds $(BENCH_ROUNDS) -duration $(BENCH_DURATION) -cks=$(BENCH_CKS) -json bin/bench.json

# bench-all measures every operation, the audit and authorization costs
# and LookupEvents, one table per comparison.
bench-all: build
	$(GO) run ./cmd/kmsbench -bin $(BIN)

# bench-scale compares Encrypt, Decrypt and DescribeKey on random keys among
# BENCH_KEYS (made by kmsd dev --seed, a generate entry) with a one-key
# server, reports the Go heap and RSS, the seeding rate, and CreateKey's
# rate at concurrency 64 on a server of its own; a million keys take minutes.
# Its samples vary more than make bench's (the first round also grows the
# heap and fills the cache), so it takes five rounds for a steadier median.
BENCH_KEYS         ?= 1000000
BENCH_SCALE_ROUNDS ?= 5
bench-scale: build
	$(GO) run ./cmd/kmsbench -bin $(BIN) -scale $(BENCH_KEYS) -rounds $(BENCH_SCALE_ROUNDS) -duration $(BENCH_DURATION) -json bin/bench-scale.json

# bench-cluster compares kmsd serve on its bbolt file with one and two
# nodes on one PostgreSQL (a throwaway server, or KMSD_BENCH_POSTGRES).
bench-cluster: build
	$(GO) run ./cmd/kmsbench -bin $(BIN) -cluster "$${KMSD_BENCH_POSTGRES:-auto}"

# fuzz runs every fuzz target of the module for FUZZTIME each; CI runs only
# their seed corpora (in make test). go test -fuzz takes one target per run,
# so the targets are listed package by package (with -list, under -timeout
# too). FUZZTIMEOUT bounds each run and must exceed FUZZTIME.
FUZZTIME    ?= 30s
FUZZTIMEOUT ?= 15m
fuzz:
	@set -e; \
	for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  grep -qs '^func Fuzz' $$dir/*_test.go || continue; \
	  listed=$$($(GO) test -list '^Fuzz' -run '^$$' -timeout 5m $$pkg); \
	  for target in $$(echo "$$listed" | grep '^Fuzz'); do \
	    echo "== $$pkg $$target for $(FUZZTIME)"; \
	    $(GO) test $$pkg -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -timeout $(FUZZTIMEOUT); \
	  done; \
	done

clean:
	rm -rf bin
