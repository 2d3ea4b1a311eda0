"""Benchmarks of cordon's egress proxy, each against a baseline measured in
the same run. Usage (normally through benches/proxy_bench.sh):

  python3 benches/proxy_bench.py CORDON [all|throughput|latency|tunnels|startup]... [options]

throughput  SIZE (512 MiB) downloaded from a local sendfile server: direct,
            through `cordon proxy` (HTTP forward, CONNECT, SOCKS5), inside
            `cordon sandbox --network proxy` (HTTP forward, CONNECT), and through
            two reference relays (one connection per run): socat (read/write,
            64 KiB buffer) and a zero-copy splice(2) relay written here.
            --pace-mbs N paces the server like a slower link (default: unpaced). RUNS (3) rounds, interleaved;
            median MB/s (10^6 bytes/s) and ratio to direct.
            Target: HTTP forward and CONNECT >= 0.90 of direct.
latency     CONNS (10,000) sequential connections per mode: connect, [CONNECT with
            the token | SOCKS5 with the token], 1 byte echoed by a local echo
            server, close. Interleaved in blocks; p50/p90/p99 and what the
            proxy adds. Target: CONNECT adds < 0.2 ms at p50.
tunnels     TUNNELS (10,000) concurrent idle CONNECT tunnels through `cordon
            proxy` to a local server that holds them; held HOLD s (40, longer
            than the proxy's 30 s wait for a TLS ClientHello) while the proxy's
            VmRSS is sampled; then one byte is echoed through every tunnel and
            all are closed. Target: proxy RSS < 64 MiB, no failure.
startup     `cordon sandbox --network proxy -- /bin/true` against bare /bin/true
            and `cordon sandbox -- /bin/true` (network none), STARTUP_RUNS
            (300) interleaved. Target: <= 5 ms over bare (median).

Before each benchmark the machine-wide CPU use is sampled (waiting up to
--quiet-wait s for it to drop) and printed: on a shared machine, other
processes disturb every figure here.

Traffic goes only to 127.0.0.1, to servers and proxies started here. Every
loop is bounded in count and time. Exit status is non-zero only when a
benchmark could not run; a missed target prints "NOT met".
"""
import argparse, asyncio, base64, os, resource, selectors, shutil, signal, socket
import statistics, subprocess, sys, tempfile, threading, time

HOST = "127.0.0.1"  # the only address any traffic is sent to
HERE = os.path.abspath(__file__)
CHILDREN = []  # every process started here, stopped at exit


def fail(msg):
    sys.exit(f"proxy_bench: {msg}")


def raise_fd_limit(want=65536):
    """Raise RLIMIT_NOFILE as far as allowed; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def clean_env(home):
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["CORDON_HOME"] = home
    return env


def quantile(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def proc_cpu_s(pid, children=False):
    """utime+stime (and reaped children's) of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def rss_mib(pid, key="VmRSS"):
    return int(proc_status(pid)[key].split()[0]) / 1024.0


def busy_cores(seconds=1.0):
    """CPUs kept busy machine-wide over `seconds` (from /proc/stat)."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v) - v[3] - v[4], sum(v)  # busy (all but idle, iowait), total
    b0, t0 = sample()
    time.sleep(seconds)
    b1, t1 = sample()
    return (b1 - b0) / max(1, t1 - t0) * os.cpu_count()


def wait_quiet(limit_s, threshold=0.3):
    """Waits (at most `limit_s`) until other processes leave the CPUs alone;
    returns the busy CPUs last seen and prints a warning when not quiet."""
    deadline = time.monotonic() + limit_s
    busy = busy_cores()
    while busy >= threshold and time.monotonic() < deadline:
        busy = busy_cores()
    note = "" if busy < threshold else f"  WARNING: other processes are using the CPUs; results are disturbed"
    print(f"(background load before this benchmark: {busy:.2f} of {os.cpu_count()} CPUs busy){note}")
    return busy


def listen_overflows():
    """TcpExt ListenOverflows of this network namespace (SYNs dropped on a full accept queue)."""
    with open("/proc/net/netstat") as f:
        lines = [l.split() for l in f if l.startswith("TcpExt:")]
    return int(dict(zip(lines[0][1:], lines[1][1:])).get("ListenOverflows", 0))


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_soft_limit(pid):
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                v = line.split()[3]
                return 1 << 30 if v == "unlimited" else int(v)
    return 1024


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def stop_all():
    for p in reversed(CHILDREN):
        try:
            stop(p)
        except Exception:
            pass


_pending = {}  # pid -> bytes read from its stdout but not yet returned


def read_line(p, timeout, what):
    """One line from a child's stdout within `timeout` seconds (unbuffered
    reads, so select() sees what is really pending)."""
    fd = p.stdout.fileno()
    buf = _pending.get(p.pid, b"")
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        sel = selectors.DefaultSelector()
        sel.register(fd, selectors.EVENT_READ)
        ready = left > 0 and sel.select(left)
        sel.close()
        if not ready:
            fail(f"{what}: no output within {timeout} s")
        chunk = os.read(fd, 4096)
        if not chunk:
            fail(f"{what} exited (status {p.poll()})")
        buf += chunk
    line, _, rest = buf.partition(b"\n")
    _pending[p.pid] = rest
    return line.decode().strip()


# ---------------------------------------------------------------- servers
# Run as separate processes (`python3 proxy_bench.py _blob PATH` / `_echo`)
# so that they do not share this interpreter's lock with the clients.

def serve_blob(path, pace=0.0):
    """HTTP/1.1: any request gets the whole file (sendfile), then close;
    with `pace` (bytes/s), no faster than that, like a slower link."""
    size = os.path.getsize(path)
    fd = os.open(path, os.O_RDONLY)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((HOST, 0))
    ls.listen(64)
    print(f"PORT {ls.getsockname()[1]}", flush=True)

    def handle(c):
        with c:
            try:
                c.settimeout(10)
                head = b""
                while b"\r\n\r\n" not in head:
                    d = c.recv(4096)
                    if not d or len(head) > 65536:
                        return
                    head += d
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                          b"Content-Length: %d\r\nConnection: close\r\n\r\n" % size)
                c.settimeout(None)
                off = 0
                start = time.monotonic()
                while off < size:
                    n = os.sendfile(c.fileno(), fd, off, min(size - off, 1 << 20) if pace else size - off)
                    if n == 0:
                        break
                    off += n
                    if pace:
                        ahead = start + off / pace - time.monotonic()
                        if ahead > 0:
                            time.sleep(ahead)
                c.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, "listen")
    sel.register(0, selectors.EVENT_READ, "stdin")
    while True:
        for key, _ in sel.select():
            if key.data == "stdin":
                if not os.read(0, 4096):
                    return  # parent gone or done
            else:
                c, _ = ls.accept()
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                threading.Thread(target=handle, args=(c,), daemon=True).start()


def splice_relay(upstream_port):
    """A one-connection zero-copy relay (splice(2) through a pipe per
    direction) from a listening port to 127.0.0.1:upstream_port: what a
    relay that never copies bytes through user space reaches here."""
    import fcntl
    ls = socket.socket()
    ls.bind((HOST, 0))
    ls.listen(1)
    print(f"PORT {ls.getsockname()[1]}", flush=True)
    ls.settimeout(60)
    c, _ = ls.accept()
    u = socket.create_connection((HOST, upstream_port), timeout=10)
    u.settimeout(None)
    for s_ in (c, u):
        s_.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def pump(src, dst):
        r, w = os.pipe()
        try:
            fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ
        except OSError:
            pass
        try:
            while True:
                n = os.splice(src.fileno(), w, 1 << 20, flags=os.SPLICE_F_MOVE)
                if n == 0:
                    break
                while n:
                    n -= os.splice(r, dst.fileno(), n, flags=os.SPLICE_F_MOVE)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            os.close(r)
            os.close(w)

    t = threading.Thread(target=pump, args=(c, u), daemon=True)
    t.start()
    pump(u, c)
    t.join(30)


def serve_echo():
    """Echoes whatever arrives and holds every connection until the peer
    closes. `stats` on stdin prints `accepted A open O`."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((HOST, 0))
    ls.listen(4096)
    ls.setblocking(False)
    print(f"PORT {ls.getsockname()[1]}", flush=True)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, "listen")
    sel.register(0, selectors.EVENT_READ, "stdin")
    accepted = 0
    open_ = 0
    while True:
        for key, _ in sel.select():
            if key.data == "listen":
                for _ in range(512):
                    try:
                        c, _ = ls.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:  # EMFILE and the like: try again later
                        break
                    c.setblocking(False)
                    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sel.register(c, selectors.EVENT_READ, "conn")
                    accepted += 1
                    open_ += 1
            elif key.data == "stdin":
                cmd = os.read(0, 4096)
                if not cmd or b"quit" in cmd:
                    return
                if b"stats" in cmd:
                    print(f"accepted {accepted} open {open_}", flush=True)
            else:
                c = key.fileobj
                try:
                    data = c.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if data:
                    try:
                        c.send(data)
                    except OSError:
                        pass
                else:
                    sel.unregister(c)
                    c.close()
                    open_ -= 1


def start_server(kind, *args):
    p = subprocess.Popen([sys.executable, HERE, kind, *args], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)
    CHILDREN.append(p)
    line = read_line(p, 30, f"{kind} server")
    if not line.startswith("PORT "):
        fail(f"{kind} server said {line!r}")
    return p, int(line.split()[1])


def echo_stats(p):
    p.stdin.write(b"stats\n")
    p.stdin.flush()
    _, acc, _, op = read_line(p, 10, "echo server").split()
    return int(acc), int(op)


class StandaloneProxy:
    """`cordon proxy` on 127.0.0.1, allowing only 127.0.0.1."""

    def __init__(self, cordon, env):
        self.err = tempfile.TemporaryFile()
        self.p = subprocess.Popen(
            [cordon, "proxy", "--listen", f"{HOST}:0", "--print-env", "--allow-domain", HOST],
            stdout=subprocess.PIPE, stderr=self.err, env=env)
        CHILDREN.append(self.p)
        self.url = None
        for _ in range(6):
            line = read_line(self.p, 30, "cordon proxy")
            if line.startswith("export HTTP_PROXY="):
                self.url = line.split("=", 1)[1]
            if line.startswith("export all_proxy="):
                break
        if not self.url or not self.url.startswith("http://cordon:"):
            fail(f"unexpected cordon proxy output: {self.url!r}")
        creds, addr = self.url[len("http://"):].rsplit("@", 1)
        self.token = creds.split(":", 1)[1]
        host, port = addr.rsplit(":", 1)
        if host != HOST:
            fail(f"proxy listens on {host}, expected {HOST}")
        self.port = int(port)
        self.pid = self.p.pid
        self.auth = "Basic " + base64.b64encode(f"cordon:{self.token}".encode()).decode()
        self.socks_url = f"socks5h://cordon:{self.token}@{HOST}:{self.port}"

    def connect_head(self, port):
        return (f"CONNECT {HOST}:{port} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                f"Proxy-Authorization: {self.auth}\r\n\r\n").encode()

    def stop(self):
        stop(self.p)


# ---------------------------------------------------------------- 1. throughput

def bench_throughput(cordon, env, work, size_mib, runs, pace_mbs=0.0):
    size = size_mib << 20
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) and shutil.disk_usage("/dev/shm").free > size * 2 else work
    blob = os.path.join(tempfile.mkdtemp(prefix="cordon-proxy-bench-", dir=shm), "blob")
    chunk = os.urandom(1 << 20)
    with open(blob, "wb") as f:
        for _ in range(size_mib):
            f.write(chunk)
    try:
        return _throughput(cordon, env, blob, size, runs, pace_mbs)
    finally:
        os.unlink(blob)
        os.rmdir(os.path.dirname(blob))


def listening(port):
    """Whether something listens on 127.0.0.1:port (from /proc/net/tcp, so
    that checking does not use up a one-connection server's accept)."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        return any(l.split()[1] == want and l.split()[3] == "0A" for l in f.readlines()[1:])


def _throughput(cordon, env, blob, size, runs, pace_mbs):
    server, sport = start_server("_blob", blob, str(pace_mbs * 1e6))
    proxy = StandaloneProxy(cordon, env)
    url = f"http://{HOST}:{sport}/blob"
    curl = ["curl", "-sS", "-o", "/dev/null", "--max-time", "300",
            "-w", "%{http_code} %{size_download} %{speed_download}"]
    sandbox = [cordon, "sandbox", "--network", "proxy", "--allow-domain", HOST, "--"]
    # name: (client argv, relay): relay is the standalone proxy (its CPU is
    # sampled), "socat" or "splice" (one-connection relays started per run,
    # their CPU from wait4) or None.
    modes = {
        "direct": (curl + ["--noproxy", "*", url], None),
        "cordon proxy, HTTP forward": (curl + ["-x", proxy.url, url], proxy),
        "cordon proxy, CONNECT": (curl + ["-p", "-x", proxy.url, url], proxy),
        "cordon proxy, SOCKS5": (curl + ["-x", proxy.socks_url, url], proxy),
        "sandbox --network proxy, HTTP": (sandbox + curl + [url], None),
        "sandbox --network proxy, CONNECT": (sandbox + curl + ["-p", url], None),
    }
    if shutil.which("socat"):
        modes["reference: socat relay"] = (curl + ["--noproxy", "*", "http://%s:{rport}/blob" % HOST], "socat")
    if hasattr(os, "splice"):
        modes["reference: splice relay"] = (curl + ["--noproxy", "*", "http://%s:{rport}/blob" % HOST], "splice")

    def start_socat():
        with socket.socket() as s:  # a free port for socat to listen on
            s.bind((HOST, 0))
            rport = s.getsockname()[1]
        p = subprocess.Popen(["socat", "-b", "65536", f"TCP4-LISTEN:{rport},bind={HOST},reuseaddr",
                              f"TCP4:{HOST}:{sport}"], env=env, stderr=subprocess.DEVNULL)
        CHILDREN.append(p)
        deadline = time.monotonic() + 10
        while not listening(rport):
            if time.monotonic() > deadline or p.poll() is not None:
                fail("socat did not start listening")
            time.sleep(0.01)
        return p, rport

    def once(argv, relay):
        socat = None
        if relay == "socat":
            socat, rport = start_socat()
            argv = [a.replace("{rport}", str(rport)) for a in argv]
        elif relay == "splice":
            socat = subprocess.Popen([sys.executable, HERE, "_splice", str(sport)], stdout=subprocess.PIPE)
            CHILDREN.append(socat)
            rport = int(read_line(socat, 30, "splice relay").split()[1])
            argv = [a.replace("{rport}", str(rport)) for a in argv]
        r0 = proc_cpu_s(relay.pid) if isinstance(relay, StandaloneProxy) else 0.0
        s0 = proc_cpu_s(server.pid)
        t0 = time.perf_counter()
        with tempfile.TemporaryFile() as errf:
            # curl's --max-time bounds this; wait4 gives the CPU of the whole
            # client tree (cordon, its proxy threads and curl for sandbox rows).
            p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errf, env=env)
            out = p.stdout.read()
            p.stdout.close()
            _, status, ru = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            errf.seek(0)
            err = errf.read()
        wall = time.perf_counter() - t0
        parts = out.decode().split()
        if p.returncode != 0 or len(parts) != 3 or parts[0] != "200" or int(parts[1]) != size:
            fail(f"{' '.join(argv)} failed ({p.returncode}): {out.decode()!r} {err.decode().strip()!r}")
        srv = proc_cpu_s(server.pid) - s0
        if socat:
            try:
                _, _, sru = os.wait4(socat.pid, 0)  # it exits after its one connection
            except ChildProcessError:
                fail("the reference relay was reaped elsewhere")
            socat.returncode = 0
            relay_cpu = sru.ru_utime + sru.ru_stime
        elif relay is not None:
            relay_cpu = proc_cpu_s(relay.pid) - r0
        else:
            relay_cpu = 0.0
        client = ru.ru_utime + ru.ru_stime  # for sandbox rows this includes cordon's proxy
        mbps = float(parts[2]) / 1e6
        xfer = size / (mbps * 1e6)
        return mbps, relay_cpu, client + relay_cpu + srv, xfer, wall

    for argv, pid in modes.values():  # warm-up (page cache, code paths)
        once(argv, pid)
    res = {name: [] for name in modes}
    for _ in range(runs):
        for name, (argv, pid) in modes.items():
            res[name].append(once(argv, pid))
    proxy.stop()
    stop(server)

    gb = size / 1e9
    med = {n: statistics.median(r[0] for r in v) for n, v in res.items()}
    direct = med["direct"]
    paced = f", server paced to {pace_mbs:g} MB/s" if pace_mbs else ""
    print(f"\n== 1. throughput: {size >> 20} MiB ({size / 1e6:.0f} MB) from a local sendfile server{paced}, "
          f"curl -o /dev/null; {runs} runs interleaved, median; {os.cpu_count()} CPUs")
    print(f"{'path':<36}{'runs MB/s':>26}{'median MB/s':>13}{'x direct':>10}"
          f"{'relay CPU s/GB':>16}{'all CPU s/GB':>14}{'cores busy':>12}")
    for n, v in res.items():
        runs_s = " ".join(f"{r[0]:.0f}" for r in v)
        relay = statistics.median(r[1] for r in v) / gb
        total = statistics.median(r[2] for r in v) / gb
        busy = statistics.median(r[2] / r[3] for r in v)
        relay_s = f"{relay:.3f}" if modes[n][1] is not None else "-"
        print(f"{n:<36}{runs_s:>26}{med[n]:>13.0f}{med[n] / direct:>10.2f}{relay_s:>16}{total:>14.3f}{busy:>12.2f}")
    print("relay CPU: CPU time of the standalone proxy or of the reference relay; all CPU: client +"
          " relay + server (for sandbox rows the client is cordon with its proxy threads plus curl)."
          " cores busy: all CPU / transfer time.")
    ok = all(med[n] / direct >= 0.90 for n in ("cordon proxy, HTTP forward", "cordon proxy, CONNECT",
                                               "sandbox --network proxy, HTTP", "sandbox --network proxy, CONNECT"))
    print("target (HTTP forward and CONNECT >= 0.90 of direct):", "met" if ok else "NOT met")
    for n in ("reference: socat relay", "reference: splice relay"):
        if n in med:
            print(f"{n}: {med[n] / direct:.2f} of direct on this machine")
    return ok


# ---------------------------------------------------------------- 2. latency

def bench_latency(cordon, env, conns, blocks=20, warmup=200):
    echo, eport = start_server("_echo")
    proxy = StandaloneProxy(cordon, env)
    connect_head = proxy.connect_head(eport)
    user, token = b"cordon", proxy.token.encode()
    socks_greet = b"\x05\x01\x02"
    socks_auth = bytes([1, len(user)]) + user + bytes([len(token)]) + token
    socks_req = b"\x05\x01\x00\x01" + socket.inet_aton(HOST) + eport.to_bytes(2, "big")

    def sock():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(5)
        return s

    def recv_exact(s, n):
        data = b""
        while len(data) < n:
            d = s.recv(n - len(data))
            if not d:
                raise ConnectionError("closed early")
            data += d
        return data

    def echo_byte(s):
        s.sendall(b"x")
        if recv_exact(s, 1) != b"x":
            raise ConnectionError("bad echo")

    def direct():
        s = sock()
        try:
            s.connect((HOST, eport))
            echo_byte(s)
        finally:
            s.close()

    def via_connect():
        s = sock()
        try:
            s.connect((HOST, proxy.port))
            s.sendall(connect_head)
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                d = s.recv(1024)
                if not d:
                    raise ConnectionError("proxy closed")
                head += d
            if not head.startswith(b"HTTP/1.1 200"):
                raise ConnectionError(head.split(b"\r\n")[0].decode())
            echo_byte(s)
        finally:
            s.close()

    def via_socks():
        s = sock()
        try:
            s.connect((HOST, proxy.port))
            s.sendall(socks_greet)
            if recv_exact(s, 2) != b"\x05\x02":
                raise ConnectionError("socks method")
            s.sendall(socks_auth)
            if recv_exact(s, 2) != b"\x01\x00":
                raise ConnectionError("socks auth")
            s.sendall(socks_req)
            if recv_exact(s, 10)[1] != 0:
                raise ConnectionError("socks refused")
            echo_byte(s)
        finally:
            s.close()

    modes = {"direct": direct, "cordon proxy, CONNECT": via_connect, "cordon proxy, SOCKS5": via_socks}
    samples = {n: [] for n in modes}
    errors = {n: 0 for n in modes}
    deadline = time.monotonic() + 900  # bound for the whole benchmark

    def run(name, count, keep):
        fn = modes[name]
        for _ in range(count):
            t0 = time.perf_counter_ns()
            try:
                fn()
            except OSError:
                errors[name] += keep
                continue
            if keep:
                samples[name].append((time.perf_counter_ns() - t0) / 1e6)

    for name in modes:
        run(name, warmup, 0)
    per_block = max(1, conns // blocks)
    done = 0
    while done < conns and time.monotonic() < deadline:
        n = min(per_block, conns - done)
        for name in modes:
            run(name, n, 1)
        done += n
    cpu = proc_cpu_s(proxy.pid)
    proxy.stop()
    stop(echo)
    if done < conns:
        print(f"warning: stopped at the time bound after {done} connections per mode")

    print(f"\n== 2. latency: {done} sequential connections per mode (connect, 1-byte echo, close), "
          f"{blocks} interleaved blocks, after {warmup} warm-up each")
    print(f"{'mode':<24}{'ok':>7}{'failed':>8}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}"
          f"{'added p50':>11}{'added p90':>11}{'added p99':>11}")
    base = {q: quantile(samples["direct"], q) for q in (0.5, 0.9, 0.99)}
    for n, v in samples.items():
        if not v:
            print(f"{n:<24}{0:>7}{errors[n]:>8}")
            continue
        qs = {q: quantile(v, q) for q in (0.5, 0.9, 0.99)}
        added = "".join(f"{qs[q] - base[q]:>11.3f}" for q in (0.5, 0.9, 0.99)) if n != "direct" else ""
        print(f"{n:<24}{len(v):>7}{errors[n]:>8}{qs[0.5]:>9.3f}{qs[0.9]:>9.3f}{qs[0.99]:>9.3f}{max(v):>9.3f}{added}")
    total = sum(len(v) for n, v in samples.items() if n != "direct") + warmup * 2
    print(f"proxy CPU: {cpu * 1e6 / max(1, total):.0f} us per proxied connection (whole run)")
    ok = bool(samples["cordon proxy, CONNECT"]) and errors["cordon proxy, CONNECT"] == 0 and \
        quantile(samples["cordon proxy, CONNECT"], 0.5) - base[0.5] < 0.2
    print("target (CONNECT adds < 0.2 ms at p50, no failure):", "met" if ok else "NOT met")
    return ok


# ---------------------------------------------------------------- 3. tunnels

async def _tunnels_run(proxy, eport, echo, n, hold, open_timeout, inflight=256):
    head = proxy.connect_head(eport)
    sem = asyncio.Semaphore(inflight)
    tunnels = []
    failures = {}
    open_ms = []

    def failed(kind):
        failures[kind] = failures.get(kind, 0) + 1

    async def open_one():
        async with sem:
            t0 = time.perf_counter()
            w = None
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection(HOST, proxy.port), open_timeout)
                w.write(head)
                resp = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), open_timeout)
                if not resp.startswith(b"HTTP/1.1 200"):
                    failed(resp.split(b"\r\n")[0].decode(errors="replace"))
                    w.close()
                    return
                tunnels.append((r, w))
                open_ms.append((time.perf_counter() - t0) * 1000)
            except asyncio.TimeoutError:
                failed("open timed out")
                if w:
                    w.close()
            except (OSError, asyncio.IncompleteReadError) as e:
                failed(type(e).__name__)
                if w:
                    w.close()

    acc0, _ = echo_stats(echo)
    base_rss = rss_mib(proxy.pid)
    base_fds = fd_count(proxy.pid)
    overflows = listen_overflows()
    t0 = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(open_one() for _ in range(n))), open_timeout * 4 + n / 50)
    open_s = time.perf_counter() - t0
    overflows = listen_overflows() - overflows
    await asyncio.sleep(0.5)
    acc, held = echo_stats(echo)
    acc -= acc0
    timeline = [(0.0, rss_mib(proxy.pid))]
    cpu0 = proc_cpu_s(proxy.pid)
    t_hold = time.perf_counter()
    while time.perf_counter() - t_hold < hold:
        await asyncio.sleep(1)
        timeline.append((time.perf_counter() - t_hold, rss_mib(proxy.pid)))
    idle_cpu = proc_cpu_s(proxy.pid) - cpu0
    fds_open = fd_count(proxy.pid)
    status = proc_status(proxy.pid)

    async def check(r, w):
        try:
            w.write(b"x")
            got = await asyncio.wait_for(r.readexactly(1), 20)
            return got == b"x"
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            return False

    results = await asyncio.wait_for(asyncio.gather(*(check(r, w) for r, w in tunnels)), 120)
    echo_fail = results.count(False)
    rss_after_echo = rss_mib(proxy.pid)
    for _, w in tunnels:
        w.close()
    await asyncio.gather(*(asyncio.wait_for(w.wait_closed(), 10) for _, w in tunnels), return_exceptions=True)
    # Wait (bounded) for the proxy and the server to let go of everything.
    for _ in range(100):
        await asyncio.sleep(0.1)
        if fd_count(proxy.pid) <= base_fds + 2 and echo_stats(echo)[1] == 0:
            break
    await asyncio.sleep(1)
    return dict(
        n=n, opened=len(tunnels), overflows=overflows, failures=failures, open_s=open_s, open_ms=open_ms,
        server_accepted=acc, server_held=held, base_rss=base_rss, timeline=timeline,
        hwm=int(status["VmHWM"].split()[0]) / 1024, rss_end=int(status["VmRSS"].split()[0]) / 1024,
        anon=int(status.get("RssAnon", "0 kB").split()[0]) / 1024, threads=status.get("Threads"),
        rss_after_echo=rss_after_echo, echo_fail=echo_fail, idle_cpu=idle_cpu, hold=hold,
        base_fds=base_fds, fds_open=fds_open, fds_closed=fd_count(proxy.pid),
        rss_closed=rss_mib(proxy.pid), server_open_after=echo_stats(echo)[1],
        hwm_final=rss_mib(proxy.pid, "VmHWM"))


def bench_tunnels(cordon, env, n, hold):
    me = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if me < n + 64:
        fail(f"this process may open only {me} files; {n} tunnels need {n + 64}")
    echo, eport = start_server("_echo")
    probe = StandaloneProxy(cordon, env)
    limit = fd_soft_limit(probe.pid)
    base = fd_count(probe.pid)
    probe.stop()
    fit = (limit - base - 8) // 2  # each tunnel: client side + upstream side
    plan = [(n, hold, 30)] if fit >= n else [(fit, hold, 30), (n, 5, 10)]
    print(f"\n== 3. concurrent idle CONNECT tunnels through `cordon proxy` (fd limit of the proxy: "
          f"{limit}, {base} fds at start)")
    if fit < n:
        print(f"note: {n} tunnels need {2 * n + base} fds in the proxy but RLIMIT_NOFILE allows {limit} "
              f"(hard limit; raising it needs CAP_SYS_RESOURCE). Measuring {fit} tunnels (the most that "
              f"fit), then {n} to show the behaviour at the limit.")
    runs = []
    for count, h, tmo in plan:
        proxy = StandaloneProxy(cordon, env)
        try:
            r = asyncio.run(_tunnels_run(proxy, eport, echo, count, h, tmo))
        finally:
            proxy.stop()
        runs.append(r)
    stop(echo)

    for r in runs:
        fails = sum(r["failures"].values())
        om = sorted(r["open_ms"]) or [0.0]
        print(f"\n-- {r['n']} tunnels: opened {r['opened']} in {r['open_s']:.1f} s "
              f"(per tunnel p50 {quantile(om, 0.5):.1f} ms, p99 {quantile(om, 0.99):.1f} ms, 256 in flight); "
              f"server accepted {r['server_accepted']}, holding {r['server_held']}; "
              f"accept-queue overflows {r['overflows']}")
        print(f"{'':<34}{'value':>12}")
        rows = [
            ("proxy VmRSS before (MiB)", f"{r['base_rss']:.1f}"),
            ("proxy VmRSS all open (MiB)", f"{r['timeline'][0][1]:.1f}"),
            (f"proxy VmRSS max over {r['hold']:.0f} s hold", f"{max(v for _, v in r['timeline']):.1f}"),
            (f"proxy VmRSS end of hold (MiB)", f"{r['rss_end']:.1f}"),
            ("  of which anonymous (MiB)", f"{r['anon']:.1f}"),
            ("proxy VmRSS after echo (MiB)", f"{r['rss_after_echo']:.1f}"),
            ("proxy VmHWM (MiB)", f"{r['hwm_final']:.1f}"),
            ("proxy VmRSS after close (MiB)", f"{r['rss_closed']:.1f}"),
            ("RSS per tunnel, end of hold (KiB)",
             f"{(r['rss_end'] - r['base_rss']) * 1024 / max(1, r['opened']):.2f}"),
            ("proxy threads", f"{r['threads']}"),
            ("proxy fds: start/open/closed", f"{r['base_fds']}/{r['fds_open']}/{r['fds_closed']}"),
            ("proxy CPU while idle (s)", f"{r['idle_cpu']:.2f}"),
            ("failed to open", f"{fails}"),
            ("failed echo after hold", f"{r['echo_fail']}"),
            ("server conns left after close", f"{r['server_open_after']}"),
        ]
        for k, v in rows:
            print(f"{k:<34}{v:>12}")
        if r["failures"]:
            print("failures by kind: " + ", ".join(f"{k}: {v}" for k, v in sorted(r["failures"].items())))
        tl = r["timeline"]
        marks = [tl[i] for i in range(0, len(tl), 5)] + ([tl[-1]] if (len(tl) - 1) % 5 else [])
        print("RSS timeline (s: MiB): " + "  ".join(f"{t:.0f}: {v:.1f}" for t, v in marks))
    full = [r for r in runs if r["n"] == n][-1]
    clean = [r for r in runs if r["n"] >= min(n, fit)][0]

    def good(r):
        return sum(r["failures"].values()) == 0 and r["echo_fail"] == 0 and r["hwm_final"] < 64
    if fit >= n:
        print(f"target ({n} tunnels, RSS < 64 MiB, no failure):", "met" if good(full) else "NOT met")
        return good(full)
    per = (clean["hwm_final"] - clean["base_rss"]) / max(1, clean["opened"])
    print(f"target ({n} tunnels, RSS < 64 MiB, no failure): NOT met here: the fd limit admits {fit}. "
          f"At {fit}: peak {clean['hwm_final']:.1f} MiB, {sum(clean['failures'].values()) + clean['echo_fail']} "
          f"failures ({'met' if good(clean) else 'NOT met'} at that count); extrapolated peak at {n}: "
          f"{clean['base_rss'] + per * n:.1f} MiB")
    return False


# ---------------------------------------------------------------- 4. startup

def bench_startup(cordon, env, runs, work):
    commands = {
        "bare /bin/true": ["/bin/true"],
        "cordon sandbox (network none)": [cordon, "sandbox", "--", "/bin/true"],
        "cordon sandbox --network proxy": [cordon, "sandbox", "--network", "proxy",
                                           "--allow-domain", HOST, "--", "/bin/true"],
    }
    cwd = os.getcwd()
    os.chdir(work)
    try:
        def once(argv):
            t0 = time.perf_counter()
            pid = os.posix_spawn(argv[0], argv, env)
            _, status = os.waitpid(pid, 0)
            ms = (time.perf_counter() - t0) * 1000
            if os.waitstatus_to_exitcode(status) != 0:
                fail(f"{argv} failed with status {status}")
            return ms
        for argv in commands.values():
            for _ in range(5):
                once(argv)
        samples = {n: [] for n in commands}
        for _ in range(runs):
            for n, argv in commands.items():
                samples[n].append(once(argv))
    finally:
        os.chdir(cwd)
    med = {n: statistics.median(v) for n, v in samples.items()}
    bare = med["bare /bin/true"]
    none = med["cordon sandbox (network none)"]
    print(f"\n== 4. start-up: {runs} runs each, interleaved")
    print(f"{'command':<34}{'median ms':>10}{'p90 ms':>9}{'over bare ms':>14}{'over none ms':>14}")
    for n, v in samples.items():
        over_none = f"{med[n] - none:>14.2f}" if n != "bare /bin/true" else ""
        print(f"{n:<34}{med[n]:>10.2f}{quantile(v, 0.9):>9.2f}{med[n] - bare:>14.2f}{over_none}")
    ok = med["cordon sandbox --network proxy"] - bare <= 5.0
    print("target (--network proxy <= 5 ms over bare, median):", "met" if ok else "NOT met")
    return ok


# ---------------------------------------------------------------- main

def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "_blob":
        return serve_blob(sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
    if len(sys.argv) >= 2 and sys.argv[1] == "_splice":
        return splice_relay(int(sys.argv[2]))
    if len(sys.argv) >= 2 and sys.argv[1] == "_echo":
        raise_fd_limit()
        return serve_echo()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cordon")
    ap.add_argument("which", nargs="*", default=["all"],
                    choices=["all", "throughput", "latency", "tunnels", "startup"])
    ap.add_argument("--size-mib", type=int, default=512)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pace-mbs", type=float, default=0.0,
                    help="throughput: the server sends no faster than this many MB/s (a slower link); 0: unpaced")
    ap.add_argument("--conns", type=int, default=10_000)
    ap.add_argument("--tunnels", type=int, default=10_000)
    ap.add_argument("--hold", type=float, default=40.0)
    ap.add_argument("--startup-runs", type=int, default=300)
    ap.add_argument("--quiet-wait", type=float, default=300.0,
                    help="seconds to wait, before each benchmark, for other processes to leave the CPUs idle")
    a = ap.parse_args()
    which = {"throughput", "latency", "tunnels", "startup"} if "all" in a.which else set(a.which)
    cordon = os.path.abspath(a.cordon)
    if not (os.path.isfile(cordon) and os.access(cordon, os.X_OK)):
        fail(f"no cordon binary at {cordon}")
    soft, hard = raise_fd_limit()
    home = tempfile.mkdtemp(prefix="cordon-proxy-bench-home-")
    work = tempfile.mkdtemp(prefix="cordon-proxy-bench-")
    env = clean_env(home)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    print(f"cordon {cordon}; {os.cpu_count()} CPUs; fd limit {soft} (hard {hard}); traffic only to {HOST}")
    results = {}
    benches = {
        "throughput": lambda: bench_throughput(cordon, env, work, a.size_mib, a.runs, a.pace_mbs),
        "latency": lambda: bench_latency(cordon, env, a.conns),
        "tunnels": lambda: bench_tunnels(cordon, env, a.tunnels, a.hold),
        "startup": lambda: bench_startup(cordon, env, a.startup_runs, work),
    }
    try:
        for name, run in benches.items():
            if name in which:
                print()
                wait_quiet(a.quiet_wait)
                results[name] = run()
                print(f"(background load after this benchmark: {busy_cores():.2f} of {os.cpu_count()} CPUs busy)")
    finally:
        stop_all()
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    print("\nsummary: " + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in results.items()))


if __name__ == "__main__":
    main()
