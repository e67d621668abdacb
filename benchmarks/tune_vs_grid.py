"""Tune vs the exhaustive grid over the same space, on a real llama-server lane.

    PYTHONPATH=src nice -n 10 python3 benchmarks/tune_vs_grid.py [--model smollm2-135m] [--seed 0]
        [--budget 4] [--rounds 4] [--out tune_vs_grid.json]

1. the grid: every valid point of the space, each launched, sized first, measured once
   (decode tok/s, `run_single`), in a shuffled order so load drift does not follow the grid;
2. the tune: `Tuner` (TPE) with `--budget` search trials, one finalist + the baseline re-measured;
3. side by side: the tune's winner and the grid's best point launched in turn `--rounds` times
   (A B B A …) and measured, so the load of the moment lands on both alike; the ratio of medians
   is the answer. Load average printed beside every phase (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from pathlib import Path

from lanekit.lanes.spec import parse_lane
from lanekit.tune import GuardSizer, TuneConfig, Tuner, apply, space_for
from lanekit.tune.objective import DecodeTokS
from lanekit.tune.search import serve_candidate


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(spec, params, objective) -> float | None:
    cand = apply(spec, params, name=f"{spec.name}-tune")
    with serve_candidate(cand) as target:
        return objective.measure(target).value


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget", type=int, default=4, help="tune search trials")
    ap.add_argument("--rounds", type=int, default=4, help="side-by-side rounds (each launches both)")
    ap.add_argument("--out", default="tune_vs_grid.json")
    ap.add_argument("--grid-from", help="reuse the grid rows of an earlier run's JSON (same space)")
    ap.add_argument("--start", default="1,f16,on", help="the lane as given (tune trial 0): threads,kv,fa")
    args = ap.parse_args()

    threads, kv, fa = args.start.split(",")
    spec = parse_lane({"name": "tvg", "model": args.model, "ctx": 2048, "threads": int(threads), "kv_dtype": kv,
                       "flash_attn": fa})
    space = space_for(spec).restrict({"threads": [1, 2], "batch": [512], "ubatch": [128, 512],
                                      "kv_dtype": ["f16", "q8_0"], "parallel": [1, 2],
                                      "flash_attn": ["on", "off"], "cache_reuse": [0], "repack": [True]})
    objective = DecodeTokS(samples=3, max_tokens=48)
    sizer = GuardSizer()
    grid = space.grid()
    out: dict = {"model": args.model, "space": space.to_json(), "grid_points": len(grid), "seed": args.seed,
                 "objective": "decode tok/s (run_single, 3 x 48 tokens)", "load": {"start": load()}}
    print(f"grid {len(grid)} points, tune budget {args.budget} · load {load()}", flush=True)

    # 1. the grid
    order = list(grid)
    random.Random(args.seed).shuffle(order)
    rows = []
    t0 = time.monotonic()
    earlier = json.loads(Path(args.grid_from).read_text())["grid"]["rows"] if args.grid_from else None
    for i, p in enumerate([] if earlier else order):
        if not sizer.size(apply(spec, p)).fits:
            rows.append({"params": p, "value": None, "status": "oom_predicted"})
            continue
        v = measure(spec, p, objective)
        rows.append({"params": p, "value": v, "status": "measured"})
        print(f"grid {i + 1}/{len(order)} {v} {p}", flush=True)
    rows = earlier or rows
    ok = [r for r in rows if r["value"] is not None]
    grid_best = max(ok, key=lambda r: r["value"])
    out["grid"] = {"reused_from": args.grid_from, "rows": rows, "best": grid_best, "launches": len(ok), "wall_s": round(time.monotonic() - t0, 1),
                   "load_end": load()}
    print(f"grid best {grid_best['value']:.2f} {grid_best['params']} · load {load()}", flush=True)

    # 2. the tune
    t0 = time.monotonic()
    tuner = Tuner(spec, space, objective, TuneConfig(budget_trials=args.budget, seed=args.seed, finalists=1,
                                                     repeats=1, patience=args.budget),
                  sizer=sizer, storage="", progress=lambda m: print(m, flush=True))
    result = tuner.run()
    finalist_launches = sum(len(f.values) for f in result.finalists)
    out["tune"] = {"launched": result.launched(), "finalist_launches": finalist_launches,
                   "total_launches": result.launched() + finalist_launches,
                   "winner": result.winner_params, "winner_score": result.winner_score,
                   "stop_reason": result.stop_reason, "trials": [t.model_dump() for t in result.trials],
                   "wall_s": round(time.monotonic() - t0, 1), "load_end": load()}
    print(f"tune winner {result.winner_score} {result.winner_params} after {result.launched()} trials "
          f"+ {finalist_launches} finalist launches · load {load()}", flush=True)

    # 3. side by side
    a, b = result.winner_params, grid_best["params"]
    vals: dict[str, list] = {"tune": [], "grid": []}
    loads = []
    for r in range(args.rounds):
        pair = [("tune", a), ("grid", b)] if r % 2 == 0 else [("grid", b), ("tune", a)]
        for label, p in pair:
            vals[label].append(measure(spec, p, objective))
        loads.append(load())
        print(f"round {r + 1}: tune {vals['tune'][-1]} grid {vals['grid'][-1]} · load {loads[-1]}", flush=True)
    med = {k: statistics.median(v for v in vs if v is not None) for k, vs in vals.items()}
    ratio = med["tune"] / med["grid"]
    out["side_by_side"] = {"values": vals, "median": med, "tune_over_grid": round(ratio, 4), "loads": loads,
                           "same_point": a == b}
    out["trial_ratio"] = round((result.launched() + finalist_launches) / len(ok), 3)
    out["load"]["end"] = load()
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=2)
    print(f"tuned/grid-best decode = {ratio:.3f} (median of {args.rounds} side by side); "
          f"launches {result.launched() + finalist_launches}/{len(ok)} = {out['trial_ratio']:.2f} · "
          f"load {load()}")


if __name__ == "__main__":
    main()
