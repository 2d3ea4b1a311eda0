"""Size and start-up of the glibc and the static (musl) cordon, with ratios.

Each command runs RUNS times, interleaved so drift hits all alike; wall
time is measured around posix_spawn+wait.
"""
import os, statistics, subprocess, sys, tempfile, time

glibc, static, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
work = tempfile.mkdtemp(prefix="cordon-bench-")
home = tempfile.mkdtemp(prefix="cordon-bench-home-")
env = dict(os.environ, CORDON_HOME=home)
builds = {"glibc": glibc, "static": static}
commands = {"bare /bin/true": ["/bin/true"]}
for build, path in builds.items():
    commands[f"{build} read-only"] = [path, "sandbox", "--", "/bin/true"]
    commands[f"{build} workspace-write"] = [path, "sandbox", "--full-auto", "--", "/bin/true"]
os.chdir(work)

def once(argv):
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env)
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{argv} failed with {status}")
    return elapsed * 1000.0

def linkage(path):
    out = subprocess.run(["file", "-b", path], capture_output=True, text=True).stdout
    return "static" if "static" in out else "dynamic" if "dynamic" in out else "?"

samples = {name: [] for name in commands}
for argv in commands.values():  # warm-up
    for _ in range(5):
        once(argv)
for _ in range(runs):
    for name, argv in commands.items():
        samples[name].append(once(argv))

size = {b: os.path.getsize(p) for b, p in builds.items()}
print(f"{'binary':<8}{'bytes':>12}{'MiB':>8}  linkage  path")
for b, p in builds.items():
    print(f"{b:<8}{size[b]:>12}{size[b]/2**20:>8.2f}  {linkage(p):<8} {p}")
print(f"size ratio static / glibc: {size['static']/size['glibc']:.2f}")
med = {name: statistics.median(v) for name, v in samples.items()}
bare = med["bare /bin/true"]
print(f"\n{runs} runs each, interleaved; cwd {work}")
print(f"{'command':<26}{'median ms':>10}{'p90 ms':>9}{'overhead ms':>13}")
for name in commands:
    p90 = statistics.quantiles(samples[name], n=10)[-1]
    print(f"{name:<26}{med[name]:>10.2f}{p90:>9.2f}{med[name]-bare:>13.2f}")
for mode in ("read-only", "workspace-write"):
    s, g = med[f"static {mode}"], med[f"glibc {mode}"]
    print(f"ratio static / glibc, {mode}: {s/g:.2f} (overhead over bare {(s-bare)/(g-bare):.2f})")
