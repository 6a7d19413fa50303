# Herald's tasks. `make help` lists them; `make test` is what CI runs.
SHELL := /bin/bash
GO ?= go
BIN := bin/herald
FUZZTIME ?= 10s

.PHONY: help azurite run build test test-go test-interop fuzz lint bench bench-smoke e2e clean

help: ## List the targets.
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

run: build ## Run Herald on its embedded default (127.0.0.1:8080, ./herald-data).
	$(BIN) serve

build: ## Build bin/herald.
	$(GO) build -o $(BIN) ./cmd/herald

test: lint test-go fuzz bench-smoke test-interop ## Everything CI checks: lint, Go tests with -race, short fuzz runs, interop tests, a seconds-long load run.

azurite: ## Install and start Azurite (the Azure Blob emulator of the storage tests) on 127.0.0.1:10000 unless it runs.
	test/azurite/start.sh

test-go: azurite ## Go tests with the race detector (Azurite started first).
	$(GO) test -race -count=1 -timeout 15m ./...

fuzz: ## Run every fuzz target for FUZZTIME (default 10s) each; a crasher fails it.
	GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

test-interop: build ## Interop tests with the official @microsoft/signalr client under Node.
	cd test/interop && npm ci --no-audit --no-fund --loglevel=error && HERALD_BIN=$(CURDIR)/$(BIN) npm test

lint: ## gofmt, go vet, and no tracked file over 1 MiB.
	scripts/check-file-sizes.sh
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench: build ## Benchmarks beside their baselines: hub, tasks, exports (tens of minutes), then the micro-benchmarks.
	$(BIN) bench hub --peers signalr,centrifuge
	$(BIN) bench tasks
	$(BIN) bench export
	$(GO) test -run='^$$' -bench=. -benchmem ./hub/protocol/ ./client/

bench-smoke: build ## The hub, task and export benchmarks with small counts for seconds (keeps them from rotting).
	$(BIN) bench hub --quick
	$(BIN) bench tasks --quick
	$(BIN) bench export --quick

e2e: test-interop ## End-to-end tests against a running binary.

clean: ## Remove build output.
	rm -rf bin
