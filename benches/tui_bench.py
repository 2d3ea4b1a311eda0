"""The TUI in a pty against a scripted model server on 127.0.0.1.

Measures: launch -> the composer's placeholder on screen; keystroke -> the
character echoed (p50, p99 over 200 keys); the longest frame (events in ->
frame on screen, cordon's own CORDON_TUI_FRAME_STATS) while the model
streams ~2,000 tokens at 2,000 tokens/s (PACED turns); peak RSS of cordon
after TURNS turns, each running a command with ~290 KB of output (seq 1
50000, through the sandbox) and answered with ~2,000 tokens of markdown;
and the server's own time per answer. Answers cursor-position queries as a
terminal would.
"""
import http.server, json, os, pty, select, sys, tempfile, threading, time, struct, fcntl, termios

cordon, turns = sys.argv[1], int(sys.argv[2])
ANSWER = ("Here is a **paragraph** with `code` and words. " * 40 + "\n\n- item one\n- item two\n\n```rust\nfn main() {}\n```\n\n") * 5
server_time = []
PACED = 5
TOKENS_PER_S = 2000

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        t0 = time.perf_counter()
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        last = body["input"][-1]
        prompt = last["content"][0]["text"] if last.get("type") == "message" else ""
        # Each answer ends with a marker naming its prompt, so the client
        # waits for this answer, not an earlier one drawn again.
        users = [i for i in body["input"] if i.get("role") == "user"]
        marker = "END-OF-" + users[-1]["content"][0]["text"].replace(" ", "-")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        def ev(name, data):
            s = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(s), s))
        if prompt.startswith("cmd"):
            call = {"type": "function_call", "call_id": f"c{time.time_ns()}", "name": "shell",
                    "arguments": json.dumps({"command": ["seq", "1", "50000"]})}
            ev("response.output_item.done", {"item": call})
            ev("response.completed", {"response": {"usage": {"input_tokens": 1000, "output_tokens": 20}}})
            self.wfile.write(b"0\r\n\r\n"); self.wfile.flush()
            server_time.append(time.perf_counter() - t0)
            return
        words = (ANSWER + marker).split(" ")
        paced = prompt.startswith("paced")
        step = 8
        for i in range(0, len(words), step):
            ev("response.output_text.delta", {"delta": " ".join(words[i:i + step]) + " "})
            if paced:
                # A word is about a token: `step` tokens at TOKENS_PER_S.
                self.wfile.flush()
                time.sleep(step / TOKENS_PER_S)
        ev("response.completed", {"response": {"usage": {"input_tokens": 1000, "output_tokens": 2000}}})
        self.wfile.write(b"0\r\n\r\n"); self.wfile.flush()
        if not paced:
            server_time.append(time.perf_counter() - t0)

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
home, work = tempfile.mkdtemp(), tempfile.mkdtemp()
open(os.path.join(home, "config.toml"), "w").write(
    f'model = "m"\nmodel_provider = "fake"\n[model_providers.fake]\nname = "F"\n'
    f'base_url = "http://127.0.0.1:{srv.server_port}/v1"\nwire_api = "responses"\n')

stats = os.path.join(home, "frames.txt")
pid, fd = pty.fork()
if pid == 0:
    os.chdir(work)
    os.environ.update(CORDON_HOME=home, TERM="xterm-256color", CORDON_TUI_FRAME_STATS=stats)
    os.execv(cordon, [cordon])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 120, 0, 0))
buf = bytearray()

def pump(timeout):
    r, _, _ = select.select([fd], [], [], timeout)
    if not r:
        return False
    data = os.read(fd, 65536)
    if b"\x1b[6n" in data:
        os.write(fd, b"\x1b[1;1R")
    buf.extend(data)
    return True

def wait_for(needle, limit=30):
    start = time.perf_counter()
    while needle not in buf:
        if time.perf_counter() - start > limit:
            sys.exit(f"timed out waiting for {needle!r}")
        pump(0.05)
    return time.perf_counter()

t0 = time.perf_counter()
ready = wait_for(b"Ask cordon") - t0
lat = []
# Let the session start (its header is drawn) before timing keys.
wait_for(b"approval:")
time.sleep(0.3)
pump(0.1)
for i in range(200):
    c = b"abcdefghij"[i % 10:i % 10 + 1]
    buf.clear()
    t = time.perf_counter()
    os.write(fd, c)
    # Echoed once the composer's row holds everything typed so far.
    lat.append(wait_for(c) - t)
os.write(fd, b"\x15")  # Ctrl+U
stream_wall = []
for i in range(PACED):
    # The previous turn ends (its answer committed) before the next starts.
    time.sleep(0.2)
    pump(0.05)
    buf.clear()
    t = time.perf_counter()
    os.write(fd, f"paced {i}\r".encode())
    stream_wall.append(wait_for(f"END-OF-paced-{i}".encode()) - t)
# Frames so far are the paced turns' (cordon records frames during turns).
os.write(fd, b"/quit\r")
os.waitpid(pid, 0)
frames = sorted(int(l) for l in open(stats).read().split())

buf.clear()
pid, fd = pty.fork()
if pid == 0:
    os.chdir(work)
    os.environ.update(CORDON_HOME=home, TERM="xterm-256color")
    os.execv(cordon, [cordon])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 120, 0, 0))
wait_for(b"approval:")
for i in range(turns):
    time.sleep(0.05)
    pump(0.02)
    buf.clear()
    os.write(fd, f"cmd {i}\r".encode())
    wait_for(f"END-OF-cmd-{i}".encode())
time.sleep(0.5)
status = open(f"/proc/{pid}/status").read()
hwm = [l for l in status.splitlines() if l.startswith("VmHWM")][0].split()[1]
rss = [l for l in status.splitlines() if l.startswith("VmRSS")][0].split()[1]
os.write(fd, b"/quit\r")
os.waitpid(pid, 0)
lat.sort()
print(f"launch -> composer ready: {ready * 1000:.1f} ms")
print(f"keystroke -> echo: p50 {lat[len(lat) // 2] * 1000:.2f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.2f} ms")
print(f"streaming {PACED} answers of ~2,000 tokens at {TOKENS_PER_S} tokens/s ({sum(stream_wall) / PACED:.2f} s each): "
      f"{len(frames)} frames, longest {frames[-1] / 1000:.2f} ms, p99 {frames[int(len(frames) * 0.99)] / 1000:.2f} ms, "
      f"median {frames[len(frames) // 2] / 1000:.2f} ms")
print(f"after {turns} turns each running seq 1 50000 (~290 KB of output) and ~2,000 tokens of answer: "
      f"RSS {int(rss) / 1024:.1f} MiB, peak {int(hwm) / 1024:.1f} MiB")
st = sorted(server_time)
print(f"fake server per unpaced answer: median {st[len(st) // 2] * 1000:.2f} ms")
