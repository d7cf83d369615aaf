#!/usr/bin/env bash
# Offline checks of the generated deploy/ tree (`make rollout-check`, run by .ci/run):
#   1. deploy/ matches its generator (`perf-report rollout --check`);
#   2. cfn-lint, a pinned version from PyPI in a venv, on every CloudFormation template;
#   3. `promtool check rules` and `promtool test rules` (Debian's prometheus package).
# Installs what is missing. Exit non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

CFN_LINT_VERSION=1.58.0
VENV=.venv-ci

if ! command -v promtool >/dev/null 2>&1; then
  echo "rollout-check: installing promtool (apt-get install prometheus)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # A policy-rc.d keeps the package from starting a Prometheus service (promtool is all we
  # use); one already in place is left as it is.
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
pinned_tool "$VENV" cfn-lint "$CFN_LINT_VERSION"

${CARGO:-cargo} run --locked -q -p reports --bin perf-report -- rollout --check

echo "rollout-check: cfn-lint $("$VENV/bin/cfn-lint" --version)"
"$VENV/bin/cfn-lint" deploy/cloudformation/*.json

echo "rollout-check: $(promtool --version 2>&1 | head -1)"
promtool check rules deploy/prometheus/proxy-rules.json
promtool test rules deploy/prometheus/proxy-rules.test.json
echo "rollout-check: deploy/ is current, lints clean and its alert tests pass"
