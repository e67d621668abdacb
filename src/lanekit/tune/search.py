"""The search loop of `lanekit tune`: Optuna's TPE over the space, sizing before every launch.

    ask a point → invalid for the engine?      record `invalid`, no launch
               → asked before?                 reuse its value (`repeat`), no launch
               → sized over the memory budget? record `oom_predicted`, no launch
               → launch, measure, tear down    record `measured` / `failed` / `launch_failed`

Every trial is told to the Optuna study as it ends, in SQLite under LANEKIT_HOME/tune/ (the
trial's row lives in its user attributes), so Ctrl-C or a crash loses at most the trial in
flight and `--resume` continues the same study. Points that cannot run are told as pruned, so
TPE learns to avoid the region. The first trial is the lane as given (the baseline).

Stops at the first of: `budget_trials` launches, `budget_s` seconds, a plateau (`patience`
launches without beating the best by `min_delta_pct`), or every valid point seen.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lanekit.errors import ConfigError, LanekitError
from lanekit.lanes.spec import LaneSpec
from lanekit.load.target import Target
from lanekit.tune.objective import Objective
from lanekit.tune.result import TrialRow, TuneResult
from lanekit.tune.sizing import GuardSizer
from lanekit.tune.space import SearchSpace, Value, apply, invalid

Launcher = Callable[[LaneSpec], AbstractContextManager[Target]]
Progress = Callable[[str], None]
ROW_ATTR = "lanekit_row"


@contextlib.contextmanager
def serve_candidate(spec: LaneSpec) -> Iterator[Target]:
    """Launch a candidate with the lane lifecycle (guard, warm, verified teardown) and yield its target."""
    from lanekit.lanes.engine import engine_for
    from lanekit.lanes.lifecycle import serve_lane

    with serve_lane(spec) as lane:
        yield Target(base_url=lane.base_url, model=lane.model_id, lane=spec.name, metrics_url=lane.metrics_url,
                     metrics_prefix=getattr(engine_for(spec), "metrics_prefix", None), engine=spec.engine,
                     alive=lane.record.death_reason if lane.record else None)


@dataclass
class TuneConfig:
    """How long and how hard to search; each default declared once, here."""

    budget_trials: int | None = 20
    budget_s: float | None = None
    seed: int = 0
    patience: int = 8
    min_delta_pct: float = 1.0
    startup_trials: int = 5
    finalists: int = 3
    repeats: int = 3
    mad_k: float = 1.0
    max_repeat_streak: int = 200   # asks in a row that only repeat known points: the space is spent


def storage_path() -> Path:
    """The Optuna SQLite file every tune shares (one study per lane × space × objective)."""
    from lanekit.dirs import home

    path = home() / "tune" / "optuna.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def study_name(spec: LaneSpec, space: SearchSpace, objective: Objective) -> str:
    return f"{spec.name}-{objective.name}-{space.digest()}"


def baseline_params(spec: LaneSpec, space: SearchSpace) -> dict[str, Value]:
    """The lane as given, projected onto the space (a value outside a param's choices → its first choice)."""
    args = list(spec.extra_args)

    def flag(names: tuple[str, ...]) -> str | None:
        for n in names:
            if n in args and args.index(n) + 1 < len(args):
                return args[args.index(n) + 1]
        return None

    current: dict[str, Any] = {
        "threads": spec.threads, "kv_dtype": spec.kv_dtype, "parallel": spec.parallel,
        "flash_attn": getattr(spec, "flash_attn", None) or ("on" if spec.kv_dtype not in ("f16", "auto") else None),
        "batch": int(flag(("-b", "--batch-size")) or 2048), "ubatch": int(flag(("-ub", "--ubatch-size")) or 512),
        "cache_reuse": int(flag(("--cache-reuse",)) or 0), "repack": "--no-repack" not in args and "-nr" not in args,
        "draft": "none", "speculative": "spec",
    }
    for name in space.names:
        if name not in current and hasattr(spec, name):
            current[name] = getattr(spec, name)
    out: dict[str, Value] = {}
    for p in space.params:
        value = current.get(p.name)
        out[p.name] = value if value in p.choices else p.choices[0]
    return out


class Tuner:
    """One tune of one lane. `launcher`, `sizer` and `clock` are seams (a fake engine in the unit tests)."""

    def __init__(self, spec: LaneSpec, space: SearchSpace, objective: Objective, config: TuneConfig | None = None,
                 *, launcher: Launcher = serve_candidate, sizer: GuardSizer | None = None,
                 storage: str | None = None, resume: bool = False, fresh: bool = False,
                 validator: Callable[[Target], Any] | None = None, progress: Progress | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.spec, self.space, self.objective = spec, space, objective
        self.config = config or TuneConfig()
        self.launcher, self.sizer = launcher, sizer or GuardSizer()
        self.storage = storage if storage is not None else f"sqlite:///{storage_path()}"
        self.resume, self.fresh = resume, fresh
        self.progress = progress or (lambda _msg: None)
        self.clock = clock
        self.validator = validator  # finalists only (tune.finalists.doctor_validator for real lanes)
        self.name = study_name(spec, space, objective)
        self.study = self._study()

    # -- the study -------------------------------------------------------------------------
    def _study(self):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = optuna.storages.RDBStorage(self.storage) if self.storage else optuna.storages.InMemoryStorage()
        exists = any(s.study_name == self.name for s in optuna.get_all_study_summaries(storage))
        if exists and self.fresh:
            optuna.delete_study(study_name=self.name, storage=storage)
            exists = False
        if exists and not self.resume:
            raise ConfigError(f"a tune of lane {self.spec.name!r} over this space already exists (study {self.name})",
                              fix="continue it with --resume, or start over with --fresh")
        if self.resume and not exists:
            raise ConfigError(f"--resume: no earlier tune of lane {self.spec.name!r} over this space",
                              fix="run it once without --resume (a changed space or objective is a new study)")
        sampler = optuna.samplers.TPESampler(seed=self.config.seed, n_startup_trials=self.config.startup_trials,
                                             multivariate=True)
        direction = "maximize" if self.objective.larger_is_better else "minimize"
        study = optuna.create_study(storage=storage, sampler=sampler, study_name=self.name, direction=direction,
                                    load_if_exists=True)
        if not exists:
            study.enqueue_trial(baseline_params(self.spec, self.space))
        return study

    def rows(self) -> list[TrialRow]:
        """Every trial so far, from the study (so a resumed tune sees the earlier ones)."""
        out = []
        for t in self.study.get_trials(deepcopy=False):
            raw = t.user_attrs.get(ROW_ATTR)
            if raw:
                out.append(TrialRow.model_validate_json(raw))
        return out

    def _tell(self, trial, row: TrialRow) -> None:
        from optuna.trial import TrialState

        trial.set_user_attr(ROW_ATTR, row.model_dump_json())
        if row.status in ("measured", "repeat") and row.value is not None:
            self.study.tell(trial, row.value)
        elif row.status in ("interrupted",):
            self.study.tell(trial, state=TrialState.FAIL)
        else:  # cannot run or ran badly: a bad region TPE should learn to avoid
            self.study.tell(trial, state=TrialState.PRUNED)

    # -- the loop --------------------------------------------------------------------------
    def _better(self, a: float, b: float | None) -> bool:
        if b is None:
            return True
        margin = abs(b) * self.config.min_delta_pct / 100
        return a > b + margin if self.objective.larger_is_better else a < b - margin

    def search(self) -> str:
        """Run trials until a stop rule fires; returns the stop reason."""
        cfg = self.config
        t0 = self.clock()
        earlier = self.rows()
        seen: dict[str, TrialRow] = {_key(r.params): r for r in earlier if r.status != "repeat"}
        launched = 0
        best, since_best, streak = None, 0, 0
        for r in earlier:
            if r.status == "measured" and r.value is not None and self._better(r.value, best):
                best = r.value
        valid_points = len(self.space.grid())
        while True:
            if cfg.budget_trials is not None and launched >= cfg.budget_trials:
                return f"budget: {launched} trials"
            if cfg.budget_s is not None and self.clock() - t0 >= cfg.budget_s:
                return f"budget: {cfg.budget_s:.0f} s"
            if launched >= cfg.startup_trials and since_best >= cfg.patience:
                return f"plateau: {since_best} trials without a {cfg.min_delta_pct:g}% gain"
            if sum(1 for r in seen.values() if r.status != "invalid") >= valid_points:
                return "exhausted: every valid point seen"
            if streak >= cfg.max_repeat_streak:
                return "converged: the search only repeats known points"
            trial = self.study.ask()
            params = {p.name: trial.suggest_categorical(p.name, list(p.choices)) for p in self.space.params}
            key = _key(params)
            if key in seen:
                prev = seen[key]
                streak += 1
                self._tell(trial, TrialRow(number=trial.number, params=params, status="repeat", value=prev.value,
                                           reason=f"same point as trial {prev.number} ({prev.status})"))
                continue
            streak = 0
            try:
                row = self._trial(trial.number, params)
            except _Interrupted as exc:  # the trial in flight is kept as `interrupted`, then Ctrl-C goes on
                self._tell(trial, exc.row)
                raise KeyboardInterrupt from None
            seen[key] = row
            self._tell(trial, row)
            if row.status in ("measured", "failed", "launch_failed"):
                launched += 1
                if row.value is not None and self._better(row.value, best):
                    best, since_best = row.value, 0
                else:
                    since_best += 1
            self.progress(_progress_line(row, launched, cfg.budget_trials, best, self.objective.unit))

    def _trial(self, number: int, params: dict[str, Value]) -> TrialRow:
        """Size, then launch and measure one new point; a failure is data, never an abort."""
        reason = invalid(self.space.engine, params)
        if reason:
            return TrialRow(number=number, params=params, status="invalid", reason=reason)
        cand = apply(self.spec, params, name=f"{self.spec.name}-tune")
        verdict = self.sizer.size(cand)
        if not verdict.fits:
            return TrialRow(number=number, params=params, status="oom_predicted", need_bytes=verdict.need_bytes,
                            available_bytes=verdict.available_bytes, reason=verdict.reason)
        t0 = self.clock()
        try:
            with self.launcher(cand) as target:
                m = self.objective.measure(target)
        except KeyboardInterrupt:
            row = TrialRow(number=number, params=params, status="interrupted", reason="interrupted",
                           need_bytes=verdict.need_bytes, available_bytes=verdict.available_bytes)
            raise _Interrupted(row) from None
        except LanekitError as exc:
            return TrialRow(number=number, params=params, status="launch_failed", reason=exc.message.splitlines()[0],
                            need_bytes=verdict.need_bytes, available_bytes=verdict.available_bytes,
                            duration_s=round(self.clock() - t0, 3))
        status = "measured" if m.value is not None else "failed"
        return TrialRow(number=number, params=params, status=status, value=m.value, errors=m.errors,
                        need_bytes=verdict.need_bytes, available_bytes=verdict.available_bytes,
                        duration_s=round(self.clock() - t0, 3), detail=_jsonable(m.detail),
                        reason=None if m.value is not None else f"{m.errors} request(s) failed")

    def run(self) -> TuneResult:
        """Search, then re-measure and validate the finalists (see `tune.finalists`)."""
        from lanekit.tune.finalists import run_finalists

        t0 = self.clock()
        stop = self.search()
        result = TuneResult(lane=self.spec.name, engine=self.spec.engine, objective=self.objective.name,
                            unit=self.objective.unit, larger_is_better=self.objective.larger_is_better,
                            space=self.space.to_json(), grid_size=len(self.space.grid()), study=self.name,
                            storage=self.storage or None, seed=self.config.seed, stop_reason=stop,
                            trials=self.rows(), baseline_params=baseline_params(self.spec, self.space),
                            mad_k=self.config.mad_k)
        run_finalists(self, result)
        result.elapsed_s = round(self.clock() - t0, 3)
        return result


class _Interrupted(Exception):
    def __init__(self, row: TrialRow) -> None:
        super().__init__("interrupted")
        self.row = row


def _key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _progress_line(row: TrialRow, launched: int, budget: int | None, best: float | None, unit: str) -> str:
    value = f"{row.value:.4g} {unit}" if row.value is not None else (row.reason or row.status)
    best_s = f"best {best:.4g}" if best is not None else "best -"
    return f"trial {row.number} ({launched}/{budget or '∞'} launched) {row.status}: {value} · {best_s}"
