#!/usr/bin/env bash
# `cordon exec --ephemeral`: a two-request turn with one sandboxed command
# against a local scripted model server, beside the server-only time.
# Usage: benches/exec_bench.sh [RUNS] [mcp]   (default 100; `mcp` adds three
# stdio MCP servers, one slow to start, and times the first request)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/time ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get install -y -qq time >/dev/null
fi
cargo build --release --locked --quiet -p cordon-cli --bin cordon
target="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)"  # absolute: the bench may change directory
exec python3 benches/exec_bench.py "$target/release/cordon" "${1:-100}" "${2:-}"
