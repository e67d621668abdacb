"""`lanekit fit`: will this model fit on this box, and how fast can it decode?

Parse flags → `lanekit.catalog.fit` → render a table (or `--json`, schema_version 1).
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the `fit` command to the app."""
    app.command(name="fit")(fit)


def _gb(n: float | None) -> str:
    return "-" if n is None else f"{n / 1e9:.1f} GB"


def _tok(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


_ORIGIN = {"calibrated": "here", "shipped": "shipped", "estimate": "estimate"}


def fit(
    model: str | None = typer.Argument(None, help="GGUF file, config.json (or its folder), HF id or alias"),
    hw: str = typer.Option("auto", "--hw", help="hardware profile (gb10, h100, rtx-4090, ...) or auto"),
    ctx: int | None = typer.Option(None, "--ctx", help="context tokens PER REQUEST, as in lanes.yaml; the "
                                      "engine is sized for ctx x --parallel (default: native, capped at 65536)"),
    quant: str | None = typer.Option(None, "--quant", help="Q4_K_M, Q8_0, FP8, NVFP4, MXFP4, AWQ-g128, ..."),
    kv_dtype: str = typer.Option("f16", "--kv-dtype", help="KV cache dtype: f16, q8_0, q4_0, fp8"),
    parallel: int = typer.Option(1, "--parallel", min=1, help="concurrent requests: llama.cpp -np slots, vLLM "
                                                              "--max-num-seqs"),
    depth: int = typer.Option(1024, "--depth", min=0, help="context depth the decode speed is predicted at "
                                                           "(also shown at the full --ctx)"),
    engine: str | None = typer.Option(None, "--engine", help="llamacpp, vllm, sglang, ollama "
                                         "(default: llamacpp for GGUF quants, vllm otherwise)"),
    gpu_memory_utilization: float | None = typer.Option(
        None, "--gpu-memory-utilization", min=0.05, max=1.0, help="vLLM/SGLang reservation fraction"),
    catalog: bool = typer.Option(False, "--catalog", help="table of every catalog model x common quant"),
    as_json: bool = typer.Option(False, "--json", help="print the stable JSON object instead of a table"),
    harness: str = typer.Option("hermes", "--harness", help="agent harness whose known issues apply: hermes "
                                                            "(64K context floor) or none"),
) -> None:
    """Memory envelope (weights, KV, overhead, total, free after), verdict, decode ceiling and
    predicted tok/s, and known issues for one model, or for the whole catalog with --catalog."""
    from lanekit.catalog.fit import catalog_table, fit_model
    from lanekit.catalog.hardware import get_profile
    from lanekit.catalog.models import catalog_models, resolve_model
    from lanekit.cli.hw import apply_calibration
    from lanekit.errors import ConfigError

    if harness not in ("hermes", "none"):
        raise ConfigError(f"--harness: {harness!r} is not one of hermes, none", fix="--harness hermes or --harness none")
    profile = apply_calibration(get_profile(hw))
    if catalog:
        quants = tuple(q.strip() for q in quant.split(",")) if quant else None
        rows = catalog_table(profile, models=catalog_models(), quants=quants, ctx=ctx or 65536,
                             parallel=parallel, kv_dtype=kv_dtype)
        if as_json:
            from lanekit.cli.output import print_json

            print_json({"schema_version": 1, "hardware": profile.key, "rows": [r.to_json() for r in rows]})
            return
        _render_catalog(rows, profile)
        return
    if not model:
        raise ConfigError("fit needs a MODEL (file, config.json, HF id or alias) or --catalog",
                          fix="lanekit fit Qwen/Qwen3-30B-A3B --hw gb10, or lanekit fit --catalog --hw gb10")
    from lanekit.lanes.embedded import EMBEDDED, model_path

    shape = resolve_model(str(model_path(model)) if model in EMBEDDED else model)
    report = fit_model(shape, profile, ctx=ctx, parallel=parallel, kv_dtype=kv_dtype, engine=engine, quant=quant,
                       gpu_memory_utilization=gpu_memory_utilization, harness=None if harness == "none" else harness,
                       depth=depth)
    if as_json:
        from lanekit.cli.output import print_json

        print_json(report.to_json())
        return
    _render_one(report, profile)


def _k(tokens: int) -> str:
    return f"{tokens // 1024}K" if tokens >= 1024 and tokens % 1024 == 0 else f"{tokens:,}"


def _render_one(r, profile) -> None:  # FitReport, HardwareProfile (imported lazily)
    from rich.markup import escape

    from lanekit.catalog.memory import fmt_bytes
    from lanekit.cli.output import console

    m = r.memory
    star = " (estimated)" if r.estimated else ""
    console.print(f"[bold]{escape(r.model)}[/] {r.quant or ''} on {escape(profile.name)} via {r.engine}{star}")
    console.print(f"  ctx {m.ctx:,} per request x parallel {m.parallel} = {m.total_ctx:,} tokens in all, KV {m.kv_dtype}")
    for line in m.explain():
        console.print(f"  {escape(line)}")
    colour = "green" if r.fits and not r.issues else "yellow" if r.fits else "red"
    console.print(f"  available {fmt_bytes(r.available_bytes)}  free after {fmt_bytes(r.free_after_bytes)}  "
                  f"[{colour}]{r.verdict}[/]")
    console.print(f"  reads {r.bytes_read_per_token / 1e9:.2f} GB/token ({r.active_params / 1e9:.2f}B active) "
                  f"→ ceiling {_tok(r.decode_ceiling_tok_s)} tok/s at {r.bandwidth_gb_s:.0f} GB/s")
    console.print(f"  predicted {_tok(r.predicted_decode_tok_s)} tok/s at {_k(r.prediction_depth)} context, "
                  f"{_tok(r.predicted_at_ctx_tok_s)} at {_k(m.ctx)}"
                  + (f" (llama-bench {_tok(r.predicted_bench_tok_s)})" if r.predicted_bench_tok_s else ""))
    console.print(f"    source: {escape(r.prediction_source)}", style="dim")
    if r.aggregate_ceiling_tok_s:
        console.print(f"  aggregate ceiling at batch {m.parallel}: {_tok(r.aggregate_ceiling_tok_s)} tok/s")
    for issue in r.issues:
        console.print(f"  [yellow]known issue ({issue.severity})[/] {escape(issue.title)}")
        console.print(f"    fix: {escape(issue.fix)}   (source: {escape(issue.source)})", style="dim")


def _render_catalog(rows, profile) -> None:  # list[FitReport], HardwareProfile
    from rich.table import Table

    from lanekit.cli.output import console

    table = Table(title=f"What fits and what runs on {profile.name}", show_lines=False)
    for col in ("model", "quant", "engine", "weights GB", "KV KiB/tok", "total GB", "free GB", "verdict",
                "ceiling tok/s", "predicted", "source", "issues"):
        table.add_column(col, justify="left" if col in ("model", "quant", "engine", "verdict", "issues")
                         else "right", no_wrap=col != "issues")
    short = {"does not fit": "NO", "does not fit (engine reservation)": "NO (reservation)",
             "fits, but see known issues": "fits (issues)"}
    for r in rows:
        m = r.memory
        table.add_row(
            (r.alias or r.model) + (" *" if r.shape_estimated else ""), r.quant or "", r.engine,
            f"{m.weights_bytes / 1e9:.1f}", f"{m.kv_bytes_per_token / 1024:.0f}", f"{m.total_bytes / 1e9:.1f}",
            f"{r.free_after_bytes / 1e9:.1f}", short.get(r.verdict, r.verdict), _tok(r.decode_ceiling_tok_s),
            _tok(r.predicted_decode_tok_s), _ORIGIN.get(r.prediction_origin, r.prediction_origin),
            ",".join(i.id for i in r.issues) or "-",
        )
    from rich.console import Console

    Console(highlight=False, width=max(console.width, 160)).print(table)
    if rows:
        console.print(f"* shape not fully confirmed from a published config. Context {rows[0].per_request_ctx:,} "
                      f"tokens per request x {rows[0].memory.parallel}; vLLM rows reserve the gpu_memory_utilization a "
                      f"lane should set (left unset, vLLM takes 0.9 of the pool). Predicted at {_k(rows[0].prediction_depth)} context; source: "
                      f"{rows[0].prediction_source}", style="dim")
