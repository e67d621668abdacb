"""The multi-lane appliance: a fixed set of lanes that live on one box together (seed 002: lane A at 45 %
and lane B at 35 % of a Spark, started one after the other, routing client-side), and the set-level guard.

The guard admits the *set* only if the summed footprints — each engine's real reservation (vLLM takes
gpu_memory_utilization of the whole pool at start, plus its runtime outside it on unified memory;
llama.cpp takes its estimate) — plus one OS reserve fit the pool, and names the lane to drop when not.
Starting, status and teardown are `appliance_run.py`; systemd units and compose are `appliance_units.py`.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lanekit.catalog.memory import GIB, fmt_bytes
from lanekit.errors import ConfigError, LaneWontFit, ModelError
from lanekit.lanes.cluster import VLLM_RUNTIME_OUTSIDE_BYTES, canonical_ip
from lanekit.lanes.spec import LaneSpec, format_validation_error, load_lanes_file, parse_lane

BASE_PORT = 10101  # seed 002's lane A; the next lanes count up
VLLM_DEFAULT_UTILIZATION = 0.9  # what vLLM takes when gpu_memory_utilization is not set
RESERVING_ENGINES = ("vllm", "vllm-docker", "sglang", "sglang-docker")
# Hermes tasks an appliance can route: the agent's own model, and its auxiliary models
HERMES_TASKS = ("main", "compression", "vision", "web_extract", "session_search", "skills_hub", "mcp",
                "title_generation", "approval")


class ApplianceSpec(BaseModel):
    """An appliance file's `appliance:` mapping. Lane order is start order and priority (first = keep)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
    bind: str = Field(default="127.0.0.1", description="address every lane listens on; 127.0.0.1 (default) "
                                                       "serves this machine only, 0.0.0.0 or a LAN IP the LAN")
    hw: str | None = Field(default=None, description="hardware profile to plan for (gb10); default: this box")
    os_reserve_bytes: int | None = Field(default=None, ge=0, description="kept for the OS; default: the "
                                                                          "profile's, else max(2 GiB, 5%)")
    start_timeout_s: float | None = Field(default=None, gt=0, description="per-lane warm-up deadline")
    lanes: list[LaneSpec] = Field(min_length=1)
    routes: dict[str, str] = Field(default_factory=dict, description="Hermes task -> lane name")

    @field_validator("lanes", mode="before")
    @classmethod
    def _lanes(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        return [v if isinstance(v, LaneSpec) else parse_lane(v, where=f"appliance.lanes[{i}]")
                for i, v in enumerate(value)]

    @field_validator("bind")
    @classmethod
    def _bind(cls, value: str) -> str:
        return canonical_ip(value, "127.0.0.1: this machine; 0.0.0.0: every interface; or one LAN address")

    @model_validator(mode="after")
    def _consistent(self):
        names = [lane.name for lane in self.lanes]
        if len(set(names)) != len(names):
            raise ValueError("lanes: lane names must be unique")
        ports: list[int] = []
        for i, lane in enumerate(self.lanes):
            port = lane.port or BASE_PORT + i
            if port in ports:
                raise ValueError(f"lanes[{i}].port: {port} is used by another lane")
            ports.append(port)
        for task, lane in self.routes.items():
            if task not in HERMES_TASKS:
                raise ValueError(f"routes.{task}: not a Hermes task (use {', '.join(HERMES_TASKS)})")
            if lane not in names:
                raise ValueError(f"routes.{task}: no lane named {lane!r} (lanes: {', '.join(names)})")
        return self

    def port_of(self, lane: LaneSpec) -> int:
        """The lane's fixed port (units and the Hermes config need it before anything starts)."""
        return lane.port or BASE_PORT + self.lanes.index(lane)

    def lane_name(self, lane: LaneSpec) -> str:
        """The name the lane runs under (`<appliance>.<lane>`), so `lanekit up` lanes never collide."""
        return f"{self.name}.{lane.name}"

    def route(self, task: str) -> LaneSpec:
        """The lane a Hermes task goes to: its route, else the first lane."""
        name = self.routes.get(task) or self.routes.get("main") or self.lanes[0].name
        return next(lane for lane in self.lanes if lane.name == name)


def load_appliance_file(path: str | Path, lanes_file: str | Path | None = None) -> ApplianceSpec:
    """Read an appliance file. A lane may be a mapping, or the name of a lane in `lanes_file`
    (`lanes_file:` in the file, else ./lanes.yaml)."""
    from pydantic import ValidationError

    from lanekit.lanes.cluster import read_section

    path = Path(path)
    data = read_section(path, "appliance", "and list `lanes:` under it")
    ref = data.pop("lanes_file", None) or lanes_file
    lanes = data.get("lanes")
    if isinstance(lanes, list) and any(isinstance(x, str) for x in lanes):
        source = Path(ref) if ref else path.parent / "lanes.yaml"
        known = load_lanes_file(source if source.is_absolute() else path.parent / source)
        missing = [x for x in lanes if isinstance(x, str) and x not in known]
        if missing:
            raise ConfigError(f"{path}: appliance.lanes: {', '.join(missing)} not in {source}",
                              fix=f"lanes there: {', '.join(known)}")
        data["lanes"] = [known[x] if isinstance(x, str) else x for x in lanes]
    try:
        return ApplianceSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid appliance: {format_validation_error(exc, 'appliance')}",
                          fix="correct the named field") from None


# -- the set-level guard ----------------------------------------------------------------------
class Footprint(BaseModel):
    """What one lane takes from the pool while it runs, and how that was found."""

    lane: str
    engine: str
    bytes: int
    basis: str                       # "reservation" (vLLM's fraction) or "estimate" (weights + KV + overhead)
    need_bytes: int | None = None    # weights + KV + overhead for ctx x parallel (None: not sized)
    reserved_bytes: int | None = None
    outside_bytes: int = 0
    problem: str | None = None       # a lane that cannot run as configured, whatever the others do

    def line(self) -> str:
        if self.basis == "reservation":
            how = f"reserves {fmt_bytes(self.reserved_bytes or 0)}"
            if self.outside_bytes:
                how += f" + runtime {fmt_bytes(self.outside_bytes)}"
        else:
            how = "weights + KV + overhead"
        return f"{self.lane:<16} {fmt_bytes(self.bytes):>11}  {how}"


class AppliancePlan(BaseModel):
    """The set's arithmetic: footprints + OS reserve against the pool."""

    name: str
    pool_bytes: int
    os_reserve_bytes: int
    unified: bool
    pool_source: str
    footprints: list[Footprint]
    total_bytes: int
    free_bytes: int
    fits: bool
    drop: list[str] = Field(default_factory=list, description="lanes to drop (last-listed first) so the rest fit")

    def lines(self) -> list[str]:
        out = [fp.line() for fp in self.footprints]
        out += [f"{'OS reserve':<16} {fmt_bytes(self.os_reserve_bytes):>11}",
                (f"{'total':<16} {fmt_bytes(self.total_bytes):>11}  of {fmt_bytes(self.pool_bytes)} "
                 f"({self.pool_source})"),
                f"{'free' if self.fits else 'short by':<16} {fmt_bytes(abs(self.free_bytes)):>11}"]
        return out


def lane_footprint(spec: LaneSpec, pool_bytes: int, unified: bool) -> Footprint:
    """One lane's real footprint: vLLM/SGLang reserve their fraction of the pool (0.9 when unset), plus,
    on unified memory, their runtime outside it; llama.cpp and the rest take their estimate."""
    from lanekit.lanes.engine import engine_for

    engine = engine_for(spec)
    if spec.engine in RESERVING_ENGINES:
        gmu = getattr(spec, "gpu_memory_utilization", None) or getattr(spec, "mem_fraction_static", None)
        reserved = int((gmu or VLLM_DEFAULT_UTILIZATION) * pool_bytes)
        outside = VLLM_RUNTIME_OUTSIDE_BYTES if unified else 0
        need = None
        try:
            from lanekit.lanes.engines._common import estimate_for

            est = estimate_for(spec, "vllm", quant=quant_hint(spec))
            need = est.weights_bytes + est.kv_bytes + est.state_bytes + est.overhead_bytes
        except ModelError:
            need = None  # the reservation is what it takes either way
        problem = None
        if unified and "--enable-sleep-mode" in spec.extra_args:
            problem = ("sleep mode frees nothing on unified memory (level 1 moves the weights to CPU RAM, the "
                       "same pool; level 2 drops them and wake reloads them): remove --enable-sleep-mode and "
                       "size the lanes to run together")
        elif gmu is None:
            problem = (f"gpu_memory_utilization is not set: vLLM takes {VLLM_DEFAULT_UTILIZATION:g} of the pool "
                       "(on unified memory the whole box); set it for every lane")
        elif need is not None and need > reserved:
            problem = (f"needs {fmt_bytes(need)} for weights + KV at ctx {spec.ctx:,} x {spec.parallel} but "
                       f"gpu_memory_utilization {gmu:g} reserves {fmt_bytes(reserved)}: raise it or lower ctx")
        return Footprint(lane=spec.name, engine=spec.engine, bytes=max(reserved, need or 0) + outside,
                         basis="reservation", need_bytes=need, reserved_bytes=reserved, outside_bytes=outside,
                         problem=problem)
    est = engine.memory_estimate(spec)
    need = int(est.total_bytes) - int(est.headroom_bytes or 0)  # one OS reserve for the set, not one per lane
    return Footprint(lane=spec.name, engine=spec.engine, bytes=need, basis="estimate", need_bytes=need)


def quant_hint(spec: LaneSpec) -> str | None:
    """The weights' quant of a reserving lane, for sizing a catalog model: vLLM's --quantization
    (awq_marlin → AWQ), else a quant named in the repo id (…-AWQ-4bit, …-NVFP4)."""
    from lanekit.lanes.cluster import quant_from_flag

    found = quant_from_flag(getattr(spec, "quantization", None))
    if found:
        return found
    name = spec.model.upper().replace("_", "-")
    return next((q for q in ("NVFP4", "MXFP4", "AWQ", "GPTQ", "FP8") if q in name.split("/")[-1]), None)


def resolve_pool(spec: ApplianceSpec, hw: str | None = None) -> tuple[int, int, bool, str]:
    """(pool bytes, OS reserve, unified?, where it came from): a hardware profile, else this box."""
    from lanekit.catalog.hardware import get_profile
    from lanekit.lanes.guard import default_headroom, is_unified, memory_pool

    key = hw or spec.hw
    if key:
        prof = get_profile(key)
        reserve = spec.os_reserve_bytes if spec.os_reserve_bytes is not None else (
            prof.os_reserved_bytes or max(2 * GIB, prof.memory_bytes // 20))
        return prof.memory_bytes, reserve, prof.unified, prof.name
    pool = memory_pool()
    reserve = spec.os_reserve_bytes if spec.os_reserve_bytes is not None else default_headroom(pool)
    return pool.total_bytes, reserve, pool.kind == "system" or is_unified(pool.device), pool.device


def plan_set(name: str, lanes: list[LaneSpec], pool_bytes: int, os_reserve_bytes: int, unified: bool,
             pool_source: str = "") -> AppliancePlan:
    """The arithmetic for a set of lanes, and (when it does not fit) the fewest lanes to drop."""
    fps = [lane_footprint(lane, pool_bytes, unified) for lane in lanes]
    total = sum(f.bytes for f in fps) + os_reserve_bytes
    fits = total <= pool_bytes and not any(f.problem for f in fps)
    drop: list[str] = []
    if total > pool_bytes:
        drop = lanes_to_drop(fps, pool_bytes - os_reserve_bytes)
    return AppliancePlan(name=name, pool_bytes=pool_bytes, os_reserve_bytes=os_reserve_bytes, unified=unified,
                         pool_source=pool_source, footprints=fps, total_bytes=total, free_bytes=pool_bytes - total,
                         fits=fits, drop=drop)


def lanes_to_drop(fps: list[Footprint], budget_bytes: int) -> list[str]:
    """The fewest lanes whose removal makes the rest fit `budget_bytes`; among equals, the last-listed
    (lowest priority) ones."""
    n = len(fps)
    for k in range(1, n + 1):
        for combo in itertools.combinations(reversed(range(n)), k):
            if sum(f.bytes for i, f in enumerate(fps) if i not in combo) <= budget_bytes:
                return [fps[i].lane for i in sorted(combo)]
    return [f.lane for f in fps]


def plan_appliance(spec: ApplianceSpec, hw: str | None = None) -> AppliancePlan:
    """The set-level guard's arithmetic for an appliance."""
    pool, reserve, unified, source = resolve_pool(spec, hw)
    return plan_set(spec.name, list(spec.lanes), pool, reserve, unified, source)


def require_fits(plan: AppliancePlan, *, with_arithmetic: bool = True) -> None:
    """Raise LaneWontFit naming the lane(s) to drop or the lane that cannot run; with the arithmetic
    unless the caller already printed it."""
    broken = [f for f in plan.footprints if f.problem]
    if broken:
        raise LaneWontFit(f"appliance {plan.name!r}: lane {broken[0].lane!r} {broken[0].problem}",
                          fix=f"fix lane {broken[0].lane!r} in the appliance file")
    if plan.fits:
        return
    arithmetic = ("\n  " + "\n  ".join(plan.lines())) if with_arithmetic else ""
    names = ", ".join(repr(x) for x in plan.drop)
    raise LaneWontFit(f"appliance {plan.name!r} does not fit together: {fmt_bytes(-plan.free_bytes)} over "
                      f"the pool; drop lane {names}{arithmetic}",
                      fix=f"remove {names} from the appliance, or lower gpu_memory_utilization / ctx of the others")


def best_fitting_set(ranked: list[LaneSpec], size: int, pool_bytes: int, os_reserve_bytes: int,
                     unified: bool) -> list[LaneSpec]:
    """"The best `size` lanes that fit together": the first combination in rank order whose plan fits."""
    for combo in itertools.combinations(range(len(ranked)), min(size, len(ranked))):
        lanes = [ranked[i] for i in combo]
        if plan_set("candidate", lanes, pool_bytes, os_reserve_bytes, unified).fits:
            return lanes
    raise LaneWontFit(f"no {size} of the {len(ranked)} ranked lanes fit together in {fmt_bytes(pool_bytes)}",
                      fix="ask for fewer lanes (--lanes 1), or lower their gpu_memory_utilization / ctx")
