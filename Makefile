# Herald's tasks. `make help` lists them; `make test` is what CI runs, `make check` the inner loop.
SHELL := /bin/bash
GO ?= go
BIN := bin/herald
FUZZTIME ?= 10s

# Pinned tools, installed on first use outside the checkout, so that a clean checkout finds them.
TOOLS ?= $(HOME)/.cache/herald/tools
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(TOOLS)/golangci-lint-$(GOLANGCI_LINT_VERSION)

.PHONY: help azurite run build build-race test check test-go test-interop fuzz fuzz-long soak lint bench bench-smoke e2e clean cluster web web-check test-web

help: ## List the targets.
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

run: build ## Run Herald on its embedded default (127.0.0.1:8080, ./herald-data).
	$(BIN) serve

build: ## Build bin/herald.
	$(GO) build -o $(BIN) ./cmd/herald

build-race: ## Build bin/herald-race: the race-detecting binary make test runs the end-to-end suites against.
	$(GO) build -race -o bin/herald-race ./cmd/herald

test: ## Everything CI checks: lint, Go tests with -race, the interop suites, short fuzz runs, a seconds-long benchmark run (scripts/test.sh).
	@GO=$(GO) MAKE=$(MAKE) scripts/test.sh

check: lint ## The inner loop (about a minute once built): lint, then the Go tests with -race and -short (no PostgreSQL, MariaDB, Azurite or end-to-end runs).
	$(GO) test -race -short -count=1 -p 4 ./...

azurite: ## Install and start Azurite (the Azure Blob emulator of the storage tests) on 127.0.0.1:10000 unless it runs.
	test/azurite/start.sh

test-go: build azurite ## Go tests with the race detector (Azurite started first; left running).
	HERALD_BIN=$(CURDIR)/$(BIN) $(GO) test -race -count=1 -p 4 -timeout 15m ./...

fuzz: ## Run every fuzz target for FUZZTIME (default 10s) each; a crasher fails it.
	GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

FUZZLONG ?= 2m
fuzz-long: ## Every fuzz target for FUZZLONG (default 2m) each, all cores (about 40 minutes; not in make test).
	GO=$(GO) FUZZTIME=$(FUZZLONG) scripts/fuzz.sh

web: ## Rebuild the web app's bundle (web/dist, committed and embedded) from web/src.
	cd web && npm ci --no-audit --no-fund --loglevel=error && npm run --silent typecheck && npm run --silent build

web-check: web ## Type-check and rebuild the web app; fail if the committed web/dist differs from what the sources build.
	@if ! git diff --quiet -- web/dist || [ -n "$$(git ls-files --others --exclude-standard -- web/dist)" ]; then \
		git status --short -- web/dist; \
		echo "web/dist is not what web/src builds: run make web and commit web/dist" >&2; exit 1; fi

test-web: $(if $(HERALD_BIN),,build) ## The web app end to end: Playwright driving Debian's Chromium against a real herald serve; screenshots in bin/web-e2e.
	cd web && npm ci --no-audit --no-fund --loglevel=error && HERALD_BIN=$(or $(HERALD_BIN),$(CURDIR)/$(BIN)) npm test

# HERALD_BIN (an absolute path) runs the interop suites and the benchmark smoke run against another
# binary; make test gives them bin/herald-race.
test-interop: $(if $(HERALD_BIN),,build) ## Interop tests with the official @microsoft/signalr client under Node.
	cd test/interop && npm ci --no-audit --no-fund --loglevel=error && HERALD_BIN=$(or $(HERALD_BIN),$(CURDIR)/$(BIN)) npm test

# golangci-lint type-checks against the race build of the dependencies (GOFLAGS=-race), the build
# go test -race makes anyway: one compile of everything instead of two on a cold cache.
lint: $(GOLANGCI_LINT) ## gofmt, golangci-lint (go vet, staticcheck, errcheck and the package boundaries of .golangci.yml), no tracked file over 1 MiB.
	scripts/check-file-sizes.sh
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	GOFLAGS=-race $(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT):
	@echo "installing golangci-lint $(GOLANGCI_LINT_VERSION) into $(TOOLS) (once)"
	@mkdir -p $(TOOLS)/.install
	GOBIN=$(TOOLS)/.install $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(TOOLS)/.install/golangci-lint $@

bench: build ## Benchmarks beside their baselines: hub, tasks, exports, cluster, management API (tens of minutes), then the micro-benchmarks.
	$(BIN) bench hub --peers signalr,centrifuge
	$(BIN) bench tasks
	$(BIN) bench export
	$(BIN) bench cluster
	$(BIN) bench api
	$(GO) test -run='^$$' -bench=. -benchmem ./hub/protocol/ ./client/

bench-smoke: $(if $(HERALD_BIN),,build) ## The hub, task, cluster, API and export benchmarks with small counts for seconds (keeps them from rotting).
	$(or $(HERALD_BIN),$(BIN)) bench hub --quick
	$(or $(HERALD_BIN),$(BIN)) bench tasks --quick
	$(or $(HERALD_BIN),$(BIN)) bench cluster --quick
	$(or $(HERALD_BIN),$(BIN)) bench api --quick
	$(or $(HERALD_BIN),$(BIN)) bench export --quick --binary $(or $(HERALD_BIN),$(CURDIR)/$(BIN))

SOAKMIN ?= 30
soak: build ## The chaos suite for SOAKMIN (default 30) minutes, a line of RSS, goroutines, open files and stream p99 every minute (not in make test).
	cd test/interop && npm ci --no-audit --no-fund --loglevel=error && HERALD_BIN=$(or $(HERALD_BIN),$(CURDIR)/$(BIN)) \
		HERALD_CHAOS_SECONDS=$$(($(SOAKMIN) * 60)) node --test --test-reporter=spec --test-timeout=$$((($(SOAKMIN) + 15) * 60000)) chaos.test.mjs

e2e: test-interop ## End-to-end tests against a running binary.

clean: ## Remove build output.
	rm -rf bin

# CLUSTER_ARGS passes more flags to the runner, e.g. CLUSTER_ARGS="--second-env test --keep".
cluster: build ## A cluster on 127.0.0.1 in the foreground: own Redis, 3 nodes, a worker, nginx in front (PostgreSQL needed); Ctrl-C stops it.
	$(GO) build -o bin/herald-cluster ./test/cluster/cmd/herald-cluster
	exec bin/herald-cluster --herald $(BIN) $(CLUSTER_ARGS)
