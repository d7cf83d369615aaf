#!/usr/bin/env bash
# CPU time and allocations per proxied request: filter-proxy against Squid, same core,
# same origin, same wrk load. See README.md in this directory for method and caveats.
#
# Environment: BENCH_SIZES (bytes, default "1024 65536"), BENCH_RUNS (default 3),
# BENCH_SECONDS (per run, default 10), BENCH_CONNS (wrk keep-alive connections, default 32),
# BENCH_SKIP_SQUID=1 (proxy only), BENCH_KEEP=1 (keep the temp dir), BENCH_OUT (results file).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SIZES=(${BENCH_SIZES:-1024 65536})
RUNS="${BENCH_RUNS:-3}"
SECS="${BENCH_SECONDS:-10}"
CONNS="${BENCH_CONNS:-32}"
WARMUP_SECS=2
# Cores: the proxy under test on one, wrk and the origin on the other.
SERVER_CPU=1
CLIENT_CPU=0
# An allowed demo site (category news) and the size of the generated blocklist.
export BENCH_HOST="daily-now-2620.test"
BLOCKLIST_SIZE=1000
TARGET_RATIO=0.25
# Squid's CPU-µs/request quoted with the target (same Squid, idle machine), to set a
# measured Squid against: body bytes -> µs.
declare -A SQUID_REFERENCE_US=([1024]=70 [65536]=250)

command -v wrk >/dev/null || die "wrk is not installed (apt-get install -y wrk)"
[[ -n "${BENCH_SKIP_SQUID:-}" ]] || command -v squid >/dev/null ||
  die "squid is not installed (apt-get install -y squid), or set BENCH_SKIP_SQUID=1"

WORK_DIR="$(mktemp -d -t bench-cpu.XXXXXX)"
build_release
chmod 0777 "$WORK_DIR"
: >"$WORK_DIR/wrk.log"

start_origin "$CLIENT_CPU"
write_blocklist "$BLOCKLIST_SIZE"
write_proxy_config

# --- squid config ----------------------------------------------------------------------
[[ -n "${BENCH_SKIP_SQUID:-}" ]] || write_squid_config

# measure NAME KIND PID...: warm up, then RUNS runs per size; appends rows to $WORK_DIR/raw.tsv
# (name size run requests errors cpu_us user_us sys_us allocs).
measure() {
  local name="$1" kind="$2" port="$3"
  shift 3
  local pids=("$@") size run
  export BENCH_PATH
  for size in "${SIZES[@]}"; do
    BENCH_PATH="/bytes/$size"
    run_wrk "$CLIENT_CPU" "$WARMUP_SECS" "$CONNS" "http://127.0.0.1:$port" "$BENCH_DIR/absolute-form.lua" >/dev/null
    for run in $(seq 1 "$RUNS"); do
      local a0=0 a1=0 t0 t1 us0 us1 result reqs errs
      [[ "$kind" == proxy ]] && a0=$(curl -sf "http://127.0.0.1:$ADMIN_PORT/debug/jemalloc" | jq .allocations)
      t0=$(cpu_ticks "${pids[@]}")
      us0=$(user_sys_ticks "${pids[0]}")
      result=$(run_wrk "$CLIENT_CPU" "$SECS" "$CONNS" "http://127.0.0.1:$port" "$BENCH_DIR/absolute-form.lua")
      t1=$(cpu_ticks "${pids[@]}")
      us1=$(user_sys_ticks "${pids[0]}")
      [[ "$kind" == proxy ]] && a1=$(curl -sf "http://127.0.0.1:$ADMIN_PORT/debug/jemalloc" | jq .allocations)
      read -r reqs errs <<<"$result"
      ((reqs > 0)) || die "$name: wrk completed no request"
      ((errs == 0)) || log "$name size $size run $run: $errs errors (see wrk.log)"
      awk -v n="$name" -v s="$size" -v r="$run" -v q="$reqs" -v e="$errs" -v c="$((t1 - t0))" \
        -v u0="${us0% *}" -v u1="${us1% *}" -v s0="${us0#* }" -v s1="${us1#* }" \
        -v a="$((a1 - a0))" -v hz="$CLK_TCK" -v k="$kind" 'BEGIN {
          us = 1e6 / hz
          printf "%s\t%s\t%s\t%d\t%d\t%.2f\t%.2f\t%.2f\t%s\n", n, s, r, q, e, c * us / q,
            (u1 - u0) * us / q, (s1 - s0) * us / q, (k == "proxy" ? sprintf("%.2f", a / q) : "-")
        }' >>"$WORK_DIR/raw.tsv"
      log "$name size $size run $run: $(tail -1 "$WORK_DIR/raw.tsv")"
    done
  done
}

: >"$WORK_DIR/raw.tsv"

# --- filter-proxy ----------------------------------------------------------------------
start_proxy "$SERVER_CPU"
expect_status "$PROXY_PORT" "$BENCH_HOST" 200
expect_status "$PROXY_PORT" "$BLOCKED_HOST" 403
measure filter-proxy proxy "$PROXY_PORT" "$PROXY_PID"
stop "$PROXY_PID"

# --- squid -----------------------------------------------------------------------------
SQUID_VERSION="not measured"
if [[ -z "${BENCH_SKIP_SQUID:-}" ]]; then
  start_squid "$SERVER_CPU"
  expect_status "$SQUID_PORT" "$BENCH_HOST" 200
  expect_status "$SQUID_PORT" "$BLOCKED_HOST" 403
  measure squid squid "$SQUID_PORT" "$SQUID_PID"
  stop "$SQUID_PID"
fi

# --- report ----------------------------------------------------------------------------
col() { # col NAME SIZE FIELD: that field of the median run (by CPU-µs/request)
  local rows
  rows=$(awk -F'\t' -v n="$1" -v s="$2" '$1 == n && $2 == s' "$WORK_DIR/raw.tsv" | sort -t$'\t' -k6,6g)
  [[ -n "$rows" ]] || { echo "-"; return; }
  echo "$rows" | awk -F'\t' -v f="$3" '{v[NR] = $f} END {print v[int((NR + 1) / 2)]}'
}
report() {
  echo "## CPU per request: filter-proxy vs Squid ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "Proxy on CPU $SERVER_CPU, wrk (1 thread, $CONNS keep-alive connections) and loadgen origin on CPU $CLIENT_CPU;"
  echo "$BLOCKLIST_SIZE-domain blocklist; absolute-form GET http://$BENCH_HOST/bytes/N; $RUNS runs of ${SECS}s each:"
  echo "rps is the median; CPU (total, user/sys) and allocations come from the run with the median CPU-µs/request."
  echo "Squid: $SQUID_VERSION (Debian), workers 1, no cache, access log on."
  host_note
  echo
  echo "| body | proxy rps | proxy CPU-µs/req (user/sys) | allocs/req | squid rps | squid CPU-µs/req (user/sys) | ratio | target ≤ $TARGET_RATIO |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
  local size p_rps p_cpu p_u p_s p_a s_rps s_cpu s_u s_s ratio met
  for size in "${SIZES[@]}"; do
    p_rps=$(awk -v r="$(median $(awk -F'\t' -v s="$size" '$1 == "filter-proxy" && $2 == s {print $4}' "$WORK_DIR/raw.tsv"))" -v s="$SECS" 'BEGIN {printf "%.0f", r / s}')
    p_cpu=$(col filter-proxy "$size" 6); p_u=$(col filter-proxy "$size" 7); p_s=$(col filter-proxy "$size" 8)
    p_a=$(col filter-proxy "$size" 9)
    s_cpu=$(col squid "$size" 6)
    if [[ "$s_cpu" == "-" || "$p_cpu" == "-" ]]; then
      s_rps="-"; s_u="-"; s_s="-"; ratio="-"; met="not measured"
    else
      s_rps=$(awk -v r="$(median $(awk -F'\t' -v s="$size" '$1 == "squid" && $2 == s {print $4}' "$WORK_DIR/raw.tsv"))" -v s="$SECS" 'BEGIN {printf "%.0f", r / s}')
      s_u=$(col squid "$size" 7); s_s=$(col squid "$size" 8)
      ratio=$(awk -v a="$p_cpu" -v b="$s_cpu" 'BEGIN {printf "%.2f", a / b}')
      met=$(awk -v r="$ratio" -v t="$TARGET_RATIO" 'BEGIN {print (r <= t) ? "met" : "**not met**"}')
    fi
    echo "| $((size / 1024)) KiB | $p_rps | $p_cpu ($p_u/$p_s) | $p_a | $s_rps | $s_cpu ($s_u/$s_s) | $ratio | $met |"
  done
  echo
  for size in "${SIZES[@]}"; do
    [[ -n "${SQUID_REFERENCE_US[$size]:-}" ]] || continue
    awk -v p="$(col filter-proxy "$size" 6)" -v r="${SQUID_REFERENCE_US[$size]}" -v k="$((size / 1024))" -v t="$TARGET_RATIO" \
      'BEGIN {printf "Against the reference Squid figure for %d KiB (%d µs/request): ratio %.2f, target %s.\n", k, r, p / r, (p / r <= t) ? "met" : "not met"}'
  done
  echo
  echo "Raw runs (name, bytes, run, requests, errors, CPU-µs/req, user, sys, allocs/req):"
  echo
  echo '```'
  cat "$WORK_DIR/raw.tsv"
  echo '```'
}
OUT="${BENCH_OUT:-$BENCH_DIR/results/$(date -u +%Y-%m-%d)-cpu-per-request.md}"
report | tee "$OUT"
log "written to $OUT"
