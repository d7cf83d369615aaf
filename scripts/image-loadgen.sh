#!/usr/bin/env bash
# Builds the loadgen image (loadgen/Containerfile: loadgen and perf-report, FROM scratch)
# with buildah, without a daemon or a registry, and runs what the Kubernetes manifests of
# `loadgen k8s render` run, from the image (chroot isolation shares the host's network):
#   1. the static release binaries (reused when already built), debug sections stripped;
#   2. `buildah bud`; the size is printed and written to target/image-loadgen/size.txt;
#   3. the origin Deployment's command: `loadgen origin` on loopback writes its CA to the
#      mounted results directory and answers the host's curl;
#   4. the merge Job's commands: `perf-report merge` of a two-worker fleet run's directories
#      (made on the host, as scripts/k8s-check.sh makes it) and `perf-report render`.
# Every process is stopped by pid, and the container and image removed, on any exit.
#
#   scripts/image-loadgen.sh            (make image-loadgen)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

TARGET=x86_64-unknown-linux-gnu
STATIC=target/$TARGET/release
BIN=${BIN:-target/debug}
IMAGE=localhost/loadgen:scratch
BUILDAH=(buildah --storage-driver vfs)
OUT=target/image-loadgen
mkdir -p "$OUT"
work=$(mktemp -d)
pids=()
ctr=""

trap 'image_cleanup image-loadgen' EXIT
trap 'exit 130' INT TERM
say() { echo "image-loadgen: $*"; }

# 1. Static binaries. With --target, RUSTFLAGS reach neither build scripts nor proc-macros.
say "static release build ($STATIC/{loadgen,perf-report})"
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release --locked -p loadgen -p reports --target "$TARGET"
mkdir -p "$work/context"
for b in loadgen perf-report; do strip --strip-debug -o "$work/context/$b" "$STATIC/$b"; done

# 2. The image.
say "buildah bud"
"${BUILDAH[@]}" bud --isolation chroot --quiet -f loadgen/Containerfile -t "$IMAGE" "$work/context" >/dev/null
size=$("${BUILDAH[@]}" images --format '{{.Size}}' "$IMAGE")
user=$("${BUILDAH[@]}" inspect --type image --format '{{.OCIv1.Config.User}}' "$IMAGE")
echo "$size (loadgen $(stat -c %s "$work/context/loadgen") bytes, perf-report $(stat -c %s "$work/context/perf-report") bytes, user $user)" >"$OUT/size.txt"
say "image size $(cat "$OUT/size.txt")"
[ "$user" = "65532:65532" ] || { echo "image-loadgen: runs as '$user', not 65532:65532" >&2; exit 1; }
ctr=$("${BUILDAH[@]}" from --quiet "$IMAGE")
in_image() { "${BUILDAH[@]}" run --isolation chroot "$@"; }

# The results volume: writable by the image's user, as the pods' fsGroup makes it.
results="$work/results"
mkdir -p "$results"
chmod 0777 "$results"

# 3. The origin, as its Deployment runs it.
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
http=$(free_port) https=$(free_port)
say "origin from the image on 127.0.0.1:$http"
setsid "${BUILDAH[@]}" run --isolation chroot -v "$results:/results" "$ctr" -- \
  /usr/local/bin/loadgen origin --listen "127.0.0.1:$http" --tls-listen "127.0.0.1:$https" \
  --ca-out /results/run/origin-ca.pem >"$OUT/origin.log" 2>&1 &
pids+=($!)
ok=""
for _ in $(seq 1 100); do
  if curl -sf --max-time 2 "http://127.0.0.1:$http/bytes/1024" -o "$OUT/body" 2>/dev/null; then ok=1; break; fi
  sleep 0.1
done
[ -n "$ok" ] || { echo "image-loadgen: the origin never answered" >&2; cat "$OUT/origin.log" >&2; exit 1; }
[ "$(stat -c %s "$OUT/body")" = 1024 ] || { echo "image-loadgen: /bytes/1024 was not 1024 bytes" >&2; exit 1; }
grep -q "BEGIN CERTIFICATE" "$results/run/origin-ca.pem" \
  || { echo "image-loadgen: no CA in the results directory" >&2; exit 1; }
curl -sf --max-time 5 --cacert "$results/run/origin-ca.pem" --resolve "school.test:$https:127.0.0.1" \
  "https://school.test:$https/bytes/10" -o /dev/null \
  || { echo "image-loadgen: HTTPS with the written CA failed" >&2; exit 1; }
stop_all
say "origin ok: 1 KiB over HTTP, HTTPS trusted through the CA it wrote"

# 4. The merge Job's commands on a real two-worker run.
[ -x "$BIN/loadgen" ] && [ -x "$BIN/filter-proxy" ] || cargo build --locked -q -p loadgen -p filter-proxy
say "a two-worker fleet run on the host"
"$BIN/loadgen" fleet --profile profiles/ci.toml --workers 2 --rate 100 --users 10 \
  --duration 10s --start-delay 3 --no-single --out "$work/fleet" >"$OUT/fleet.log" 2>&1
cp -r "$work/fleet/worker-1" "$work/fleet/worker-2" "$results/run/"
chmod -R a+rwX "$results/run"
say "perf-report merge and render in the image"
in_image -v "$results:/results" "$ctr" -- /usr/local/bin/perf-report merge \
  /results/run/merged /results/run/worker-1 /results/run/worker-2 >"$OUT/merge.log" 2>&1 \
  || { echo "image-loadgen: merge failed:" >&2; cat "$OUT/merge.log" >&2; exit 1; }
in_image -v "$results:/results" "$ctr" -- /usr/local/bin/perf-report render /results/run/merged \
  >"$OUT/render.log" 2>&1 \
  || { echo "image-loadgen: render failed:" >&2; cat "$OUT/render.log" >&2; exit 1; }
[ -s "$results/run/merged/report.md" ] || { echo "image-loadgen: no report.md" >&2; exit 1; }
cp "$results/run/merged/report.md" "$OUT/report.md"
say "done: merged and rendered in the image ($OUT/report.md); $(cat "$OUT/size.txt")"
