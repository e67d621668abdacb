"""How fast can lanekit's streaming client go and still measure correctly, on one core?

Starts `fake_openai_server.py` on loopback (pinned to another CPU when there is one), pins this
process to one CPU, and climbs a ladder of paced token rates. A rate passes when every request
returns exactly the requested tokens and the client's decode tok/s is within `--tolerance` % of
the rate the server paced (per stream; and the aggregate for several streams). Prints the highest
passing rate; exit 0 when it reaches `--target`.

    python benchmarks/client_throughput.py [--streams 1] [--seconds 2] [--target 20000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from lanekit.endpoint.client import EndpointClient
from lanekit.load.metrics import aggregate_metrics, record_metrics

SERVER = Path(__file__).with_name("fake_openai_server.py")


def start_server(cpu: int | None) -> tuple[subprocess.Popen, int]:
    argv = [sys.executable, str(SERVER), "--port", "0"] + (["--cpu", str(cpu)] if cpu is not None else [])
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"fake server did not start: {line!r}")
    return proc, int(line.split()[1])


async def probe(base_url: str, rate: float, streams: int, seconds: float) -> dict:
    """`streams` concurrent requests, each paced at rate/streams tok/s for about `seconds`."""
    per_stream = rate / streams if rate > 0 else 0.0
    n_tokens = max(200, int(per_stream * seconds)) if rate > 0 else 20000
    async with EndpointClient(base_url, "fake") as client:
        await client.stream(prompt="warm", max_tokens=50, extra_body={"fake_rate": 0})
        cpu0, wall0 = time.process_time(), time.perf_counter()
        recs = await asyncio.gather(*(client.stream(prompt="go", max_tokens=n_tokens,
                                                    extra_body={"fake_rate": per_stream}) for _ in range(streams)))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    decode = [record_metrics(r)["decode_tok_s"] for r in recs]
    server = [r.server_decode_tok_s for r in recs if r.server_decode_tok_s]
    tokens = sum(r.osl or 0 for r in recs)
    agg = aggregate_metrics(recs)["system_output_tok_s"]
    exact = all(r.ok and r.osl == n_tokens and r.n_token_chunks == n_tokens for r in recs)
    return {"target_tok_s": rate, "streams": streams, "tokens_per_stream": n_tokens, "exact_counts": exact,
            "per_stream_tok_s": statistics.median(d for d in decode if d) if all(decode) else None,
            "server_emitted_tok_s": statistics.median(server) if server else None,
            "aggregate_tok_s": agg, "client_cpu_pct": round(100 * cpu / wall, 1) if wall else None,
            "client_cpu_us_per_token": round(1e6 * cpu / tokens, 3) if tokens else None,
            "errors": [r.error for r in recs if not r.ok]}


def _print_row(row: dict) -> None:
    server = row["server_emitted_tok_s"]
    print(f"target {row['target_tok_s']:>9,.0f} tok/s  server emitted {server or 0:>9,.0f}  "
          f"client measured/stream {row['per_stream_tok_s'] or 0:>9,.0f}  aggregate {row['aggregate_tok_s'] or 0:>9,.0f}  "
          f"err {row.get('per_stream_err_pct')}%  client cpu {row['client_cpu_pct']}% "
          f"({row['client_cpu_us_per_token']} µs/token)  {'PASS' if row['pass'] else 'FAIL'}", flush=True)


def judge(row: dict, tolerance_pct: float) -> bool:
    if not row["exact_counts"] or row["per_stream_tok_s"] is None:
        return False
    per_target = row["target_tok_s"] / row["streams"]
    row["per_stream_err_pct"] = round(100 * (row["per_stream_tok_s"] / per_target - 1), 2)
    ok = abs(row["per_stream_err_pct"]) <= tolerance_pct
    if row["streams"] > 1 and row["aggregate_tok_s"]:
        # the aggregate includes each request's start-up, so it may only fall short, by the same tolerance
        row["aggregate_err_pct"] = round(100 * (row["aggregate_tok_s"] / row["target_tok_s"] - 1), 2)
        ok = ok and abs(row["aggregate_err_pct"]) <= tolerance_pct
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--streams", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=2.0, help="length of each probe")
    ap.add_argument("--tolerance", type=float, default=5.0, help="allowed error, percent")
    ap.add_argument("--start", type=float, default=5000.0)
    ap.add_argument("--max", type=float, default=640000.0)
    ap.add_argument("--target", type=float, default=20000.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    client_cpu = cpus[0] if cpus else None
    server_cpu = cpus[1] if len(cpus) > 1 else None
    proc, port = start_server(server_cpu)
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})  # the claim is "on one core"
    base_url = f"http://127.0.0.1:{port}/v1"
    rows, best = [], 0.0
    try:
        unpaced = asyncio.run(probe(base_url, 0.0, args.streams, args.seconds))
        rate = args.start
        while rate <= args.max:
            row = asyncio.run(probe(base_url, rate, args.streams, args.seconds))
            row["pass"] = judge(row, args.tolerance)
            rows.append(row)
            if not args.json:
                _print_row(row)
            if not row["pass"]:
                break
            best = rate
            rate *= 2
        # refine between the last pass and the first fail
        if rows and not rows[-1]["pass"] and best:
            lo, hi = best, rows[-1]["target_tok_s"]
            for _ in range(3):
                mid = (lo + hi) / 2
                row = asyncio.run(probe(base_url, mid, args.streams, args.seconds))
                row["pass"] = judge(row, args.tolerance)
                rows.append(row)
                if not args.json:
                    _print_row(row)
                lo, hi = (mid, hi) if row["pass"] else (lo, mid)
            best = lo
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    cost = unpaced["client_cpu_us_per_token"]
    result = {"highest_correct_tok_s": best, "client_cpu_us_per_token_unpaced": cost,
              "client_capacity_tok_s_per_core": round(1e6 / cost) if cost else None, "target_tok_s": args.target, "streams": args.streams,
              "tolerance_pct": args.tolerance, "client_cpu": client_cpu, "server_cpu": server_cpu,
              "unpaced_client_tok_s": unpaced["per_stream_tok_s"], "probes": rows}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"unpaced: the client consumed {unpaced['per_stream_tok_s'] or 0:,.0f} tok/s per stream "
              f"({unpaced['client_cpu_pct']}% of one core; {cost} µs of client CPU per token → "
              f"{result['client_capacity_tok_s_per_core']:,} tok/s on a core of its own)")
        print(f"highest token rate measured correctly on one core ({args.streams} stream(s), ±{args.tolerance}%): "
              f"{best:,.0f} tok/s (target ≥ {args.target:,.0f})")
    return 0 if best >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
