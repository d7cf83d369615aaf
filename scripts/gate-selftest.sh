#!/usr/bin/env bash
# Proves the interleaved A/B release gate on this machine and writes
# reports/gate-calibration.md:
#   - AA_RUNS sessions with candidate = control (false alarms);
#   - SLOW_RUNS sessions each with a candidate burning 10% more CPU per request and
#     with one more allocation per request (power), plus one session per LADDER step
#     (other CPU slowdowns, percent) to show where detection starts.
# Both arms run the proxy built with the test-only `gate-selftest` feature; the
# slowdown is switched on for the candidate only, through its environment, so the
# arms differ by exactly the known amount.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${PROFILE:-ci}
AA_RUNS=${AA_RUNS:-10}
SLOW_RUNS=${SLOW_RUNS:-3}
LADDER=${LADDER:-"5 20"}
PAIRS=${PAIRS:-}
DURATION=${DURATION:-}
BURN_US=${BURN_US:-}
OUT=${OUT:-target/gate/selftest/$(date -u +%Y%m%dT%H%M%SZ)}
DOC=${DOC:-reports/gate-calibration.md}
BIN=target/release
PERF_REPORT=${PERF_REPORT:-$BIN/perf-report}
SELFTEST=target/gate/bin/selftest/filter-proxy

if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release -p filter-proxy --features gate-selftest
  mkdir -p "$(dirname "$SELFTEST")"
  cp "$BIN/filter-proxy" "$SELFTEST.partial" && mv "$SELFTEST.partial" "$SELFTEST"
  # Put the shipping proxy back in the shared target directory.
  cargo build --release -p filter-proxy -p loadgen -p reports
fi

sessions=()
run() { # LABEL DIR [extra perf-report gate args]
  local label=$1 dir=$2
  shift 2
  local rc=0
  "$PERF_REPORT" gate --profile "profiles/$PROFILE.toml" --out "$dir" --loadgen-bin "$BIN/loadgen" \
    --control-bin "$SELFTEST" --candidate-bin "$SELFTEST" \
    ${PAIRS:+--pairs "$PAIRS"} ${DURATION:+--duration "$DURATION"} "$@" || rc=$?
  if [ "$rc" -eq 2 ]; then
    echo "gate-selftest: session $dir failed (exit 2)" >&2
    exit 2
  fi
  sessions+=("$label=$dir")
}

mkdir -p "$OUT"
for i in $(seq 1 "$AA_RUNS"); do
  run "A/A" "$OUT/aa-$i"
done
if [ -z "$BURN_US" ]; then
  cpu=$("$PERF_REPORT" control-value "$OUT/aa-1" --metric proxy_cpu_us_per_request)
  BURN_US=$(awk -v c="$cpu" 'BEGIN { printf "%d", c * 0.10 + 0.999 }')
fi
burn_for() { awk -v b="$BURN_US" -v p="$1" 'BEGIN { printf "%d", b * p / 10 + 0.5 }'; }
for i in $(seq 1 "$SLOW_RUNS"); do
  run "+10% CPU per request (burn ${BURN_US} us)" "$OUT/cpu10-$i" \
    --candidate-env "FILTER_PROXY_SELFTEST_BURN_US=$BURN_US"
  run "+1 allocation per request" "$OUT/alloc1-$i" \
    --candidate-env "FILTER_PROXY_SELFTEST_ALLOCS=1"
done
for pct in $LADDER; do
  us=$(burn_for "$pct")
  run "+${pct}% CPU per request (burn ${us} us)" "$OUT/cpu${pct}" \
    --candidate-env "FILTER_PROXY_SELFTEST_BURN_US=$us"
done

notes="Run: profile \`$PROFILE\`, ${AA_RUNS} A/A sessions, ${SLOW_RUNS} per slowed candidate, ladder ${LADDER}% CPU; pairs and trial length from \`baselines/gates.toml\`${PAIRS:+ (pairs overridden: $PAIRS)}${DURATION:+ (trial length overridden: ${DURATION} s)}. 10% CPU = ${BURN_US} us of busy-wait per request, sized from the first A/A session's control CPU per request. Machine: $(nproc) cores, $(uname -r), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
"$PERF_REPORT" calibrate --out "$DOC" --notes "$notes" "${sessions[@]}"
