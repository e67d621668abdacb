"""What the tool jail costs per tool call, measured side by side with the same call unjailed.

Each command runs `--runs` times jailed and `--runs` times bare, interleaved (jailed, bare,
jailed, ...) through the same runner (capped output, one process group), so the only
difference is the jail: bwrap namespaces, mounts and prlimit (and, as root, the privileged
stage that drops to uid 65534). The file tools are timed the same way: openat2, the portable
O_NOFOLLOW walk, and a plain open() of the same file.

    python benchmarks/jail_overhead.py [--runs 40] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from lanekit.agents.jail import SHELL_LIMITS, beneath, default_jail
from lanekit.agents.jail.process import run_capped
from lanekit.agents.tools import Workspace

COMMANDS = {
    "true": ["/usr/bin/true"],
    "wc -l file": ["wc", "-l", "data/events.log"],
    "date -u -d @.. +%F": ["date", "-u", "-d", "@1700000000", "+%F"],
    "cat | sort | uniq": ["/bin/sh", "-c", "cat data/events.log | sort | uniq -c"],
}
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def _stats(samples_ns: list[int]) -> dict[str, float]:
    ms = sorted(s / 1e6 for s in samples_ns)
    return {"median_ms": statistics.median(ms), "p90_ms": ms[int(0.9 * (len(ms) - 1))]}


def measure_shell(runs: int) -> list[dict]:
    """Per command: jailed and bare wall time per call, and their ratio."""
    jail = default_jail()
    jail.require("the benchmark")
    ws = Workspace.create({"data/events.log": "".join(f"08:{i:02d} event {i % 7}\n" for i in range(60))})
    jail.adopt(ws.root)
    rows = []
    try:
        for name, argv in COMMANDS.items():
            jailed, bare = [], []
            for _ in range(runs):
                t0 = time.monotonic_ns()
                res = jail.run(argv, cwd=ws.root, rw=[ws.root], env={**ENV, "HOME": str(ws.root)}, timeout_s=10,
                               limits=SHELL_LIMITS)
                jailed.append(time.monotonic_ns() - t0)
                assert res.returncode == 0, res.stderr
                t0 = time.monotonic_ns()
                res = run_capped(argv, env=ENV, timeout_s=10, stdout_cap=65536, stderr_cap=16384, cwd=str(ws.root))
                bare.append(time.monotonic_ns() - t0)
                assert res.returncode == 0, res.stderr
            j, b = _stats(jailed), _stats(bare)
            rows.append({"call": f"run_shell {name}", "jailed": j, "bare": b,
                         "ratio": j["median_ms"] / b["median_ms"], "extra_ms": j["median_ms"] - b["median_ms"]})
    finally:
        ws.cleanup()
    return rows


def measure_files(runs: int) -> list[dict]:
    """read_file's open+read via openat2 and via the walk, against a plain open() of the same file."""
    ws = Workspace.create({"a/b/c/notes.txt": "x" * 4096})
    rows = []
    try:
        def timed(fn) -> list[int]:
            out = []
            for _ in range(runs * 50):
                t0 = time.monotonic_ns()
                fn()
                out.append(time.monotonic_ns() - t0)
            return out

        def plain():
            with open(ws.root / "a/b/c/notes.txt", "rb") as fh:
                fh.read(256 * 1024)
        base = _stats(timed(plain))
        for resolver in ("openat2", "walk"):
            beneath.use_openat2(resolver == "openat2")
            s = _stats(timed(lambda: ws.fs.read_bytes("a/b/c/notes.txt", 256 * 1024)))
            rows.append({"call": f"read_file ({resolver})", "jailed": s, "bare": base,
                         "ratio": s["median_ms"] / base["median_ms"], "extra_ms": s["median_ms"] - base["median_ms"]})
        beneath.use_openat2(True)
    finally:
        ws.cleanup()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    jail = default_jail()
    rows = measure_shell(args.runs) + measure_files(args.runs)
    meta = {"euid": os.geteuid(), "mode": "root: privileged stage + unprivileged jail" if jail.as_root
            else "user: one unprivileged bwrap", "runs": args.runs, "python": sys.version.split()[0]}
    if args.json:
        print(json.dumps({"meta": meta, "rows": rows}, indent=2))
        return 0
    print(f"jail mode: {meta['mode']}; {args.runs} interleaved runs per command")
    print(f"{'call':<30}{'jailed ms':>10}{'p90':>7}{'bare ms':>9}{'p90':>7}{'ratio':>7}{'+ms':>8}")
    for r in rows:
        print(f"{r['call']:<30}{r['jailed']['median_ms']:>10.3f}{r['jailed']['p90_ms']:>7.2f}"
              f"{r['bare']['median_ms']:>9.3f}{r['bare']['p90_ms']:>7.2f}{r['ratio']:>7.1f}{r['extra_ms']:>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
