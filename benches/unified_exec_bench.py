"""Tool round trips inside one `cordon exec` turn, against a scripted model
server on 127.0.0.1 started here: N calls of each kind, measured at the
server as the time from sending a tool call to receiving the request that
carries its result (so the model's own time is not in it).

  shell        the plain `shell` tool running `echo hi` (a sandbox each)
  exec_command `exec_command` running `echo hi` (a sandbox each, on a pty)
  write_stdin  `write_stdin` of one line to a `cat` already running
               (yield_time_ms 5: the call returns after 5 ms)

Prints median and p99 of each, and the difference to `shell`'s median
(target: exec_command and write_stdin within 2 ms of shell).
"""
import json, os, statistics, subprocess, sys, tempfile, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

cordon, total = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200
# A turn stops after 200 model round trips: sessions of at most 100 calls.
calls = min(total, 100)


def sse_call(name, args):
    item = {"type": "function_call", "call_id": "c", "name": name, "arguments": json.dumps(args)}
    return ("event: response.output_item.done\ndata: " + json.dumps({"item": item}) +
            '\n\nevent: response.completed\ndata: {"response":{"usage":{"input_tokens":5,"output_tokens":3}}}\n\n').encode()


TEXT = ('event: response.output_text.delta\ndata: {"delta":"done"}\n\n'
        'event: response.completed\ndata: {"response":{"usage":{"input_tokens":9,"output_tokens":1}}}\n\n').encode()


def run(kind):
    sent, back = [], []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            done = body.count(b'"function_call_output"')
            if done:
                back.append(time.perf_counter())
            if done > calls:
                reply = TEXT
            elif kind == "shell":
                reply = sse_call("shell", {"command": ["echo", "hi"]})
            elif kind == "exec_command":
                reply = sse_call("exec_command", {"argv": ["echo", "hi"], "yield_time_ms": 10000})
            elif done == 0:
                reply = sse_call("exec_command", {"argv": ["cat"], "yield_time_ms": 200})
            else:
                reply = sse_call("write_stdin", {"session_id": 1, "chars": "hi\n", "yield_time_ms": 5})
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
            self.wfile.flush()
            if reply is not TEXT:
                sent.append(time.perf_counter())

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    home = tempfile.mkdtemp(prefix="cordon-bench-home-")
    work = tempfile.mkdtemp(prefix="cordon-bench-work-")
    with open(os.path.join(home, "config.toml"), "w") as f:
        f.write(f'model = "m"\nmodel_provider = "fake"\n[features]\nunified_exec = true\n'
                f'[model_providers.fake]\nname = "Fake"\nbase_url = "http://127.0.0.1:{server.server_address[1]}/v1"\n'
                f'wire_api = "responses"\nenv_key = "FAKE_KEY"\nstream_idle_timeout_ms = 60000\n')
    env = dict(os.environ, CORDON_HOME=home, FAKE_KEY="k")
    r = subprocess.run([cordon, "exec", "--ephemeral", "--skip-git-repo-check", "go"], cwd=work, env=env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    if r.returncode != 0:
        sys.exit(f"{kind}: cordon exec failed ({r.returncode}):\n" + r.stderr.decode()[-2000:])
    server.shutdown()
    trips = [(b - a) * 1000.0 for a, b in zip(sent, back)]
    if kind == "write_stdin":
        trips = trips[1:]  # the first is the exec_command that started cat
    return trips


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.99 * (len(xs) - 1))))]


def collect(kind):
    trips = []
    while len(trips) < total:
        trips += run(kind)
    return trips[:total]


results = {k: collect(k) for k in ("shell", "exec_command", "write_stdin")}
base = statistics.median(results["shell"])
print(f"{'tool':<14}{'calls':>6}{'median ms':>11}{'p99 ms':>9}{'vs shell':>10}")
for k, xs in results.items():
    m = statistics.median(xs)
    print(f"{k:<14}{len(xs):>6}{m:>11.2f}{p99(xs):>9.2f}{m - base:>+10.2f}")
