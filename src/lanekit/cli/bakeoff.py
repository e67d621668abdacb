"""`lanekit bakeoff`: the main job — every lane of a plan, judged on the same work, ranked, published."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


# exit status when no lane completed its steps (2 is a usage or configuration error)
EXIT_NOTHING_MEASURED = 3


def register(app: typer.Typer) -> None:
    @app.command()
    def bakeoff(
        plan: Optional[Path] = typer.Argument(None, help="bakeoff.yaml; omit for the embedded default plan"),
        out: Path = typer.Option(Path("lanekit-profile"), "--out", help="profile directory to write"),
        agent: Optional[str] = typer.Option(None, "--agent", help="builtin | hermes | none (default: the plan's)"),
        quick: bool = typer.Option(False, "--quick", help="trim samples and durations (CI)"),
        fresh: bool = typer.Option(False, "--fresh", help="start a new run instead of resuming an unfinished one"),
        lanes: Optional[str] = typer.Option(None, "--lanes", help="comma-separated subset of lane names to run"),
        timeout: float | None = typer.Option(None, "--timeout", min=0.1,
                                             help="deadline of one request to a lane, seconds (plan: bench.timeout_s)"),
        wait: bool = typer.Option(False, "--wait", help="wait for a bakeoff already running in LANEKIT_HOME"),
        repeats: int | None = typer.Option(None, "--repeats", "-k", min=1,
                                           help="battery runs per task (plan: eval.repeats; pass^k needs k ≥ 2)"),
        replay: str | None = typer.Option(None, "--replay",
                                          help="agent trace to replay on every lane (plan: bench.replay.trace)"),
        tune: str | None = typer.Option(None, "--tune",
                                        help="tune each lane first: trials (20) or minutes (30m) per lane "
                                             "(plan: tune:)"),
        json_out: bool = typer.Option(False, "--json", help="print the result as JSON on stdout"),
    ) -> None:
        """Run a bakeoff: fit → guard → up → doctor → bench → eval → down per lane; rank; write the profile."""
        from rich.console import Console

        from lanekit.bakeoff import load_plan, run_bakeoff
        from lanekit.cli.output import console, print_json
        from lanekit.errors import ConfigError

        if agent not in (None, "builtin", "hermes", "none"):
            raise ConfigError(f"--agent: unknown agent {agent!r}", fix="use builtin, hermes or none")
        the_plan = load_plan(plan)
        if quick:
            the_plan = the_plan.quick()
        if lanes:
            the_plan = the_plan.select([n.strip() for n in lanes.split(",") if n.strip()])
        if timeout is not None:
            the_plan = the_plan.model_copy(update={"bench": the_plan.bench.model_copy(update={"timeout_s": timeout})})
        if repeats is not None:
            the_plan = the_plan.model_copy(update={"eval": the_plan.eval.model_copy(update={"repeats": repeats})})
        if replay is not None:
            from lanekit.agents.traces.workload import read_trace
            from lanekit.bakeoff.plan import ReplayCfg

            read_trace(replay)  # a bad trace fails here, in one line, before any lane starts
            cfg = (the_plan.bench.replay or ReplayCfg()).model_copy(update={"trace": replay})
            the_plan = the_plan.model_copy(update={"bench": the_plan.bench.model_copy(update={"replay": cfg})})
        if tune is not None:
            the_plan = with_tune(the_plan, tune)
        from lanekit.report.profile import check_out_dir

        check_out_dir(out)  # before an hour of lanes, not after
        progress_console = Console(stderr=True)
        result = run_bakeoff(the_plan, out_dir=out, agent=agent, resume=not fresh, console=progress_console,
                             wait=wait)
        if json_out:
            print_json(result.model_dump(mode="json"))
        else:
            from lanekit.cli.tables import print_bakeoff_end

            print_bakeoff_end(console, result)
        if result.nothing_measured:  # a measured "nothing eligible" is exit 0; no measurement at all is not
            raise typer.Exit(EXIT_NOTHING_MEASURED)


def with_tune(plan, budget: str):
    """`plan` with every lane tuned first (`--tune 20` trials or `--tune 30m`), keeping the plan's
    own `tune:` settings and replacing only its budget."""
    from lanekit.bakeoff.plan import TuneCfg
    from lanekit.cli.tune import parse_budget

    trials, seconds = parse_budget(budget, option="--tune")
    cfg = (plan.tune or TuneCfg()).model_copy(update={"budget_trials": trials, "budget_s": seconds})
    return plan.model_copy(update={"tune": cfg})
