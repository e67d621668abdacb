"""`lanekit bench`: run load scenarios against a live lane or any OpenAI-compatible URL.

Every sample is committed to the results store as it is measured; `--json` prints the stable
per-scenario objects (one object for one scenario, an array of them for several).
"""

from __future__ import annotations

from typing import Any

import typer

SCENARIOS = ("single", "sustained", "sweep", "prefix", "depth", "replay")


def _ints(text: str | None, flag: str) -> list[int] | None:
    from lanekit.errors import ConfigError

    if text is None:
        return None
    try:
        values = [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise ConfigError(f"{flag}: {text!r} is not a comma-separated list of integers",
                          fix=f"e.g. {flag} 1,2,4,8") from None
    if not values or min(values) < 1:
        raise ConfigError(f"{flag}: values must be positive integers", fix=f"e.g. {flag} 1,2,4,8")
    return values


def parse_scenarios(text: str) -> list[str]:
    """"single,sweep" → ["single", "sweep"]; unknown names are a ConfigError naming the choices."""
    from lanekit.errors import ConfigError

    names = [x.strip() for x in text.split(",") if x.strip()]
    bad = [n for n in names if n not in SCENARIOS]
    if bad or not names:
        raise ConfigError(f"--scenario: unknown scenario {', '.join(bad) or repr(text)}",
                          fix=f"choose from {', '.join(SCENARIOS)} (comma-separated for several)")
    return names


def _run_one(name: str, target: Any, opts: dict[str, Any], common: dict[str, Any]) -> Any:
    from lanekit.errors import ConfigError
    from lanekit.load import scenarios as sc

    mt = opts["max_tokens"]
    scrape = {"metrics_url": target.metrics_url, "metrics_prefix": target.metrics_prefix}
    common = {**common, "timeout_s": opts["timeout"], "alive": target.alive}
    if name == "single":
        return sc.run_single(target.base_url, target.model, samples=opts["samples"], max_tokens=mt or 256,
                             warmup=opts["warmup"], model_ref=target.model_ref, api=opts["api"], **common)
    if name == "sustained":
        return sc.run_sustained(target.base_url, target.model, duration_s=opts["duration"], interval_s=opts["interval"],
                                max_tokens=mt or 256, concurrency=opts["streams"], gap_s=opts["gap"],
                                warmup=opts["warmup"], model_ref=target.model_ref, **scrape, **common)
    if name == "sweep":
        return sc.run_sweep(target.base_url, target.model, concurrency=tuple(opts["concurrency"] or (1, 2, 4, 8)),
                            requests_per_level=opts["requests_per_level"], max_tokens=mt or 128,
                            warmup=opts["warmup"], model_ref=target.model_ref, **scrape, **common)
    if name == "replay":
        from lanekit.agents.traces.workload import read_trace
        from lanekit.load.replay import run_replay

        if not opts["replay"]:
            raise ConfigError("--scenario replay needs --replay TRACE", fix="e.g. --replay embedded:core")
        return run_replay(target.base_url, target.model, read_trace(opts["replay"]), mode=opts["replay_mode"],
                          repeats=opts["repeats"], pin_output=opts["pin"], max_tokens=mt,
                          honour_delays=opts["delays"], time_scale=opts["time_scale"], **common)
    if name == "prefix":
        return sc.run_prefix(target.base_url, target.model, turns=opts["turns"], max_tokens=mt or 32, **scrape, **common)
    return sc.run_depth(target.base_url, target.model, depths=tuple(opts["depths"] or (4096, 16384, 65536)),
                        samples=opts["samples"] if opts["samples_set"] else 1, max_tokens=mt or 64, **common)


def _render(result: Any) -> None:
    from rich.table import Table

    from lanekit.cli.output import console

    s = result.summary
    if result.scenario == "replay":
        _render_replay(result)
        return
    console.print(f"[bold]{result.scenario}[/] on {result.lane or result.base_url} ({result.model})  "
                  f"run {result.run_id or '-'}")
    table = Table("metric", "value", show_header=False, box=None, pad_edge=False)
    if result.scenario == "sweep":
        table = Table("concurrency", "per-request tok/s", "aggregate tok/s", "TTFT p50 ms", "TTFT p99 ms", "errors")
        for lvl in s["levels"]:
            table.add_row(str(lvl["concurrency"]), _fmt(lvl["per_request_tok_s"]), _fmt(lvl["aggregate_tok_s"]),
                          _fmt(lvl["ttft_ms_p50"]), _fmt(lvl["ttft_ms_p99"]), str(lvl["errors"]))
    elif result.scenario == "depth":
        table = Table("depth", "ISL", "TTFT ms", "prefill tok/s", "decode tok/s")
        for row in s["depths"]:
            table.add_row(str(row["depth"]), _fmt(row["isl"]), _fmt(row["ttft_ms"]), _fmt(row["prefill_tok_s"]),
                          _fmt(row["decode_tok_s"]))
    else:
        for key, value in s.items():
            if isinstance(value, (int, float, str)) or value is None:
                table.add_row(key, _fmt(value))
            elif key in ("roofline", "server") and value:
                table.add_row(key, ", ".join(f"{k}={_fmt(v)}" for k, v in value.items()
                                             if v is not None and k not in ("warning", "last_error")))
    console.print(table)
    for warning in s.get("warnings") or []:
        console.print(f"[yellow]warning:[/] {warning}")


def _iv(d: dict | None, unit: str = "", nd: int = 2) -> str:
    if not d or d.get("point") is None:
        return "-"
    text = f"{d['point']:,.{nd}f}{unit}"
    if d.get("low") is not None:
        text += f" [{d['low']:,.{nd}f}–{d['high']:,.{nd}f}]"
    return text + f" n={d['n']}"


def _render_replay(result: Any) -> None:
    """Headline (seconds per turn with its interval, prefix reuse), then one row per request."""
    from rich.table import Table

    from lanekit.cli.output import console

    s = result.summary
    console.print(f"replay of {result.params.get('trace')} ({s['mode']}, {s['repeats']} pass(es), "
                  f"{s['sessions']} session(s)) on {result.lane or result.base_url} ({result.model})  "
                  f"run {result.run_id or '-'}", markup=False)
    head = Table("metric", "value", show_header=False, box=None, pad_edge=False)
    reuse = s.get("prefix_reuse_after_first")
    lag = s.get("schedule_lag_ms") or {}
    for key, value in [("seconds per agent turn", _iv(s["turn_s"], " s")),
                       ("lane seconds per session", _iv(s["session_s"], " s")),
                       ("wall seconds per session", _fmt(s.get("session_wall_s"))),
                       ("TTFT", _iv(s["ttft_ms"], " ms", 1)), ("decode tok/s", _iv(s["decode_tok_s"], "", 1)),
                       ("prefill tok/s (evaluated tokens)", _fmt(s.get("evaluated_prefill_tok_s"))),
                       ("prefix reuse after turn 1", "-" if reuse is None else f"{reuse:.0%}"),
                       ("tokens in / cached / out",
                        f"{s['prompt_tokens']:,} / {s['cached_tokens']:,} / {s['output_tokens']:,}"),
                       ("requests ok / failed", f"{s['samples']} / {s['errors']}"),
                       ("delay error p50 / max", f"{_fmt(lag.get('p50'))} / {_fmt(lag.get('max'))} ms")]:
        head.add_row(key, value)
    console.print(head)
    table = Table("session", "turn", "n", "prompt tok", "cached", "TTFT ms", "turn s", "out tok")
    for row in s.get("per_turn") or []:
        table.add_row(str(row["session"]), str(row["turn"]), str(row["n"]), _fmt(row["isl"]), _fmt(row["cached"]),
                      _fmt(row["ttft_ms"]), _fmt(row["e2e_s"]), _fmt(row["osl"]))
    console.print(table)
    for warning in s.get("warnings") or []:
        console.print(f"[yellow]warning:[/] {warning}")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def register(app: typer.Typer) -> None:
    """Add `lanekit bench` to the app."""
    @app.command()
    def bench(
        lane: str | None = typer.Option(None, "--lane", help="a live lane started by lanekit"),
        url: str | None = typer.Option(None, "--url", help="any OpenAI-compatible base URL (…/v1)"),
        model: str | None = typer.Option(None, "--model", help="model id (default: first of /v1/models)"),
        metrics_url: str | None = typer.Option(None, "--metrics-url", help="Prometheus URL (default: <root>/metrics)"),
        scenario: str | None = typer.Option(None, "--scenario", "-s",
                                            help="single|sustained|sweep|prefix|depth|replay, comma-separated "
                                                 "(default single; replay with --replay)"),
        replay: str | None = typer.Option(None, "--replay", help="replay an agent trace (`lanekit trace convert`), "
                                                                 "or embedded:core"),
        replay_mode: str = typer.Option("history", "--replay-mode",
                                        help="replay: history (recorded messages verbatim) | delta (thread the "
                                             "lane's own replies)"),
        repeats: int = typer.Option(3, "--repeats", "-k", min=1, help="replay: passes over the trace (≥3 for intervals)"),
        pin: bool | None = typer.Option(None, "--pin/--no-pin", help="replay: hold each reply to its recorded length "
                                                                   "(default: on in history mode)"),
        delays: bool = typer.Option(True, "--delays/--no-delays", help="replay: wait the recorded agent gaps"),
        time_scale: float = typer.Option(1.0, "--time-scale", min=0, help="replay: multiply the recorded gaps"),
        samples: int | None = typer.Option(None, "--samples", min=1, help="single: samples (5); depth: per depth (1)"),
        max_tokens: int | None = typer.Option(None, "--max-tokens", min=1,
                                                 help="output tokens (single/sustained 256, sweep 128, prefix 32, depth 64)"),
        warmup: int = typer.Option(1, "--warmup", min=0, help="unrecorded warm-up requests"),
        duration: float = typer.Option(60.0, "--duration", min=1, help="sustained: seconds"),
        interval: float = typer.Option(10.0, "--interval", min=0.1, help="sustained: seconds per tok/s window"),
        streams: int = typer.Option(1, "--streams", min=1, help="sustained: concurrent streams"),
        gap: float = typer.Option(0.0, "--gap", min=0, help="sustained: idle seconds between requests per stream"),
        concurrency: str | None = typer.Option(None, "--concurrency", help="sweep: levels, e.g. 1,2,4,8"),
        requests_per_level: int | None = typer.Option(None, "--requests-per-level", min=1, help="sweep (max(4, 2N))"),
        turns: int = typer.Option(8, "--turns", min=2, help="prefix: agent turns"),
        depths: str | None = typer.Option(None, "--depths", help="depth: context depths, e.g. 4096,16384,65536"),
        api: str = typer.Option("chat", "--api", help="single: chat | completions"),
        timeout: float = typer.Option(300.0, "--timeout", min=0.1,
                                      help="seconds one request may take, send to last byte (a hung server fails)"),
        wait: bool = typer.Option(False, "--wait", help="wait for another measurement on the same endpoint to finish"),
        db: str | None = typer.Option(None, "--db", help="results store (default: $LANEKIT_HOME/results.sqlite)"),
        no_store: bool = typer.Option(False, "--no-store", help="do not write the results store"),
        json_out: bool = typer.Option(False, "--json", help="print the stable JSON on stdout"),
    ) -> None:
        """Benchmark a lane: streaming, warm-up first, throughput over in-flight time, every sample stored."""
        from lanekit.cli.output import err_console, print_json
        from lanekit.errors import ConfigError
        from lanekit.load import target as tgt

        if bool(lane) == bool(url):
            raise ConfigError("give exactly one of --lane NAME or --url URL",
                              fix="`lanekit ps` lists live lanes; --url takes any OpenAI-compatible endpoint")
        if api not in ("chat", "completions"):
            raise ConfigError(f"--api: {api!r} is not chat or completions", fix="--api chat")
        if replay_mode not in ("history", "delta"):
            raise ConfigError(f"--replay-mode: {replay_mode!r} is not history or delta", fix="--replay-mode history")
        names = parse_scenarios(scenario or ("replay" if replay else "single"))
        opts = {"samples": samples or 5, "samples_set": samples is not None, "max_tokens": max_tokens,
                "warmup": warmup, "duration": duration, "interval": interval, "streams": streams, "gap": gap,
                "concurrency": _ints(concurrency, "--concurrency"), "requests_per_level": requests_per_level,
                "turns": turns, "depths": _ints(depths, "--depths"), "api": api, "timeout": timeout,
                "replay": replay, "replay_mode": replay_mode, "repeats": repeats, "pin": pin, "delays": delays,
                "time_scale": time_scale}
        target = tgt.from_lane(lane) if lane else tgt.from_url(url, model, metrics_url)
        if lane and model:
            target = tgt.Target(**{**target.__dict__, "model": model})
        if lane and metrics_url:
            target = tgt.Target(**{**target.__dict__, "metrics_url": metrics_url})

        from lanekit.locks import measuring

        store = run_id = sink = None
        with measuring(target.base_url, f"lanekit bench {','.join(names)}", wait=wait,
                       on_wait=lambda msg: err_console.print(msg, markup=False)):
            if not no_store:
                from lanekit.report.store import Store, StoreSink

                store = Store(db)
                run_id = store.new_run("bench", {"lane": target.lane, "base_url": target.base_url,
                                                 "model": target.model, "scenarios": names,
                                                 "options": {k: v for k, v in opts.items()}})
                sink = StoreSink(store, run_id, target.lane)
            results = []
            status = "failed"
            try:
                results = _run_all(names, target, opts, sink, err_console)
                status = "done"
            except KeyboardInterrupt:
                status = "interrupted"
                raise
            finally:
                if store is not None:
                    store.finish_run(run_id, status)
                    store.close()
        if json_out:
            objs = [r.to_json_object() for r in results]
            print_json(objs[0] if len(objs) == 1 else objs)
        else:
            for r in results:
                _render(r)
        empty = [r for r in results if r.summary.get("requests") and not r.summary.get("samples")]
        if empty:  # every request failed: that is not a measurement
            first = empty[0].summary
            err_console.print(f"error: no request of {empty[0].scenario} succeeded ({first.get('errors')} failed: "
                              f"{first.get('first_error')})", markup=False, style="bold red")
            raise typer.Exit(1)


def _run_all(names: list[str], target: Any, opts: dict[str, Any], sink: Any, err_console: Any) -> list[Any]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    results = []
    if not err_console.is_terminal:  # piped: rich draws nothing, so a line every 15 s instead
        from lanekit.cli._progress import Ticker

        for name in names:
            with Ticker(f"bench {name}") as tick:
                def ticked(done: float, total: float | None, label: str, tick: Any = tick) -> None:
                    tick.update(f"{label} {done:g}/{total:g}" if total else label)

                results.append(_run_one(name, target, {**opts}, {"sink": sink, "progress": ticked}))
        return results
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[label]}"),
                  TimeElapsedColumn(), console=err_console, transient=True) as bar:
        for name in names:
            task = bar.add_task(name, total=None, label="")

            def progress(done: float, total: float | None, label: str, task: Any = task) -> None:
                bar.update(task, completed=done, total=total, label=label)

            common = {"sink": sink, "progress": progress}
            results.append(_run_one(name, target, opts, common))
            bar.update(task, visible=False)
    return results
