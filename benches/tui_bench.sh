#!/usr/bin/env bash
# The interactive UI in a pseudo-terminal against a local scripted model
# server: launch -> composer ready, keystroke -> echo (p50/p99), peak RSS
# after a scripted session of TURNS turns, beside the server's own time.
# Usage: benches/tui_bench.sh [TURNS]   (default 200)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet -p cordon-cli --bin cordon
target="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)"
exec python3 benches/tui_bench.py "$target/release/cordon" "${1:-200}"
