"""The llama.cpp RPC lane against the same model without RPC, measured side by side.

    python benchmarks/rpc_lane.py [--model smollm2-135m] [--rounds 3] [--samples 5] [--max-tokens 64]
                                  [--concurrency 1,2,4 --parallel 4] [--ngl 99] [--node-env CUDA_VISIBLE_DEVICES=0 ...]
                                  [--baseline-env CUDA_VISIBLE_DEVICES=0] [--head-env CUDA_VISIBLE_DEVICES=]
                                  [--share-gib 12] [--out DIR]

Each round serves the model twice through lanekit's own lifecycle, in alternating order: a plain lane
(the RPC build's llama-server, no --rpc) and a two-node RPC lane (`lanekit cluster`: one rpc-server per
node on loopback, llama-server --rpc on the head), each benched (single stream, optional sweep) and
torn down (verified on every node). Prints tok/s per round, medians and the RPC/plain ratio; --out
writes rpc_lane.json. Needs `lanekit build rpc` (or LANEKIT_LLAMA_RPC_BIN).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psutil


def _env(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        out[key] = value
    return out


def _measure(base_url: str, model: str, args: argparse.Namespace) -> dict[str, Any]:
    from lanekit.load.scenarios import run_single, run_sweep

    single = run_single(base_url, model, samples=args.samples, max_tokens=args.max_tokens, warmup=1,
                        timeout_s=args.timeout).summary
    out = {"decode_tok_s": single["decode_tok_s"], "decode_tok_s_p10": single["decode_tok_s_p10"],
           "decode_tok_s_p90": single["decode_tok_s_p90"], "ttft_ms": single["ttft_ms"],
           "server_decode_tok_s": single["server_decode_tok_s"], "errors": single["errors"]}
    if args.concurrency:
        sweep = run_sweep(base_url, model, concurrency=tuple(args.concurrency), max_tokens=args.max_tokens,
                          warmup=1, timeout_s=args.timeout).summary
        out["sweep"] = [{"concurrency": lvl["concurrency"], "aggregate_tok_s": lvl["aggregate_tok_s"],
                         "per_request_tok_s": lvl["per_request_tok_s"], "errors": lvl["errors"]}
                        for lvl in sweep["levels"]]
    return out


def plain_round(build, args: argparse.Namespace) -> dict[str, Any]:
    from lanekit.lanes import Lane
    from lanekit.lanes.guard import pick_port
    from lanekit.lanes.spec import parse_lane

    spec = parse_lane({"name": "rpc-bench-plain", "model": args.model, "ctx": args.ctx, "threads": args.threads,
                       "parallel": args.parallel, "port": pick_port("127.0.0.1", args.port),
                       "binary": build.llama_server, "env": _env(args.baseline_env), "warm_timeout_s": 900,
                       **({"gpu_layers": args.ngl} if args.ngl is not None else {}),
                       **({"synthetic": True} if args.synthetic else {})})
    lane = Lane(spec, owner_kind="bench")
    t0 = time.monotonic()
    lane.up()
    try:
        result = {"ready_s": round(time.monotonic() - t0, 2), **_measure(lane.base_url, lane.model_id, args)}
    finally:
        report = lane.stop()
    result["teardown_verified"] = bool(report and report.verified)
    return result


def rpc_round(build, args: argparse.Namespace) -> dict[str, Any]:
    from lanekit.lanes.cluster import ClusterSpec
    from lanekit.lanes.cluster_run import ClusterRun
    from lanekit.lanes.guard import pick_port

    node_envs = [_env([e]) for e in args.node_env] or [{}, {}]
    nodes = []
    port = 50052
    for i, address in enumerate(args.addresses.split(",")):
        port = pick_port(address, port + 1)
        node = {"name": f"n{i}", "address": address, "rpc_port": port, "rpc_threads": args.rpc_threads,
                "env": node_envs[i] if i < len(node_envs) else {}}
        if args.share_gib:
            node["memory_bytes"] = int(args.share_gib * 2**30)
        nodes.append(node)
    lane = {"engine": "llamacpp", "model": args.model, "ctx": args.ctx, "threads": args.threads,
            "parallel": args.parallel, "port": pick_port("127.0.0.1", args.port),
            "env": _env(args.head_env), "warm_timeout_s": 900, **({"synthetic": True} if args.synthetic else {})}
    if args.ngl is not None:
        lane["gpu_layers"] = args.ngl
    spec = ClusterSpec.model_validate({"name": "rpc-bench", "nodes": nodes, "lane": lane})
    run = ClusterRun(spec, rpc_build=build, progress=lambda text: print(f"    {text}", file=sys.stderr))
    t0 = time.monotonic()
    head = run.up()
    try:
        result = {"ready_s": round(time.monotonic() - t0, 2), **_measure(head.base_url, head.model_id, args)}
        # each rpc-server's resident memory: its part of the weights lives there, not in the head
        result["rpc_server_rss_mib"] = {p.node: round(psutil.Process(p.pid).memory_info().rss / 2**20, 1)
                                        for p in run.record.processes if psutil.pid_exists(p.pid)}
        result["shares"] = [s.model_dump() for s in run.shares]
    finally:
        report = run.down()
    result["teardown_verified"] = report.verified
    result["teardown"] = report.model_dump()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m", help="GGUF path or embedded model id")
    parser.add_argument("--ctx", type=int, default=2048, help="context per request")
    parser.add_argument("--parallel", type=int, default=1, help="slots (the sweep needs >= its top level)")
    parser.add_argument("--threads", type=int, default=2, help="llama-server -t (plain lane and RPC head)")
    parser.add_argument("--rpc-threads", type=int, default=2, help="rpc-server -t on each node")
    parser.add_argument("--addresses", default="127.0.0.2,127.0.0.3", help="one loopback address per node")
    parser.add_argument("--node-env", action="append", default=[], help="K=V for node i (in order), e.g. CUDA_VISIBLE_DEVICES=0")
    parser.add_argument("--baseline-env", action="append", default=[], help="K=V for the plain lane")
    parser.add_argument("--head-env", action="append", default=[], help="K=V for the RPC head's llama-server")
    parser.add_argument("--ngl", type=int, default=None, help="-ngl for both lanes (RPC: default 99)")
    parser.add_argument("--share-gib", type=float, default=None, help="memory each node is given (sizing)")
    parser.add_argument("--synthetic", action="store_true", help="random-weight model (speed only)")
    parser.add_argument("--port", type=int, default=18600,
                        help="first HTTP port tried for the lanes (away from the 8080s other lanes race for)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",") if x], default=[])
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    from lanekit.lanes.rpc_build import find_rpc_build

    build = find_rpc_build()
    print(f"RPC build: {build.bin_dir} ({build.package} {build.version})", file=sys.stderr)
    rounds = []
    for i in range(args.rounds):
        order = ("plain", "rpc") if i % 2 == 0 else ("rpc", "plain")  # alternate: drift hits both alike
        row: dict[str, Any] = {"round": i + 1, "order": list(order)}
        for kind in order:
            print(f"round {i + 1}: {kind}", file=sys.stderr)
            row[kind] = plain_round(build, args) if kind == "plain" else rpc_round(build, args)
        rounds.append(row)
        print(f"round {i + 1}: plain {row['plain']['decode_tok_s']} tok/s, rpc {row['rpc']['decode_tok_s']} tok/s",
              file=sys.stderr)
    plain = [r["plain"]["decode_tok_s"] for r in rounds if r["plain"]["decode_tok_s"]]
    rpc = [r["rpc"]["decode_tok_s"] for r in rounds if r["rpc"]["decode_tok_s"]]
    summary = {"model": args.model, "rounds": args.rounds, "samples": args.samples, "max_tokens": args.max_tokens,
               "threads": args.threads, "rpc_threads": args.rpc_threads,
               "plain_decode_tok_s_median": statistics.median(plain) if plain else None,
               "rpc_decode_tok_s_median": statistics.median(rpc) if rpc else None,
               "rpc_over_plain": round(statistics.median(rpc) / statistics.median(plain), 3) if plain and rpc else None,
               "per_round_ratio": [round(r["rpc"]["decode_tok_s"] / r["plain"]["decode_tok_s"], 3)
                                   for r in rounds if r["rpc"]["decode_tok_s"] and r["plain"]["decode_tok_s"]],
               "teardowns_verified": all(r[k]["teardown_verified"] for r in rounds for k in ("plain", "rpc")),
               "build": build.model_dump(), "rounds_detail": rounds}
    print(json.dumps({k: v for k, v in summary.items() if k not in ("rounds_detail", "build")}, indent=2))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "rpc_lane.json").write_text(json.dumps(summary, indent=2, default=str))
    return 0 if summary["teardowns_verified"] else 1


if __name__ == "__main__":
    sys.exit(main())
