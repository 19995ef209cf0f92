# berth: the two set-up commands are `make run` and `make test` (README.md).
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(CURDIR)/.cache/bin:$(PATH)

GO      ?= go
PREFIX  ?= /usr/local
UNITDIR ?= /etc/systemd/system
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0-dev)
# One random stamp per make run, linked into berthd and berth-stage: the
# daemon runs its stages only from a berth-stage of its own build.
STAMP   := $(shell head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/berthd/berth/daemon.Version=$(VERSION) \
           -X github.com/berthd/berth/daemon.GitCommit=$(COMMIT) \
           -X github.com/berthd/berth/daemon.BuildTime=$(shell date -u +%Y-%m-%dT%H:%M:%SZ) \
           -X github.com/berthd/berth/pkg/runtime.StageStamp=berth-stage-$(STAMP)
# Flags for `make run`, e.g. make run ARGS='--debug'.
ARGS ?=

.PHONY: all build run test unit integration smoke compat critest deps install uninstall bench lint fuzz torture clean FORCE

all: build

build: bin/berthd bin/berth-stage

bin/berthd: FORCE
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/berthd

bin/berth-stage: FORCE
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/berth-stage

# Build and run in the foreground on the built-in defaults
# (/var/run/docker.sock, /var/lib/berth, /run/berth).
run: deps build
	./bin/berthd $(ARGS)

deps:
	@hack/install-deps.sh

# Unit tests, then the end-to-end tests against real daemons, with one
# summary at the end. The integration tests need root.
test: deps build
	BERTHD_BINARY=$(CURDIR)/bin/berthd gotestsum --format testname --format-hide-empty-pkg -- -count=1 -timeout 30m -p 2 ./...

unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /integration/)

integration: build
	BERTHD_BINARY=$(CURDIR)/bin/berthd $(GO) test -count=1 -timeout 30m ./integration/...

# The shared acceptance suite against a fresh berthd: make smoke [PATTERN=...]
smoke: build
	hack/smoke.sh $(PATTERN)

# critest (the shared offline kit) against a berthd of this tree; see hack/critest.sh.
critest: deps build
	hack/critest.sh $(CRITEST_ARGS)

# moby's own integration suite against a fresh berthd: make compat
# MOBY_SRC=/path/to/moby [COMPONENTS="container image"]. Takes many minutes.
compat: build
	MOBY_SRC=$(MOBY_SRC) hack/compat.sh $(COMPONENTS)

install: build
	install -D -m 0755 bin/berthd $(DESTDIR)$(PREFIX)/bin/berthd
	install -D -m 0755 bin/berth-stage $(DESTDIR)$(PREFIX)/bin/berth-stage
	install -D -m 0644 contrib/systemd/berth.service $(DESTDIR)$(UNITDIR)/berth.service
	install -D -m 0644 contrib/systemd/berth.socket $(DESTDIR)$(UNITDIR)/berth.socket
	sed -i 's|/usr/local/bin/berthd|$(PREFIX)/bin/berthd|' $(DESTDIR)$(UNITDIR)/berth.service
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "installed; enable with: systemctl enable --now berth.socket berth.service"

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/berthd $(DESTDIR)$(PREFIX)/bin/berth-stage $(DESTDIR)$(UNITDIR)/berth.service $(DESTDIR)$(UNITDIR)/berth.socket

# Every native fuzz target for FUZZTIME each, one after another, stopping
# at the first crash (which go test writes to testdata/fuzz/). As root: the
# archive targets chown and mknod. make fuzz [FUZZTIME=30s] [FUZZ=regexp]
FUZZTIME ?= 10m
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) hack/fuzz.sh '$(FUZZ)'

# Performance figures, with dockerd beside them when one is installed.
bench: deps build
	$(GO) run ./hack/bench -berthd bin/berthd
	hack/bench-engine.sh

# The crash-anywhere campaign (hack/torture): random workload, SIGKILL of
# berthd at random instants, invariant checks after each restart; its
# data-root is a loop-mounted ext4 (mkfs.ext4, make deps) that some rounds
# fill. Then the load, scale and soak scenarios (100 API clients, N running
# containers and their restarts, churn with leak counts; docker-registry for
# the soak's pulls). Minutes; TORTURE=long for the long form.
# make torture [TORTURE_ARGS='-seed N -rounds M -scenarios crash,load,scale,soak']
TORTURE_ARGS ?=
torture: build
	TORTURE=$(TORTURE) $(GO) run ./hack/torture -berthd bin/berthd $(TORTURE_ARGS)

# gofmt, go vet, and DESIGN.md's import layers (hack/layers).
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run ./hack/layers

clean:
	rm -rf bin .cache
