"""`cordon exec --ephemeral` for a two-request turn with one sandboxed shell
call, against a scripted model server on 127.0.0.1 started here.

The server answers a request without a tool result with a `shell` call
(["/bin/true"]) and a request carrying the tool result with a short text,
both as Responses-API SSE. The baseline is the same two requests made by a
minimal client in this process (model-server-only time): what is left is
cordon's own cost (start-up, config, TLS-free HTTP, the sandboxed command,
the event stream). Peak RSS comes from GNU time over separate runs: the
largest resident set of cordon exec or any child it reaped.
"""
import http.client, json, os, statistics, subprocess, sys, tempfile, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

cordon, runs = sys.argv[1], int(sys.argv[2])
# `mcp`: three stdio MCP servers configured (the tests' Python server), one
# of which takes 5 s to start: the first model request must still leave at
# once (measured from launch to its arrival here).
with_mcp = len(sys.argv) > 3 and sys.argv[3] == "mcp"
first_request_at = []

CALL = ('event: response.output_item.done\ndata: ' + json.dumps({"item": {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": json.dumps({"command": ["/bin/true"]})}}) +
        '\n\nevent: response.completed\ndata: {"response":{"usage":{"input_tokens":5,"output_tokens":3}}}\n\n').encode()
TEXT = ('event: response.output_text.delta\ndata: {"delta":"done"}\n\n'
        'event: response.completed\ndata: {"response":{"usage":{"input_tokens":9,"output_tokens":1}}}\n\n').encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without this, headers and body go in two segments and delayed ACKs
    # add 40 ms per response: the server would not be "instant".
    disable_nagle_algorithm = True

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if b"function_call_output" not in body:
            first_request_at.append(time.perf_counter())
        reply = TEXT if b"function_call_output" in body else CALL
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *a):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
port = server.server_address[1]
threading.Thread(target=server.serve_forever, daemon=True).start()

home = tempfile.mkdtemp(prefix="cordon-exec-bench-home-")
work = tempfile.mkdtemp(prefix="cordon-exec-bench-")
with open(os.path.join(home, "config.toml"), "w") as f:
    f.write(f'model = "bench"\nmodel_provider = "local"\n[model_providers.local]\nbase_url = "http://127.0.0.1:{port}/v1"\nwire_api = "responses"\n')
    if with_mcp:
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "cli", "tests", "fixtures", "mcp_test_server.py")
        for name, delay in (("a", 0), ("b", 0), ("slow", 5)):
            f.write(f'[mcp_servers.{name}]\ncommand = "/usr/bin/python3"\nargs = ["{os.path.abspath(script)}"]\nenv = {{ MCP_TEST_START_DELAY = "{delay}" }}\n')
env = dict(os.environ, CORDON_HOME=home)
for k in ("HTTP_PROXY", "http_proxy", "RUST_LOG"):
    env.pop(k, None)
argv = [cordon, "exec", "--ephemeral", "--skip-git-repo-check", "-C", work, "run true"]


first_delays = []


def cordon_once():
    first_request_at.clear()
    start = time.perf_counter()
    p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if first_request_at:
        first_delays.append((first_request_at[0] - start) * 1000.0)
    if p.returncode != 0 or p.stdout != b"done\n":
        sys.exit(f"cordon exec failed ({p.returncode}): {p.stdout!r} {p.stderr.decode()}")
    return elapsed * 1000.0


def server_only_once():
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for body in (b'{"input":[]}', b'{"input":[{"type":"function_call_output"}]}'):
        conn.request("POST", "/v1/responses", body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
    conn.close()
    return (time.perf_counter() - start) * 1000.0


for _ in range(3):
    cordon_once(); server_only_once()
a, b = [], []
for _ in range(runs):
    a.append(cordon_once())
    b.append(server_only_once())
rss = 0.0
for _ in range(5):
    out = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    rss = max(rss, int(out.stderr.strip().splitlines()[-1]) / 1024.0)
files = [os.path.join(d, f) for d, _, fs in os.walk(home) for f in fs if f != "config.toml"]
ma, mb = statistics.median(a), statistics.median(b)
print(f"{runs} runs each, interleaved")
print(f"{'scenario':<44}{'median ms':>10}{'p90 ms':>9}")
print(f"{'model server only (2 requests)':<44}{mb:>10.2f}{statistics.quantiles(b, n=10)[-1]:>9.2f}")
print(f"{'cordon exec --ephemeral (2 requests, 1 cmd)':<44}{ma:>10.2f}{statistics.quantiles(a, n=10)[-1]:>9.2f}")
print(f"cordon exec over server-only: +{ma - mb:.2f} ms ({ma / mb:.1f}x); peak RSS {rss:.1f} MiB")
if with_mcp:
    print("(the 30 ms / 30 MiB target is for the run without MCP servers: three Python servers start in this one)")
else:
    print(f"target: <= 30 ms median, <= 30 MiB: {'met' if ma <= 30 and rss <= 30 else 'NOT met'}")
if with_mcp:
    fm = statistics.median(first_delays)
    print(f"with 3 MCP servers (one starting for 5 s): first model request {fm:.2f} ms after launch (median), max {max(first_delays):.2f} ms")
    print(f"target: first request within 50 ms of launch: {'met' if max(first_delays) <= 50 else 'NOT met'}")
print(f"files written under CORDON_HOME besides config.toml: {len(files)}")
