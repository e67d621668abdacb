"""`lanekit tune LANE|PLAN`: search a lane's flags (never launching one that cannot fit), then
print the history, the finalists and the winning lane spec (also written as a lanes.yaml).

LANE is a name in lanes.yaml (omit it for the embedded default lane); PLAN is a bakeoff.yaml,
whose every lane is tuned in turn.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer


def parse_budget(text: str | None, option: str = "--budget") -> tuple[int | None, float | None]:
    """"20" → 20 trials; "30m" / "90s" / "1h" → seconds. ConfigError naming `option` for anything else."""
    from lanekit.errors import ConfigError

    if text is None:
        return 20, None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(f"{option}: {text!r} is neither a trial count nor a duration",
                          fix=f"e.g. {option} 20 (trials) or {option} 30m / 900s / 1h")
    value, unit = float(m.group(1)), m.group(2)
    if not unit:
        if value != int(value):
            raise ConfigError(f"{option}: {text!r} trials is not a whole number", fix=f"e.g. {option} 20")
        return int(value), None
    return None, value * {"s": 1, "m": 60, "h": 3600}[unit]


def parse_params(items: list[str]) -> dict[str, list[Any]]:
    """["threads=1,2", "kv_dtype=q8_0"] → {"threads": [1, 2], "kv_dtype": ["q8_0"]} (ints, on/off kept typed)."""
    from lanekit.errors import ConfigError

    out: dict[str, list[Any]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise ConfigError(f"--param: {item!r} is not NAME=V1,V2", fix="e.g. --param threads=1,2")
        out[name.strip()] = [_typed(v.strip()) for v in values.split(",") if v.strip()]
    return out


def _typed(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _specs(target: str | None, lanes_file: Path | None) -> list:
    from lanekit.cli.up import resolve_spec

    if target and Path(target).is_file() and target.endswith((".yaml", ".yml")):
        from lanekit.bakeoff.plan import load_plan

        return load_plan(target).lane_specs()
    return [resolve_spec(target, lanes_file, {})]


def _render(outcome) -> None:
    from rich.table import Table

    from lanekit.cli.output import console
    from lanekit.tune.result import history_rows

    r = outcome.result
    counts = r.counts()
    console.print(f"[bold]tune[/] {r.lane} ({r.engine}) · {r.objective} in {r.unit} · "
                  f"{'larger' if r.larger_is_better else 'smaller'} is better", markup=True)
    console.print(f"  {r.launched()} launched of a {r.grid_size}-point grid · "
                  f"{counts.get('oom_predicted', 0)} sized out (not launched) · stop: {r.stop_reason}", markup=False)
    table = Table("#", "status", "value", "flags", box=None, pad_edge=False)
    for row in history_rows(r):
        table.add_row(*row)
    console.print(table)
    fin = Table("finalist", "median", "MAD", "score", "valid", box=None, pad_edge=False)
    for f in r.finalists:
        label = ("baseline " if f.baseline else "") + " ".join(f"{k}={v}" for k, v in f.params.items())
        fin.add_row(label[:44], _f(f.median), _f(f.mad), _f(f.score),
                    "yes" if f.valid else f"no: {f.validation.get('disqualified', '')}"[:30])
    console.print(fin)
    if r.winner_params is None:
        console.print("[yellow]no finalist passed validation: keep the lane as it is[/]")
    else:
        gain = f" ({r.improvement_pct:+.1f}% vs the lane as given)" if r.improvement_pct is not None else ""
        console.print(f"[green]winner[/] score {_f(r.winner_score)} {r.unit}{gain}")
    console.print(f"  history {outcome.json_path}", markup=False, style="dim")
    if outcome.plot_path:
        console.print(f"  plot    {outcome.plot_path}", markup=False, style="dim")
    if outcome.lanes_path:
        console.print(f"  lane    {outcome.lanes_path}  (lanekit up {r.lane} --lanes-file …)", markup=False,
                      style="dim")


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def register(app: typer.Typer) -> None:
    @app.command()
    def tune(
        target: str | None = typer.Argument(None, help="lane name in lanes.yaml, or a bakeoff.yaml (every lane)"),
        lanes_file: Path | None = typer.Option(None, "--lanes-file", help="default ./lanes.yaml"),
        objective: str = typer.Option("turn_s", "--objective",
                                      help="turn_s (s per agent turn), decode, throughput, goodput"),
        trace: Path | None = typer.Option(None, "--trace", help="agent trace to replay for turn_s"),
        ttft_slo_ms: float | None = typer.Option(None, "--ttft-slo-ms", help="goodput: TTFT p99 bound"),
        itl_slo_ms: float | None = typer.Option(None, "--itl-slo-ms", help="goodput: ITL p50 bound"),
        budget: str | None = typer.Option(None, "--budget", help="trials (20) or time (30m, 900s); default 20"),
        param: list[str] = typer.Option([], "--param", help="NAME=V1,V2: this flag's choices (one fixes it)"),
        seed: int = typer.Option(0, "--seed"),
        patience: int = typer.Option(8, "--patience", help="stop after this many trials without a gain"),
        finalists: int = typer.Option(3, "--finalists", help="best points re-measured (plus the lane as given)"),
        repeats: int = typer.Option(3, "--repeats", help="rounds each finalist is measured"),
        mad_k: float = typer.Option(1.0, "--mad-k", help="score = median − k·MAD"),
        hw: str | None = typer.Option(None, "--hw", help="hardware profile for the space (spark, cpu…)"),
        draft_model: str | None = typer.Option(None, "--draft-model", help="llama.cpp: try this draft GGUF"),
        memory_budget_gib: float | None = typer.Option(None, "--memory-budget-gib",
                                                          help="plan against this much free memory"),
        battery: str | None = typer.Option(None, "--battery", help="finalists also run this battery"),
        no_doctor: bool = typer.Option(False, "--no-doctor", help="skip the doctor on finalists"),
        resume: bool = typer.Option(False, "--resume", help="continue the earlier tune of this lane"),
        fresh: bool = typer.Option(False, "--fresh", help="discard the earlier tune and start over"),
        json_out: bool = typer.Option(False, "--json", help="print the result JSON"),
    ) -> None:
        """Find the flags that make a lane fastest on its workload, never launching one that cannot fit."""
        from lanekit.cli.output import err_console, print_json
        from lanekit.tune.search import TuneConfig
        from lanekit.tune.session import TuneOptions, tune_spec

        trials, seconds = parse_budget(budget)
        config = TuneConfig(budget_trials=trials, budget_s=seconds, seed=seed, patience=patience,
                            finalists=finalists, repeats=repeats, mad_k=mad_k)
        options = TuneOptions(objective=objective, trace=str(trace) if trace else None, ttft_slo_ms=ttft_slo_ms,
                              itl_slo_ms=itl_slo_ms, params=parse_params(param), hw=hw, draft_model=draft_model,
                              memory_budget_bytes=int(memory_budget_gib * (1 << 30)) if memory_budget_gib else None,
                              doctor=not no_doctor, battery=battery, resume=resume, fresh=fresh, config=config)
        outcomes = []
        for spec in _specs(target, lanes_file):
            def progress(msg: str, _name: str = spec.name) -> None:
                err_console.print(f"[{_name}] {msg}", markup=False, style="dim")

            outcome = tune_spec(spec, options, progress=progress)
            outcomes.append(outcome)
            if not json_out:
                _render(outcome)
        if json_out:
            docs = [o.result.model_dump(mode="json") for o in outcomes]
            print_json(docs[0] if len(docs) == 1 else docs)
