#!/usr/bin/env bash
# `cordon-sandbox` round trip (/bin/true) through an initialised
# `cordon mcp-server`, beside `cordon sandbox -- /bin/true` run directly.
# Usage: benches/mcp_server_bench.sh [CALLS]   (default 200)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet -p cordon-cli --bin cordon
target="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)"
exec python3 benches/mcp_server_bench.py "$target/release/cordon" "${1:-200}"
