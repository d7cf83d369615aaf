#!/usr/bin/env bash
# Memory and fds per idle connection: filter-proxy against Squid, same storm client
# (`loadgen storm`), same method (RSS and fds from /proc/PID, least-squares slopes over the
# connections the client holds open), same origin. See README.md in this directory.
#
# Environment: BENCH_KEEP_ALIVE (idle keep-alive connections, default 6000), BENCH_TUNNELS
# (idle tunnels, default 2000), BENCH_RAMP (each kind opened within, default 8s),
# BENCH_HOLD (default 4s), BENCH_SKIP_SQUID=1 (proxy only), BENCH_KEEP=1 (keep the temp
# dir: configs, logs, each storm's storm.json and connection-samples.csv), BENCH_OUT
# (results file).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The connections profile's counts (profiles/connections.toml); they fit under Squid's fd
# ceiling below (12,048 fds of 16,384), which the script checks for any other counts.
KEEP_ALIVE="${BENCH_KEEP_ALIVE:-6000}"
TUNNELS="${BENCH_TUNNELS:-2000}"
RAMP="${BENCH_RAMP:-8s}"
HOLD="${BENCH_HOLD:-4s}"
# Cores: the proxy under test on one, the storm client and the origin on the other.
SERVER_CPU=1
CLIENT_CPU=0
# The host every storm request names (loadgen/src/connections/open.rs, HOST).
STORM_HOST="allowed.example"
BLOCKLIST_SIZE=1000
# Squid's own fd ceiling (max_filedescriptors); the storm must fit under it.
SQUID_MAX_FDS=16384
# Fds beyond one per client socket and one per tunnel's origin socket: listeners, logs,
# idle pooled origin connections.
FD_SLACK=2048

[[ "$KEEP_ALIVE" =~ ^[0-9]+$ && "$TUNNELS" =~ ^[0-9]+$ ]] ||
  die "BENCH_KEEP_ALIVE and BENCH_TUNNELS must be whole numbers"
[[ -n "${BENCH_SKIP_SQUID:-}" ]] || command -v squid >/dev/null ||
  die "squid is not installed (apt-get install -y squid), or set BENCH_SKIP_SQUID=1"

# Each proxy holds a socket per connection and a second one per tunnel; the children
# inherit this shell's limit (Squid raises its own up to max_filedescriptors within it).
SERVER_FDS=$((KEEP_ALIVE + 2 * TUNNELS + FD_SLACK))
HARD_FDS="$(ulimit -Hn)"
if [[ "$HARD_FDS" != unlimited ]] && ((HARD_FDS < SERVER_FDS)); then
  die "the storm needs $SERVER_FDS fds per proxy, the hard limit is $HARD_FDS: fewer connections (BENCH_KEEP_ALIVE, BENCH_TUNNELS)"
fi
((SERVER_FDS <= SQUID_MAX_FDS)) ||
  die "the storm needs $SERVER_FDS fds, above Squid's max_filedescriptors $SQUID_MAX_FDS: fewer connections"
[[ "$HARD_FDS" == unlimited ]] || ulimit -n "$HARD_FDS"

WORK_DIR="$(mktemp -d -t bench-squid-conns.XXXXXX)"
build_release
chmod 0777 "$WORK_DIR"

start_origin "$CLIENT_CPU"
write_blocklist "$BLOCKLIST_SIZE"
write_proxy_config
# The storm holds its connections idle: the cap must admit them all, and the head timer
# (hyper's, which also runs while a keep-alive connection waits for its next request) must
# outlast the storm, as `loadgen run` sets them for the connections profile.
sed -i -e "s|^max_connections = .*|max_connections = $((KEEP_ALIVE + TUNNELS + 64))|" \
  -e 's|^header_read_timeout = .*|header_read_timeout = "180s"|' "$WORK_DIR/proxy.toml"
"$PROXY_BIN" check-config "$WORK_DIR/proxy.toml" >&2 || die "generated proxy config is invalid"

# Squid sends plain requests to the origin as its originserver parent, but never sends a
# CONNECT to an originserver parent (ERR_CANNOT_FORWARD): tunnels go direct, the storm's
# host resolved to the origin by a hosts file, and the storm names the origin's port (which
# answers TLS too). filter-proxy gets the same CONNECT target (its resolve "*" maps it).
echo "127.0.0.1 $STORM_HOST" >"$WORK_DIR/hosts"
if [[ -z "${BENCH_SKIP_SQUID:-}" ]]; then
  write_squid_config "max_filedescriptors $SQUID_MAX_FDS
hosts_file $WORK_DIR/hosts
acl CONNECT method CONNECT
acl origin_tls port $ORIGIN_PORT
always_direct allow CONNECT
http_access deny CONNECT !origin_tls"
fi

# expect_tunnel PORT: one HTTPS request through a proxy's CONNECT to the origin, checked.
expect_tunnel() {
  local got
  got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$WORK_DIR/origin-ca.pem" \
    -x "http://127.0.0.1:$1" "https://$STORM_HOST:$ORIGIN_PORT/bytes/16")
  [[ "$got" == 200 ]] || die "via 127.0.0.1:$1, a tunnel to the origin answered $got, expected 200"
}

# storm NAME PORT PID [ARGS...]: `loadgen storm` on the client core against one proxy,
# its report in $WORK_DIR/storm-NAME/storm.json. Run as a child (killed by pid on Ctrl-C or
# SIGTERM like the others) and bounded by STORM_TIMEOUT on top of its own deadlines.
STORM_TIMEOUT=600
storm() {
  local name="$1" port="$2" pid="$3" rc=0
  shift 3
  log "storm against $name: $KEEP_ALIVE keep-alive + $TUNNELS tunnels over $RAMP each, hold $HOLD"
  spawn "$CLIENT_CPU" "$WORK_DIR/storm-$name.log" timeout "$STORM_TIMEOUT" "$LOADGEN_BIN" storm \
    --label "$name" --proxy "127.0.0.1:$port" --pid "$pid" --origin-ca "$WORK_DIR/origin-ca.pem" \
    --connect-port "$ORIGIN_PORT" --keep-alive "$KEEP_ALIVE" --tunnels "$TUNNELS" \
    --ramp "$RAMP" --hold "$HOLD" --out "$WORK_DIR/storm-$name" "$@"
  wait "$SPAWNED_PID" || rc=$?
  stop "$SPAWNED_PID"
  cat "$WORK_DIR/storm-$name.log" >&2
  ((rc == 0)) || die "the storm against $name failed (exit $rc, see above)"
}

# --- filter-proxy ----------------------------------------------------------------------
start_proxy "$SERVER_CPU"
expect_status "$PROXY_PORT" "$STORM_HOST" 200
expect_status "$PROXY_PORT" "$BLOCKED_HOST" 403
expect_tunnel "$PROXY_PORT"
storm filter-proxy "$PROXY_PORT" "$PROXY_PID" --admin "127.0.0.1:$ADMIN_PORT"
stop "$PROXY_PID"

# --- squid -----------------------------------------------------------------------------
SQUID_VERSION="not measured"
if [[ -z "${BENCH_SKIP_SQUID:-}" ]]; then
  start_squid "$SERVER_CPU"
  expect_status "$SQUID_PORT" "$STORM_HOST" 200
  expect_status "$SQUID_PORT" "$BLOCKED_HOST" 403
  expect_tunnel "$SQUID_PORT"
  storm squid "$SQUID_PORT" "$SQUID_PID"
  stop "$SQUID_PID"
fi

# --- report ----------------------------------------------------------------------------
# The jq helper of the report: a number rounded to $d decimals.
JQ_FMT='def fmt: (. * pow(10; $d) | round) / pow(10; $d);'
# fig NAME JQ_PATH [DECIMALS]: a slope as "value [lower, upper]" (default 0 decimals), or "-".
fig() {
  local file="$WORK_DIR/storm-$1/storm.json"
  [[ -r "$file" ]] || { echo "-"; return; }
  jq -r --argjson d "${3:-0}" "$JQ_FMT $2"' | if . == null then "-" else
    "\(.per_connection | fmt) [\(.lower | fmt), \(.upper | fmt)]" end' "$file"
}
# ratio JQ_PATH: filter-proxy / Squid of a slope, with the range its intervals' ends allow.
ratio() {
  local p="$WORK_DIR/storm-filter-proxy/storm.json" s="$WORK_DIR/storm-squid/storm.json"
  [[ -r "$p" && -r "$s" ]] || { echo "-"; return; }
  jq -rn --slurpfile p "$p" --slurpfile s "$s" "(\$p[0] | $1) as \$a | (\$s[0] | $1) as \$b |
    if \$a == null or \$b == null then \"-\" else
    \"\\((\$a.per_connection / \$b.per_connection * 100 | round) / 100) (\\((\$a.lower / \$b.upper * 100 | round) / 100)–\\((\$a.upper / \$b.lower * 100 | round) / 100))\" end"
}
# val NAME JQ_EXPR: a plain value of one storm's report, or "-".
val() {
  local file="$WORK_DIR/storm-$1/storm.json"
  [[ -r "$file" ]] || { echo "-"; return; }
  jq -r "$2" "$file"
}
opened() { # opened NAME: "opened/planned, failed" for both kinds, and what stayed open
  val "$1" '"\(.keep_alive.opened)/\(.keep_alive.planned) + \(.tunnel.opened)/\(.tunnel.planned), \(.keep_alive.failed + .tunnel.failed) failed, \(.still_open) still open at the end"'
}
report() {
  echo "## Memory per idle connection: filter-proxy vs Squid ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "Proxy on CPU $SERVER_CPU; \`loadgen storm\` and \`loadgen origin\` on CPU $CLIENT_CPU. Each proxy in turn, freshly"
  echo "started: $KEEP_ALIVE idle keep-alive connections (one GET of 1 KiB of http://$STORM_HOST/, then idle) opened"
  echo "within $RAMP, a settling second, $TUNNELS idle tunnels (CONNECT $STORM_HOST:ORIGIN_PORT, TLS handshake with the"
  echo "origin through it, then idle) within $RAMP, a settling second, held $HOLD. RSS and fds from /proc/PID every"
  echo "200 ms; each cost is the least-squares slope over the connections the storm client holds open, on the"
  echo "samples of the phase that opened that kind, with its 95% interval. Live heap only for filter-proxy"
  echo "(jemalloc, same x-axis); Squid has no such endpoint: not measured."
  echo "Squid: $SQUID_VERSION (Debian), workers 1, no cache, access log on, max_filedescriptors $SQUID_MAX_FDS,"
  echo "memory pools on (its default). Counts kept to what Squid's fd ceiling holds: $SERVER_FDS fds needed."
  echo "Each storm: \`loadgen storm --label NAME --proxy 127.0.0.1:PORT --pid PID --origin-ca CA"
  echo "--connect-port ORIGIN_PORT --keep-alive $KEEP_ALIVE --tunnels $TUNNELS --ramp $RAMP --hold $HOLD\`"
  echo "(filter-proxy also \`--admin\` for its heap). The figures of \`loadgen run --profile profiles/connections.toml\`"
  echo "(results/2026-12-06-connections.md) are fitted over filter-proxy's own connection gauge instead; here"
  echo "both proxies are fitted over what the client holds, so the ratio is like for like."
  host_note
  echo "Counts: BENCH_KEEP_ALIVE=$KEEP_ALIVE BENCH_TUNNELS=$TUNNELS BENCH_RAMP=$RAMP BENCH_HOLD=$HOLD."
  echo
  echo "| figure | filter-proxy | Squid | ratio filter-proxy / Squid (range from the intervals) |"
  echo "| --- | ---: | ---: | ---: |"
  echo "| RSS per idle keep-alive connection, B | $(fig filter-proxy .keep_alive.rss_bytes) | $(fig squid .keep_alive.rss_bytes) | $(ratio .keep_alive.rss_bytes) |"
  echo "| RSS per idle tunnel, B | $(fig filter-proxy .tunnel.rss_bytes) | $(fig squid .tunnel.rss_bytes) | $(ratio .tunnel.rss_bytes) |"
  echo "| fds per keep-alive connection | $(fig filter-proxy .keep_alive.fds 2) | $(fig squid .keep_alive.fds 2) | - |"
  echo "| fds per tunnel | $(fig filter-proxy .tunnel.fds 2) | $(fig squid .tunnel.fds 2) | - |"
  echo "| live heap per keep-alive connection, B | $(fig filter-proxy .keep_alive.heap_bytes) | not measured | - |"
  echo "| live heap per tunnel, B | $(fig filter-proxy .tunnel.heap_bytes) | not measured | - |"
  echo "| opened (keep-alive + tunnels) | $(opened filter-proxy) | $(opened squid) | - |"
  echo "| accept rate keep-alive / tunnels, per s | $(val filter-proxy '"\(.keep_alive.accept_rate_per_s | round) / \(.tunnel.accept_rate_per_s | round)"') | $(val squid '"\(.keep_alive.accept_rate_per_s | round) / \(.tunnel.accept_rate_per_s | round)"') | - |"
  echo "| peak RSS (VmHWM) at the end, MiB | $(val filter-proxy '(.peak_rss_bytes // 0) / 1048576 | round') | $(val squid '(.peak_rss_bytes // 0) / 1048576 | round') | - |"
  echo
  echo "Samples per fit (keep-alive RSS, tunnel RSS) and r²:"
  echo
  echo '```'
  local name
  for name in filter-proxy squid; do
    val "$name" '"\(.label): keep-alive \(.keep_alive.rss_bytes.samples) samples r² \(.keep_alive.rss_bytes.r_squared * 10000 | round / 10000), tunnels \(.tunnel.rss_bytes.samples) samples r² \(.tunnel.rss_bytes.r_squared * 10000 | round / 10000)"'
  done
  echo '```'
}
OUT="${BENCH_OUT:-$BENCH_DIR/results/$(date -u +%Y-%m-%d)-squid-connections.md}"
report | tee "$OUT"
log "written to $OUT"
