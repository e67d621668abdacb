"""Shape-true synthetic models: GGUFs with random quantized weights in a catalog model's shapes.

The text is garbage; the bytes read per token are the real ones, so decode speed measured on
such a file is that shape's speed on that hardware. `plan_model` lists the tensors without
writing; `synth_model` writes the file. Files carry `lanekit.synthetic = true`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from lanekit.catalog.models import resolve_model
from lanekit.catalog.shapes import ModelShape
from lanekit.errors import ConfigError
from lanekit.synth.donor import pad_vocab, read_tokenizer, vocab_size
from lanekit.synth.plan import ModelPlan, TensorPlan, build_plan
from lanekit.synth.writer import SYNTHETIC_KEY, Progress, SynthResult, is_synthetic, write_gguf

Vocab = Literal["donor", "model"]

__all__ = ["SYNTHETIC_KEY", "ModelPlan", "SynthResult", "TensorPlan", "is_synthetic", "plan_model", "synth_model"]


def _shape(model: str | ModelShape) -> ModelShape:
    return model if isinstance(model, ModelShape) else resolve_model(model)


def plan_model(model: str | ModelShape, *, quant: str = "Q4_0", layers: int | None = None,
               vocab_size: int | None = None, pure: bool = False) -> ModelPlan:
    """Tensors and metadata a synthetic `model` would get (nothing is written).

    `vocab_size` None keeps the model's own vocabulary; `layers` None keeps its layer count.
    """
    return build_plan(_shape(model), quant=quant, n_layers=layers, vocab_size=vocab_size, pure=pure)


def synth_model(model: str | ModelShape, out: str | Path, *, donor: str | Path, quant: str = "Q4_0",
                layers: int | None = None, seed: int = 0, vocab: Vocab | int = "donor", pure: bool = False,
                progress: Progress | None = None) -> SynthResult:
    """Write a GGUF in `model`'s shapes with random `quant` blocks and `donor`'s tokenizer.

    `vocab="donor"` sizes token_embd / output to the donor's vocabulary (the text-free
    default: every sampled token detokenizes); `vocab="model"` keeps the catalog vocabulary
    and pads the donor's tokenizer with unused `[PAD<n>]` tokens; an integer pads it to that
    many tokens (calibration probes vary the vocabulary this way).
    """
    if not isinstance(vocab, int) and vocab not in ("donor", "model"):
        raise ConfigError(f"--vocab must be 'donor' or 'model' (got {vocab!r})", fix="pass --vocab donor or model")
    shape = _shape(model)
    tokenizer = read_tokenizer(donor)
    n_vocab = vocab_size(tokenizer) if vocab == "donor" else shape.vocab_size if vocab == "model" else int(vocab)
    if vocab != "donor":
        tokenizer = pad_vocab(tokenizer, n_vocab)
    plan = build_plan(shape, quant=quant, n_layers=layers, vocab_size=n_vocab, pure=pure)
    return write_gguf(plan, out, tokenizer, seed=seed, donor=str(donor), progress=progress)
