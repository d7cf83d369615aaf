# Shell pieces the scripts share; source it after `cd` to the checkout.
#
#   pids=()            setsid'd children to stop, each the leader of its process group
#   stop_all           TERM to every group, up to 5 s for them to go, then KILL; waits
#   image_cleanup NAME stop_all, remove the buildah container ($ctr) and image ($IMAGE),
#                      remove $work, say NAME failed with its logs in $OUT; exits with $?
#   pinned_tool VENV PACKAGE VERSION
#                      PACKAGE==VERSION from PyPI in the venv VENV (made, and python3-venv
#                      installed as root, when missing); nothing when already there

# A child run under `buildah run` does not stop with it: each child gets a process group
# of its own (setsid), and the whole group is stopped.
stop_all() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    local alive=""
    for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    [ -n "$alive" ] || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}

image_cleanup() {
  local rc=$? name=$1
  stop_all
  [ -z "$ctr" ] || "${BUILDAH[@]}" rm "$ctr" >/dev/null 2>&1 || true
  "${BUILDAH[@]}" rmi -f "$IMAGE" >/dev/null 2>&1 || true
  rm -rf "$work"
  [ $rc -eq 0 ] || echo "$name: FAILED (exit $rc); logs are in $OUT/" >&2
  exit $rc
}

pinned_tool() {
  local venv=$1 package=$2 version=$3 installed
  # No venv yet (or no package in it) is an empty version, not a failure under pipefail.
  installed=$({ "$venv/bin/python" -m pip show "$package" 2>/dev/null || true; } | awk '/^Version:/ {print $2}')
  [ "$installed" != "$version" ] || return 0
  echo "installing $package==$version into $venv"
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "$package==$version"
}
