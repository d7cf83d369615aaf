#!/usr/bin/env bash
# Decision parity against e2guardian (the C++ reference): installs Debian's e2guardian when
# it is missing (as root; the package's system service is kept from starting, the replay
# runs its own copy on loopback), builds the workspace in release, generates the corpus
# from the demo category database and replays it through e2guardian and filter-proxy.
#
#   scripts/parity.sh            # 100 000 URLs (PARITY_URLS to change), the conversion run
#   scripts/parity.sh --short    # 5 000 URLs: the CI version, well under a minute of replay
#
# Output: runs/parity-<UTC time>/ (PARITY_OUT to choose): parity.md, parity.json,
# results.tsv, corpus.tsv. Exit 0 pass, 1 unexplained mismatches, 2 error.
set -euo pipefail
cd "$(dirname "$0")/.."

urls=${PARITY_URLS:-100000}
case "${1:-}" in
  --short) urls=5000 ;;
  "") ;;
  *) echo "usage: $0 [--short]" >&2; exit 2 ;;
esac
# Classes where e2guardian 5.3 and filter-proxy are known to decide differently (see
# loadgen/README.md, "Decision parity"); any other mismatch fails the run.
known=${PARITY_KNOWN:-path-normalisation,path-boundary,ip-literal}

# e2guardian is in scripts/deps.sh's test list: installed here when missing (as root).
scripts/deps.sh test

cargo build --release --locked --workspace
out=${PARITY_OUT:-runs/parity-$(date -u +%Y%m%dT%H%M%SZ)}
target/release/loadgen parity --generate "$urls" --known "$known" --out "$out"
echo "parity report: $out/parity.md"
