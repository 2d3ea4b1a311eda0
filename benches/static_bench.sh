#!/usr/bin/env bash
# The static musl release build beside the glibc one: size on disk and the
# start-up of `cordon sandbox -- /bin/true` (read-only) and with
# workspace-write, with bare /bin/true as the baseline, in one run.
# Usage: benches/static_bench.sh [RUNS]   (default 200)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet -p cordon-cli --bin cordon
scripts/release >/dev/null
target="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)"  # absolute: the bench changes directory
exec python3 benches/static_bench.py "$target/release/cordon" \
  "$target/x86_64-unknown-linux-musl/release/cordon" "${1:-200}"
