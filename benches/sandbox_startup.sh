#!/usr/bin/env bash
# Start-up cost of `cordon sandbox -- /bin/true` (read-only, workspace-write)
# against bare /bin/true and Debian's bubblewrap, measured in one run.
# Usage: benches/sandbox_startup.sh [RUNS]   (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
[ -x /usr/bin/time ] || need+=(time)
if [ "${#need[@]}" -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --locked --quiet -p cordon-cli --bin cordon
target="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)"  # absolute: the bench may change directory
exec python3 benches/startup.py "$target/release/cordon" "${1:-300}"
