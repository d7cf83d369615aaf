#!/usr/bin/env bash
# Offline check of the Kubernetes manifests `loadgen k8s render` writes (`make k8s-check`,
# run by .ci/run):
#   1. a short two-worker fleet run on loopback (`loadgen fleet`, the workers' CPU and
#      memory recorded in their run.json), which the render sizes the pods from;
#   2. `loadgen k8s render` of the ci profile for 4 workers;
#   3. kubernetes-validate, a pinned version from PyPI in a venv, on every manifest,
#      strictly (unknown fields refused) against the stated Kubernetes version's schemas.
# No cluster is needed. Installs what is missing. Exit non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

VALIDATE_VERSION=1.37.0
# The Kubernetes version the manifests are validated against.
KUBERNETES_VERSION=1.31.0
VENV=.venv-k8s
BIN=${BIN:-target/debug}
OUT=target/k8s-check

pinned_tool "$VENV" kubernetes-validate "$VALIDATE_VERSION"

[ -x "$BIN/loadgen" ] && [ -x "$BIN/filter-proxy" ] || ${CARGO:-cargo} build --locked -q -p loadgen -p filter-proxy
rm -rf "$OUT"
mkdir -p "$OUT"

echo "k8s-check: measuring a two-worker run"
"$BIN/loadgen" fleet --profile profiles/ci.toml --workers 2 --rate 100 --users 10 \
  --duration 10s --start-delay 3 --no-single --out "$OUT/fleet" >"$OUT/fleet.log" 2>&1 \
  || { echo "k8s-check: the fleet run failed:" >&2; tail -20 "$OUT/fleet.log" >&2; exit 1; }

echo "k8s-check: rendering"
"$BIN/loadgen" k8s render --profile profiles/ci.toml --workers 4 --rate 2000 \
  --proxy filter-proxy.proxy.svc.cluster.local:3128 --cost-from "$OUT/fleet" \
  --out "$OUT/manifests" >/dev/null

echo "k8s-check: kubernetes-validate $VALIDATE_VERSION against Kubernetes $KUBERNETES_VERSION (strict)"
"$VENV/bin/kubernetes-validate" --strict --kubernetes-version "$KUBERNETES_VERSION" "$OUT"/manifests/*.json
echo "k8s-check: the rendered manifests are valid Kubernetes $KUBERNETES_VERSION objects"
