"""The tune loop against a fake engine with a known response surface, noise and an OOM region.

The fake engine is the one part that is not real: a real llama-server cannot be made to have a
known optimum. Sizing runs through the real guard rule (`GuardSizer` → `check_fits`) with a fake
estimate; the search is the real Optuna TPE.
"""

from __future__ import annotations

import contextlib
import math
import random
from dataclasses import dataclass

import pytest

from lanekit.errors import ConfigError, LaneStartError
from lanekit.lanes.guard import MemoryPool
from lanekit.lanes.spec import parse_lane
from lanekit.load.target import Target
from lanekit.tune import GuardSizer, Measurement, Param, SearchSpace, TuneConfig, Tuner
from lanekit.tune.finalists import Validation

GIB = 1 << 30
SPACE = SearchSpace("llamacpp", [
    Param("threads", (2, 4, 8, 16)),
    Param("batch", (512, 1024, 2048)),
    Param("ubatch", (128, 256, 512)),
    Param("kv_dtype", ("f16", "q8_0")),
    Param("parallel", (1, 2, 4)),
    Param("flash_attn", ("on", "off")),
])
OPTIMUM = {"threads": 8, "batch": 1024, "ubatch": 256, "kv_dtype": "q8_0", "parallel": 2, "flash_attn": "on"}


def params_of(spec) -> dict:
    args = spec.extra_args
    return {"threads": spec.threads, "batch": int(args[args.index("-b") + 1]),
            "ubatch": int(args[args.index("-ub") + 1]), "kv_dtype": spec.kv_dtype, "parallel": spec.parallel,
            "flash_attn": spec.flash_attn}


def surface(p: dict) -> float:
    """tok/s: peaks at 8 threads, -b 1024, -ub 256; more slots always look better (toward the OOM region)."""
    v = 100.0 - 12 * abs(math.log2(p["threads"]) - 3) - 6 * abs(math.log2(p["batch"]) - 10)
    v -= 5 * abs(math.log2(p["ubatch"]) - 8)
    v += 3 if p["kv_dtype"] == "q8_0" else 0
    v += 8 * math.log2(p["parallel"])
    v -= 4 if p["flash_attn"] == "off" else 0
    return v


@dataclass
class FakeEstimate:
    total_bytes: int
    headroom_bytes: int = 0

    def explain(self):
        return [f"fake      {self.total_bytes / GIB:.2f} GiB"]


def fake_estimate(spec) -> FakeEstimate:
    """10 GiB of weights + per-slot KV (4 GiB f16, 2.1 GiB q8_0): np 4 never fits, f16 np 2 neither."""
    kv = 4.0 if spec.kv_dtype == "f16" else 2.1
    return FakeEstimate(int((10 + kv * spec.parallel) * GIB))


POOL = MemoryPool("system", 19 * GIB, 24 * GIB, "fake pool")


class FakeEngine:
    """Launches nothing; measures the surface with seeded noise; remembers every launch."""

    def __init__(self, seed: int = 0, noise: float = 0.5, broken=None) -> None:
        self.rng = random.Random(seed)
        self.noise, self.broken = noise, broken
        self.launched: list = []
        self.current = None

    @contextlib.contextmanager
    def launch(self, spec):
        if self.broken and self.broken(params_of(spec)):
            raise LaneStartError("engine exited during start")
        self.launched.append(spec)
        self.current = spec
        yield Target(base_url="http://fake/v1", model="fake", lane=spec.name)
        self.current = None


@dataclass
class FakeObjective:
    engine: FakeEngine
    name: str = "decode"
    unit: str = "tok/s"
    larger_is_better: bool = True

    def measure(self, target):
        return Measurement(surface(params_of(self.engine.current)) + self.engine.rng.gauss(0, self.engine.noise))


def make_tuner(engine: FakeEngine, config: TuneConfig, **kw) -> Tuner:
    spec = parse_lane({"name": "fake", "model": "smollm2-135m", "threads": 2, "parallel": 1})
    kw.setdefault("storage", "")
    return Tuner(spec, SPACE, FakeObjective(engine), config, launcher=engine.launch,
                 sizer=GuardSizer(POOL, estimate=fake_estimate), **kw)


def fits(spec) -> bool:
    return GuardSizer(POOL, estimate=fake_estimate).size(spec).fits


def test_tune_finds_the_optimum_within_40_launches_of_a_324_point_grid():
    engine = FakeEngine(seed=1)
    result = make_tuner(engine, TuneConfig(budget_trials=40, seed=3, patience=40, repeats=3)).run()
    assert len(SPACE.grid()) == 324
    assert result.launched() <= 40
    assert result.winner_params == OPTIMUM
    assert result.improvement_pct > 0


def test_tune_never_launches_a_candidate_predicted_over_the_budget_and_records_it():
    engine = FakeEngine(seed=2)
    result = make_tuner(engine, TuneConfig(budget_trials=30, seed=5, patience=30)).run()
    assert engine.launched and all(fits(s) for s in engine.launched)
    sized_out = [t for t in result.trials if t.status == "oom_predicted"]
    assert sized_out, "TPE pulls toward more slots: the OOM region must have been asked for"
    for t in sized_out:
        assert t.params["parallel"] == 4 or (t.params["parallel"] == 2 and t.params["kv_dtype"] == "f16")
        assert t.need_bytes > t.available_bytes and "memory budget" in t.reason


def test_two_seeded_tunes_agree():
    runs = [make_tuner(FakeEngine(seed=7), TuneConfig(budget_trials=15, seed=11)).run() for _ in range(2)]
    assert [t.params for t in runs[0].trials] == [t.params for t in runs[1].trials]
    assert runs[0].winner_params == runs[1].winner_params


def test_first_trial_is_the_lane_as_given():
    result = make_tuner(FakeEngine(), TuneConfig(budget_trials=3, repeats=1)).run()
    assert result.trials[0].params == {"threads": 2, "batch": 2048, "ubatch": 512, "kv_dtype": "f16",
                                       "parallel": 1, "flash_attn": "on"}
    assert any(f.baseline for f in result.finalists)


def test_a_flat_surface_stops_on_a_plateau_before_the_budget():
    engine = FakeEngine(noise=0.0)

    class Flat(FakeObjective):
        def measure(self, target):
            return Measurement(50.0)

    spec = parse_lane({"name": "fake", "model": "smollm2-135m"})
    tuner = Tuner(spec, SPACE, Flat(engine), TuneConfig(budget_trials=50, patience=6, startup_trials=3, repeats=1),
                  launcher=engine.launch, sizer=GuardSizer(POOL, estimate=fake_estimate), storage="")
    result = tuner.run()
    assert result.stop_reason.startswith("plateau")
    assert result.launched() == 7  # the baseline, then 6 without a gain


def test_a_minutes_budget_stops_on_the_clock():
    now = [0.0]

    class Slow(FakeObjective):
        def measure(self, target):
            now[0] += 60.0
            return super().measure(target)

    engine = FakeEngine()
    spec = parse_lane({"name": "fake", "model": "smollm2-135m"})
    tuner = Tuner(spec, SPACE, Slow(engine), TuneConfig(budget_trials=None, budget_s=300, patience=99, repeats=1),
                  launcher=engine.launch, sizer=GuardSizer(POOL, estimate=fake_estimate), storage="",
                  clock=lambda: now[0])
    result = tuner.run()
    assert result.stop_reason == "budget: 300 s"
    assert result.launched() == 5


def test_a_launch_failure_is_recorded_and_the_search_goes_on():
    engine = FakeEngine(broken=lambda p: p["threads"] == 16)
    result = make_tuner(engine, TuneConfig(budget_trials=25, seed=4, patience=25, repeats=1)).run()
    failed = [t for t in result.trials if t.status == "launch_failed"]
    assert all(t.params["threads"] == 16 and "exited" in t.reason for t in failed)
    assert result.winner_params and result.winner_params["threads"] != 16


def test_a_flag_that_breaks_tool_calls_cannot_win():
    engine = FakeEngine(seed=1)

    def validator(target):  # q8_0 "breaks tool calls" on this fake engine
        return Validation(failed_checks=["tool_calls"] if engine.current.kv_dtype == "q8_0" else [])

    result = make_tuner(engine, TuneConfig(budget_trials=40, seed=3, patience=40), validator=validator).run()
    assert result.winner_params["kv_dtype"] == "f16"
    out = [f for f in result.finalists if f.params["kv_dtype"] == "q8_0"]
    assert out and all(not f.valid and "tool_calls" in f.validation["disqualified"] for f in out)


def test_resume_continues_the_same_study(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    first = make_tuner(FakeEngine(seed=1), TuneConfig(budget_trials=4, repeats=1), storage=storage).run()
    with pytest.raises(ConfigError, match="--resume"):
        make_tuner(FakeEngine(), TuneConfig(budget_trials=4), storage=storage)
    second = make_tuner(FakeEngine(seed=2), TuneConfig(budget_trials=4, repeats=1), storage=storage,
                        resume=True).run()
    assert [t.params for t in second.trials[:len(first.trials)]] == [t.params for t in first.trials]
    assert second.launched() == 8
    fresh = make_tuner(FakeEngine(), TuneConfig(budget_trials=2, repeats=1), storage=storage, fresh=True).run()
    assert fresh.launched() == 2


def test_ctrl_c_mid_trial_keeps_the_finished_trials(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    engine = FakeEngine()
    calls = [0]

    class Interrupting(FakeObjective):
        def measure(self, target):
            calls[0] += 1
            if calls[0] == 3:
                raise KeyboardInterrupt
            return super().measure(target)

    spec = parse_lane({"name": "fake", "model": "smollm2-135m"})
    tuner = Tuner(spec, SPACE, Interrupting(engine), TuneConfig(budget_trials=10), launcher=engine.launch,
                  sizer=GuardSizer(POOL, estimate=fake_estimate), storage=storage)
    with pytest.raises(KeyboardInterrupt):
        tuner.run()
    statuses = [r.status for r in tuner.rows()]
    assert statuses.count("measured") == 2 and statuses[-1] == "interrupted"
