"""The bakeoff plan (`bakeoff.yaml`): lanes (or a grid that expands into lanes), scenarios,
battery, repeats, ranking thresholds. Validated by pydantic; errors name the field path."""

from __future__ import annotations

import hashlib
import itertools
import json
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lanekit.errors import ConfigError
from lanekit.lanes.spec import LaneSpec, format_validation_error, parse_lane, read_yaml
from lanekit.quality.result import QualityCfg
from lanekit.results.ranking import RankingCfg

PLAN_SCHEMA_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SingleCfg(_Strict):
    samples: int = Field(5, ge=1)
    max_tokens: int = Field(256, ge=2)
    warmup: int = Field(1, ge=0)


class SustainedCfg(_Strict):
    duration_s: float = Field(60.0, gt=0)
    interval_s: float = Field(10.0, gt=0)
    max_tokens: int = Field(256, ge=2)


class SweepCfg(_Strict):
    concurrency: list[int] = Field(default_factory=lambda: [1, 2, 4])
    max_tokens: int = Field(128, ge=2)
    requests_per_level: int | None = Field(None, ge=1)


class ReplayCfg(_Strict):
    """`bench.replay`: the agent's own workload — a trace replayed `repeats` times (the headline)."""

    trace: str = Field("embedded:core", description="a trace JSONL (`lanekit trace convert`) or embedded:NAME")
    mode: Literal["history", "delta"] = "history"
    repeats: int = Field(3, ge=1, description="passes over the trace; intervals need ≥ 3")
    delays: bool = Field(True, description="wait the recorded gaps between a reply and the next request")
    time_scale: float = Field(1.0, ge=0)
    pin_output: bool | None = Field(None, description="hold replies to the recorded length (default: history mode)")


class ContextCfg(_Strict):
    """`bench.context`: cold and warm TTFT and decode at long contexts. `depths: harness` measures
    at 16K, 32K and the harness's floor (64,000 for Hermes), each where the lane serves it."""

    depths: list[int] | Literal["harness"] = "harness"
    harness: str = "hermes"
    samples: int = Field(3, ge=1, description="cold requests per depth (a unique prompt each)")
    warm: int = Field(3, ge=0, description="re-sends of each cold prompt (served from the prefix cache)")
    max_tokens: int = Field(64, ge=2)

    def resolved_depths(self) -> list[int]:
        """The depths to measure (the harness's: 16K, 32K and its floor)."""
        if self.depths != "harness":
            return list(self.depths)
        from lanekit.catalog.harnesses import HARNESSES

        floor = HARNESSES[self.harness].min_context if self.harness in HARNESSES else 65_536
        return sorted({16_384, 32_768, floor})


class BenchCfg(_Strict):
    timeout_s: float = Field(300.0, gt=0, description="deadline of one request, send to last byte")
    replay: ReplayCfg | None = Field(default_factory=ReplayCfg)
    context: ContextCfg | None = Field(default_factory=ContextCfg)
    single: SingleCfg | None = Field(default_factory=SingleCfg)
    sustained: SustainedCfg | None = Field(default_factory=SustainedCfg)
    sweep: SweepCfg | None = Field(default_factory=SweepCfg)


class EvalCfg(_Strict):
    agent: Literal["builtin", "hermes", "none"] = "builtin"
    battery: str | None = None       # None = the embedded default battery
    repeats: int = Field(1, ge=1, description="runs per task (`-k`); pass^k and tighter intervals need more")
    max_turns: int = Field(6, ge=1)
    task_timeout_s: float = Field(180.0, gt=0)
    max_tokens: int = Field(512, ge=16)
    temperature: float | None = Field(None, ge=0, le=5)  # None: the lane's sampling, as agents get it
    skip_on_doctor_fail: bool = False


class GridCfg(_Strict):
    """A base lane and fields to vary; every combination becomes a lane named base-k1v1-k2v2."""

    base: dict[str, Any]
    vary: dict[str, list[Any]]


class TuneCfg(_Strict):
    """`tune:` — tune every lane first (`lanekit tune`) and run the winner under the lane's name."""

    objective: Literal["turn_s", "decode", "throughput", "goodput"] = "turn_s"
    budget_trials: int | None = Field(20, ge=1)
    budget_s: float | None = Field(None, gt=0)
    params: dict[str, list[Any]] = Field(default_factory=dict, description="flag → choices (one fixes it)")
    finalists: int = Field(3, ge=1)
    repeats: int = Field(3, ge=1)
    seed: int = 0
    doctor: bool = True
    ttft_slo_ms: float | None = Field(None, gt=0)
    itl_slo_ms: float | None = Field(None, gt=0)


class BakeoffPlan(_Strict):
    schema_version: int = PLAN_SCHEMA_VERSION
    name: str = "bakeoff"
    description: str = ""
    hardware: str = "auto"
    lanes: list[dict[str, Any]] = Field(default_factory=list)
    grid: list[GridCfg] = Field(default_factory=list)
    bench: BenchCfg = Field(default_factory=BenchCfg)
    eval: EvalCfg = Field(default_factory=EvalCfg)
    quality: QualityCfg | None = Field(None, description="perplexity / KLD per lane (llama.cpp: on its GGUF, "
                                                        "after teardown; other engines: prompt log-probs)")
    ranking: RankingCfg = Field(default_factory=RankingCfg)
    tune: TuneCfg | None = Field(None, description="tune each lane's flags before it is measured")
    notes: dict[str, str] = Field(default_factory=dict)   # lane name → what the lane is meant to show

    def lane_specs(self) -> list[LaneSpec]:
        """Explicit lanes then grid expansions, validated; names must be unique."""
        specs: list[LaneSpec] = []
        for i, lane in enumerate(self.lanes):
            specs.append(parse_lane(lane, where=f"lanes[{i}]"))
        for g, grid in enumerate(self.grid):
            keys = list(grid.vary)
            for combo in itertools.product(*(grid.vary[k] for k in keys)):
                data = {**grid.base, **dict(zip(keys, combo))}
                suffix = "-".join(f"{k}{v}" for k, v in zip(keys, combo))
                data["name"] = f"{grid.base.get('name', 'grid')}-{suffix}"
                specs.append(parse_lane(data, where=f"grid[{g}]"))
        seen: set[str] = set()
        for spec in specs:
            if spec.name in seen:
                raise ConfigError(f"plan: duplicate lane name {spec.name!r}", fix="give every lane a unique name")
            seen.add(spec.name)
        if not specs:
            raise ConfigError("plan: no lanes", fix="add `lanes:` or `grid:` to the plan")
        return specs

    def digest(self) -> str:
        """sha256 of the canonical plan; a rerun with the same digest resumes."""
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()

    def select(self, names: list[str]) -> BakeoffPlan:
        """A copy that runs only the named lanes (explicit or grid-expanded), validated."""
        specs = {s.name: s for s in self.lane_specs()}
        unknown = [n for n in names if n not in specs]
        if unknown:
            raise ConfigError(f"--lanes: unknown lane(s) {', '.join(unknown)}", fix=f"lanes: {', '.join(sorted(specs))}")
        chosen = [specs[n].model_dump(mode="json", exclude_unset=True) | {"engine": specs[n].engine} for n in names]
        return parse_plan({**self.model_dump(mode="json"), "lanes": chosen, "grid": []}, "plan")

    def quick(self) -> BakeoffPlan:
        """A trimmed copy for CI: fewer samples, short sustained, two sweep levels."""
        plan = self.model_copy(deep=True)
        if plan.bench.replay:
            plan.bench.replay = plan.bench.replay.model_copy(update={"repeats": 3, "time_scale": 0.0})
        if plan.bench.context:
            plan.bench.context = ContextCfg(depths=[1024], samples=3, warm=1, max_tokens=16)
        if plan.bench.single:
            plan.bench.single = SingleCfg(samples=3, max_tokens=64, warmup=1)
        if plan.bench.sustained:
            plan.bench.sustained = SustainedCfg(duration_s=6, interval_s=2, max_tokens=64)
        if plan.bench.sweep:
            plan.bench.sweep = SweepCfg(concurrency=[1, 2], max_tokens=32)
        plan.eval.max_tokens = min(plan.eval.max_tokens, 384)
        return plan


def parse_plan(doc: Any, source: str = "plan") -> BakeoffPlan:
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level", fix="see README 'bakeoff.yaml'")
    try:
        plan = BakeoffPlan.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {format_validation_error(exc)}", fix="correct the named field") from None
    plan.lane_specs()  # validate lanes now, with their field paths
    return plan


def load_plan(path: str | Path | None = None) -> BakeoffPlan:
    """Read a plan file; None gives the embedded default plan."""
    if path is None:
        return default_plan()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"plan file {path} not found", fix="pass an existing bakeoff.yaml, or none for the default")
    doc = read_yaml(path)
    return parse_plan(doc, str(path))


def default_plan() -> BakeoffPlan:
    """The embedded plan that tells the field's story on real lanes."""
    text = resources.files("lanekit.bakeoff").joinpath("default.yaml").read_text()
    return parse_plan(yaml.safe_load(text), "embedded default plan")
