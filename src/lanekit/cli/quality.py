"""`lanekit quality`: perplexity, KL divergence and top-1 agreement against a base.

    lanekit quality FILE.gguf [FILE.gguf ...] [--base FILE]   quant A/B of one model's files
    lanekit quality --lane NAME                                a live lane (llama.cpp or HTTP)
    lanekit quality --url URL --model ID --logprobs vllm       any endpoint with prompt log-probs
Parse flags → QualityCfg → `lanekit.quality.run` → a table (or `--json`).
"""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the `quality` command to the app."""
    app.command(name="quality")(quality)


def quality(
    files: Annotated[list[str] | None, typer.Argument(help="GGUF files (or embedded ids) of ONE model")] = None,
    lane: Annotated[str | None, typer.Option("--lane", help="a live lane lanekit started")] = None,
    url: Annotated[str | None, typer.Option("--url", help="OpenAI-compatible base URL (vLLM/SGLang)")] = None,
    model: Annotated[str | None, typer.Option("--model", help="model id at --url")] = None,
    logprobs: Annotated[str | None, typer.Option("--logprobs", help="request shape at --url: vllm, sglang, "
                                                                   "echo (default: from the engine)")] = None,
    base: Annotated[str | None, typer.Option("--base", help="base GGUF for KLD (default: the highest-"
                                                            "precision file given)")] = None,
    ctx: Annotated[int, typer.Option("--ctx", help="tokens per window (llama-perplexity -c)")] = 512,
    chunks: Annotated[int, typer.Option("--chunks", help="windows scored; 0 = the whole corpus")] = 16,
    stride: Annotated[int | None, typer.Option("--stride", help="overlapping windows (HTTP lanes)")] = None,
    sliding_window: Annotated[int | None, typer.Option("--sliding-window", help="attention window of an "
                                                       "SWA model served over HTTP")] = None,
    depth: Annotated[int | None, typer.Option("--depth", help="also long-context PPL at this depth")] = None,
    harness: Annotated[str | None, typer.Option("--harness", help="depth = this harness' floor (hermes)")] = None,
    corpus: Annotated[str, typer.Option("--corpus", help="shipped corpus name or a text file")] = "pd-en-v1",
    threads: Annotated[int | None, typer.Option("--threads", help="llama-perplexity -t")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the JSON result")] = False,
) -> None:
    """Perplexity on a shipped public-domain text with llama.cpp's exact chunking; with several
    files (or --base), mean KLD and top-1 agreement of each against the base, same token ids."""
    from lanekit.cli.output import print_json
    from lanekit.errors import ConfigError
    from lanekit.quality.result import QualityCfg

    given = [bool(files), bool(lane), bool(url)]
    if sum(given) != 1:
        raise ConfigError("give GGUF files, or --lane NAME, or --url URL (exactly one)",
                          fix="lanekit quality model.gguf model-q4.gguf   |   lanekit quality --lane NAME")
    from pydantic import ValidationError

    from lanekit.lanes.embedded import resolve_model_file
    from lanekit.lanes.spec import format_validation_error

    try:
        cfg = QualityCfg(corpus=corpus, ctx=ctx, chunks=chunks or None, stride=stride, depth=depth, harness=harness,
                         base=str(resolve_model_file(base)) if base else None, threads=threads,
                         sliding_window=sliding_window)
    except ValidationError as exc:
        raise ConfigError(f"invalid option: {format_validation_error(exc)}", fix="see `lanekit quality --help`") from None
    progress = _progress()
    if files:
        from lanekit.quality.run import compare_files

        table = compare_files([resolve_model_file(f) for f in files], cfg, progress=progress)
        _done()
        print_json(table) if as_json else _render_table(table)
        return
    from lanekit.quality.run import LaneTarget, run_quality, target_from_record

    if lane:
        from lanekit.lanes import registry

        target = target_from_record(registry.find_live(lane))
        if logprobs:
            target = LaneTarget(**{**target.__dict__, "logprobs": logprobs})
    else:
        if not model:
            raise ConfigError("--url needs --model ID", fix="pass the served model id (see /v1/models)")
        target = LaneTarget(engine=logprobs or "?", label=model, base_url=url, model_id=model, logprobs=logprobs)
    row = run_quality(target, cfg, progress=progress)
    _done()
    if as_json:
        print_json(row)
        return
    from lanekit.quality.result import QualityTable

    _render_table(QualityTable(base=row.kld.base if row.kld else None, corpus=row.corpus,
                               corpus_sha256=row.corpus_sha256, rows=[row]))


def _progress():
    import sys
    import time

    shown = [0.0]

    def say(name: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if sys.stderr.isatty() and (now - shown[0] > 0.3 or done == total):
            shown[0] = now
            sys.stderr.write(f"\r\033[K  {name[:48]}: chunk {done}/{total or '?'}")
            sys.stderr.flush()

    return say


def _done() -> None:
    import sys

    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _render_table(table) -> None:
    """One row per file: bits/weight, size, PPL ±, mean KLD, top-1 agreement, eval speed."""
    import math

    from rich.table import Table

    from lanekit.cli.output import console

    t = Table(box=None, pad_edge=False, header_style="bold")
    for col, just in (("file", "left"), ("bpw", "right"), ("GiB", "right"), ("PPL", "right"),
                      ("KLD", "right"), ("top-1", "right"), ("tok/s", "right")):
        t.add_column(col, justify=just, no_wrap=col != "file", overflow="fold")
    for r in table.rows:
        ppl = f"{r.ppl.ppl:.3f}±{r.ppl.ppl_err:.2f}" if r.ppl.ppl_err is not None else f"{r.ppl.ppl:.3f}"
        kld = "base" if r.is_base else (_fmt(r.kld.kld_mean, ".4f") + ("≥" if r.kld.topk_only else "")
                                        if r.kld else "-")
        top = "base" if r.is_base else (f"{100 * r.kld.same_top:.1f}%" if r.kld else "-")
        speed = r.ppl.tokens_per_s
        t.add_row(r.label, _fmt(r.bits_per_weight, ".2f"),
                  _fmt(r.file_bytes / 2**30 if r.file_bytes else None, ".2f"), ppl, kld, top,
                  "-" if math.isnan(speed) else f"{speed:.0f}")
    console.print(t)
    first = table.rows[0]
    console.print(f"corpus {table.corpus} sha256 {table.corpus_sha256[:16]}…  tokens sha256 "
                  f"{(first.tokens_sha256 or '?')[:16]}…", markup=False, style="dim")
    console.print(f"ctx {first.ppl.n_ctx} × {first.ppl.n_chunks} windows ({first.ppl.convention}), "
                  f"{first.ppl.n_scored:,} tokens scored", markup=False, style="dim")
    if table.base:
        console.print(f"base (KLD, top-1 against it): {table.base}", markup=False, style="dim")
    for r in table.rows:
        if r.long_ctx:
            console.print(f"{r.label}: long-context PPL {r.long_ctx.ppl:.3f} at {r.long_ctx.n_ctx:,} tokens",
                          markup=False)
        elif r.long_ctx_skipped:
            console.print(f"{r.label}: long-context PPL skipped ({r.long_ctx_skipped})", markup=False)
