# envctl build, test and benchmark entry points. Everything the targets need
# comes from the Go module proxy; nothing is installed by hand.

GO        ?= go
BIN       := bin/envctl
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/envctl/envctl/internal/cli.version=$(VERSION)
PKGS      := ./...
# Test timeout per package binary; the embedded control plane starts once per package.
TEST_TIMEOUT ?= 30m
BENCH_COUNT  ?= 5
ENV       ?=
# Every target compiles with the same flags, so the build cache one fills
# (about 12 minutes cold for the Kubernetes control plane) serves the others.
export GOFLAGS += -trimpath

.PHONY: all build up test test-short bench lint fmt vet tidy clean check-go

all: build

check-go:
	@command -v $(GO) >/dev/null 2>&1 || { echo "Go 1.26 or newer is required (https://go.dev/dl/); 'go' was not found on PATH" >&2; exit 1; }

## build: a stripped envctl binary in bin/
build: check-go
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/envctl

## up: build, then bring up the default environment (ENV=name for another)
up: build
	./$(BIN) up $(ENV)

## test: unit and integration tests (integration tests use the embedded cluster)
test: check-go
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

## test-short: unit tests only
test-short: check-go
	$(GO) test -count=1 -short $(PKGS)

## bench: benchmarks, BENCH_COUNT runs each; compare medians with benchstat
bench: check-go
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) -timeout 60m $(PKGS) | tee bench.txt
	$(GO) run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da bench.txt

## lint: gofmt and go vet
lint: fmt vet

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet: check-go
	$(GO) vet $(PKGS)

clean:
	rm -rf bin bench.txt
