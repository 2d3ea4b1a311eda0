"""`cordon-sandbox` round trip through an already-initialised
`cordon mcp-server` (raw JSON-RPC over its stdin/stdout, one call at a
time), beside the same command through `cordon sandbox` directly (a fresh
process per run). Calls alternate between the two so load on the machine
hits both alike. Prints median and p99 of each, their difference and ratio.
"""
import json, os, statistics, subprocess, sys, tempfile, time

cordon, calls = sys.argv[1], int(sys.argv[2])
home = tempfile.mkdtemp(prefix="cordon-mcp-bench-home-")
work = tempfile.mkdtemp(prefix="cordon-mcp-bench-")
env = dict(os.environ, CORDON_HOME=home)
env.pop("RUST_LOG", None)

server = subprocess.Popen([cordon, "mcp-server"], cwd=work, env=env, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
next_id = 0


def rpc(method, params):
    global next_id
    next_id += 1
    server.stdin.write((json.dumps({"jsonrpc": "2.0", "id": next_id, "method": method, "params": params}) + "\n").encode())
    server.stdin.flush()
    while True:
        line = server.stdout.readline()
        if not line:
            sys.exit("the server closed its output")
        msg = json.loads(line)
        if msg.get("id") == next_id:
            return msg


rpc("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}})
server.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
server.stdin.flush()


def mcp_once():
    start = time.perf_counter()
    r = rpc("tools/call", {"name": "cordon-sandbox", "arguments": {"command": ["/bin/true"], "cwd": work}})
    elapsed = time.perf_counter() - start
    if r["result"]["structuredContent"]["exit_code"] != 0:
        sys.exit(f"cordon-sandbox failed: {r}")
    return elapsed


def direct_once():
    start = time.perf_counter()
    p = subprocess.run([cordon, "sandbox", "-C", work, "--", "/bin/true"], env=env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if p.returncode != 0:
        sys.exit(f"cordon sandbox failed: {p.stderr.decode()}")
    return elapsed


for _ in range(10):
    mcp_once(); direct_once()
mcp, direct = [], []
for _ in range(calls):
    mcp.append(mcp_once())
    direct.append(direct_once())
server.stdin.close()
server.wait(timeout=10)


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.99 * (len(xs) - 1))))]


ms = lambda s: s * 1000
m_med, d_med = statistics.median(mcp), statistics.median(direct)
print(f"calls: {calls} each, /bin/true, read-only, network none")
print(f"cordon sandbox direct    median {ms(d_med):7.2f} ms   p99 {ms(p99(direct)):7.2f} ms")
print(f"cordon-sandbox over MCP  median {ms(m_med):7.2f} ms   p99 {ms(p99(mcp)):7.2f} ms")
print(f"MCP over direct: median {ms(m_med - d_med):+.2f} ms (ratio {m_med / d_med:.3f}), "
      f"p99 {ms(p99(mcp) - p99(direct)):+.2f} ms (ratio {p99(mcp) / p99(direct):.3f}); target: <= +2 ms")
