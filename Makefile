# envctl build, test and benchmark entry points. Everything the targets need
# comes from the Go module proxy; nothing is installed by hand.

GO        ?= go
BIN       := bin/envctl
# The daemon's image holds this one: static, stripped, without the embedded
# control plane (the daemon never creates a cluster).
IMAGE_BIN := bin/envctl-image
VETTOOL   := bin/envctl-vet
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/envctl/envctl/internal/cli.version=$(VERSION)
PKGS      := ./...
# Test timeout per package binary; the embedded control plane starts once per package.
TEST_TIMEOUT ?= 30m
BENCH_COUNT  ?= 5
ENV       ?=
# Build tags of every target. kustomize_disable_go_plugin_support leaves out
# kustomize's loader of Go plugins, which envctl never enables (krusty's
# default options disable plugins): linking package plugin into a cgo binary
# makes the linker export every symbol and keep every method, 47 MB of the
# 198 MB stripped binary.
TAGS      := kustomize_disable_go_plugin_support
# Every target compiles with the same flags, so the build cache one fills
# (about 15 minutes cold on 2 cores, most of it the Kubernetes control plane)
# serves the others.
# To run go by hand on the same cache, export what `make goflags` prints.
export GOFLAGS += -trimpath -tags=$(TAGS)
# What compile-note checks, and the figure it gives (measured on a fresh
# 2-core machine with empty caches).
CONTROL_PLANE_PKG := k8s.io/kubernetes/cmd/kube-apiserver/app
FIRST_BUILD       := 15 minutes
FIRST_BUILD_FETCH := 17 minutes

.PHONY: all build image-binary up test test-short bench lint fmt vet tidy clean check-go compile-note goflags

all: build

check-go:
	@command -v $(GO) >/dev/null 2>&1 || { echo "Go 1.26 or newer is required (https://go.dev/dl/); 'go' was not found on PATH" >&2; exit 1; }

# compile-note says, before a build that will take minutes, that it will:
# when the modules are not downloaded yet, or the control plane is not in
# the build cache. Otherwise it is silent. (The check takes a few seconds.)
compile-note: check-go
	@if ! $(GO) list -m -f '{{.Dir}}' k8s.io/kubernetes 2>/dev/null | grep -q .; then \
		echo "Downloading the Go modules, then compiling the Kubernetes control plane into envctl: the first build takes about $(FIRST_BUILD_FETCH) on 2 cores; later builds take seconds." >&2; \
	elif [ "$$($(GO) list -f '{{.Stale}}' $(CONTROL_PLANE_PKG) 2>/dev/null)" != false ]; then \
		echo "Compiling the Kubernetes control plane into envctl: the first build takes about $(FIRST_BUILD) on 2 cores; later builds take seconds." >&2; \
	fi

## build: a stripped envctl binary in bin/
build: compile-note
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/envctl

## image-binary: the static envctl of the daemon's image (cmd/envctl/Dockerfile), without the embedded control plane
image-binary: check-go
	CGO_ENABLED=0 $(GO) build -tags noembedded,$(TAGS) -ldflags "$(LDFLAGS)" -o $(IMAGE_BIN) ./cmd/envctl

## up: build, then bring up the default environment (ENV=name for another)
up: build
	./$(BIN) up $(ENV)

# Tests run without go test's own vet pass: `make lint` runs every vet
# check, and go test's would analyze all 3,500 dependencies again from
# source (about 5 minutes on 2 cores with an empty build cache).
# -ldflags=-w links the test binaries without DWARF (stack traces keep
# their file:line): 14 of them link the control plane, and each such link
# takes 14 s instead of 18 on this machine. The build cache is unaffected.
# -p 4 runs four test binaries at once (the default is one per core): the
# integration tests mostly wait on their cluster (the cli package uses 81
# CPU-seconds in its 218 s), so on 2 cores a warm `make test` took 314 and
# 339 s with -p 4 against about 480 with the default.
TESTFLAGS := -count=1 -vet=off -ldflags=-w -p 4

## test: unit and integration tests (integration tests use the embedded cluster)
test: compile-note
	$(GO) test $(TESTFLAGS) -timeout $(TEST_TIMEOUT) $(PKGS)

## test-short: unit tests only
test-short: compile-note
	$(GO) test $(TESTFLAGS) -short $(PKGS)

## bench: benchmarks, BENCH_COUNT runs each; compare medians with benchstat.
## The daemon's benchmarks run the image's binary (ENVCTL_E2E_BINARY), as it ships.
## One package at a time (-p 1), so that no two packages' benchmarks share the cores.
bench: compile-note image-binary
	ENVCTL_E2E_BINARY=$(CURDIR)/$(IMAGE_BIN) $(GO) test -vet=off -ldflags=-w -p 1 -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) -timeout 60m $(PKGS) | tee bench.txt
	$(GO) run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da bench.txt

## lint: gofmt and go vet
lint: fmt vet

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# go vet's analyzers through internal/tools/vet, which analyzes envctl's
# packages and skips the dependencies plain go vet would parse and
# type-check again for their facts (see its doc).
vet: compile-note
	$(GO) build -o $(VETTOOL) ./internal/tools/vet
	$(GO) vet -vettool=$(CURDIR)/$(VETTOOL) $(PKGS)

## goflags: the GOFLAGS every target uses; export them to run go by hand on the same build cache
goflags:
	@echo '$(GOFLAGS)'

clean:
	rm -rf bin bench.txt
