# kmsd — make run starts a dev server; make test runs every test.
GO          ?= go
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck
STATICCHECK_VERSION := v0.8.2
BIN         := bin/kmsd

.PHONY: run build test deps vet lint unit fips bench fuzz clean

run: build
	./$(BIN) dev

build:
	$(GO) build -o $(BIN) ./cmd/kmsd

# deps installs what the tests need when it is missing: staticcheck, the AWS
# CLI and openssl.
deps:
	@scripts/ensure-tools.sh $(STATICCHECK_VERSION)

vet:
	$(GO) vet ./...

lint: deps
	$(STATICCHECK) ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

unit:
	$(GO) test -race -count=1 ./...

# fips runs the whole suite again in FIPS 140-only mode, against the Go
# Cryptographic Module's certified snapshot: the specs outside it must be
# refused with clear errors, and nothing may panic.
fips:
	GOFIPS140=v1.0.0 GODEBUG=fips140=only $(GO) test -count=1 ./...

test: deps vet lint unit fips

# bench starts a real kmsd and drives it through the AWS SDK.
bench: build
	$(GO) run ./cmd/kmsbench -bin $(BIN)

# fuzz runs each fuzz target for a while; CI runs only their seed corpora (in make test).
fuzz:
	$(GO) test ./internal/keys -run '^$$' -fuzz FuzzDecryptBlob -fuzztime 60s
	$(GO) test ./internal/keys -run '^$$' -fuzz FuzzParseBlobHeader -fuzztime 60s
	$(GO) test ./internal/api/sigv4 -run '^$$' -fuzz . -fuzztime 60s

clean:
	rm -rf bin
