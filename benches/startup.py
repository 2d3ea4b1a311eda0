"""Median wall time and peak RSS of sandboxed /bin/true, with ratios.

Each command runs RUNS times, interleaved so drift hits all alike. Wall time
is measured around posix_spawn+wait. Peak RSS is measured in a separate pass
through GNU time (`/usr/bin/time -f %M`): the largest resident set of the
command or any child it reaped (cordon's helpers and the sandboxed program).
GNU time forks itself first, so every figure, the bare baseline included,
carries about a megabyte of time's own pages.
"""
import os, shutil, statistics, subprocess, sys, tempfile, time

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

os.chdir(work)
paths = {name: (argv[0] if "/" in argv[0] else shutil.which(argv[0])) for name, argv in commands.items()}

def once(name, argv):
    # posix_spawn (vfork in glibc): the child's peak RSS is the program's
    # own, not a copy of this Python process.
    start = time.perf_counter()
    pid = os.posix_spawn(paths[name], argv, env)
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{argv} failed with {status}")
    return elapsed * 1000.0

def peak_rss_mib(argv):
    out = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], env=env, capture_output=True, text=True, check=True)
    return int(out.stderr.strip().splitlines()[-1]) / 1024.0

samples = {name: [] for name in commands}
rss = {name: 0.0 for name in commands}
for name, argv in commands.items():  # warm-up
    for _ in range(5):
        once(name, argv)
for _ in range(runs):
    for name, argv in commands.items():
        samples[name].append(once(name, argv))
for name, argv in commands.items():
    rss[name] = max(peak_rss_mib(argv) for _ in range(20))

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
