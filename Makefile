# Build, test and install the Currents ECR tools. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/currentsdev/currents/internal/product.Version=$(VERSION)
# Built as the packages are (scripts/dist.sh): static, without cgo. osusergo: os/user reads /etc/passwd in Go;
# netgo: Go's own resolver. A cgo build links libc dynamically, and every start then pays for the dynamic loader
# (about 1 ms and 1.5 MB a process, measured on the plugin and the AWS half). grpcnotrace: grpc (which docker/cli's
# telemetry links into the plugin) leaves out golang.org/x/net/trace, which nothing here serves: 0.4 MB less binary
# and 0.8 MB less of it resident in every plugin process.
# CGO_ENABLED=0 on the build alone: the tests keep cgo, so `go test -race` still works.
GOBUILD := CGO_ENABLED=0 $(GO) build -trimpath -tags osusergo,netgo,grpcnotrace -ldflags '$(LDFLAGS)'

# Where `make install` puts things; see scripts/install.sh for the defaults it derives.
PREFIX ?=
DESTDIR ?=

BINARIES := $(BIN)/docker-credential-currents $(BIN)/docker-credential-currents-aws $(BIN)/docker-currents $(BIN)/currents-plugin $(BIN)/currents-standin

.PHONY: help build test lint race bench fuzz install uninstall demo e2e clean dist package-test

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 12

build: ## build every binary into bin/
	@mkdir -p $(BIN)
	$(GOBUILD) -o $(BIN)/docker-credential-currents ./credhelper/docker-credential-currents
	$(GOBUILD) -o $(BIN)/docker-credential-currents-aws ./credhelper/docker-credential-currents-aws
	@# docker-currents is the plugin's front; it runs currents-plugin, the plugin itself, from beside it.
	$(GOBUILD) -o $(BIN)/docker-currents ./composeplugin/docker-currents
	$(GOBUILD) -o $(BIN)/currents-plugin ./composeplugin/currents-plugin
	$(GOBUILD) -o $(BIN)/currents-standin ./internal/standin/currents-standin

# Packages tested at once: most of the tests' time is spent waiting on real clocks (short-lived tokens, SQS long
# polls, registry latency), not on the CPU, so more than one per core (go test's default) finishes sooner.
TESTP ?= 4

test: build ## vet, format check and every engine-free test (NOSKIP=1, as in CI: a skipped test fails the run)
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	set -o pipefail; $(GO) test -p $(TESTP) -count=1 $(if $(NOSKIP),-json) ./... $(if $(NOSKIP),| $(GO) run ./scripts/noskip)
	@# The kubelet's own plugin code driving our binaries: a module of its own, so the main one never requires Kubernetes.
	cd credhelper/kubelettest && $(GO) vet . && set -o pipefail && $(GO) test -count=1 $(if $(NOSKIP),-json) . $(if $(NOSKIP),| (cd ../.. && $(GO) run ./scripts/noskip))

lint: ## staticcheck, vet of the build-tagged e2e and packaging tiers that `go vet ./...` skips, and no function above cyclomatic complexity 20
	$(GO) vet -tags e2e ./e2e/...
	$(GO) vet -tags packaging ./packaging/...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -tags e2e,packaging ./...
	$(GO) run github.com/fzipp/gocyclo/cmd/gocyclo@v0.6.0 -over 20 .

# The packages whose goroutines share state (the watch's parallel resolves on one transport, the probe's
# limiter and connection gate, the cache and its locks, SQS polling): a data race passes every other test.
RACE_PKGS = ./internal/insecure/ ./internal/probe/ ./internal/mirror/ ./internal/queue/ ./internal/tokencache/ \
	./internal/kubelet/ ./internal/refresh/ ./internal/journal/ ./internal/watch/
race: ## the concurrent packages under the race detector (cgo: needs gcc)
	set -o pipefail; CGO_ENABLED=1 $(GO) test -race -count=1 $(if $(NOSKIP),-json) $(RACE_PKGS) $(if $(NOSKIP),| $(GO) run ./scripts/noskip)

BENCH_ROUNDS ?= 10
bench: build ## figures against the peers, interleaved (bench/); BENCH_BASE=REV adds that revision's as "base"
	$(GO) test -run '^$$' -bench . -benchtime 2s $$($(GO) list ./... | grep -v '/bench$$')
	BENCH_BASE='$(BENCH_BASE)' $(GO) test -run '^$$' -bench . -benchtime $(BENCH_ROUNDS)x -timeout 60m ./bench

# install builds nothing: `make build` as yourself, then `sudo make install` needs no Go on root's PATH
# (sudo's secure_path leaves it out) and leaves no root-owned files in bin/.
fuzz: ## every fuzz target for FUZZTIME each (default 20s); fails on any crash
	bash scripts/fuzz.sh

install: ## install the built binaries: the helper on PATH, the plugin where docker finds it
	PREFIX='$(PREFIX)' DESTDIR='$(DESTDIR)' BIN='$(BIN)' bash scripts/install.sh install

uninstall: ## remove what `make install` put in place
	PREFIX='$(PREFIX)' DESTDIR='$(DESTDIR)' bash scripts/install.sh uninstall

demo: build ## the whole product against the embedded ECR stand-in: no AWS, no Docker engine
	BIN='$(BIN)' bash scripts/demo.sh

e2e: build ## the real-engine tier: dockerd, registry, compose, the helper across token expiry
	BIN='$(BIN)' bash e2e/run.sh

dist: ## release artifacts: static linux/amd64+arm64 binaries, .tar.gz, .deb, .rpm (nfpm), SHA256SUMS in dist/
	bash scripts/dist.sh

package-test: ## the packaging tier, as root: dist twice (same bytes), dpkg -i/-r, rpm -qlp, systemd-analyze, arm64 under qemu
	bash packaging/test.sh

clean: ## remove build output
	rm -rf $(BIN) dist
