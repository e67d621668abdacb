"""`lanekit eval`: run the tool-call battery against a lane, through the built-in loop or Hermes.

`--json` prints the same stable document as `lanekit score --json` (runs, summary,
skipped_lines); the summary also names the agent, model and endpoint. Every run is stored in
the results store (kind `eval`) unless `--no-store`; `--save-runs FILE` writes the traces as
JSONL that `lanekit score FILE` re-scores.
"""

from __future__ import annotations

from typing import Any

import typer

AGENTS = ("builtin", "hermes")


def _resolve(lane: str | None, url: str | None, model: str | None) -> tuple[str, str, int | None, str | None]:
    """(base_url, model, served_ctx or None, lane name) from --lane or --url."""
    from lanekit.errors import ConfigError

    if bool(lane) == bool(url):
        raise ConfigError("give exactly one of --lane NAME or --url URL",
                          fix="`lanekit ps` lists live lanes; --url takes any OpenAI-compatible endpoint (…/v1)")
    if lane:
        try:
            from lanekit.lanes.registry import find_live
        except ImportError:  # the lane registry is optional for a bare --url evaluation
            raise ConfigError("--lane needs lanekit's lane registry, which is not available",
                              fix="use --url http://HOST:PORT/v1 instead") from None
        rec = find_live(lane)
        return rec.base_url, model or rec.model_id, getattr(rec, "served_ctx", None), lane
    from lanekit.load.target import from_url

    target = from_url(url, model)
    return target.base_url, target.model, None, None


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_cmd(
        lane: str | None = typer.Option(None, "--lane", help="a live lane started by lanekit"),
        url: str | None = typer.Option(None, "--url", help="any OpenAI-compatible base URL (…/v1)"),
        model: str | None = typer.Option(None, "--model", help="model id (default: the lane's, or first of /v1/models)"),
        agent: str = typer.Option("builtin", "--agent", help="builtin | hermes"),
        battery: str | None = typer.Option(None, "--battery", help="battery name or YAML path (default: core)"),
        repeats: int = typer.Option(1, "--repeats", "-k", min=1, help="runs per task (pass^k needs k ≥ 2)"),
        max_turns: int = typer.Option(8, "--max-turns", min=1, help="model turns per task (builtin; hermes -z always allows 90)"),
        task_timeout: float | None = typer.Option(None, "--task-timeout", min=1,
                                                  help="seconds per task (builtin 120, hermes 900)"),
        max_tokens: int = typer.Option(512, "--max-tokens", min=1, help="output cap per model turn"),
        temperature: float | None = typer.Option(None, "--temperature", min=0, max=5,
                                                 help="builtin: send this temperature (0 for greedy); default: "
                                                      "send none, so the lane's own sampling applies"),
        served_ctx: int | None = typer.Option(None, "--served-ctx", min=1,
                                              help="hermes: the lane's per-request context (default: asked from the lane)"),
        claim_ctx: int | None = typer.Option(None, "--hermes-claim-ctx", min=1,
                                             help="hermes: tell Hermes this context even if the lane serves less"),
        save_runs: str | None = typer.Option(None, "--save-runs", help="write every trace as JSONL here"),
        db: str | None = typer.Option(None, "--db", help="results store (default: $LANEKIT_HOME/results.sqlite)"),
        no_store: bool = typer.Option(False, "--no-store", help="do not write the results store"),
        json_out: bool = typer.Option(False, "--json", help="print the stable JSON on stdout"),
    ) -> None:
        """Tool-call reliability of a lane: the task battery through an agent, scored strictly."""
        from lanekit.agents import load_battery, score_runs
        from lanekit.cli.output import err_console, print_json
        from lanekit.errors import ConfigError

        if agent not in AGENTS:
            raise ConfigError(f"--agent: {agent!r} is not one of {', '.join(AGENTS)}", fix="--agent builtin")
        bat = load_battery(battery)
        base_url, model_id, lane_ctx, lane_name = _resolve(lane, url, model)

        from lanekit.cli._progress import Ticker

        total_runs = len(bat.tasks) * repeats
        tick = Ticker(f"eval {bat.ref} via {agent}")
        tick.update(f"task 1/{total_runs} running")

        def progress(done: int, total: int, run: Any) -> None:
            err_console.print(f"[{done}/{total}] {run.id}: {run.stop_reason or 'done'} "
                              f"({run.wall_ns / 1e9:.1f} s)", highlight=False)
            tick.update(f"task {min(done + 1, total)}/{total} running" if done < total else "scoring")

        with tick:
            runs = _run_agent(agent, bat, base_url, model_id, lane_ctx, served_ctx, repeats, task_timeout, claim_ctx,
                              max_turns, max_tokens, temperature, progress, err_console)
        result = score_runs(runs, bat)
        result.summary.update(agent=agent, model=model_id, base_url=base_url, lane=lane_name)
        if save_runs:
            from lanekit.agents.traces.jsonl import write_runs

            err_console.print(f"traces written to {write_runs(save_runs, runs)}", highlight=False)
        if not no_store:
            _store(db, runs, result.summary, lane_name)
        if json_out:
            print_json(result.to_json())
            return
        from lanekit.cli.score import render_score

        render_score(result, title=f"{bat.ref} via {agent} on {model_id}")


def _run_agent(agent: str, bat: Any, base_url: str, model_id: str, lane_ctx: Any, served_ctx: Any, repeats: int,
               task_timeout: Any, claim_ctx: Any, max_turns: int, max_tokens: int, temperature: Any,
               progress: Any, err_console: Any) -> list[Any]:
    """The battery through the chosen agent (Hermes or the built-in loop)."""
    from lanekit.agents import run_battery, run_battery_hermes

    if agent == "hermes":
        from lanekit.agents.hermes import probe_served_ctx

        # what the server reports beats the lane record: llama-server caps a slot at the
        # model's training context whatever -c asked for
        ctx = served_ctx or probe_served_ctx(base_url) or lane_ctx
        runs = run_battery_hermes(base_url, model_id, bat, served_ctx=ctx, repeats=repeats,
                                  task_timeout_s=task_timeout or 900, claim_ctx=claim_ctx, max_turns=max_turns,
                                  max_tokens=max_tokens, progress=progress,
                                  log=lambda m: err_console.print(m, highlight=False))
    else:
        runs = run_battery(base_url, model_id, bat, repeats=repeats, max_turns=max_turns,
                           task_timeout_s=task_timeout or 120, max_tokens=max_tokens, progress=progress,
                           temperature=temperature, stream=True)  # streamed, as a real agent asks
    return runs


def _store(db: str | None, runs: list[Any], summary: dict[str, Any], lane: str | None) -> None:
    from lanekit.report.store import Store

    store = Store(db)
    try:
        run_id = store.new_run("eval", {k: summary.get(k) for k in ("agent", "model", "base_url", "lane",
                                                                    "battery", "battery_sha256")})
        store.add_samples(run_id, lane, "agent_run", [r.model_dump(mode="json") for r in runs])
        store.set_summary(run_id, lane, "eval", summary)
        store.finish_run(run_id, "done")
    finally:
        store.close()
