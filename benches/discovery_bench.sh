#!/usr/bin/env bash
# Protected-path discovery at scale: `cordon sandbox -- /bin/true` in
# synthetic node_modules-like workspaces of 2,000, 20,000 and 100,000
# directories (first run, repeated runs with the index warm, beside bare
# /bin/true and bwrap, with and without /tmp as a root), an exec session of
# 20 shell calls at 100,000 directories, and read-only.
# The one-shot runs are measured with the discovery agent (the default) and
# without it (discovery_agent = false: the index).
# Usage: benches/discovery_bench.sh [RUNS] [BASELINE_CORDON] [all|session]
#   RUNS (default 20) repeated runs per command; BASELINE_CORDON, if
#   given, is a build without the index (the plain walk) for "first runs
#   no slower than today".
# The workspaces are built once under /var/tmp/cordon-discovery-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
if [ "${#need[@]}" -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --locked --quiet -p cordon-cli --bin cordon
target="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)"
exec python3 benches/discovery_bench.py "$target/release/cordon" "${1:-20}" "${2:-}" "${3:-all}"
