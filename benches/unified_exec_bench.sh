#!/usr/bin/env bash
# exec_command and write_stdin round trips beside the shell tool's, in one
# run (release build). Usage: benches/unified_exec_bench.sh [CALLS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p cordon-cli --bin cordon
target="${CARGO_TARGET_DIR:-target}"
exec python3 benches/unified_exec_bench.py "$(realpath "$target/release/cordon")" "${1:-200}"
