#!/usr/bin/env bash
# make canary: the canary judge on one machine, as production runs it (issue: a canary judge
# on live telemetry). Each session is `loadgen canary`: a control and a canary proxy side
# by side, one school-day load split between them by user, a real Prometheus scraping both
# every second, `perf-report canary` judging through its HTTP API.
#
# Sessions (each writes its directory under $OUT; the judge's canary.md is its report):
#   candidate  control = the proxy of baselines/ci.json's commit, built as the A/B gate
#              builds it; canary = this work tree: the release judgement, reported (the A/B
#              gate enforces the release; a control older than the metrics the judge reads
#              is "not judged").
#   aa         the work tree against itself: must not be rolled back (the judge's target
#              is no false rollback). A hotfix is accepted and said: on this 2-core machine
#              two identical proxies' CPU per request once differed by +12.9% within one
#              session, past the 10% hotfix line (reports/canary-calibration.md has the A/A
#              spread).
#   slowed     the canary is the work tree built with the gate-selftest feature, burning 10%
#              more CPU per request (sized from the aa session's control) and adding a delay
#              of a fifth of its p99: must not pass.
#   fail-open  both sides on a real Redis store (fail_mode open); the canary's Redis is
#              unreachable, so it serves every request unfiltered: must not pass.
# AA=N, SLOW=N and FAILOPEN=N repeat the aa, slowed and fail-open sessions (0 skips
# them); CANDIDATE=0 skips the candidate
# session (CI: the A/B gate has just judged the release); CALIBRATE=1 also writes
# reports/canary-calibration.md from every session of this call. WINDOW (seconds judged,
# default 30) sets the session length (about WINDOW + 25 s each).
#
#   scripts/canary.sh                 (make canary; CI)
#   AA=10 SLOW=3 CALIBRATE=1 scripts/canary.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-target/release}
AA=${AA:-1}
SLOW=${SLOW:-1}
WINDOW=${WINDOW:-30}
CALIBRATE=${CALIBRATE:-}
CANDIDATE=${CANDIDATE:-1}
FAILOPEN=${FAILOPEN:-1}
OUT=${OUT:-target/canary/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"

say() { echo "canary: $*"; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

candidate="$BIN/filter-proxy"
control=""
[ "$CANDIDATE" = 0 ] || control=$("$BIN/perf-report" control-bin --baseline baselines/ci.json)
# The slowed canary: the same tree with the self-test knob compiled in, copied aside so the
# plain release binary is back in place for everything after.
say "building the self-test proxy (--features gate-selftest)"
cargo build --release --locked -q -p filter-proxy --features gate-selftest
mkdir -p target/canary/bin
cp "$BIN/filter-proxy" target/canary/bin/filter-proxy-selftest
cargo build --release --locked -q -p filter-proxy
selftest=target/canary/bin/filter-proxy-selftest

failures=()
sessions=()
# session NAME EXPECT ARGS...: EXPECT is unharmed (exit 0, or 3 said aloud: not a
# rollback), caught (exit 1 or 3) or report (any verdict; only a session that could not
# run fails).
session() {
  local name=$1 expect=$2
  shift 2
  local dir="$OUT/$name"
  set +e
  "$BIN/loadgen" canary --window "$WINDOW" --out "$dir" "$@" >"$OUT/$name.log" 2>&1
  local code=$?
  set -e
  local verdict=none
  [ -f "$dir/judge/canary.json" ] && verdict=$(json "$dir/judge/canary.json" "(d['decision'] or {}).get('verdict','not judged')")
  say "$name: exit $code ($verdict); report $dir/judge/canary.md"
  sessions+=("$name=$dir")
  case "$expect:$code" in
    unharmed:0 | caught:1 | caught:3 | report:[0-3]) ;;
    unharmed:3) say "$name: a hotfix, not a rollback: accepted for an A/A (see its report for the metric)" ;;
    *) failures+=("$name: exit $code ($verdict), expected $expect"); tail -5 "$OUT/$name.log" >&2 ;;
  esac
}

if [ "$CANDIDATE" != 0 ]; then
  session candidate report --control-bin "$control" --canary-bin "$candidate"
fi
for i in $(seq 1 "$AA"); do
  session "aa-$i" unharmed --control-bin "$candidate" --canary-bin "$candidate"
done
# Size the slowdown from the first A/A session's control side (the slowed sessions need one).
burn="" delay="" cpu_us="" p99_ms=""
aa="$OUT/aa-1/judge/canary.json"
if [ "$SLOW" -gt 0 ]; then
  [ -f "$aa" ] || { echo "canary: SLOW=$SLOW needs an A/A session first (AA >= 1) to size the slowdown" >&2; exit 2; }
  cpu_us=$(json "$aa" "round(next(j['medians'][0] for j in d['judgements'] if j['metric']=='cpu_s_per_request')*1e6)")
  p99_ms=$(json "$aa" "round(next(j['medians'][0] for j in d['judgements'] if j['metric']=='latency_p99_ms.all'), 3)")
  burn=$(( (cpu_us + 5) / 10 ))
  delay=$(python3 -c "print(round($p99_ms * 1000 / 5))")
  say "slowdown: +${burn} us CPU per request (10% of ${cpu_us} us), +${delay} us delay (a fifth of p99 ${p99_ms} ms)"
fi
for i in $(seq 1 "$SLOW"); do
  session "slowed-$i" caught --control-bin "$candidate" --canary-bin "$selftest" \
    --canary-env "FILTER_PROXY_SELFTEST_BURN_US=$burn" \
    --canary-env "FILTER_PROXY_SELFTEST_DELAY_US=$delay"
done

for i in $(seq 1 "$FAILOPEN"); do
  session "fail-open-$i" caught --control-bin "$candidate" --canary-bin "$candidate" \
    --redis --canary-store-down
done

if [ -n "$CALIBRATE" ]; then
  slowdown_note=""
  [ -z "$burn" ] || slowdown_note="Slowdown: +${burn} us of CPU per request (10% of the A/A control's ${cpu_us} us) and +${delay} us of delay (a fifth of its p99, ${p99_ms} ms). "
  "$BIN/perf-report" canary-calibration --out reports/canary-calibration.md \
    --notes "${slowdown_note}Window ${WINDOW} s in 2 s intervals. Machine: $(nproc) cores, $(uname -r), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)." \
    "${sessions[@]}"
  say "wrote reports/canary-calibration.md"
fi

if [ ${#failures[@]} -gt 0 ]; then
  printf 'canary: FAILED: %s\n' "${failures[@]}" >&2
  exit 1
fi
say "every session as expected (sessions in $OUT)"
