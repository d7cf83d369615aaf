# The Makefile mirrors CI: what .ci/run checks, a developer runs with one command.
CARGO ?= cargo
PROFILE ?= peak
CONFIG ?= scenarios/demo/proxy.toml

.PHONY: build release test lint fmt proxy baseline gate run soak flamegraph bench clean help

help:
	@echo "make build | release | test | lint | fmt | proxy | bench | baseline | gate | run | soak | flamegraph"

build:
	$(CARGO) build --workspace --all-targets

release:
	$(CARGO) build --release --workspace

## test: formatting, lints and every test (what CI runs).
test: lint
	$(CARGO) test --workspace --all-targets

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## proxy: run the proxy on the demo config (Ctrl-C to stop).
proxy:
	$(CARGO) run --release -p filter-proxy -- --config $(CONFIG)

## bench: criterion benchmarks of the proxy's hot functions.
bench:
	$(CARGO) bench -p filter-proxy

baseline:
	@echo "make baseline: not built yet (see the issue 'reports: baseline documents...')"; exit 2

gate:
	@echo "make gate: not built yet (see the issue 'reports: baseline documents...')"; exit 2

run:
	@echo "make run: not built yet (see the issue 'The run harness')"; exit 2

soak:
	@echo "make soak: not built yet (see the issue 'Soak, spike, capacity and fault profiles')"; exit 2

flamegraph:
	@echo "make flamegraph: not built yet (see the issue 'The run harness')"; exit 2

clean:
	$(CARGO) clean
