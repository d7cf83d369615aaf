#!/usr/bin/env bash
# Builds the FROM-scratch image (proxy/Containerfile) with buildah, without a daemon or a
# registry, and runs the image's own binary:
#   1. the static release binary (reused when already built), debug sections stripped;
#   2. `buildah bud` on a context holding only that binary; the image size is printed and
#      written to target/image/size.txt;
#   3. `filter-proxy check-config` inside the image: the demo config passes, and a config
#      readable only by root is refused (the image runs as uid 65532);
#   4. an appliance-mode smoke run on loopback: test origin and cloud proxy on the host,
#      `filter-proxy appliance` in the image (chroot isolation shares the host's network),
#      a RADIUS Start from radclient names the user, then curl through the appliance: an
#      allowed page reaches the origin carrying the user, a blocked one is refused.
# Every process is stopped by pid, and the container and image removed, on any exit.
#
#   scripts/image.sh            (make image; .ci/run after the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

TARGET=x86_64-unknown-linux-gnu
STATIC=target/$TARGET/release/filter-proxy
LOADGEN=${LOADGEN:-target/debug/loadgen}
IMAGE=localhost/filter-proxy:scratch
BUILDAH=(buildah --storage-driver vfs)
OUT=target/image
mkdir -p "$OUT"
work=$(mktemp -d)
pids=()
ctr=""

trap 'image_cleanup image' EXIT
trap 'exit 130' INT TERM

say() { echo "image: $*"; }

# 1. The static binary. With --target, RUSTFLAGS reach neither build scripts nor
# proc-macros, which must stay dynamic to be loaded by the compiler.
say "static release build ($STATIC)"
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release --locked -p filter-proxy --target "$TARGET"
[ -x "$LOADGEN" ] || cargo build -p loadgen
mkdir -p "$work/context"
strip --strip-debug -o "$work/context/filter-proxy" "$STATIC"

# 2. The image.
say "buildah bud"
"${BUILDAH[@]}" bud --isolation chroot --quiet -f proxy/Containerfile -t "$IMAGE" "$work/context" >/dev/null
size=$("${BUILDAH[@]}" images --format '{{.Size}}' "$IMAGE")
bytes=$(stat -c %s "$work/context/filter-proxy")
user=$("${BUILDAH[@]}" inspect --type image --format '{{.OCIv1.Config.User}}' "$IMAGE")
echo "$size (binary $bytes bytes, user $user)" >"$OUT/size.txt"
say "image size $size (binary $bytes bytes), user $user"
[ "$user" = "65532:65532" ] || { echo "image: runs as '$user', not 65532:65532" >&2; exit 1; }

# 3. The image's binary checks configs.
ctr=$("${BUILDAH[@]}" from --quiet "$IMAGE")
in_image() { "${BUILDAH[@]}" run --isolation chroot "$@"; }
say "check-config in the image"
in_image -v "$PWD/scenarios/demo:/etc/filter-proxy/demo:ro" "$ctr" -- \
  /usr/local/bin/filter-proxy check-config /etc/filter-proxy/demo/proxy.toml
mkdir -p "$work/private"
install -m 0600 scenarios/demo/proxy.toml "$work/private/proxy.toml"
if in_image -v "$work/private:/etc/filter-proxy/private:ro" "$ctr" -- \
  /usr/local/bin/filter-proxy check-config /etc/filter-proxy/private/proxy.toml \
  >"$OUT/root-only.txt" 2>&1; then
  echo "image: read a root-only config: the image does not run as non-root" >&2
  exit 1
fi
grep -q "ermission denied" "$OUT/root-only.txt"

# 4. Appliance smoke run on loopback. Ports: random, checked free.
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
origin=$(free_port) proxy=$(free_port) proxy_admin=$(free_port)
listen=$(free_port) radius=$(free_port) admin=$(free_port)
rig="$work/rig"
mkdir -p "$rig"
cp scenarios/demo/{categories.txt,policy.toml,users.csv} "$rig/"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$rig/appliance.key"
chmod 0644 "$rig"/*
cat >"$rig/proxy.toml" <<EOF
[server]
listen = "127.0.0.1:$proxy"
admin_listen = "127.0.0.1:$proxy_admin"
[filter]
categories = "categories.txt"
policy = "policy.toml"
[identity]
users_file = "users.csv"
[upstream.resolve]
"*" = "127.0.0.1:$origin"
[proxy_protocol]
trusted_cidrs = ["127.0.0.1/32"]
hmac_key_file = "appliance.key"
EOF
cat >"$rig/appliance.toml" <<EOF
[upstream]
address = "127.0.0.1:$proxy"
[proxy_protocol]
hmac_key_file = "appliance.key"
[[listeners]]
mode = "explicit"
listen = "127.0.0.1:$listen"
[radius]
listen = "127.0.0.1:$radius"
group_from = ["filter_id"]
[[radius.clients]]
network = "127.0.0.0/8"
secret = "smoke-secret"
[admin]
listen = "127.0.0.1:$admin"
EOF

say "smoke run: origin :$origin, cloud proxy :$proxy (host), appliance :$listen (image)"
setsid "$LOADGEN" origin --listen "127.0.0.1:$origin" --ca-out "$work/origin-ca.pem" >"$OUT/origin.log" 2>&1 &
pids+=($!)
setsid "$STATIC" --config "$rig/proxy.toml" >"$OUT/proxy.log" 2>&1 &
pids+=($!)
setsid "${BUILDAH[@]}" run --isolation chroot -v "$rig:/etc/filter-proxy/rig:ro" "$ctr" -- \
  /usr/local/bin/filter-proxy appliance --config /etc/filter-proxy/rig/appliance.toml \
  >"$OUT/appliance.log" 2>&1 &
pids+=($!)

ready=""
for _ in $(seq 1 100); do
  if curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.1
done
[ -n "$ready" ] || { echo "image: the appliance never became ready" >&2; tail -5 "$OUT"/*.log >&2; exit 1; }

printf 'User-Name=student0001,Framed-IP-Address=127.0.0.1,Acct-Status-Type=Start,Acct-Session-Id=smoke-1,Filter-Id=students\n' \
  | radclient -t 2 -r 2 -q "127.0.0.1:$radius" acct smoke-secret

# Allowed for students: reaches the origin, which echoes the identity the cloud proxy added.
curl -sS --max-time 10 -x "http://127.0.0.1:$listen" "http://daily-now-2620.test/echo/headers" >"$OUT/allowed.json"
grep -q '"x-filter-user": *"student0001"' "$OUT/allowed.json" \
  || { echo "image: allowed request did not reach the origin as student0001:" >&2; cat "$OUT/allowed.json" >&2; exit 1; }
# A games site, blocked for students: the cloud proxy's 403 comes back through the image.
status=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -x "http://127.0.0.1:$listen" "http://level-now-5254.example/")
[ "$status" = 403 ] || { echo "image: blocked request answered $status, not 403" >&2; exit 1; }
say "smoke run ok: allowed page reached the origin as student0001, blocked page 403"
stop_all
say "done: $(cat "$OUT/size.txt")"
