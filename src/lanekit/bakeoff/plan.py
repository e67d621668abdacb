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
from lanekit.lanes.spec import LaneSpec, format_validation_error, parse_lane

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


class BenchCfg(_Strict):
    single: SingleCfg | None = Field(default_factory=SingleCfg)
    sustained: SustainedCfg | None = Field(default_factory=SustainedCfg)
    sweep: SweepCfg | None = Field(default_factory=SweepCfg)


class EvalCfg(_Strict):
    agent: Literal["builtin", "hermes", "none"] = "builtin"
    battery: str | None = None       # None = the embedded default battery
    repeats: int = Field(1, ge=1)
    max_turns: int = Field(6, ge=1)
    task_timeout_s: float = Field(180.0, gt=0)
    max_tokens: int = Field(512, ge=16)
    temperature: float | None = Field(None, ge=0, le=5)  # None: the lane's sampling, as agents get it
    skip_on_doctor_fail: bool = False


class RankingCfg(_Strict):
    require_doctor_pass: bool = True
    max_format_error_rate: float = Field(0.0, ge=0, le=1)
    min_clean_run_rate: float = Field(1.0, ge=0, le=1)


class GridCfg(_Strict):
    """A base lane and fields to vary; every combination becomes a lane named base-k1v1-k2v2."""

    base: dict[str, Any]
    vary: dict[str, list[Any]]


class BakeoffPlan(_Strict):
    schema_version: int = PLAN_SCHEMA_VERSION
    name: str = "bakeoff"
    description: str = ""
    hardware: str = "auto"
    lanes: list[dict[str, Any]] = Field(default_factory=list)
    grid: list[GridCfg] = Field(default_factory=list)
    bench: BenchCfg = Field(default_factory=BenchCfg)
    eval: EvalCfg = Field(default_factory=EvalCfg)
    ranking: RankingCfg = Field(default_factory=RankingCfg)
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

    def quick(self) -> BakeoffPlan:
        """A trimmed copy for CI: fewer samples, short sustained, two sweep levels."""
        plan = self.model_copy(deep=True)
        if plan.bench.single:
            plan.bench.single = SingleCfg(samples=2, max_tokens=64, warmup=1)
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
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})", fix="fix the YAML syntax") from None
    return parse_plan(doc, str(path))


def default_plan() -> BakeoffPlan:
    """The embedded plan that tells the field's story on real lanes."""
    text = resources.files("lanekit.bakeoff").joinpath("default.yaml").read_text()
    return parse_plan(yaml.safe_load(text), "embedded default plan")
