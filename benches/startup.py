"""Median wall time and peak RSS of sandboxed /bin/true, with ratios.

Each command runs RUNS times, interleaved so drift hits all alike. Wall time
is measured around fork+exec+wait; peak RSS is the largest ru_maxrss that
wait4 reports for the command (cordon's own process; its sandbox helpers
are reaped inside it and counted there too).
"""
import os, statistics, sys, tempfile, time

cordon, runs = sys.argv[1], int(sys.argv[2])
work = tempfile.mkdtemp(prefix="cordon-bench-")
home = tempfile.mkdtemp(prefix="cordon-bench-home-")
env = dict(os.environ, CORDON_HOME=home)
commands = {
    "bare /bin/true": ["/bin/true"],
    "cordon read-only": [cordon, "sandbox", "--", "/bin/true"],
    "cordon workspace-write": [cordon, "sandbox", "--full-auto", "--", "/bin/true"],
    "bwrap --unshare-all": ["bwrap", "--unshare-all", "--ro-bind", "/", "/", "--dev", "/dev",
                            "--proc", "/proc", "/bin/true"],
}

def once(argv):
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.chdir(work)
        try:
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{argv} failed with {status}")
    return elapsed * 1000.0, usage.ru_maxrss / 1024.0

samples = {name: [] for name in commands}
rss = {name: 0.0 for name in commands}
for name, argv in commands.items():  # warm-up
    for _ in range(5):
        once(argv)
for _ in range(runs):
    for name, argv in commands.items():
        ms, mib = once(argv)
        samples[name].append(ms)
        rss[name] = max(rss[name], mib)

med = {name: statistics.median(v) for name, v in samples.items()}
bare = med["bare /bin/true"]
print(f"{runs} runs each, interleaved; cwd {work}")
print(f"{'command':<26}{'median ms':>10}{'p90 ms':>9}{'overhead ms':>13}{'x bare':>8}{'peak RSS MiB':>14}")
for name in commands:
    p90 = statistics.quantiles(samples[name], n=10)[-1]
    print(f"{name:<26}{med[name]:>10.2f}{p90:>9.2f}{med[name]-bare:>13.2f}{med[name]/bare:>8.2f}{rss[name]:>14.1f}")
bw = med["bwrap --unshare-all"]
for name in ("cordon read-only", "cordon workspace-write"):
    print(f"ratio {name} / bwrap: {med[name]/bw:.2f}")
target_ok = all(med[n] - bare <= 5.0 and rss[n] <= 10.0 for n in ("cordon read-only", "cordon workspace-write"))
print("target (<= 5 ms over bare, <= 10 MiB peak):", "met" if target_ok else "NOT met")
