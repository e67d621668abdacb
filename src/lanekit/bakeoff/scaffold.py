"""`lanekit init`: a bakeoff plan from the models already on this box, every lane from its recipe.

    scaffold(models, hw="spark") -> Scaffold   # lanes that fit, lanes that do not, download advice

GGUF files become llama.cpp lanes; safetensors checkpoints become vLLM lanes when vLLM is here
(the owner's image via docker, or a `vllm` executable). A lane fits when its memory estimate plus
the guard's headroom fits the hardware's pool. Catalog models that would fit and are not on disk
come back as "download REPO FILE (SIZE)" advice.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from lanekit.errors import LanekitError
from lanekit.lanes.hf_cache import LocalModel

GIB = 1 << 30


class ScaffoldLane(BaseModel):
    """One model found on disk and what became of it."""

    ref: str
    path: str
    kind: str
    engine: str | None = None
    name: str | None = None
    spec: dict[str, Any] | None = None
    need_bytes: int | None = None
    fits: bool = False
    reason: str = ""


class Advice(BaseModel):
    """A catalog model that would fit and is not on disk."""

    model: str
    repo: str
    file: str
    quant: str
    approx_bytes: int | None
    need_bytes: int
    command: str
    ref: str

    @property
    def line(self) -> str:
        size = f" (~{self.approx_bytes / 1e9:.1f} GB)" if self.approx_bytes else ""
        return f"{self.repo} {self.file}{size}"


class Scaffold(BaseModel):
    """What `lanekit init` found, planned and advises."""

    schema_version: int = 1
    hw: str
    pool_bytes: int
    headroom_bytes: int
    harness: str | None
    lanes: list[ScaffoldLane] = Field(default_factory=list)
    downloads: list[Advice] = Field(default_factory=list)

    @property
    def planned(self) -> list[ScaffoldLane]:
        return [x for x in self.lanes if x.fits and x.spec]

    def plan_doc(self, name: str = "init") -> dict[str, Any]:
        """The bakeoff.yaml document (validated by the caller with `parse_plan`)."""
        notes = {x.name: f"{x.ref} ({x.kind}, ~{(x.need_bytes or 0) / GIB:.1f} GiB of {self.pool_bytes / GIB:.0f})"
                 for x in self.planned if x.name}
        return {"schema_version": 1, "name": name,
                "description": f"models found on this box ({self.hw}), one lane each from `lanekit recipe`",
                "hardware": "auto", "lanes": [x.spec for x in self.planned], "notes": notes}


def recipe_hw(detected_key: str) -> str:
    """The recipe profile for a detected catalog profile: gb10 → spark, other NVIDIA → h100, else cpu."""
    if detected_key == "gb10":
        return "spark"
    return "cpu" if detected_key in ("cpu", "m4-max", "m3-ultra", "m2-ultra") else "h100"


def checkpoint_engine() -> tuple[str | None, str]:
    """The engine for safetensors checkpoints here, or None and why not."""
    from lanekit.lanes.owner_tools import recorded

    if recorded("vllm_image") or shutil.which("docker"):
        return "vllm-docker", ""
    if shutil.which("vllm"):
        return "vllm", ""
    return None, "no vLLM here: VLLM_IMAGE=<image> ./install.sh (docker), or pip install vllm"


def _overrides(engine: str) -> dict[str, Any]:
    from lanekit.lanes.owner_tools import recorded

    image = recorded("vllm_image") if engine == "vllm-docker" else None
    return {"image": image} if image else {}


def _plan_lane(model: LocalModel, engine: str, hw: str, harness: str | None, budget: int) -> ScaffoldLane:
    from lanekit.lanes.engine import get_engine
    from lanekit.lanes.recipes import find_family, resolve_recipe
    from lanekit.lanes.spec import parse_lane

    ref = str(model.path) if model.repo is None else model.ref
    lane = ScaffoldLane(ref=ref, path=str(model.path), kind=model.kind, engine=engine)
    try:
        recipe = resolve_recipe(ref, engine, hw, harness=harness, **_overrides(engine))
        spec = parse_lane(recipe.spec, where=recipe.spec.get("name", "lane"))
        est = get_engine(engine).memory_estimate(spec)
    except LanekitError as exc:
        lane.reason = exc.message
        return lane
    need = int(est.total_bytes) - int(getattr(est, "headroom_bytes", 0) or 0)
    lane.name, lane.spec, lane.need_bytes = spec.name, recipe.spec, need
    lane.fits = need <= budget
    lane.reason = "" if lane.fits else f"needs ~{need / GIB:.1f} GiB > {budget / GIB:.1f} GiB"
    family = find_family(ref)
    if lane.fits and harness and family is not None and not family.tools:
        lane.fits, lane.reason = False, f"{family.id} has no tool-call support: not usable for {harness}"
    return lane


def _advice(found: list[LocalModel], hw: str, harness: str | None, budget: int) -> list[Advice]:
    """Catalog GGUFs that would fit (llama.cpp recipe's ctx and KV dtype) and are not on disk."""
    from lanekit.catalog.memory import estimate_memory
    from lanekit.catalog.models import find_catalog
    from lanekit.lanes.downloads import all_downloads
    from lanekit.lanes.recipes import resolve_recipe

    have = {m.repo.lower() for m in found if m.repo} | {Path(m.path).name.lower() for m in found}
    out = []
    for dl in all_downloads():
        if dl.repo.lower() in have or dl.file.lower() in have:
            continue
        shape = find_catalog(dl.model)
        if shape is None:
            continue
        spec = resolve_recipe(dl.model, "llamacpp", hw, harness=harness).spec
        kv = {"q8_0": "fp8"}.get(spec.get("kv_dtype", "f16"), spec.get("kv_dtype", "f16"))
        est = estimate_memory(shape, ctx=int(spec.get("ctx", 4096)), parallel=int(spec.get("parallel", 1)),
                              kv_dtype=kv if kv in ("f16", "bf16", "fp8") else "f16", engine="llamacpp",
                              quant=dl.quant, headroom_bytes=0)
        need = int(est.total_bytes)
        if need <= budget:
            out.append(Advice(model=dl.model, repo=dl.repo, file=dl.file, quant=dl.quant, approx_bytes=dl.approx_bytes,
                              need_bytes=need, command=dl.command, ref=dl.ref))
    return out


def scaffold(models: list[LocalModel], hw: str, *, harness: str | None = "hermes") -> Scaffold:
    """Lanes for `models` on recipe hardware `hw`, with fit verdicts and download advice."""
    from lanekit.lanes.guard import MemoryPool, default_headroom
    from lanekit.lanes.recipes import get_hardware

    profile = get_hardware(hw)
    pool = profile.pool_bytes()
    headroom = default_headroom(MemoryPool("system", pool, pool, profile.title))
    budget = pool - headroom
    out = Scaffold(hw=profile.id, pool_bytes=pool, headroom_bytes=headroom, harness=harness)
    ckpt_engine, why_not = checkpoint_engine()
    for model in models:
        engine = "llamacpp" if model.kind == "gguf" else ckpt_engine
        if engine is None:
            out.lanes.append(ScaffoldLane(ref=model.ref, path=str(model.path), kind=model.kind, reason=why_not))
            continue
        out.lanes.append(_plan_lane(model, engine, profile.id, harness, budget))
    names: set[str] = set()
    for lane in out.planned:  # two quants of one repo would share a recipe name
        base, n = lane.name or "lane", 2
        while lane.name in names:
            lane.name = f"{base}-{n}"
            n += 1
        names.add(lane.name or "")
        if lane.spec is not None:
            lane.spec["name"] = lane.name
    out.downloads = _advice(models, profile.id, harness, budget)
    return out
