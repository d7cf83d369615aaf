# Shared helpers of the bench scripts: child bookkeeping, free ports, CPU readings,
# wrk runs. Sourced, not run. Every child started through `spawn` is killed by pid on
# exit, error or Ctrl-C, so an interrupted run leaves nothing behind.

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
# The command as run (a sourced file sees its caller's arguments), for host_note.
BENCH_INVOCATION="bench/$(basename "$0")"
(($#)) && BENCH_INVOCATION+="$(printf ' %q' "$@")"
CHILD_PIDS=()
WORK_DIR=""

cleanup() {
  local pid
  for pid in "${CHILD_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${CHILD_PIDS[@]}"; do
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  CHILD_PIDS=()
  if [[ -n "$WORK_DIR" && -z "${BENCH_KEEP:-}" ]]; then
    rm -rf "$WORK_DIR"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "error: $*" >&2; exit 1; }
log() { echo "# $*" >&2; }

# spawn CPU LOGFILE CMD...: start CMD pinned to CPU in the background; sets SPAWNED_PID.
spawn() {
  local cpu="$1" logfile="$2"
  shift 2
  taskset -c "$cpu" "$@" >"$logfile" 2>&1 &
  SPAWNED_PID=$!
  CHILD_PIDS+=("$SPAWNED_PID")
}

# stop PID: terminate one child we started and wait for it.
stop() {
  local pid="$1" p rest=()
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${CHILD_PIDS[@]}"; do [[ "$p" == "$pid" ]] || rest+=("$p"); done
  CHILD_PIDS=("${rest[@]}")
}

# free_port: a port the kernel just handed out on 127.0.0.1 (bound to 0, then released).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL [SECONDS]: poll until URL answers any HTTP status, or fail at the deadline.
wait_http() {
  local url="$1" deadline=$((SECONDS + ${2:-20}))
  until curl -s -o /dev/null --max-time 1 "$url"; do
    ((SECONDS < deadline)) || die "$url did not answer within ${2:-20}s"
    sleep 0.1
  done
}

# wait_port PORT [SECONDS]: poll until something accepts on 127.0.0.1:PORT.
wait_port() {
  local port="$1" deadline=$((SECONDS + ${2:-20}))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    ((SECONDS < deadline)) || die "nothing listens on 127.0.0.1:$port after ${2:-20}s"
    sleep 0.1
  done
}

# cpu_ticks PID...: utime+stime (clock ticks) summed over the given processes and
# every descendant still alive (all threads are folded into /proc/PID/stat).
cpu_ticks() {
  local total=0 pid kids
  local -a todo=("$@")
  while ((${#todo[@]})); do
    pid="${todo[0]}"
    todo=("${todo[@]:1}")
    if [[ -r "/proc/$pid/stat" ]]; then
      # Fields after the ")" of the command name: utime is 12th, stime 13th.
      total=$((total + $(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')))
      kids=$(pgrep -P "$pid" || true)
      [[ -n "$kids" ]] && todo+=($kids)
    fi
  done
  echo "$total"
}

# user_sys_ticks PID: "utime stime" of one process.
user_sys_ticks() {
  sed 's/.*) //' "/proc/$1/stat" | awk '{print $12, $13}'
}

CLK_TCK="$(getconf CLK_TCK)"

# run_wrk CPU SECONDS CONNS TARGET_URL [SCRIPT]: pinned wrk run; prints "requests errors".
# Non-2xx answers and socket errors count as errors.
run_wrk() {
  local cpu="$1" secs="$2" conns="$3" url="$4" script="${5:-}" out
  local -a extra=()
  [[ -n "$script" ]] && extra=(-s "$script")
  out=$(taskset -c "$cpu" wrk -t1 -c"$conns" -d"${secs}s" --timeout 5s "${extra[@]}" "$url")
  echo "$out" >>"$WORK_DIR/wrk.log"
  local reqs errs=0 n
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  n=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  [[ -n "$n" ]] && errs=$((errs + n))
  n=$(echo "$out" | sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p')
  [[ -n "$n" ]] && errs=$((errs + $(echo "$n" | awk '{print $1+$2+$3+$4}')))
  echo "${reqs:-0} $errs"
}

# median of the numbers given as arguments.
median() {
  printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'
}

# build_release: one release build of the proxy and the load generator (skipped with
# BENCH_NO_BUILD=1, which uses the binaries already built), copied into $WORK_DIR/bin so a
# parallel build in the shared target dir cannot swap them mid-run. Sets PROXY_BIN, LOADGEN_BIN.
build_release() {
  [[ -n "$WORK_DIR" ]] || die "build_release needs WORK_DIR"
  # The commit the binaries are built from, taken now: others may commit during a run.
  BENCH_COMMIT="$(commit_now)"
  if [[ -z "${BENCH_NO_BUILD:-}" ]]; then
    log "building release (filter-proxy, loadgen)"
    (cd "$REPO_DIR" && cargo build --release -q -p filter-proxy -p loadgen) >&2
  fi
  local target
  target="$(cd "$REPO_DIR" && cargo metadata --format-version 1 --no-deps | jq -r .target_directory)"
  mkdir -p "$WORK_DIR/bin"
  cp "$target/release/filter-proxy" "$target/release/loadgen" "$WORK_DIR/bin/"
  PROXY_BIN="$WORK_DIR/bin/filter-proxy"
  LOADGEN_BIN="$WORK_DIR/bin/loadgen"
  "$PROXY_BIN" --help 2>&1 | grep -q '^Usage: filter-proxy' ||
    die "$target/release/filter-proxy is not the proxy binary (another build may have replaced it; rebuild)"
  "$LOADGEN_BIN" --help 2>&1 | grep -q '^Usage: loadgen' ||
    die "$target/release/loadgen is not the loadgen binary (rebuild)"
}

# start_origin CPU: `loadgen origin` pinned to CPU on a free port; sets ORIGIN_PORT, ORIGIN_PID.
start_origin() {
  "$LOADGEN_BIN" origin --help >/dev/null 2>&1 || die "loadgen origin is not available in this build"
  ORIGIN_PORT="$(free_port)"
  spawn "$1" "$WORK_DIR/origin.log" "$LOADGEN_BIN" origin \
    --listen "127.0.0.1:$ORIGIN_PORT" --ca-out "$WORK_DIR/origin-ca.pem"
  ORIGIN_PID=$SPAWNED_PID
  wait_http "http://127.0.0.1:$ORIGIN_PORT/"
  log "origin pid $ORIGIN_PID on 127.0.0.1:$ORIGIN_PORT (cpu $1)"
}

# write_blocklist N: N generated domains in $WORK_DIR/blocklist.txt; sets BLOCKED_HOST
# (one of them, to check that the list is enforced).
write_blocklist() {
  local i
  for i in $(seq -w 1 "$1"); do echo "blocked-bench-$i.test"; done >"$WORK_DIR/blocklist.txt"
  BLOCKED_HOST="$(sed -n "$(( ($1 + 1) / 2 ))p" "$WORK_DIR/blocklist.txt")"
}

# write_proxy_config: $WORK_DIR/proxy.toml, the demo config with free ports, every host
# resolved to the origin, and a policy whose default group denies the blocklist on top of
# the demo's blocked categories. Sets PROXY_PORT, ADMIN_PORT.
write_proxy_config() {
  local demo="$REPO_DIR/scenarios/demo"
  PROXY_PORT="$(free_port)"
  ADMIN_PORT="$(free_port)"
  {
    echo '[groups.default]'
    grep -A1 -m1 '^blocked_categories' "$demo/policy.toml"
    echo 'always_deny = ['
    sed 's/.*/  "&",/' "$WORK_DIR/blocklist.txt"
    echo ']'
  } >"$WORK_DIR/policy.toml"
  sed -e "s|^listen = .*|listen = \"127.0.0.1:$PROXY_PORT\"|" \
    -e "s|^admin_listen = .*|admin_listen = \"127.0.0.1:$ADMIN_PORT\"|" \
    -e "s|^categories = .*|categories = \"$demo/categories.txt\"|" \
    -e "s|^policy = .*|policy = \"$WORK_DIR/policy.toml\"|" \
    -e "s|^users_file = .*|users_file = \"$demo/users.csv\"|" \
    -e "s|^\"\\*\" = .*|\"*\" = \"127.0.0.1:$ORIGIN_PORT\"|" \
    -e "s|^level = .*|level = \"warn\"|" \
    "$demo/proxy.toml" >"$WORK_DIR/proxy.toml"
  "$PROXY_BIN" check-config "$WORK_DIR/proxy.toml" >&2 || die "generated proxy config is invalid"
}

# start_proxy CPU: filter-proxy pinned to CPU with the generated config, ready; sets PROXY_PID.
start_proxy() {
  spawn "$1" "$WORK_DIR/proxy.log" "$PROXY_BIN" --config "$WORK_DIR/proxy.toml"
  PROXY_PID=$SPAWNED_PID
  wait_http "http://127.0.0.1:$ADMIN_PORT/readyz"
  log "filter-proxy pid $PROXY_PID on 127.0.0.1:$PROXY_PORT (cpu $1)"
}

# write_squid_config [EXTRA]: $WORK_DIR/squid.conf, Squid set up as the proxy's equivalent:
# the blocklist as a dstdomain ACL denied, everything else allowed, no cache, every request
# sent to the origin as an `originserver` parent (the proxy's resolve "*"), logs and pid
# file in $WORK_DIR, one worker. EXTRA (lines) goes before the http_access rules. Needs
# write_blocklist and start_origin first; $WORK_DIR must be writable by the Squid user.
# Sets SQUID_PORT.
write_squid_config() {
  local extra="${1:-}" user
  SQUID_PORT="$(free_port)"
  user="$(id -un)"
  [[ "$user" == root ]] && user=proxy # squid refuses to keep root privileges
  {
    cat <<CONF
http_port 127.0.0.1:$SQUID_PORT
workers 1
cache_effective_user $user
pid_filename $WORK_DIR/squid.pid
cache_log $WORK_DIR/squid-cache.log
access_log stdio:$WORK_DIR/squid-access.log
coredump_dir $WORK_DIR
cache deny all
cache_mem 0 MB
# Every site goes to the local origin, as the proxy's resolve "*" does.
cache_peer 127.0.0.1 parent $ORIGIN_PORT 0 no-query no-digest originserver name=origin
never_direct allow all
acl blocklist dstdomain "$WORK_DIR/blocklist.txt"
CONF
    [[ -n "$extra" ]] && printf '%s\n' "$extra"
    cat <<CONF
http_access deny blocklist
http_access allow all
shutdown_lifetime 0 seconds
pinger_enable off
CONF
  } >"$WORK_DIR/squid.conf"
  squid -k parse -f "$WORK_DIR/squid.conf" >"$WORK_DIR/squid-parse.log" 2>&1 ||
    die "generated squid.conf is invalid (see $WORK_DIR/squid-parse.log)"
}

# start_squid CPU: Squid pinned to CPU in the foreground (-N) with $WORK_DIR/squid.conf,
# accepting; sets SQUID_PID, SQUID_VERSION.
start_squid() {
  SQUID_VERSION="$(squid -v | head -1 | sed 's/.*Version //')"
  spawn "$1" "$WORK_DIR/squid.log" squid -N -f "$WORK_DIR/squid.conf"
  SQUID_PID=$SPAWNED_PID
  wait_port "$SQUID_PORT" 30
  log "squid $SQUID_VERSION pid $SQUID_PID on 127.0.0.1:$SQUID_PORT (cpu $1)"
}

# expect_status PORT HOST STATUS: one request through a proxy, checked.
expect_status() {
  local got
  got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -x "http://127.0.0.1:$1" "http://$2/bytes/16")
  [[ "$got" == "$3" ]] || die "via 127.0.0.1:$1, http://$2/ answered $got, expected $3"
}

# commit_now: the commit checked out, marked when the tree has uncommitted changes.
commit_now() {
  local commit dirty=""
  commit=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [[ -n "$(git -C "$REPO_DIR" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
    dirty=" with uncommitted changes"
  fi
  echo "$commit$dirty"
}

# host_note: where a results file's figures came from: the commit measured (as it was at
# build_release, marked when the tree had uncommitted changes), the machine and how busy
# it was, and the command that reproduces them (every committed figure names all three).
host_note() {
  echo "Commit: ${BENCH_COMMIT:-$(commit_now)}. Reproduce: \`${BENCH_INVOCATION% }\`."
  local vm=""
  grep -qw hypervisor /proc/cpuinfo && vm=" (a VM)"
  echo "Host: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')$vm, kernel $(uname -r); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
}
