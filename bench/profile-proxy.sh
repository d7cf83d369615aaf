#!/usr/bin/env bash
# Where the proxy's CPU goes during a 1 KiB keep-alive run: a `perf` CPU profile
# (user and kernel stacks), the user/sys split, and syscalls per request (`strace -c`).
# Same setup as cpu-per-request.sh: proxy on CPU 1, wrk and the origin on CPU 0.
#
# Environment: BENCH_CONNS (default 32), BENCH_NO_BUILD=1, BENCH_KEEP=1 (keep perf.data etc.),
# BENCH_OUT (results file).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONNS="${BENCH_CONNS:-32}"
SERVER_CPU=1
CLIENT_CPU=0
PERF_SECS=10
STRACE_SECS=5
export BENCH_HOST="daily-now-2620.test" BENCH_PATH="/bytes/1024"

for tool in wrk perf strace; do command -v "$tool" >/dev/null || die "$tool is not installed"; done
WORK_DIR="$(mktemp -d -t bench-profile.XXXXXX)"
build_release
: >"$WORK_DIR/wrk.log"
start_origin "$CLIENT_CPU"
write_blocklist 1000
write_proxy_config
start_proxy "$SERVER_CPU"
expect_status "$PROXY_PORT" "$BENCH_HOST" 200

requests_total() {
  curl -sf "http://127.0.0.1:$ADMIN_PORT/metrics" |
    awk '/^filter_proxy_requests_total/ {s += $NF} END {printf "%d", s}'
}

# phase SECONDS CMD...: run CMD under a bounded wrk load; sets PHASE_REQS and PHASE_TICKS
# (requests the proxy answered and its "utime stime" deltas meanwhile).
phase() {
  local secs="$1" r0 r1 us0 us1 wrk_pid
  shift
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$((secs + 4))s" -s "$BENCH_DIR/absolute-form.lua" \
    "http://127.0.0.1:$PROXY_PORT" >>"$WORK_DIR/wrk.log" &
  wrk_pid=$!
  CHILD_PIDS+=("$wrk_pid")
  sleep 2 # let the connections open and the rate settle
  r0=$(requests_total); us0=$(user_sys_ticks "$PROXY_PID")
  "$@" || true # strace stopped by timeout exits non-zero
  r1=$(requests_total); us1=$(user_sys_ticks "$PROXY_PID")
  wait "$wrk_pid" || true
  PHASE_REQS=$((r1 - r0))
  PHASE_TICKS="$(( ${us1% *} - ${us0% *} )) $(( ${us1#* } - ${us0#* } ))"
}

phase "$PERF_SECS" perf record -q -e cpu-clock -F 499 --call-graph dwarf,16384 -p "$PROXY_PID" -o "$WORK_DIR/perf.data" -- sleep "$PERF_SECS"
PERF_REQS=$PHASE_REQS
read -r UT ST <<<"$PHASE_TICKS"
phase "$STRACE_SECS" timeout -s INT "$STRACE_SECS" strace -c -f -q -p "$PROXY_PID" -o "$WORK_DIR/strace.txt"
STRACE_REQS=$PHASE_REQS
# The proxy's own sampler unwinds user stacks fully (perf's -g cannot without frame
# pointers); user space only.
phase "$PERF_SECS" curl -sf --max-time "$((PERF_SECS + 30))" -o "$WORK_DIR/profile.folded" \
  "http://127.0.0.1:$ADMIN_PORT/debug/pprof/profile?seconds=$PERF_SECS&format=folded"

# folded_top self|total N: the N frames with the most samples, as % of all samples; "self"
# counts leaves, "total" every frame once per stack (inclusive time).
folded_top() {
  awk -v mode="$1" '{
      n = $NF; $NF = ""; sub(/ $/, ""); k = split($0, f, ";"); all += n
      if (mode == "self") { s[f[k]] += n; next }
      delete seen
      for (i = 2; i <= k; i++) if (!(f[i] in seen)) { seen[f[i]] = 1; s[f[i]] += n }
    } END { for (x in s) printf "%6.2f%%  %s\n", 100 * s[x] / all, x }' "$WORK_DIR/profile.folded" |
    sort -rn | head -"$2" | cut -c1-160
}

report() {
  set +o pipefail # `head` closes perf's output early on purpose
  local us=$((1000000 / CLK_TCK))
  echo "## Where the proxy's CPU goes: 1 KiB, $CONNS keep-alive connections ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  host_note
  echo
  echo "During the ${PERF_SECS}s perf window: $PERF_REQS requests ($((PERF_REQS / PERF_SECS)) rps),"
  awk -v u="$UT" -v s="$ST" -v us="$us" -v n="$PERF_REQS" 'BEGIN {
    printf "user %.1f µs/req, sys %.1f µs/req (%.0f %% sys).\n", u * us / n, s * us / n, 100 * s / (u + s) }'
  echo
  echo "### Top symbols (self time, all samples, kernel included)"
  echo
  echo '```'
  perf report -i "$WORK_DIR/perf.data" --no-children --sort sym --stdio -q -g none 2>/dev/null |
    grep -v '^$' | head -40
  echo '```'
  echo
  echo "### Inclusive time of named user-space steps (perf, DWARF stacks; kernel time below them included)"
  echo
  echo '```'
  perf report -i "$WORK_DIR/perf.data" --children --sort sym --stdio -q -g none 2>/dev/null | grep -v inlined |
    grep -E '\[\.\] (filter_proxy::(forward|policy|identity|filter)|<hyper::proto::h1::role|hyper::proto::h1::io::Buffered<T,B>::parse|http::header::map::HeaderMap|<core::net::ip_addr|_rjem_je_(malloc|sdalloc)|tokio::sync::(mpsc|oneshot)|<tokio::sync::oneshot|<tokio::time::timeout|tokio::runtime::time)' |
    head -40 | cut -c1-150
  echo '```'
  echo
  echo "### By shared object"
  echo
  echo '```'
  perf report -i "$WORK_DIR/perf.data" --no-children --sort dso --stdio -q -g none 2>/dev/null |
    grep -v '^$' | head -10
  echo '```'
  echo
  echo "### User space, the proxy's own profiler (few samples): self time of inlined leaves"
  echo
  echo '```'
  folded_top self 30
  echo '```'
  echo
  echo "### Syscalls under strace (${STRACE_SECS}s, $STRACE_REQS requests; strace slows the proxy)"
  echo
  echo '```'
  awk -v n="$STRACE_REQS" 'NR <= 2 {print; next}
    /^-/ {print; next}
    $4 ~ /^[0-9]+$/ {printf "%s   per request: %.2f\n", $0, $4 / n; next}
    {print}' "$WORK_DIR/strace.txt"
  echo '```'
}
OUT="${BENCH_OUT:-$BENCH_DIR/results/$(date -u +%Y-%m-%d)-profile.md}"
report | tee "$OUT"
log "written to $OUT"
