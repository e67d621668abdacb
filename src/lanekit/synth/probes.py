"""Calibration probes: small shape-true synthetic models that pin one decode cost term each.

A probe is a catalog model's own layer shapes cut to a few layers, at one weight type
(`--pure`, so its bytes are that type), sometimes with fewer experts routed or a padded
vocabulary. Pairs differ in one thing: layer count at one width (per-layer latency), width at
one layer count (bytes), weight type (bandwidth per type), experts used (per-expert latency),
vocabulary (the server's sampling cost), depth (KV reads). Held-out probes are whole models
in llama-quantize's real mixes that the fit never sees: they score the prediction.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from lanekit.catalog.models import resolve_model
from lanekit.catalog.shapes import ModelShape
from lanekit.errors import ConfigError

Scale = Literal["gpu", "cpu", "quick"]
SCALES = ("gpu", "cpu", "quick")

# Qwen3's dense layer at the width of its 1.7B model (the narrow partner of Qwen3-32B's 5120).
QWEN3_NARROW = ModelShape(
    name="Qwen3-2048-dense", arch="qwen3", n_layers=28, n_heads=16, n_kv_heads=8, head_dim=128,
    hidden_size=2048, vocab_size=151936, context_length=40960, ffn_size=6144,
    total_params=2_030_000_000, active_params=1_720_000_000, estimated=True,
    notes="Qwen3-1.7B layer shapes",
)
# Two small llama-arch widths a 2-core CPU decodes in milliseconds; every row length is a
# multiple of 256, so K-quant probes stay K-quants (SmolLM2's 576 would fall back to Q5_0).
LLAMA_TINY = ModelShape(
    name="Llama-512-dense", arch="llama", n_layers=24, n_heads=8, n_kv_heads=4, head_dim=64, hidden_size=512,
    vocab_size=49152, context_length=8192, ffn_size=1536, total_params=100_000_000, active_params=100_000_000,
    estimated=True, notes="SmolLM2-like layer shapes at a K-quant friendly width",
)
LLAMA_SMALL = LLAMA_TINY.model_copy(update={"name": "Llama-1024-dense", "n_heads": 16, "n_kv_heads": 4,
                                            "hidden_size": 1024, "ffn_size": 3072, "notes": "2x the tiny width"})


class Probe(BaseModel):
    """One synthetic model to write and measure: shape, file type, layers, vocabulary, depths."""

    model_config = ConfigDict(frozen=True)

    name: str
    shape: ModelShape
    quant: str
    layers: int
    vocab: int | None = None  # None: the donor's own vocabulary
    pure: bool = True
    depths: tuple[int, ...] = (0,)
    role: Literal["fit", "held_out"] = "fit"
    file: str | None = None  # a real model measured as it is (never written, never deleted)

    def path(self, folder: Path) -> Path:
        """Where the probe's GGUF lives: its own file, or `folder`/<name>.gguf."""
        return Path(self.file) if self.file else Path(folder) / f"{self.name}.gguf"


def _shape(ref: str | ModelShape, experts_used: int | None = None) -> ModelShape:
    shape = ref if isinstance(ref, ModelShape) else resolve_model(ref)
    if experts_used is not None:
        shape = shape.model_copy(update={"n_experts_used": experts_used})
    return shape


def _probe(tag: str, ref: str | ModelShape, quant: str, layers: int, *, k: int | None = None,
           vocab: int | None = None, depths: tuple[int, ...] = (0,), pure: bool = True,
           role: Literal["fit", "held_out"] = "fit") -> Probe:
    name = f"{tag}-{quant.lower()}-{layers}l" + (f"-k{k}" if k else "") + (f"-v{vocab}" if vocab else "")
    return Probe(name=name, shape=_shape(ref, k), quant=quant, layers=layers, vocab=vocab, pure=pure,
                 depths=depths, role=role)


def probe_set(scale: Scale = "gpu") -> list[Probe]:
    """The fit probes for a scale: `gpu` (catalog widths, ~20 probes, a few GB each), `cpu`
    (SmolLM2-sized widths a laptop core decodes in milliseconds), `quick` (the cpu set's core)."""
    if scale == "gpu":
        deep = (0, 8192, 32768)
        return [
            _probe("n2048", QWEN3_NARROW, "Q4_0", 4), _probe("n2048", QWEN3_NARROW, "Q4_0", 16),
            _probe("n2048", QWEN3_NARROW, "Q8_0", 4), _probe("n2048", QWEN3_NARROW, "Q8_0", 16),
            _probe("n2048", QWEN3_NARROW, "Q4_K_S", 8), _probe("n2048", QWEN3_NARROW, "Q6_K", 8),
            _probe("n2048", QWEN3_NARROW, "Q4_0", 4, vocab=151936),
            _probe("n2048", QWEN3_NARROW, "Q4_0", 4, vocab=201088),
            _probe("q32b", "Qwen/Qwen3-32B", "Q4_0", 2), _probe("q32b", "Qwen/Qwen3-32B", "Q4_0", 8, depths=deep),
            _probe("q32b", "Qwen/Qwen3-32B", "Q8_0", 2), _probe("q32b", "Qwen/Qwen3-32B", "Q8_0", 6),
            _probe("q32b", "Qwen/Qwen3-32B", "Q4_K_S", 4), _probe("q32b", "Qwen/Qwen3-32B", "Q5_K_S", 4),
            _probe("q32b", "Qwen/Qwen3-32B", "Q6_K", 4),
            _probe("a3b", "Qwen/Qwen3-30B-A3B", "Q4_0", 4, k=8),
            _probe("a3b", "Qwen/Qwen3-30B-A3B", "Q4_0", 12, k=8, depths=(0, 32768)),
            _probe("a3b", "Qwen/Qwen3-30B-A3B", "Q4_0", 8, k=2), _probe("a3b", "Qwen/Qwen3-30B-A3B", "Q8_0", 8, k=8),
            _probe("a3b", "Qwen/Qwen3-30B-A3B", "Q4_K_S", 8, k=8),
            _probe("a22b", "Qwen/Qwen3-235B-A22B", "Q4_0", 2, k=8),
            _probe("oss20b", "openai/gpt-oss-20b", "MXFP4_MOE", 4),
            _probe("oss20b", "openai/gpt-oss-20b", "MXFP4_MOE", 8, depths=(0, 32768)),
        ]
    if scale not in ("cpu", "quick"):
        raise ConfigError(f"--probes {scale!r} is not one of {', '.join(SCALES)}", fix="use gpu, cpu or quick")
    # Every CPU probe reads more than a 32 MiB L3 per token, as real models do; the first one is
    # also the anchor timed around the others on a busy box (`CalibrationOptions.anchor`).
    deep = (0, 1024)
    quick = [
        _probe("s1024", LLAMA_SMALL, "Q4_0", 16), _probe("s1024", LLAMA_SMALL, "Q4_0", 8, depths=deep),
        _probe("s1024", LLAMA_SMALL, "Q8_0", 8), _probe("n2048", QWEN3_NARROW, "Q4_0", 4),
        _probe("n2048", QWEN3_NARROW, "Q8_0", 4), _probe("s1024", LLAMA_SMALL, "Q4_0", 8, vocab=151936),
    ]
    if scale == "quick":
        return quick
    return quick + [
        _probe("n2048", QWEN3_NARROW, "Q4_0", 8), _probe("n2048", QWEN3_NARROW, "Q4_1", 4),
        _probe("n2048", QWEN3_NARROW, "Q4_K_S", 4), _probe("n2048", QWEN3_NARROW, "Q6_K", 4),
        _probe("s1024", LLAMA_SMALL, "Q4_1", 12), _probe("s1024", LLAMA_SMALL, "Q4_K_S", 12),
        _probe("s1024", LLAMA_SMALL, "Q6_K", 12, depths=deep),
    ]


def held_out_set(scale: Scale = "gpu", depths: tuple[int, ...] | None = None) -> list[Probe]:
    """Models the fit never sees, in llama-quantize's real mixes, at the depths the target is quoted at."""
    if scale == "gpu":
        d = depths or (1024, 32768)
        return [
            _probe("qwen3-32b", "Qwen/Qwen3-32B", "Q4_K_M", 64, vocab=151936, depths=d, pure=False, role="held_out"),
            _probe("qwen3-30b-a3b", "Qwen/Qwen3-30B-A3B", "Q4_K_M", 48, vocab=151936, depths=d, pure=False,
                   role="held_out"),
            _probe("gpt-oss-20b", "openai/gpt-oss-20b", "MXFP4_MOE", 24, vocab=201088, depths=d, pure=False,
                   role="held_out"),
            _probe("llama70b", "meta-llama/Llama-3.3-70B-Instruct", "Q5_K_M", 16, vocab=128256, depths=d,
                   pure=False, role="held_out"),
        ]
    d = depths or (128, 1024)
    return [
        _probe("s1024", LLAMA_SMALL, "Q5_K_M", 20, depths=d, pure=False, role="held_out"),
        _probe("n2048", QWEN3_NARROW, "Q4_K_M", 6, vocab=100352, depths=d, pure=False, role="held_out"),
        *embedded_probes(d),
    ]


def embedded_probes(depths: tuple[int, ...]) -> list[Probe]:
    """lanekit's embedded real models (SmolLM2-135M Q4_1, Qwen2.5-Coder-1.5B Q4_K_M) as held-out
    probes, where they are installed: real weights, real tensor mixes."""
    from lanekit.catalog.models import shape_from_gguf
    from lanekit.lanes.embedded import EMBEDDED, model_path

    out = []
    for model_id in EMBEDDED:
        try:
            path: Path | None = model_path(model_id)
        except Exception:  # noqa: BLE001 - not installed: the check runs without it
            path = None
        if path is not None and Path(path).is_file():
            shape = shape_from_gguf(path)
            out.append(Probe(name=model_id, shape=shape, quant=shape.quant or "?", layers=shape.n_layers,
                             depths=depths, role="held_out", file=str(path), pure=False))
    return out


def write_probe(probe: Probe, folder: Path, donor: Path,
                progress: Callable[[int, int], None] | None = None) -> Path:
    """Write `probe` into `folder` (kept: a file already there with the same layers is reused)."""
    from lanekit.catalog.models import shape_from_gguf
    from lanekit.errors import ModelError
    from lanekit.synth import synth_model

    path = probe.path(folder)
    if probe.file:
        return path
    if path.is_file():
        try:
            if shape_from_gguf(path).n_layers == probe.layers:
                return path
        except ModelError:
            pass
        path.unlink()
    synth_model(probe.shape, path, donor=donor, quant=probe.quant, layers=probe.layers,
                vocab=probe.vocab if probe.vocab else "donor", pure=probe.pure, progress=progress)
    return path


def probe_shape(probe: Probe, donor_vocab: int) -> ModelShape:
    """The shape `shape_from_gguf` will read back from the written probe, without writing it.

    Bytes per ggml type come from synth's plan (the same tensors the writer writes), split the
    way the GGUF reader splits them: routed experts apart, the input table only when tied.
    """
    from lanekit.synth import plan_model

    if probe.file:
        from lanekit.catalog.models import shape_from_gguf

        return shape_from_gguf(probe.file)
    vocab = probe.vocab or donor_vocab
    plan = plan_model(probe.shape, quant=probe.quant, layers=probe.layers, vocab_size=vocab, pure=probe.pure)
    tied = not any(t.name == "output.weight" for t in plan.tensors)
    dense: dict[str, int] = {}
    experts: dict[str, int] = {}
    for t in plan.tensors:
        if t.name == "token_embd.weight" and not tied:
            continue
        into = experts if t.is_expert else dense
        into[t.qtype.name] = into.get(t.qtype.name, 0) + t.nbytes
    return probe.shape.model_copy(update={
        "n_layers": probe.layers, "vocab_size": vocab, "weights_bytes": plan.weights_bytes, "quant": probe.quant,
        "total_params": plan.total_params, "active_params": plan.active_params, "dense_type_bytes": dense,
        "expert_type_bytes": experts or None, "tied_embeddings": tied, "source": "gguf",
    })
