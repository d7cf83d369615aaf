# The Makefile mirrors CI: what .ci/run checks, a developer runs with one command.
CARGO ?= cargo
PROFILE ?= peak
CONFIG ?= scenarios/demo/proxy.toml

.PHONY: deps build release test lint fmt fuzz image proxy baseline promote gate gate-doc gate-selftest canary run soak spike flamegraph faults capacity rollout rollout-check k8s-check image-loadgen parity browser bench bench-cpu bench-loadgen bench-profile clean help

help:
	@echo "make deps | build | release | test | fuzz | image | lint | fmt | proxy | bench | baseline | promote | gate | gate-doc | gate-selftest | canary | run | soak | spike | flamegraph | faults | capacity | rollout | rollout-check | k8s-check | image-loadgen | parity"

build:
	$(CARGO) build --workspace --all-targets

release:
	$(CARGO) build --release --locked --workspace

## deps: the system commands the tests need (scripts/deps.sh, the list CI uses too):
## installed with apt-get when root, else one line naming the command to run.
deps:
	scripts/deps.sh test

## test: formatting, lints and every test (what CI runs). The tools are checked before
## anything builds; --no-fail-fast runs every test binary even after one fails.
test: deps
	$(MAKE) lint
	$(CARGO) test --workspace --all-targets --no-fail-fast

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## fuzz: every fuzz target (fuzz/) for DURATION each (default 60s), seeds replayed first;
## prints the executions per target (also in target/fuzz.log). A failure prints the input
## and the BOLERO_RANDOM_SEED that replays it.
fuzz: FUZZ_TIME = $(if $(filter command line,$(origin DURATION)),$(DURATION),60s)
fuzz:
	@mkdir -p target
	@{ FUZZ_DURATION=$(FUZZ_TIME) $(CARGO) test -p fuzz-targets --test targets -- --nocapture; \
	  echo $$? > target/fuzz.rc; } 2>&1 | tee target/fuzz.log
	@echo "executions per target ($(FUZZ_TIME) each):"; grep '^fuzz ' target/fuzz.log
	@exit $$(cat target/fuzz.rc)

## image: the FROM-scratch image (proxy/Containerfile: static binary, non-root) built with
## buildah, no daemon; prints its size, runs check-config and an appliance smoke run
## through it on loopback (scripts/image.sh). Needs root for buildah's chroot isolation.
image:
	scripts/deps.sh image
	scripts/image.sh

## proxy: run the proxy on the demo config (Ctrl-C to stop).
proxy:
	$(CARGO) run --release -p filter-proxy -- --config $(CONFIG)

## bench: criterion benchmarks of the proxy's hot functions.
bench:
	$(CARGO) bench -p filter-proxy

## Runs write into runs/<profile>-<UTC time> unless RUN=dir is given.
STAMP := $(shell date -u +%Y%m%dT%H%M%SZ)
RUN ?= runs/$(PROFILE)-$(STAMP)
BIN := target/release

## baseline: the main job. Build release, run PROFILE (default peak), render, promote
## the run into baselines/PROFILE.{json,md,folded}, printing what changes against the
## committed document. Promotion refuses (exit 2, one line naming the command to run
## instead) an unfit run, a contended machine, or another machine than the committed
## document's; FORCE_NOTE="why" promotes anyway and writes the note into the document.
## The note reaches perf-report verbatim: quotes, $ and backquotes included (single-quoted
## for the shell, its own single quotes escaped; $(value) keeps make from expanding $).
FORCE_ARGS = $(if $(value FORCE_NOTE),--force --note '$(subst ','\'',$(value FORCE_NOTE))')
baseline: release
	$(BIN)/loadgen run --profile profiles/$(PROFILE).toml --out $(RUN)
	$(BIN)/perf-report render $(RUN)
	$(BIN)/perf-report promote $(RUN) --profile $(PROFILE) --suggest make $(FORCE_ARGS)

## promote: promote an existing run (RUN=runs/...) of PROFILE without running it again,
## e.g. after a refusal: make promote RUN=runs/peak-... PROFILE=peak FORCE_NOTE="why".
promote: release
	@test -n "$(filter command line environment,$(origin RUN))" || { echo "make promote needs RUN=<run directory>"; exit 2; }
	$(BIN)/perf-report promote $(RUN) --profile $(PROFILE) --suggest make $(FORCE_ARGS)

## gate: the release gate. Builds the baseline's own commit beside the candidate and runs
## the profile (default ci) A B / B A on this machine, deciding pair by pair; the report
## also compares against the committed document. Exit 0 pass, 1 rollback, 3 hotfix-only,
## 2 bad input. Latency is judged on uncontended seconds; when the machine left too few,
## the verdict says INCONCLUSIVE (machine) and the other rules decide (exit 0 here; 4
## from perf-report gate without --accept-inconclusive).
gate: GATE_PROFILE = $(if $(filter command line,$(origin PROFILE)),$(PROFILE),ci)
gate: release
	$(BIN)/perf-report gate --profile profiles/$(GATE_PROFILE).toml --accept-inconclusive

## gate-doc: the weaker check: one run diffed against the committed baseline document only.
gate-doc: GATE_PROFILE = $(if $(filter command line,$(origin PROFILE)),$(PROFILE),ci)
gate-doc: release
	$(BIN)/loadgen run --profile profiles/$(GATE_PROFILE).toml --out runs/$(GATE_PROFILE)-gate-$(STAMP)
	$(BIN)/perf-report render runs/$(GATE_PROFILE)-gate-$(STAMP)
	$(BIN)/perf-report diff runs/$(GATE_PROFILE)-gate-$(STAMP) --baseline baselines/$(GATE_PROFILE).json

## gate-selftest: A/A sessions and slowed candidates; writes reports/gate-calibration.md.
gate-selftest: release
	scripts/gate-selftest.sh

## canary: the canary judge on this machine: the baseline's commit and the work tree side by
## side under one split load, a real Prometheus, `perf-report canary` through its API; then an
## A/A session (must not be rolled back) and a slowed canary (must not). AA=10 SLOW=3 CALIBRATE=1 writes
## reports/canary-calibration.md.
canary: release
	scripts/canary.sh

## run: one run of PROFILE, rendered, nothing promoted.
run: release
	$(BIN)/loadgen run --profile profiles/$(PROFILE).toml --out $(RUN)
	$(BIN)/perf-report render $(RUN)

## flamegraph: the peak profile's steady-window CPU profile; prints where the SVG is.
flamegraph: release
	$(BIN)/loadgen run --profile profiles/peak.toml --out runs/flamegraph-$(STAMP)
	@echo "flame graph: runs/flamegraph-$(STAMP)/flamegraph.svg"

## faults: every fault profile (FAULT=redis-slow for one); exit 1 when an expectation fails.
FAULTS ?= redis-slow redis-down origin-slow origin-reset slow-clients
faults: release
	@rc=0; for f in $(if $(FAULT),$(FAULT),$(FAULTS)); do \
	  $(BIN)/loadgen faults --profile profiles/faults-$$f.toml --out runs/faults-$$f-$(STAMP) || rc=1; done; exit $$rc

## capacity: load in steps until the SLO breaks, for the 1 KiB GET and the school-day mix, then the
## wrk cross-check; knees, bottlenecks and the verdict in runs/capacity-<time>/capacity.md.
capacity: release
	$(BIN)/loadgen capacity --profile profiles/capacity.toml --out runs/capacity-$(STAMP)

## parity: decision parity against e2guardian (installed when missing, as root): a corpus
## generated from the demo category database through e2guardian and filter-proxy, twice
## each; runs/parity-<UTC time>/parity.md. Exit 1 on mismatches outside the known classes.
parity:
	scripts/parity.sh

## browser: headless Chromium through the proxy (blocks, CORS, preflights, subresources,
## HTTPS through CONNECT, proxy authentication) as the page's own scripts see them, then the
## browser load class (BROWSERS per path, REPS loads each, at most MAX_SECONDS): page-load
## timing through the proxy and direct. runs/browser-<UTC time>/ holds browser.json,
## browser-load.json, browser-load.md and the block page's screenshot. Exit 1 when a check
## fails.
BROWSERS ?= 2
REPS ?= 20
MAX_SECONDS ?= 120
browser: build
	scripts/deps.sh test
	target/debug/browser-check --out runs/browser-$$(date -u +%Y%m%dT%H%M%SZ) \
	  --load --browsers $(BROWSERS) --repetitions $(REPS) --max-seconds $(MAX_SECONDS)

DURATION ?= 30m

## soak: constant moderate load (profiles/soak.toml, 300 req/s) for DURATION: memory, fd and
## thread trends with 95% intervals, p99 drift, error budget; diffed against baselines/soak.json
## when it exists (exit 1 rollback, 3 hotfix).
soak: release
	$(BIN)/loadgen run --profile profiles/soak.toml --duration $(DURATION) --out runs/soak-$(STAMP)
	$(BIN)/perf-report render runs/soak-$(STAMP)
	@if [ -f baselines/soak.json ]; then \
	  $(BIN)/perf-report diff runs/soak-$(STAMP) --baseline baselines/soak.json; \
	else echo "no baselines/soak.json: report in runs/soak-$(STAMP)/report.html"; fi

## spike: 200 users, a surge to 1000 within 5 s for 60 s, back to 200: errors and latency per
## phase and the recovery time.
spike: release
	$(BIN)/loadgen run --profile profiles/spike.toml --out runs/spike-$(STAMP)
	$(BIN)/perf-report render runs/spike-$(STAMP)

## rollout: regenerate deploy/ (CloudFormation, Prometheus rules and tests, dashboard,
## DECISIONS.md) from baselines/gates.toml, baselines/peak.json and deploy/inputs.toml, then
## check it as CI does: cfn-lint (pinned, in .venv-ci), promtool check/test rules.
rollout:
	$(CARGO) run --locked -q -p reports --bin perf-report -- rollout
	scripts/rollout-check.sh

## rollout-check: what CI runs: deploy/ matches its generator, lints clean, alert tests pass.
rollout-check:
	scripts/rollout-check.sh

## k8s-check: what CI runs: `loadgen k8s render` from a short measured two-worker run, its
## manifests validated offline (kubernetes-validate, pinned, in .venv-k8s).
k8s-check:
	scripts/k8s-check.sh

## image-loadgen: the loadgen image (loadgen/Containerfile: loadgen and perf-report, FROM
## scratch), built with buildah and smoke-run; what the rendered Kubernetes Jobs run.
image-loadgen:
	scripts/image-loadgen.sh

## bench-cpu / bench-loadgen / bench-profile: the comparisons in bench/ (see bench/README.md;
## need wrk, squid, perf, strace). Results go to bench/results/.
bench-cpu:
	bench/cpu-per-request.sh
bench-loadgen:
	bench/loadgen-vs-wrk.sh
bench-profile:
	bench/profile-proxy.sh

clean:
	$(CARGO) clean
