#!/usr/bin/env bash
# Request rate of the load generator against wrk: the origin alone on one core, the
# client alone on the other, same endpoint (1 KiB bodies), keep-alive. Measures each
# `loadgen attack` driver (Goose, open-loop back to back). See README.md.
#
# Environment: BENCH_RUNS (default 3), BENCH_SECONDS (measured seconds per run, default 10),
# BENCH_CONNS (connections / users, default 32), BENCH_NO_BUILD=1, BENCH_KEEP=1, BENCH_OUT.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS="${BENCH_RUNS:-3}"
SECS="${BENCH_SECONDS:-10}"
CONNS="${BENCH_CONNS:-32}"
WARMUP_SECS=2 # the profile's warm-up, excluded from loadgen's measured rate
ORIGIN_CPU=1
CLIENT_CPU=0
TARGET_RATIO=0.5
PROFILE="$BENCH_DIR/loadgen/throughput.toml"

command -v wrk >/dev/null || die "wrk is not installed (apt-get install -y wrk)"
WORK_DIR="$(mktemp -d -t bench-loadgen.XXXXXX)"
build_release
: >"$WORK_DIR/wrk.log"
"$LOADGEN_BIN" attack --help >/dev/null 2>&1 || die "loadgen attack is not available in this build"

start_origin "$ORIGIN_CPU"

# Rows: client run rps failures
: >"$WORK_DIR/raw.tsv"
run_wrk "$CLIENT_CPU" "$WARMUP_SECS" "$CONNS" "http://127.0.0.1:$ORIGIN_PORT/bytes/1024" >/dev/null
for run in $(seq 1 "$RUNS"); do
  read -r reqs errs <<<"$(run_wrk "$CLIENT_CPU" "$SECS" "$CONNS" "http://127.0.0.1:$ORIGIN_PORT/bytes/1024")"
  awk -v r="$run" -v q="$reqs" -v e="$errs" -v s="$SECS" \
    'BEGIN {printf "wrk\t%s\t%.0f\t%d\n", r, (q - e) / s, e}' >>"$WORK_DIR/raw.tsv"
  log "$(tail -1 "$WORK_DIR/raw.tsv")"
done

# loadgen_run DRIVER RUN: one attack; its successful requests per measured second.
loadgen_run() {
  local driver="$1" run="$2" out="$WORK_DIR/run-$1-$2"
  # The attack bounds itself by --duration; `timeout` is the backstop.
  timeout "$((SECS + WARMUP_SECS + 60))" taskset -c "$CLIENT_CPU" "$LOADGEN_BIN" attack \
    --profile "$PROFILE" --driver "$driver" --out "$out" \
    --origin "127.0.0.1:$ORIGIN_PORT" --origin-ca "$WORK_DIR/origin-ca.pem" \
    --duration "$((SECS + WARMUP_SECS))s" --users "$CONNS" --quiet >"$out.log" 2>&1 ||
    die "loadgen attack ($driver) failed, see $out.log"
  jq -r --arg d "$driver" --arg r "$run" \
    '[$d, $r, ((.totals.requests - .totals.failures) / .measured_s | floor), .totals.failures] | @tsv' \
    "$out/run.json" >>"$WORK_DIR/raw.tsv"
  log "$(tail -1 "$WORK_DIR/raw.tsv")"
}
for driver in goose open-loop; do
  for run in $(seq 1 "$RUNS"); do loadgen_run "$driver" "$run"; done
done

report() {
  local wrk_rps rps name ratio met
  col() { median $(awk -F'\t' -v n="$1" -v f="$2" '$1 == n {print $f}' "$WORK_DIR/raw.tsv"); }
  wrk_rps=$(col wrk 3)
  echo "## Load generator vs wrk ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "loadgen origin alone on CPU $ORIGIN_CPU; each client alone on CPU $CLIENT_CPU; GET /bytes/1024 over"
  echo "$CONNS keep-alive connections (wrk -t1 -c$CONNS; loadgen --users $CONNS, no think time, no pacing);"
  echo "successful requests per second, median of $RUNS runs of ${SECS}s."
  host_note
  echo
  echo "| client | rps (median) | failures (median) | ratio to wrk | target ≥ $TARGET_RATIO |"
  echo "| --- | ---: | ---: | ---: | --- |"
  echo "| wrk 4.1 | $wrk_rps | $(col wrk 4) | 1.00 | - |"
  for name in goose open-loop; do
    rps=$(col "$name" 3)
    ratio=$(awk -v a="$rps" -v b="$wrk_rps" 'BEGIN {printf "%.2f", a / b}')
    met=$(awk -v r="$ratio" -v t="$TARGET_RATIO" 'BEGIN {print (r >= t) ? "met" : "**not met**"}')
    echo "| loadgen $name | $rps | $(col "$name" 4) | $ratio | $met |"
  done
  echo
  echo "Raw runs (client, run, rps, failures):"
  echo
  echo '```'
  cat "$WORK_DIR/raw.tsv"
  echo '```'
}
OUT="${BENCH_OUT:-$BENCH_DIR/results/$(date -u +%Y-%m-%d)-loadgen-vs-wrk.md}"
report | tee "$OUT"
log "written to $OUT"
