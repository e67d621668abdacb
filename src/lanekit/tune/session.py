"""One `lanekit tune` of one lane, end to end: space, objective, search, finalists, artifacts.

`tune_spec()` is what the CLI (and a bakeoff `tune:` step) calls. Artifacts go to
LANEKIT_HOME/tune/<study>.{json,png,lanes.yaml} when the tune ends; until then every finished
trial is already in the SQLite study, so an interrupted tune loses nothing `--resume` needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lanekit.lanes.spec import LaneSpec
from lanekit.tune.objective import make_objective
from lanekit.tune.result import TuneResult, lanes_yaml, plot_history
from lanekit.tune.search import TuneConfig, Tuner, storage_path
from lanekit.tune.sizing import GuardSizer
from lanekit.tune.space import space_for


@dataclass
class TuneOptions:
    """Everything the user can set for a tune; each default declared once, here or in TuneConfig."""

    objective: str = "turn_s"
    trace: str | None = None
    ttft_slo_ms: float | None = None
    itl_slo_ms: float | None = None
    params: dict[str, list[Any]] = field(default_factory=dict)
    hw: str | None = None
    draft_model: str | None = None
    memory_budget_bytes: int | None = None
    doctor: bool = True
    battery: str | None = None
    harness: str | None = None
    resume: bool = False
    fresh: bool = False
    config: TuneConfig = field(default_factory=TuneConfig)


@dataclass
class TuneOutcome:
    """The result and where its files are."""

    result: TuneResult
    json_path: Path
    plot_path: Path | None
    lanes_path: Path | None


def artifact_dir() -> Path:
    return storage_path().parent


def write_artifacts(result: TuneResult) -> tuple[Path, Path | None, Path | None]:
    """The JSON, the plot and the winner's lanes.yaml, beside the study (returns their paths)."""
    base = artifact_dir() / result.study
    json_path = base.with_suffix(".json")
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result.model_dump(mode="json"), indent=2))
    tmp.replace(json_path)  # atomic: a crash never leaves half a file
    plot = plot_history(result, base.with_suffix(".png"))
    lanes = None
    if result.winner_spec is not None:
        lanes = Path(f"{base}.lanes.yaml")
        lanes.write_text(lanes_yaml(result))
    return json_path, plot, lanes


def _prepare(spec: LaneSpec, options: TuneOptions):
    space = space_for(spec, hw=options.hw, draft_model=options.draft_model)
    if options.params:
        space = space.restrict(options.params)
    objective = make_objective(options.objective, trace=options.trace, ttft_slo_ms=options.ttft_slo_ms,
                               itl_slo_ms=options.itl_slo_ms)
    return space, objective


def tuned_spec(spec: LaneSpec, options: TuneOptions, *, progress=None) -> tuple[LaneSpec, TuneResult]:
    """The lane a bakeoff should run: the winner of this lane's finished tune over the same space and
    objective when one exists (a rerun does not search again), else a new tune's winner; the lane
    as given when no finalist passed validation. The lane keeps its name."""
    from lanekit.lanes.spec import parse_lane
    from lanekit.tune.search import study_name

    space, objective = _prepare(spec, options)
    done = artifact_dir() / f"{study_name(spec, space, objective)}.json"
    if done.is_file():
        result = TuneResult.model_validate_json(done.read_text())
    else:
        result = tune_spec(spec, options, progress=progress).result
    if result.winner_spec is None:
        return spec, result
    return parse_lane({**result.winner_spec, "name": spec.name}, where=f"tune of {spec.name}"), result


def tune_spec(spec: LaneSpec, options: TuneOptions, *, progress=None) -> TuneOutcome:
    """Tune one lane with `options`; returns the result and its artifact paths."""
    from lanekit.tune.finalists import doctor_validator

    space, objective = _prepare(spec, options)
    validator = doctor_validator(spec.engine, battery=options.battery, harness=options.harness) \
        if options.doctor or options.battery else None
    tuner = Tuner(spec, space, objective, options.config, sizer=GuardSizer(budget_bytes=options.memory_budget_bytes),
                  resume=options.resume, fresh=options.fresh, validator=validator, progress=progress)
    result = tuner.run()
    json_path, plot, lanes = write_artifacts(result)
    return TuneOutcome(result, json_path, plot, lanes)
