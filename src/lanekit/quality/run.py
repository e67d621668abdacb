"""One entry point per caller: `run_quality(target, cfg)` for a lane (the bakeoff's `quality:`
step and `lanekit quality --lane`), `compare_files` for a quant A/B of GGUF files.

llama.cpp lanes are measured offline with llama-perplexity on the lane's own GGUF and
numeric flags; vLLM/SGLang lanes over HTTP with prompt log-probs. Long-context PPL runs at
the harness depth only when the lane serves that much context.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lanekit.quality.corpus import load_corpus
from lanekit.quality.result import QualityCfg, QualityResult, QualityTable

Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class LaneTarget:
    """What quality needs to know about a lane."""

    engine: str
    label: str
    base_url: str | None = None
    model_id: str | None = None
    model_file: Path | None = None
    lane_args: list[str] = field(default_factory=list)
    served_ctx: int | None = None
    logprobs: str | None = None  # request shape override for HTTP lanes


def lane_args_of(spec) -> list[str]:
    """llama.cpp flags of a lane spec that change logits: KV dtype, flash attention, -ngl, RoPE/YaRN."""
    from lanekit.quality.llamacpp import lane_numeric_args

    args: list[str] = []
    kv = getattr(spec, "kv_dtype", "f16")
    if kv not in ("f16", "auto"):
        kv = "q8_0" if kv == "fp8" else kv
        args += ["-ctk", kv, "-ctv", kv]
        if getattr(spec, "flash_attn", None) is None:
            args += ["-fa", "on"]
    if getattr(spec, "flash_attn", None):
        args += ["-fa", spec.flash_attn]
    if getattr(spec, "gpu_layers", None) is not None:
        args += ["-ngl", str(spec.gpu_layers)]
    return args + lane_numeric_args(getattr(spec, "extra_args", []))


def target_from_spec(spec, *, base_url: str | None = None, model_id: str | None = None,
                     served_ctx: int | None = None) -> LaneTarget:
    """A LaneTarget for a lane spec: llama.cpp lanes need no URL (offline on their GGUF)."""
    model_file = None
    args: list[str] = []
    if spec.engine == "llamacpp":
        from lanekit.lanes.embedded import resolve_model_file

        model_file = resolve_model_file(spec.model)
        args = lane_args_of(spec)
    return LaneTarget(engine=spec.engine, label=spec.name, base_url=base_url, model_id=model_id,
                      model_file=model_file, lane_args=args, served_ctx=served_ctx or spec.ctx)


def target_from_record(record) -> LaneTarget:
    """A LaneTarget for a live lane lanekit started (registry record)."""
    from lanekit.lanes.spec import parse_lane

    spec = parse_lane(dict(record.spec), where=record.name)
    return target_from_spec(spec, base_url=record.base_url, model_id=record.model_id, served_ctx=record.served_ctx)


def depth_for(cfg: QualityCfg) -> int | None:
    """The long-context depth: cfg.depth, else the harness' context floor, else None."""
    if cfg.depth:
        return cfg.depth
    if cfg.harness:
        from lanekit.errors import ConfigError
        from lanekit.lanes.recipes import harness_min_ctx

        floors = harness_min_ctx()
        if cfg.harness not in floors:
            raise ConfigError(f"harness: unknown {cfg.harness!r}", fix=f"use one of: {', '.join(floors)}")
        return floors[cfg.harness]
    return None


def run_quality(target: LaneTarget, cfg: QualityCfg, *, progress: Progress | None = None) -> QualityResult:
    """Measure one lane: PPL (+ KLD/top-1 vs cfg.base) and long-context PPL where it is served."""
    corpus = load_corpus(cfg.corpus)
    depth = depth_for(cfg)
    if target.engine == "llamacpp":
        from lanekit.quality.gguf_runs import measure_files, measure_long_ctx

        if target.model_file is None:
            from lanekit.errors import ConfigError

            raise ConfigError(f"lane {target.label}: no GGUF file known", fix="start the lane with lanekit")
        table = measure_files([target.model_file], cfg, corpus, lane_args=target.lane_args, progress=progress)
        own = Path(target.model_file).resolve()
        row = next(r for r in table.rows if Path(r.model_file or "").resolve() == own)
        row = row.model_copy(update={"label": target.label})
        long_fn = (lambda d: measure_long_ctx(target.model_file, d, corpus, threads=cfg.threads,
                                              lane_args=target.lane_args, timeout_s=cfg.timeout_s,
                                              progress=progress))
    else:
        from lanekit.quality.http_runs import measure_endpoint
        from lanekit.quality.logprobs import shape_for

        shape = shape_for(target.engine, target.logprobs)
        row = measure_endpoint(target.base_url or "", target.model_id or "", cfg, corpus, shape=shape,
                               engine=target.engine, label=target.label, progress=progress)

        def long_fn(d: int):
            deep = cfg.model_copy(update={"ctx": d, "chunks": 2, "base": None, "stride": None})
            return measure_endpoint(target.base_url or "", target.model_id or "", deep, corpus, shape=shape,
                                    engine=target.engine, label=f"{target.label} @ {d:,}", progress=progress).ppl
    if depth:
        if target.served_ctx is not None and target.served_ctx < depth:
            row = row.model_copy(update={"long_ctx_skipped": f"lane serves {target.served_ctx:,} < depth {depth:,}"})
        else:
            row = row.model_copy(update={"long_ctx": long_fn(depth)})
    return row


def compare_files(files: Sequence[Path], cfg: QualityCfg, *, lane_args: Sequence[str] = (),
                  progress: Progress | None = None) -> QualityTable:
    """Quant A/B of GGUF files of one model: PPL, KLD and top-1 vs the base (named)."""
    from lanekit.quality.gguf_runs import measure_files, measure_long_ctx

    corpus = load_corpus(cfg.corpus)
    table = measure_files(files, cfg, corpus, lane_args=lane_args, progress=progress)
    depth = depth_for(cfg)
    if depth:
        rows = [r.model_copy(update={"long_ctx": measure_long_ctx(Path(r.model_file), depth, corpus,
                                                                  threads=cfg.threads, lane_args=lane_args,
                                                                  timeout_s=cfg.timeout_s, progress=progress)})
                for r in table.rows]
        table = table.model_copy(update={"rows": rows})
    return table
