#!/usr/bin/env bash
# Benchmarks of cordon's egress proxy against baselines measured in the same
# run (see benches/proxy_bench.py for what each measures):
#   throughput  512 MiB download: direct vs `cordon proxy` (HTTP forward,
#               CONNECT, SOCKS5), `cordon sandbox --network proxy`, socat relay
#   latency     10,000 sequential connections: added latency per connection
#   tunnels     10,000 concurrent idle CONNECT tunnels: proxy RSS, failures
#   startup     `cordon sandbox --network proxy -- /bin/true` vs bare, network none
# Traffic goes only to 127.0.0.1. Exit status is non-zero only when a
# benchmark cannot run; missed targets print "NOT met".
# Usage: benches/proxy_bench.sh [all|throughput|latency|tunnels|startup]... [--size-mib N]
#        [--runs N] [--pace-mbs N] [--conns N] [--tunnels N] [--hold SECONDS] [--startup-runs N] [--quiet-wait SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v socat >/dev/null 2>&1 || need+=(socat)  # reference relay for the throughput table
command -v python3 >/dev/null 2>&1 || need+=(python3)
if [ "${#need[@]}" -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
    { $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq "${need[@]}" >/dev/null; }
fi
cargo build --release --locked --quiet -p cordon-cli --bin cordon
target="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)"  # absolute: the bench may change directory
# 10,000 tunnels need ~20,000 descriptors in the proxy: as many as allowed.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec python3 benches/proxy_bench.py "$target/release/cordon" "$@"
