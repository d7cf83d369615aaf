#!/usr/bin/env bash
# The one list of the system commands this workspace needs, and the Debian package that
# provides each. `make test` (through `make deps`) and `.ci/run` both call this script, so
# the two cannot drift apart.
#
#   scripts/deps.sh [GROUP...]     GROUP: test (default), ci, image
#
# Every command of the named groups is looked up on PATH. When some are missing: as root
# with apt-get, their packages are installed (one `apt-get update` first); otherwise one
# line names the command to run, and the script exits 1. The test group also makes sure
# cargo has fmt and clippy (rustup components). It never builds anything, so a
# missing tool is reported before cargo starts.
#
# To add a tool, add a line to the table: group, command looked up, Debian package.
set -euo pipefail

TABLE='
test   redis-server       redis-server
test   radclient          freeradius-utils
test   nft                nftables
test   ip                 iproute2
test   callgrind_control  valgrind
test   e2guardian         e2guardian
test   perf               linux-perf
test   chromium           chromium
test   certutil           libnss3-tools
test   prometheus         prometheus
test   wrk                wrk
ci     make               make
image  buildah            buildah
image  curl               curl
image  strip              binutils
'

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(test)

missing_cmds=()
missing_pkgs=()
while read -r group cmd pkg; do
  [ -n "${group:-}" ] || continue
  wanted=false
  for g in "${groups[@]}"; do [ "$g" = "$group" ] && wanted=true; done
  $wanted || continue
  command -v "$cmd" >/dev/null 2>&1 && continue
  missing_cmds+=("$cmd")
  # One package may provide several commands: list it once.
  case " ${missing_pkgs[*]:-} " in *" $pkg "*) ;; *) missing_pkgs+=("$pkg") ;; esac
done <<<"$TABLE"

# make test's lint step needs cargo's fmt and clippy: rustup components, any user can add.
for g in "${groups[@]}"; do
  [ "$g" = test ] || continue
  if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null 2>&1; then
      echo "deps: adding rustup components rustfmt clippy"
      rustup component add rustfmt clippy >/dev/null
    else
      echo "deps: cargo fmt or cargo clippy missing; install the rustfmt and clippy components" >&2
      exit 1
    fi
  fi
done

[ ${#missing_cmds[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "deps: installing ${missing_pkgs[*]} (for ${missing_cmds[*]})"
  export DEBIAN_FRONTEND=noninteractive
  # Packages such as e2guardian and redis-server ship a system service; policy-rc.d exit
  # 101 keeps it from starting (it would hold a port the tests use), the tests run their
  # own copies on loopback.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null
  for cmd in "${missing_cmds[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || { echo "deps: $cmd still missing after installing its package" >&2; exit 1; }
  done
  exit 0
fi

echo "deps: missing ${missing_cmds[*]}; run: sudo apt-get install -y ${missing_pkgs[*]}" >&2
exit 1
