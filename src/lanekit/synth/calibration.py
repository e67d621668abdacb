"""`lanekit calibrate` as a library: write the probes, measure them, fit the terms, score held-out models.

Each probe is written (the next one in the background on GPUs, while the current one is
measured), measured through llama-bench where present and through a real llama-server lane,
and its rows appended to `measurements.jsonl` at once, so an interrupted run keeps what it
measured and `resume` picks up after it. The fit uses the probe rows only; held-out rows are
predicted by the fitted terms and their residuals reported, never fitted.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, Field

from lanekit.catalog.hardware import HardwareProfile, machine_identity
from lanekit.catalog.models import shape_from_gguf
from lanekit.catalog.predict import SpeedTerms, decode_workload
from lanekit.catalog.terms_fit import (
    Measurement,
    Residual,
    fit_terms,
    normalize_to_anchor,
    residual_summary,
    score,
)
from lanekit.errors import LanekitError
from lanekit.synth.measure import SpeedSample, bench_decode, server_decode
from lanekit.synth.probes import Probe, write_probe

SCHEMA_VERSION = 1
Progress = Callable[[str], None]


class CalibrationOptions(BaseModel):
    """Everything one calibration run needs; each default is declared here once."""

    hardware: HardwareProfile
    probes: list[Probe]
    held_out: list[Probe] = Field(default_factory=list)
    work_dir: Path
    donor: Path | None = None  # GGUF whose tokenizer the probes copy (needed to write probes)
    server: str | None = None  # llama-server binary (None: lanekit's usual lookup)
    bench: str | None = None  # llama-bench binary (None: skip llama-bench)
    held_out_bench: bool = False  # also run llama-bench on the held-out models
    ngl: int | None = None
    flash_attn: str | None = None
    threads: int | None = None
    n_gen: int = 64
    bench_reps: int = 3
    server_samples: int = 2
    best_of: bool = False  # fastest repeat instead of the median (a shared, busy CPU)
    prefetch: bool = False  # write the next probe while this one is measured (GPU boxes)
    keep_files: bool = True  # False: delete each probe once measured (small disks)
    resume: bool = False
    budget_s: float | None = None  # stop measuring after this long (the fit still runs); None: no limit
    anchor: bool = False  # time a reference probe around each probe and divide out the drift (busy CPU)


class CalibrationReport(BaseModel):
    """What a calibration measured, fitted and scored (`lanekit calibrate --json`)."""

    schema_version: int = SCHEMA_VERSION
    hardware: str
    identity: dict[str, Any]
    terms: SpeedTerms | None = None
    fit_residuals: list[Residual] = Field(default_factory=list)
    held_out_residuals: list[Residual] = Field(default_factory=list)
    fit_summary: dict[str, Any] = Field(default_factory=dict)
    held_out_summary: dict[str, Any] = Field(default_factory=dict)
    held_out_by_depth: dict[str, dict[str, Any]] = Field(default_factory=dict)
    held_out_raw_summary: dict[str, Any] = Field(default_factory=dict)  # against un-normalized speeds
    unidentified: list[str] = Field(default_factory=list)
    errors: list[dict[str, str]] = Field(default_factory=list)
    measurements: int = 0
    seconds: float = 0.0


def _rows(probe: Probe, path: Path, samples: list[SpeedSample], anchor: float | None = None) -> list[Measurement]:
    shape = shape_from_gguf(path)
    return [Measurement(probe=probe.name, path=s.path, role=probe.role, tok_s=s.tok_s, spread_pct=s.spread_pct,
                        samples=s.samples, workload=decode_workload(shape, depth=s.mean_depth),
                        depth=s.depth, anchor_tok_s=anchor)
            for s in samples]


def _anchor_speed(opts: CalibrationOptions, path: Path | None) -> float | None:
    """The reference probe's llama-bench speed right now (None without llama-bench or an anchor)."""
    if not (opts.anchor and opts.bench and path is not None and path.is_file()):
        return None
    got = bench_decode(opts.bench, path, depths=(0,), n_gen=32, reps=3, threads=opts.threads)
    return got[0].tok_s if got else None


def _load_log(log: Path) -> list[Measurement]:
    if not log.is_file():
        return []
    out = []
    for line in log.read_text().splitlines():
        try:
            out.append(Measurement.model_validate_json(line))
        except ValueError:
            continue  # a line cut short by a crash
    return out


# What one probe may fail with without ending the run (a full disk, a server that died, a timeout).
_PROBE_FAILURES = (LanekitError, OSError, ValueError, subprocess.SubprocessError, httpx.HTTPError)


def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, LanekitError) else f"{type(exc).__name__}: {exc}"


def measure_probe(probe: Probe, path: Path, opts: CalibrationOptions,
                  errors: list[dict[str, str]] | None = None) -> list[SpeedSample]:
    """llama-bench (when given and wanted) and the llama-server lane on one written probe.

    Each path that fails is appended to `errors` and the other still runs.
    """
    runs = []
    if opts.bench and (probe.role == "fit" or opts.held_out_bench):
        runs.append(("bench", lambda: bench_decode(
            opts.bench, path, depths=probe.depths, n_gen=opts.n_gen, reps=opts.bench_reps, ngl=opts.ngl,
            flash_attn=opts.flash_attn, threads=opts.threads, best=opts.best_of)))
    runs.append(("server", lambda: server_decode(
        opts.server, path, depths=probe.depths, n_gen=opts.n_gen, samples=opts.server_samples, ngl=opts.ngl,
        flash_attn=opts.flash_attn, threads=opts.threads, name=f"calibrate-{probe.name}", best=opts.best_of)))
    samples: list[SpeedSample] = []
    for step, run in runs:
        try:
            samples += run()
        except _PROBE_FAILURES as exc:  # a failed probe is data: recorded, the run goes on
            if errors is None:
                raise
            errors.append({"probe": probe.name, "step": step, "error": _message(exc)})
    return samples


class _Writer:
    """Writes probes, the next one in the background when asked; deletes them when not kept."""

    def __init__(self, opts: CalibrationOptions, pool: ThreadPoolExecutor) -> None:
        self.opts, self.pool = opts, pool
        self.pending: dict[str, tuple[Probe, Future]] = {}

    def _write(self, probe: Probe) -> Path:
        return write_probe(probe, self.opts.work_dir, self.opts.donor)

    def prefetch(self, probe: Probe) -> None:
        self.pending[probe.name] = (probe, self.pool.submit(self._write, probe))

    def get(self, probe: Probe) -> Path:
        queued = self.pending.pop(probe.name, None)
        return queued[1].result() if queued else self._write(probe)

    def done(self, probe: Probe) -> None:
        if not self.opts.keep_files and not probe.file:
            probe.path(self.opts.work_dir).unlink(missing_ok=True)

    def close(self) -> None:
        """Wait for a write still running (a budget stop), then drop what is not kept."""
        for probe, future in self.pending.values():
            with contextlib.suppress(*_PROBE_FAILURES):
                future.result()
            self.done(probe)
        self.pending.clear()


def run_calibration(opts: CalibrationOptions, progress: Progress | None = None) -> CalibrationReport:
    """Measure every probe and held-out model, fit the terms on the probes, score the held-out ones."""
    say = progress or (lambda _msg: None)
    t0 = time.monotonic()
    if opts.donor is None:
        from lanekit.errors import ConfigError

        raise ConfigError("calibration needs a donor tokenizer to write probes", fix="pass --donor FILE.gguf")
    opts.work_dir.mkdir(parents=True, exist_ok=True)
    log = opts.work_dir / "measurements.jsonl"
    rows = _load_log(log) if opts.resume else []
    if not opts.resume:
        log.write_text("")
    done = {m.probe for m in rows}
    todo = [p for p in [*opts.probes, *opts.held_out] if p.name not in done]
    report = CalibrationReport(hardware=opts.hardware.key, identity=machine_identity(opts.hardware))
    anchor_path = None
    if opts.anchor and opts.probes:  # its own file: it is timed around every probe, so never dropped early
        anchor = opts.probes[0].model_copy(update={"name": f"anchor-{opts.probes[0].name}"})
        anchor_path = write_probe(anchor, opts.work_dir, opts.donor)
    with ThreadPoolExecutor(max_workers=1) as pool:
        writer = _Writer(opts, pool)
        for i, probe in enumerate(todo):
            if opts.budget_s is not None and time.monotonic() - t0 > opts.budget_s:
                report.errors += [{"probe": p.name, "step": "skipped", "error": f"over the {opts.budget_s:.0f}s budget"}
                                  for p in todo[i:]]
                say(f"time budget of {opts.budget_s:.0f}s spent: {len(todo) - i} probe(s) left unmeasured")
                break
            say(f"[{i + 1}/{len(todo)}] {probe.name}: writing")
            try:
                path = writer.get(probe)
            except _PROBE_FAILURES as exc:
                report.errors.append({"probe": probe.name, "step": "write", "error": _message(exc)})
                continue
            if opts.prefetch and i + 1 < len(todo):
                writer.prefetch(todo[i + 1])
            say(f"[{i + 1}/{len(todo)}] {probe.name}: measuring at depths {', '.join(map(str, probe.depths))}")
            try:
                before = _anchor_speed(opts, anchor_path)
                samples = measure_probe(probe, path, opts, report.errors)
                after = _anchor_speed(opts, anchor_path)
                between = (before + after) / 2 if before and after else None
                new = _rows(probe, path, samples, between)
            except _PROBE_FAILURES as exc:  # a failed probe is data: recorded, the run goes on
                report.errors.append({"probe": probe.name, "step": "measure", "error": _message(exc)})
                new = []
            with log.open("a") as fh:
                for m in new:
                    fh.write(m.model_dump_json() + "\n")
            rows += new
            writer.done(probe)
        writer.close()
    if anchor_path is not None and not opts.keep_files:
        anchor_path.unlink(missing_ok=True)
    return finish(report, rows, opts, t0)


def finish(report: CalibrationReport, rows: list[Measurement], opts: CalibrationOptions,
           t0: float) -> CalibrationReport:
    """Fit on the probe rows and score the held-out rows (also used to re-fit a saved log)."""
    report.measurements = len(rows)
    raw_held = [m for m in rows if m.role == "held_out"]
    rows = normalize_to_anchor(rows)
    hw = opts.hardware
    n_fit = sum(m.role == "fit" for m in rows)
    when = time.strftime("%Y-%m-%d")
    where = report.identity.get("gpu") or report.identity.get("cpu") or hw.name
    source = f"lanekit calibrate {when} on {where} ({n_fit} probe rows" + (", llama-bench + llama-server)"
                                                                          if opts.bench else ", llama-server)")
    result = fit_terms(rows, hardware=hw.key, source=source, peak_bandwidth_gb_s=hw.bandwidth_gb_s)
    terms = result.terms
    held = score([m for m in rows if m.role == "held_out"], terms)
    terms.identity = report.identity
    terms.flags = {"ngl": opts.ngl, "flash_attn": opts.flash_attn, "threads": opts.threads, "n_gen": opts.n_gen}
    terms.measured_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    by_depth: dict[str, dict[str, Any]] = {}
    for depth in sorted({r.depth for r in held}):
        by_depth[str(depth)] = residual_summary([r for r in held if r.depth == depth])
    terms.fit["held_out"] = residual_summary(held)
    terms.fit["held_out_by_depth"] = by_depth
    report.terms = terms
    report.fit_residuals = result.residuals
    report.fit_summary = terms.fit["residuals"] | {"dropped": result.dropped}
    report.held_out_residuals = held
    report.held_out_summary = residual_summary(held)
    report.held_out_by_depth = by_depth
    if any(m.anchor_tok_s for m in raw_held):
        report.held_out_raw_summary = residual_summary(score(raw_held, terms))
    report.unidentified = result.unidentified
    report.seconds = round(time.monotonic() - t0, 1)
    return report


def design_check(probes: list[Probe], donor_vocab: int, hardware: HardwareProfile,
                 n_gen: int = 64, bench: bool = True) -> list[str]:
    """Terms these probes cannot pin, found before anything runs: the fit on rows priced by a
    generic set of terms (no measurement needed) reports its unidentified columns."""
    from lanekit.catalog.predict import predict
    from lanekit.catalog.terms import generic_terms
    from lanekit.synth.probes import probe_shape

    base = generic_terms(hardware, "llamacpp")
    bw = base.default_bandwidth_gb_s
    truth = base.model_copy(update={  # plausible values for every term, so none is trivially zero
        "expert_us": 3.0, "kv_bandwidth_gb_s": 0.5 * bw, "token_us": 20.0, "expert_extra_ps_per_byte": 0.1 / bw,
        "bandwidth_gb_s": {"Q4_0": 0.9 * bw, "Q8_0": 1.1 * bw, "Q4_K": 0.8 * bw, "Q6_K": 0.85 * bw}})
    rows = []
    for probe in (p for p in probes if p.role == "fit"):
        shape = probe_shape(probe, donor_vocab)
        for depth in probe.depths:
            w = decode_workload(shape, depth=max(depth, 8) + n_gen // 2)
            for path in ("bench", "server") if bench else ("server",):
                tok_s = predict(w, truth, served=path == "server").tok_s
                rows.append(Measurement(probe=probe.name, path=path, workload=w, tok_s=tok_s))  # type: ignore[arg-type]
    return fit_terms(rows, hardware=hardware.key, peak_bandwidth_gb_s=hardware.bandwidth_gb_s).unidentified


def refit(log: Path, opts: CalibrationOptions) -> CalibrationReport:
    """Fit again from a saved `measurements.jsonl` without measuring anything."""
    report = CalibrationReport(hardware=opts.hardware.key, identity=machine_identity(opts.hardware))
    return finish(report, _load_log(log), opts, time.monotonic())


def write_report(report: CalibrationReport, path: Path) -> None:
    """The report as JSON (atomic: a crash never leaves half a file)."""
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_text(json.dumps(report.model_dump(mode="json"), indent=2) + "\n")
    tmp.replace(path)
