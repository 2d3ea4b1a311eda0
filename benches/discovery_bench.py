"""Discovery at scale; see discovery_bench.sh. All figures come from one run,
commands interleaved so drift hits all alike; medians in milliseconds."""
import http.server, json, os, shutil, statistics, subprocess, sys, tempfile, threading, time

cordon, runs = sys.argv[1], int(sys.argv[2])
baseline = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
only = sys.argv[4] if len(sys.argv) > 4 else "all"  # "session": the exec part only
BASE = "/var/tmp/cordon-discovery-bench"
SIZES = [2000, 20000, 100000]
FIRST_RUNS = 5


def build_workspace(path, ndirs):
    """A node_modules-like tree of `ndirs` directories (two empty files in
    each), a repository at its top and three nested ones deep inside."""
    done = os.path.join(path, ".bench-complete")
    if os.path.exists(done):
        return
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(os.path.join(path, ".git"))
    layout = ["", "lib", "lib/internal", "lib/util", "dist", "dist/esm", "dist/cjs", "src", "src/core", "test"]
    made, pkg, parents = 1, 0, [os.path.join(path, "node_modules")]
    os.makedirs(parents[0])
    while made < ndirs:
        parent = parents[pkg % len(parents)]
        base = os.path.join(parent, f"pkg-{pkg}")
        for sub in layout:
            d = os.path.join(base, sub) if sub else base
            os.makedirs(d, exist_ok=True)
            for f in ("index.js", "package.json"):
                open(os.path.join(d, f), "w").close()
            made += 1
            if made >= ndirs:
                break
        if pkg % 25 == 24 and len(parents) < 64:
            nested = os.path.join(base, "node_modules")
            os.makedirs(nested, exist_ok=True)
            made += 1
            parents.append(nested)
        pkg += 1
    # Three repositories deep inside (a vendored checkout, say).
    deep = sorted(parents, key=lambda p: p.count("/"))[-3:]
    for i, p in enumerate(deep):
        repo = os.path.join(p, f"vendored-{i}", "lib")
        os.makedirs(os.path.join(repo, ".git", "objects"), exist_ok=True)
        with open(os.path.join(repo, ".git", "config"), "w") as f:
            f.write("[core]\n\trepositoryformatversion = 0\n")
    count = sum(1 for _ in os.walk(path))
    with open(done, "w") as f:
        f.write(str(count))


def dir_count(path):
    with open(os.path.join(path, ".bench-complete")) as f:
        return int(f.read())


def once(argv, env, cwd):
    start = time.perf_counter()
    p = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = (time.perf_counter() - start) * 1000.0
    if p.returncode != 0:
        sys.exit(f"{argv} failed ({p.returncode}): {p.stderr.decode()}")
    return elapsed


def new_home(prefix):
    home = tempfile.mkdtemp(prefix=prefix, dir="/var/tmp")
    return home


def med(v):
    return statistics.median(v)


def agents_of(home):
    """Pids of the discovery agents serving `home`."""
    want = f"discovery-agent\0--home\0{home}\0".encode()
    pids = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                with open(f"/proc/{e}/cmdline", "rb") as f:
                    if want in f.read():
                        pids.append(int(e))
            except OSError:
                pass
    return pids


def drop_home(home):
    """Removes a $CORDON_HOME and waits for its discovery agent to leave (it
    does within seconds of its socket going): its inotify watches count
    against the same per-user limit as the next measurement's."""
    shutil.rmtree(home, ignore_errors=True)
    for _ in range(200):
        if not agents_of(home):
            return
        time.sleep(0.05)
    sys.exit(f"the discovery agent of {home} did not leave")


os.makedirs(BASE, exist_ok=True)
for n in SIZES:
    t = time.perf_counter()
    build_workspace(os.path.join(BASE, f"ws-{n}"), n)
    print(f"workspace {n}: {dir_count(os.path.join(BASE, f'ws-{n}'))} directories (built in {time.perf_counter() - t:.1f} s)", flush=True)
if runs == 0:
    sys.exit(0)

clean_env = {k: v for k, v in os.environ.items() if k not in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "RUST_LOG")}
NO_TMP = ["-c", "sandbox_workspace_write.exclude_slash_tmp=true", "-c", "sandbox_workspace_write.exclude_tmpdir_env_var=true"]

rows = {}
if only != "session":
    print(f"\n== cordon sandbox -s workspace-write -- /bin/true ({runs} repeated runs each, {FIRST_RUNS} first runs) ==")
    print(f"{'dirs':>7} {'command':<44}{'median':>9}{'p90':>9}{'over bare':>11}{'x bare':>8}")
    rows = {}
    for n in SIZES:
        ws = os.path.join(BASE, f"ws-{n}")
        home = new_home("cordon-dbench-home-")
        env = dict(clean_env, CORDON_HOME=home)
        NO_AGENT = ["-c", "discovery_agent=false"]
        cmds = {
            "bare /bin/true": ["/bin/true"],
            "bwrap (ro /, ws writable, unshare-all)": ["bwrap", "--unshare-all", "--ro-bind", "/", "/", "--bind", ws, ws, "--dev", "/dev", "--proc", "/proc", "/bin/true"],
            "cordon -s danger-full-access": [cordon, "sandbox", "-s", "danger-full-access", "--", "/bin/true"],
            "cordon, ws only, agent warm": [cordon, "sandbox", "-s", "workspace-write", *NO_TMP, "--", "/bin/true"],
            "cordon, ws + /tmp, agent warm": [cordon, "sandbox", "-s", "workspace-write", "--", "/bin/true"],
            "cordon, ws only, index warm (no agent)": [cordon, "sandbox", "-s", "workspace-write", *NO_TMP, *NO_AGENT, "--", "/bin/true"],
        }
        if baseline:
            cmds["today (plain walk), ws only"] = [baseline, "sandbox", "-s", "workspace-write", *NO_TMP, "--", "/bin/true"]
            cmds["today (plain walk), ws + /tmp"] = [baseline, "sandbox", "-s", "workspace-write", "--", "/bin/true"]
        # First runs: a fresh $CORDON_HOME each time (no index).
        # (today's runs with a fresh $CORDON_HOME too, so both pay the same
        # first-run costs besides discovery).
        firsts = [("cordon first run, ws only", cordon, NO_TMP), ("cordon first run, ws + /tmp", cordon, [])]
        if baseline:
            firsts.append(("today first run, ws only", baseline, NO_TMP))
        first = {name: [] for name, _, _ in firsts}
        for _ in range(FIRST_RUNS):
            for name, binary, extra in firsts:
                h = new_home("cordon-dbench-first-")
                first[name].append(once([binary, "sandbox", "-s", "workspace-write", *extra, "--", "/bin/true"], dict(clean_env, CORDON_HOME=h), ws))
                drop_home(h)
        samples = {k: [] for k in cmds}
        for name, argv in cmds.items():  # warm-up (writes the index, starts the agent)
            for _ in range(3):
                once(argv, env, ws)
        # The agent starts watching a root after the first question about it.
        time.sleep(1.0 + n / 50000)
        for argv in cmds.values():
            once(argv, env, ws)
        for _ in range(runs):
            for name, argv in cmds.items():
                samples[name].append(once(argv, env, ws))
        samples.update(first)
        bare = med(samples["bare /bin/true"])
        for name, v in samples.items():
            p90 = statistics.quantiles(v, n=10)[-1] if len(v) >= 2 else v[0]
            rows[(n, name)] = med(v)
            print(f"{n:>7} {name:<44}{med(v):>9.2f}{p90:>9.2f}{med(v) - bare:>11.2f}{med(v) / bare:>8.1f}", flush=True)
        drop_home(home)

    # read-only: nothing to discover.
    home = new_home("cordon-dbench-home-")
    env = dict(clean_env, CORDON_HOME=home)
    ro = {"bare /bin/true": ["/bin/true"], "cordon read-only": [cordon, "sandbox", "-s", "read-only", "--", "/bin/true"]}
    s = {k: [] for k in ro}
    for _ in range(3):
        for a in ro.values():
            once(a, env, "/")
    for _ in range(runs):
        for k, a in ro.items():
            s[k].append(once(a, env, "/"))
    print(f"\n== read-only ==\nbare {med(s['bare /bin/true']):.2f} ms, cordon read-only {med(s['cordon read-only']):.2f} ms, over bare {med(s['cordon read-only']) - med(s['bare /bin/true']):.2f} ms")
    rows["ro"] = med(s["cordon read-only"]) - med(s["bare /bin/true"])
    drop_home(home)

# An exec session making CALLS shell calls against a scripted model.
CALLS = 20


def call_event(i):
    return ('event: response.output_item.done\ndata: ' + json.dumps({"item": {"type": "function_call", "call_id": f"c{i}", "name": "shell", "arguments": json.dumps({"command": ["/bin/true"]})}}) +
            '\n\nevent: response.completed\ndata: {"response":{"usage":{"input_tokens":5,"output_tokens":3}}}\n\n').encode()


TEXT = ('event: response.output_text.delta\ndata: {"delta":"done"}\n\n'
        'event: response.completed\ndata: {"response":{"usage":{"input_tokens":9,"output_tokens":1}}}\n\n').encode()


ARRIVALS = []


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    calls = CALLS

    def do_POST(self):
        ARRIVALS.append(time.perf_counter())
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        done = body.count(b'"function_call_output"')
        reply = call_event(done) if done < int(self.path.split("/")[1]) else TEXT
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *a):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
port = server.server_address[1]
threading.Thread(target=server.serve_forever, daemon=True).start()


def session(binary, ws, calls, mode):
    home = new_home("cordon-dbench-exec-")
    with open(os.path.join(home, "config.toml"), "w") as f:
        # The number of calls the model makes rides in the URL path.
        f.write(f'model = "bench"\nmodel_provider = "local"\n[model_providers.local]\nbase_url = "http://127.0.0.1:{port}/{calls}"\nwire_api = "responses"\n')
    env = dict(clean_env, CORDON_HOME=home)
    argv = [binary, "exec", "--ephemeral", "--skip-git-repo-check", "-s", mode, "-C", ws, "go"]
    start = time.perf_counter()
    p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = (time.perf_counter() - start) * 1000.0
    if p.returncode != 0 or b"done" not in p.stdout:
        sys.exit(f"cordon exec failed ({p.returncode}): {p.stdout!r} {p.stderr.decode()[-2000:]}")
    drop_home(home)
    return elapsed


empty = tempfile.mkdtemp(prefix="cordon-dbench-empty-", dir="/var/tmp")
print(f"\n== exec session (fake model), {CALLS * 2} shell calls of /bin/true ==")
print("per call = the median time between two model requests (a shell call through the launcher")
print(f"and the turn loop's round trip) over the last {CALLS} calls, when the session's watch has")
print("read the roots (it does so on its own thread; calls made before discover with the index).")
print("The baseline is the same session under danger-full-access (the same launcher, turn loop and")
print("model round trip, no sandbox): sandbox overhead per call = workspace-write - danger-full-access.")
SESSION_RUNS = 3


def per_call(binary, ws, mode):
    ARRIVALS.clear()
    session(binary, ws, CALLS * 2, mode)
    gaps = [b - a for a, b in zip(ARRIVALS, ARRIVALS[1:])]
    return med(gaps[-CALLS:]) * 1000.0, med(gaps[:CALLS]) * 1000.0


MODES = ("workspace-write", "danger-full-access")
for label, binary in [("cordon", cordon)] + ([("today", baseline)] if baseline else []):
    for wsname, ws in (("empty", empty), ("100000", os.path.join(BASE, "ws-100000"))):
        pairs = {m: [] for m in MODES}
        # Interleaved, so drift hits both modes alike.
        for _ in range(SESSION_RUNS if label == "cordon" else 1):
            for m in MODES:
                pairs[m].append(per_call(binary, ws, m))
        for m in MODES:
            late, early = med([p[0] for p in pairs[m]]), med([p[1] for p in pairs[m]])
            rows[(label, wsname, m)] = late
            print(f"{label:<6} workspace {wsname:>7} {m:<19}: per call, first {CALLS} {early:8.2f} ms, last {CALLS} {late:8.2f} ms", flush=True)
        over = rows[(label, wsname, "workspace-write")] - rows[(label, wsname, "danger-full-access")]
        rows[(label, wsname)] = over
        print(f"{label:<6} workspace {wsname:>7}: sandbox overhead per call {over:8.2f} ms", flush=True)
shutil.rmtree(empty, ignore_errors=True)

if only == "session":
    sys.exit(0)
print("\n== targets ==")
b2, b100 = rows[(2000, "bare /bin/true")], rows[(100000, "bare /bin/true")]
for n, b in ((2000, b2), (100000, b100)):
    target = 5 if n == 2000 else 15
    dfa = rows[(n, "cordon -s danger-full-access")]
    print(f"repeated, {n:,} dirs, ws only: agent warm {rows[(n, 'cordon, ws only, agent warm')] - b:.2f} ms over bare (target <= {target}), "
          f"{rows[(n, 'cordon, ws only, agent warm')] - dfa:.2f} ms over cordon's own start (danger-full-access, {dfa - b:.2f} ms over bare); "
          f"index warm, no agent: {rows[(n, 'cordon, ws only, index warm (no agent)')] - b:.2f} ms over bare")
if baseline:
    for n in SIZES:
        print(f"first run vs today's first run, {n} dirs, ws only: {rows[(n, 'cordon first run, ws only')]:.1f} vs {rows[(n, 'today first run, ws only')]:.1f} ms")
print(f"session, sandbox overhead per call (workspace-write - danger-full-access): {rows[('cordon', '100000')]:.2f} ms at 100,000, {rows[('cordon', 'empty')]:.2f} ms empty (target <= 5 at 100,000)")
print(f"read-only: {rows['ro']:.2f} ms over bare (target <= 5)")
