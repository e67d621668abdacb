"""Write a ModelPlan as a GGUF file: header and tensor table through `gguf`, data streamed.

Tensor data never sits in memory whole: each tensor is written as slices of a random-block
pool (16 MiB at a time) into a `.part` file that is renamed into place when complete, so an
interrupted run leaves no half-written model behind.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGUFValueType, GGUFWriter
from pydantic import BaseModel

from lanekit.errors import ConfigError
from lanekit.synth.blocks import BlockSource, constant_f32
from lanekit.synth.donor import KeyValue
from lanekit.synth.plan import ModelPlan

SCHEMA_VERSION = 1
SYNTHETIC_KEY = "lanekit.synthetic"
Progress = Callable[[int, int], None]


class SynthResult(BaseModel):
    """What was written: the file, its shape, and the sums `lanekit fit FILE` must agree with."""

    path: str
    model: str
    hf_id: str | None
    arch: str
    quant: str
    n_layers: int
    source_layers: int
    vocab_size: int
    n_experts: int
    n_experts_used: int
    n_tensors: int
    weights_bytes: int
    file_bytes: int
    total_params: int
    active_params: int
    type_bytes: dict[str, int]
    donor: str
    seed: int
    seconds: float
    synthetic: bool = True

    def to_json(self) -> dict[str, Any]:
        """The `lanekit synth --json` object (`schema_version` 1) with a ready lane spec."""
        stem = Path(self.path).stem
        name = (stem if stem.startswith("synth") else f"synth-{stem}")[:60]
        lane = {"name": name, "engine": "llamacpp", "model": self.path,
                "synthetic": True}
        return {"schema_version": SCHEMA_VERSION, **self.model_dump(), "lane": lane}


def _typed(value: Any) -> tuple[Any, GGUFValueType]:
    if isinstance(value, bool):
        return value, GGUFValueType.BOOL
    if isinstance(value, int):
        return value, GGUFValueType.UINT32
    if isinstance(value, float):
        return value, GGUFValueType.FLOAT32
    return str(value), GGUFValueType.STRING


def _check_space(folder: Path, need: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < need + (256 << 20):
        raise ConfigError(f"{folder}: {free / 2**30:.1f} GiB free, the synthetic model needs "
                          f"{need / 2**30:.1f} GiB", fix="free disk space, or pass --out on another disk / fewer --layers")


def write_gguf(plan: ModelPlan, out: str | Path, tokenizer: list[KeyValue], *, seed: int = 0,
               donor: str = "", progress: Progress | None = None) -> SynthResult:
    """Write `plan` to `out` with `tokenizer` metadata; returns the sums read back by `fit`."""
    t0 = time.monotonic()
    out = Path(out).expanduser().resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    _check_space(out.parent, plan.weights_bytes)
    part = out.with_name(out.name + ".part")
    shape = plan.source
    label = shape.hf_id or shape.name
    writer = GGUFWriter(None, plan.arch)
    writer.add_name(f"synthetic {label} ({plan.n_layers} layers, {plan.quant})")
    writer.add_file_type(plan.file_type)
    writer.add_quantization_version(2)
    writer.add_bool(SYNTHETIC_KEY, True)
    writer.add_string("lanekit.synth.model", label)
    writer.add_uint32("lanekit.synth.source_layers", shape.n_layers)
    writer.add_uint32("lanekit.synth.seed", seed)
    for key, value in plan.metadata.items():
        val, vtype = _typed(value)
        writer.add_key_value(key, val, vtype)
    for kv in tokenizer:
        writer.add_key_value(kv.key, kv.value, kv.vtype, kv.sub_type)
    for t in plan.tensors:
        writer.add_tensor_info(t.name, tuple(reversed(t.dims)), np.dtype(np.float32), t.nbytes, raw_dtype=t.qtype)

    source = BlockSource(seed)
    done, total = 0, plan.weights_bytes
    try:
        writer.write_header_to_file(part)
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        fout = writer.fout[0]
        writer.write_padding(fout, fout.tell())
        for t in plan.tensors:
            if t.fill == "random":
                for chunk in source.chunks(t.qtype, t.nbytes, t.dims[0]):
                    fout.write(memoryview(chunk))
            else:
                fout.write(memoryview(constant_f32(1.0 if t.fill == "ones" else 0.0, t.n_elements)))
            writer.write_padding(fout, t.nbytes)
            done += t.nbytes
            if progress is not None:
                progress(done, total)
        writer.close()
        os.replace(part, out)
    except BaseException:
        writer.close()
        part.unlink(missing_ok=True)
        raise
    return SynthResult(
        path=str(out), model=shape.name, hf_id=shape.hf_id, arch=plan.arch, quant=plan.quant,
        n_layers=plan.n_layers, source_layers=shape.n_layers, vocab_size=plan.vocab_size,
        n_experts=plan.n_experts, n_experts_used=plan.n_experts_used, n_tensors=len(plan.tensors),
        weights_bytes=plan.weights_bytes, file_bytes=out.stat().st_size, total_params=plan.total_params,
        active_params=plan.active_params, type_bytes=plan.type_bytes(), donor=donor, seed=seed,
        seconds=round(time.monotonic() - t0, 3),
    )


def is_synthetic(path: str | Path) -> bool:
    """True when a GGUF carries `lanekit.synthetic = true` (random weights: speed only)."""
    import struct

    from lanekit.synth.donor import read_metadata

    try:
        return any(kv.key == SYNTHETIC_KEY and bool(kv.value) for kv in read_metadata(path, "lanekit."))
    except (OSError, ValueError, struct.error):
        return False
