"""Record an agent trace from the embedded battery on a real lane, the way lanekit ships one.

    python benchmarks/record_trace.py --out src/lanekit/agents/traces/core.trace.jsonl
    python benchmarks/record_trace.py --agent hermes --tasks read_phrase,count_lines \\
        --runs tests/unit/agents/data/hermes-export.jsonl --out tests/unit/agents/data/hermes.trace.jsonl

Starts the embedded plan's `qwen-coder-fixed` lane (Qwen2.5-Coder-1.5B, the tool-call template,
65,536 tokens served per request), runs the battery through the built-in streaming loop (or the
real Hermes Agent: `./install.sh --hermes`), saves the runs (AgentRun JSONL, or Hermes' own
`sessions export`), converts them with `lanekit trace convert` and prints what the trace holds.
The same two steps record a trace of your own: `lanekit eval --save-runs runs.jsonl` (or
`hermes sessions export runs.jsonl`), then `lanekit trace convert runs.jsonl -o my.trace.jsonl`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path


def _stop(signum, frame):  # SIGTERM behaves like Ctrl-C: the lane (and Hermes) are torn down on the way out
    raise KeyboardInterrupt


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="trace JSONL to write")
    ap.add_argument("--runs", help="where to keep the recorded runs (default: beside the trace)")
    ap.add_argument("--agent", choices=("builtin", "hermes"), default="builtin")
    ap.add_argument("--tasks", help="comma-separated task ids (default: the whole battery)")
    ap.add_argument("--lane", default="qwen-coder-fixed", help="a lane of the embedded default plan")
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--max-turns", type=int, default=6)
    ap.add_argument("--task-timeout", type=float, default=None)
    args = ap.parse_args()

    from lanekit.agents import load_battery, run_battery, score_runs
    from lanekit.agents.traces.jsonl import write_runs
    from lanekit.agents.traces.workload import convert_runs, describe, read_trace, write_trace
    from lanekit.bakeoff import default_plan
    from lanekit.lanes import serve_lane

    battery = load_battery()
    if args.tasks:
        battery = battery.model_copy(update={"tasks": [battery.task(t) for t in args.tasks.split(",")]})
    spec = next(s for s in default_plan().lane_specs() if s.name == args.lane)
    out = Path(args.out)
    runs_path = (
        Path(args.runs) if args.runs else out.with_name(out.name.replace(".trace.jsonl", "") + ".runs.jsonl")
    )
    t0 = time.monotonic()
    with serve_lane(spec) as lane:
        if args.agent == "hermes":
            from lanekit.agents.hermes import probe_served_ctx, run_battery_hermes

            run_dir = Path(tempfile.mkdtemp(prefix="lanekit-record-"))
            runs = run_battery_hermes(
                lane.base_url,
                lane.model_id,
                battery,
                served_ctx=probe_served_ctx(lane.base_url),
                max_tokens=args.max_tokens,
                max_turns=args.max_turns,
                run_dir=run_dir,
                task_timeout_s=args.task_timeout or 1800,
                progress=lambda d, n, r: print(f"[{d}/{n}] {r.id}", file=sys.stderr),
            )
            runs_path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(
                run_dir / "sessions.jsonl", runs_path
            )  # Hermes' own export, system prompt included
        else:
            runs = run_battery(
                lane.base_url,
                lane.model_id,
                battery,
                max_turns=args.max_turns,
                stream=True,
                max_tokens=args.max_tokens,
                task_timeout_s=args.task_timeout or 180,
                progress=lambda d, n, r: print(f"[{d}/{n}] {r.id}: {r.stop_reason}", file=sys.stderr),
            )
            write_runs(runs_path, runs)
    score = score_runs(runs, battery).summary
    trace, notes = convert_runs(runs_path, battery, max_tokens=args.max_tokens)
    write_trace(trace, out)
    info = describe(read_trace(out))
    print(
        json.dumps(
            {
                "trace": str(out),
                "runs": str(runs_path),
                "minutes": round((time.monotonic() - t0) / 60, 1),
                "task_success_rate": score["task_success_rate"],
                "notes": notes,
                **info,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
