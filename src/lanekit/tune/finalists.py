"""Finalists: the best few points re-measured with repeats, scored conservatively, re-validated.

A single lucky trial must not win. The top `n` distinct measured points and the lane as given
(the baseline) are launched again `repeats` rounds, interleaved (A B C, A B C …) so load drift
on a shared machine lands on every finalist alike. Score: median − k·MAD of the repeats (median
+ k·MAD when smaller is better; MAD unscaled). On the last round each finalist is validated on
the live lane — the doctor, and a short battery when given — and one that fails a doctor check
the baseline passes, or solves fewer battery tasks than the baseline, is disqualified: a flag
that breaks tool calls cannot win.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lanekit.load.target import Target
from lanekit.tune.result import FinalistRow, TrialRow


def conservative_score(values: list[float], k: float, larger_is_better: bool) -> tuple[float, float, float]:
    """(median, MAD, score) of repeated measurements; score = median ∓ k·MAD."""
    med = statistics.median(values)
    mad = statistics.median(abs(v - med) for v in values)
    return med, mad, (med - k * mad) if larger_is_better else (med + k * mad)


@dataclass
class Validation:
    """What the validator found on one live finalist: failed doctor checks, battery success rate."""

    failed_checks: list[str] = field(default_factory=list)
    battery_success: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"failed_checks": self.failed_checks, "battery_success": self.battery_success, **self.detail}


Validator = Callable[[Target], Validation]


def doctor_validator(engine: str, *, battery: str | None = None, harness: str | None = None) -> Validator:
    """The real validator: `run_doctor` on the candidate, then (with `battery`) the built-in loop's battery."""

    def validate(target: Target) -> Validation:
        from lanekit.doctor.runner import run_doctor

        report = run_doctor(target.base_url, target.model, engine=engine, harness=harness,
                            metrics_url=target.metrics_url)
        failed = sorted(c.name for c in report.checks if c.status == "fail")
        out = Validation(failed_checks=failed, detail={"doctor_verdict": report.verdict})
        if battery:
            from lanekit.agents.battery import load_battery
            from lanekit.agents.loop import run_battery
            from lanekit.agents.scoring import score_runs

            bat = load_battery(battery)
            runs = run_battery(target.base_url, target.model, bat, repeats=1, alive=target.alive)
            out.battery_success = score_runs(runs, bat).summary.get("task_success_rate")
        return out

    return validate


def top_points(trials: list[TrialRow], n: int, larger_is_better: bool) -> list[dict[str, Any]]:
    """The `n` best distinct measured points, best first."""
    measured = [t for t in trials if t.status == "measured" and t.value is not None]
    measured.sort(key=lambda t: t.value, reverse=larger_is_better)
    out: list[dict[str, Any]] = []
    for t in measured:
        if t.params not in out:
            out.append(t.params)
        if len(out) == n:
            break
    return out


def disqualified(row: FinalistRow, base: FinalistRow | None) -> str | None:
    """Why a finalist may not win (a regression against the baseline), or None."""
    if row.score is None:
        return "no valid measurement in its repeats"
    if base is None or base is row or not base.validation:
        return None
    new_fails = set(row.validation.get("failed_checks", [])) - set(base.validation.get("failed_checks", []))
    if new_fails:
        return f"fails doctor check(s) the lane as given passes: {', '.join(sorted(new_fails))}"
    rate, base_rate = row.validation.get("battery_success"), base.validation.get("battery_success")
    if rate is not None and base_rate is not None and rate < base_rate:
        return f"battery success {rate:.0%} below the lane as given ({base_rate:.0%})"
    return None


def _measure_round(tuner, params: dict[str, Any], validate: bool) -> tuple[float | None, Validation | None]:
    """Launch one finalist, measure it once, and (on the last round) validate it on the same live lane."""
    from lanekit.errors import LanekitError
    from lanekit.tune.space import apply

    cand = apply(tuner.spec, params, name=f"{tuner.spec.name}-tune")
    if not tuner.sizer.size(cand).fits:
        return None, None
    try:
        with tuner.launcher(cand) as target:
            m = tuner.objective.measure(target)
            checked = tuner.validator(target) if validate and tuner.validator else None
    except LanekitError:
        return None, None
    return m.value, checked


def run_finalists(tuner, result) -> None:
    """Fill `result.finalists` and the winner: repeats interleaved, scored, validated, regressions out."""
    cfg = tuner.config
    points = top_points(result.trials, cfg.finalists, result.larger_is_better)
    base = result.baseline_params
    if base not in points:
        points.append(base)
    if not points:
        return
    rows = [FinalistRow(params=p, baseline=(p == base)) for p in points]
    for r in range(cfg.repeats):
        last = r == cfg.repeats - 1
        order = rows if r % 2 == 0 else list(reversed(rows))  # A B C, C B A: drift lands alike
        for row in order:
            tuner.progress(f"finalist {rows.index(row) + 1}/{len(rows)} round {r + 1}/{cfg.repeats}")
            value, checked = _measure_round(tuner, row.params, validate=last)
            row.values.append(value)
            if checked is not None:
                row.validation = checked.to_json()
    base_row = next((row for row in rows if row.baseline), None)
    for row in rows:
        values = [v for v in row.values if v is not None]
        if len(values) == len(row.values) and values:
            row.median, row.mad, row.score = conservative_score(values, cfg.mad_k, result.larger_is_better)
    for row in rows:
        why = disqualified(row, base_row)
        row.valid = why is None
        if why:
            row.validation = {**row.validation, "disqualified": why}
    eligible = [row for row in rows if row.valid and row.score is not None]
    result.finalists = rows
    if base_row is not None:
        result.baseline_score = base_row.score
    if not eligible:
        return
    best = (max if result.larger_is_better else min)(eligible, key=lambda row: row.score)
    result.winner_params, result.winner_score = best.params, best.score
    from lanekit.tune.space import apply

    spec = apply(tuner.spec, best.params)
    result.winner_spec = {"engine": spec.engine, **spec.model_dump(mode="json", exclude_unset=True)}
    if result.baseline_score:
        sign = 1 if result.larger_is_better else -1
        result.improvement_pct = round(sign * 100 * (best.score / result.baseline_score - 1), 2) + 0.0  # no -0.0
