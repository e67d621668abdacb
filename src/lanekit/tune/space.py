"""The search space of `lanekit tune`: which flags of a lane may change, and to what.

One `Param` per flag, each a short list of choices (a search over serving flags is categorical:
batch sizes are powers of two, KV types a handful of names). `space_for(spec)` builds the space
for the lane's engine from the spec itself and the recipe data (the hardware profile's limits:
the GB10's TRITON_ATTN-only vLLM, its gpu_memory_utilization ceiling); `apply(spec, params)`
turns one point into a validated lane spec. Combinations an engine refuses (a quantized V cache
without flash attention, `-ub` above `-b`) are `invalid(params)` reasons, never launched.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from itertools import product
from typing import Any

from lanekit.errors import ConfigError
from lanekit.lanes.spec import LaneSpec, parse_lane

Value = str | int | float | bool


@dataclass(frozen=True)
class Param:
    """One tunable flag: its name, its choices, and what it means (shown by `lanekit tune --help`)."""

    name: str
    choices: tuple[Value, ...]
    help: str = ""


@dataclass
class SearchSpace:
    """The flags to search for one lane's engine (`params`), in a fixed order."""

    engine: str
    params: list[Param] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def size(self) -> int:
        """Points in the full grid (invalid ones included)."""
        n = 1
        for p in self.params:
            n *= len(p.choices)
        return n

    def grid(self) -> list[dict[str, Value]]:
        """Every valid point, in a stable order (the exhaustive grid a tune is compared with)."""
        points = [dict(zip(self.names, values)) for values in product(*(p.choices for p in self.params))]
        return [pt for pt in points if invalid(self.engine, pt) is None]

    def restrict(self, overrides: dict[str, list[Value]]) -> SearchSpace:
        """The space with some params' choices replaced (one choice fixes a flag)."""
        known = {p.name: p for p in self.params}
        for name in overrides:
            if name not in known:
                raise ConfigError(f"--param {name}: not a tunable flag of a {self.engine} lane",
                                  fix=f"use one of: {', '.join(self.names)}")
        params = [Param(p.name, tuple(overrides[p.name]), p.help) if p.name in overrides else p
                  for p in self.params]
        return SearchSpace(self.engine, params)

    def digest(self) -> str:
        """A short hash of the space: a resumed study must search the same one."""
        doc = [(p.name, list(p.choices)) for p in self.params]
        return hashlib.sha256(json.dumps([self.engine, doc]).encode()).hexdigest()[:10]

    def to_json(self) -> dict[str, Any]:
        return {"engine": self.engine, "params": {p.name: list(p.choices) for p in self.params}}


def _threads_choices(spec: LaneSpec) -> tuple[int, ...]:
    """Physical cores and half of them (the seeds: 10 of the Grace CPU's 20 cores win), plus the spec's."""
    import psutil

    cores = psutil.cpu_count(logical=False) or psutil.cpu_count() or 1
    values = {max(1, cores // 2), cores}
    if spec.threads:
        values.add(spec.threads)
    return tuple(sorted(values))


def _host_forces_no_repack(spec: LaneSpec) -> bool:
    """True when this host's recorded fix turns repacking off (the AMX SIGILL): not ours to undo."""
    try:
        from lanekit.lanes.engines.llamacpp import find_llama_server
        from lanekit.lanes.engines.llamacpp_host import host_env

        env = {**host_env(find_llama_server(getattr(spec, "binary", None))), **spec.env}
    except Exception:  # noqa: BLE001 - no binary yet: the lane's own launch will say so
        env = dict(spec.env)
    return env.get("LLAMA_ARG_REPACK") == "0"


def _llamacpp(spec: LaneSpec, draft_model: str | None) -> list[Param]:
    parallel = tuple(sorted({1, 2, 4, spec.parallel}))
    params = [
        Param("threads", _threads_choices(spec), "-t: decode threads"),
        Param("batch", (512, 1024, 2048), "-b: logical batch"),
        Param("ubatch", (128, 256, 512), "-ub: physical batch (prefill step)"),
        Param("kv_dtype", ("f16", "q8_0"), "-ctk/-ctv: KV-cache type"),
        Param("parallel", parallel, "-np: slots (ctx is per slot)"),
        Param("flash_attn", ("on", "off"), "-fa"),
        Param("cache_reuse", (0, 256), "--cache-reuse: KV shift reuse chunk"),
    ]
    if not _host_forces_no_repack(spec):
        params.append(Param("repack", (True, False), "weight repacking (--no-repack when off)"))
    if draft_model:
        params.append(Param("draft", ("none", draft_model), "-md: draft model for speculation"))
    return params


def _hardware(hw: str | None):
    if not hw:
        return None
    from lanekit.lanes.recipes.data import get_hardware

    return get_hardware(hw)


def _vllm(spec: LaneSpec, hw: str | None) -> list[Param]:
    profile = _hardware(hw)
    rec = (profile.engines.get("vllm") or {}) if profile else {}
    backends = (rec["attention_backend"],) if rec.get("attention_backend") else ("FLASH_ATTN", "FLASHINFER",
                                                                                 "TRITON_ATTN")
    ceiling = (profile.max_gpu_memory_utilization if profile else None) or 0.9
    fractions = tuple(sorted({round(min(f, ceiling), 2) for f in (0.7, 0.8, 0.9)}))
    params = [
        Param("parallel", tuple(sorted({1, 4, 8, 16, spec.parallel})), "--max-num-seqs"),
        Param("max_num_batched_tokens", (2048, 8192, 16384), "--max-num-batched-tokens"),
        Param("enable_prefix_caching", (True, False), "--enable-prefix-caching"),
        Param("kv_dtype", ("auto", "fp8"), "--kv-cache-dtype"),
        Param("attention_backend", backends, "--attention-backend"),
        Param("gpu_memory_utilization", fractions, "--gpu-memory-utilization"),
    ]
    speculative = getattr(spec, "speculative_config", None)
    if speculative:
        params.append(Param("speculative", ("none", "spec"), "the spec's --speculative-config, or none"))
    return params


def _sglang(spec: LaneSpec) -> list[Param]:
    return [
        Param("parallel", tuple(sorted({1, 4, 8, 16, spec.parallel})), "--max-running-requests"),
        Param("chunked_prefill_size", (2048, 4096, 8192), "--chunked-prefill-size"),
        Param("disable_radix_cache", (False, True), "--disable-radix-cache"),
        Param("kv_dtype", ("auto", "fp8_e5m2"), "--kv-cache-dtype"),
        Param("mem_fraction_static", (0.7, 0.8, 0.85), "--mem-fraction-static"),
    ]


def space_for(spec: LaneSpec, *, hw: str | None = None, draft_model: str | None = None) -> SearchSpace:
    """The default search space for `spec`'s engine (ConfigError for an engine tune cannot search)."""
    engine = spec.engine
    if engine == "llamacpp":
        return SearchSpace(engine, _llamacpp(spec, draft_model))
    if engine in ("vllm", "vllm-docker"):
        return SearchSpace(engine, _vllm(spec, hw))
    if engine == "sglang":
        return SearchSpace(engine, _sglang(spec))
    raise ConfigError(f"lane {spec.name!r}: engine {engine!r} has no tuning space",
                      fix="tune a llamacpp, vllm or sglang lane")


def invalid(engine: str, params: dict[str, Value]) -> str | None:
    """Why the engine would refuse this point, or None when it is launchable."""
    if engine == "llamacpp":
        if params.get("kv_dtype", "f16") != "f16" and params.get("flash_attn") == "off":
            return "a quantized V cache needs flash attention"
        if "ubatch" in params and "batch" in params and int(params["ubatch"]) > int(params["batch"]):
            return "-ub above -b"
    return None


_LLAMA_OWNED = {"-b", "--batch-size", "-ub", "--ubatch-size", "--cache-reuse", "-md", "--model-draft",
                "--spec-draft-model"}
_LLAMA_FLAGS_ONLY = {"-nr", "--no-repack", "--repack"}


def _strip_llama_args(args: list[str]) -> list[str]:
    """The spec's extra_args without the flags tune sets (their values too)."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in _LLAMA_OWNED:
            skip = True
            continue
        if arg in _LLAMA_FLAGS_ONLY:
            continue
        out.append(arg)
    return out


def apply(spec: LaneSpec, params: dict[str, Value], *, name: str | None = None) -> LaneSpec:
    """`spec` with `params` set: spec fields where the spec has them, flags in extra_args otherwise."""
    data = spec.model_dump(exclude_unset=True)
    data["engine"] = spec.engine
    if name:
        data["name"] = name
    p = dict(params)
    if spec.engine == "llamacpp":
        extra = _strip_llama_args(list(spec.extra_args))
        if "batch" in p:
            extra += ["-b", str(p.pop("batch"))]
        if "ubatch" in p:
            extra += ["-ub", str(p.pop("ubatch"))]
        if "cache_reuse" in p:
            extra += ["--cache-reuse", str(p.pop("cache_reuse"))]
        if p.pop("repack", True) is False:
            extra += ["--no-repack"]
        draft = p.pop("draft", "none")
        if draft != "none":
            extra += ["-md", str(draft)]
        data["extra_args"] = extra
    elif "speculative" in p and p.pop("speculative") == "none":
        data["speculative_config"] = None  # "spec" keeps the lane's own --speculative-config
    data.update(p)
    return parse_lane(data, where=data.get("name", spec.name))
