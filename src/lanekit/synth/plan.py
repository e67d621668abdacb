"""The tensor list and llama.cpp metadata of a synthetic model, from a catalog ModelShape.

A `ModelPlan` is everything but the bytes: arch, hyperparameter keys, and every tensor's
name, ggml dims and type, in the layouts llama.cpp loads (src/models/qwen3.cpp, qwen3moe.cpp,
llama.cpp, openai-moe.cpp). Its byte and parameter sums are what `shape_from_gguf` will read
back from the written file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from gguf import GGMLQuantizationType

from lanekit.catalog.shapes import ModelShape
from lanekit.errors import ConfigError, ModelError
from lanekit.synth.blocks import tensor_nbytes
from lanekit.synth.quant_rules import file_type, pick_type

Fill = Literal["random", "ones", "zeros"]

# catalog / HF model_type (and GGUF arch names) → the llama.cpp arch synth writes
ARCH_OF = {
    "qwen3": "qwen3", "qwen3_moe": "qwen3moe", "qwen3moe": "qwen3moe",
    "llama": "llama", "mistral": "llama", "ministral3": "llama", "ministral": "llama",
    "gpt_oss": "gpt-oss", "gpt-oss": "gpt-oss",
}
# Per-arch defaults the catalog does not carry; they change no tensor shape.
_ROPE_BASE = {"qwen3": 1_000_000.0, "qwen3moe": 1_000_000.0, "llama": 500_000.0, "gpt-oss": 150_000.0}
_RMS_EPS = {"qwen3": 1e-6, "qwen3moe": 1e-6, "llama": 1e-5, "gpt-oss": 1e-5}
_EXPERT_RE_PARTS = ("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps")


@dataclass(frozen=True)
class TensorPlan:
    """One tensor: name, ggml dims (ne0 = row length first), stored type, and what fills it."""

    name: str
    dims: tuple[int, ...]
    qtype: GGMLQuantizationType
    fill: Fill = "random"

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        return tensor_nbytes(self.qtype, self.n_elements)

    @property
    def is_expert(self) -> bool:
        return any(f".{p}." in self.name for p in _EXPERT_RE_PARTS)


@dataclass
class ModelPlan:
    """A synthetic model before it is written: source shape, arch keys, tensors."""

    source: ModelShape
    arch: str
    quant: str
    file_type: int
    n_layers: int
    vocab_size: int
    n_experts: int
    n_experts_used: int
    metadata: dict[str, Any]
    tensors: list[TensorPlan] = field(default_factory=list)

    @property
    def weights_bytes(self) -> int:
        """Sum of tensor bytes (what `shape_from_gguf(...).weights_bytes` reads back)."""
        return sum(t.nbytes for t in self.tensors)

    @property
    def total_params(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    @property
    def expert_params(self) -> int:
        return sum(t.n_elements for t in self.tensors if t.is_expert)

    @property
    def active_params(self) -> int:
        """Read per token: all but unused experts and the input table when lm_head is separate."""
        embd = sum(t.n_elements for t in self.tensors if t.name == "token_embd.weight")
        has_output = any(t.name == "output.weight" for t in self.tensors)
        active = self.total_params - (embd if has_output else 0)
        if self.n_experts and self.n_experts_used and self.expert_params:
            active -= self.expert_params - self.expert_params * self.n_experts_used // self.n_experts
        return active

    def type_bytes(self) -> dict[str, int]:
        """Bytes per ggml type, largest first."""
        out: dict[str, int] = {}
        for t in self.tensors:
            out[t.qtype.name] = out.get(t.qtype.name, 0) + t.nbytes
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def synth_arch(shape: ModelShape) -> str:
    """The llama.cpp arch a shape is written as; ModelError for shapes synth cannot write yet."""
    arch = ARCH_OF.get(shape.arch.lower())
    if arch is None or shape.is_hybrid or shape.is_mla:
        raise ModelError(f"synth cannot write {shape.name} (arch {shape.arch}) yet",
                         fix="supported: dense qwen3 / llama / mistral shapes, qwen3_moe, gpt-oss "
                             "(e.g. Qwen/Qwen3-30B-A3B, Qwen/Qwen3-32B, openai/gpt-oss-20b)")
    return arch


def dense_ffn(shape: ModelShape) -> int:
    """Dense FFN width: the shape's own field when it has one, else solved from active params.

    Catalog/config shapes count active = vocab x hidden + layers x (attention + 3 x hidden x ffn),
    so the width is exact for them; other sources are rounded to a multiple of 64.
    """
    for attr in ("ffn_size", "intermediate_size", "ffn"):
        value = getattr(shape, attr, None)
        if value:
            return int(value)
    h, hd = shape.hidden_size, shape.head_dim
    attn = h * shape.n_heads * hd * 2 + 2 * h * shape.n_kv_heads * hd
    per_layer = (shape.active_params - shape.vocab_size * h) / shape.n_layers - attn
    ffn = per_layer / (3 * h)
    if ffn <= 0:
        raise ModelError(f"cannot derive the FFN width of {shape.name} from its parameter counts",
                         fix="pass a config.json that has intermediate_size")
    exact = round(ffn)
    return exact if abs(ffn - exact) < 1e-6 and exact % 32 == 0 else max(64, round(ffn / 64) * 64)


def build_plan(shape: ModelShape, *, quant: str = "Q4_0", n_layers: int | None = None,
               vocab_size: int | None = None, pure: bool = False) -> ModelPlan:
    """Tensors and metadata for `shape` at `quant`, optionally with fewer layers / another vocab."""
    arch = synth_arch(shape)
    qname, _, ftype = file_type(quant)
    if n_layers is not None and n_layers < 1:
        raise ConfigError(f"--layers must be at least 1 (got {n_layers})", fix="pass --layers 1 or more")
    layers = n_layers or shape.n_layers
    vocab = vocab_size or shape.vocab_size
    h, hd, nh, nkv = shape.hidden_size, shape.head_dim, shape.n_heads, shape.n_kv_heads
    moe = arch in ("qwen3moe", "gpt-oss")
    n_exp, n_used = (shape.n_experts, shape.n_experts_used) if moe else (0, 0)
    if moe and not (n_exp and n_used and shape.expert_ffn):
        raise ModelError(f"{shape.name}: MoE shape lacks expert count / experts used / expert FFN width",
                         fix="use a catalog id or a config.json with num_experts and moe_intermediate_size")
    ffn_exp = shape.expert_ffn or 0
    ffn = ffn_exp * n_used if moe else dense_ffn(shape)
    tied = bool(shape.tied_embeddings) and arch != "gpt-oss"
    plan = ModelPlan(source=shape, arch=arch, quant=qname, file_type=int(ftype), n_layers=layers,
                     vocab_size=vocab, n_experts=n_exp, n_experts_used=n_used, metadata={})

    def add(name: str, dims: tuple[int, ...], fill: Fill = "random") -> None:
        qtype = pick_type(qname, name, dims, n_layers=layers, n_experts=n_exp, arch=arch, tied=tied, pure=pure)
        plan.tensors.append(TensorPlan(name, dims, qtype, fill))

    add("token_embd.weight", (h, vocab))
    for il in range(layers):
        p = f"blk.{il}."
        add(p + "attn_norm.weight", (h,), "ones")
        add(p + "attn_q.weight", (h, nh * hd))
        add(p + "attn_k.weight", (h, nkv * hd))
        add(p + "attn_v.weight", (h, nkv * hd))
        add(p + "attn_output.weight", (nh * hd, h))
        if arch in ("qwen3", "qwen3moe"):
            add(p + "attn_q_norm.weight", (hd,), "ones")
            add(p + "attn_k_norm.weight", (hd,), "ones")
        if arch == "gpt-oss":
            for proj, width in (("q", nh * hd), ("k", nkv * hd), ("v", nkv * hd)):
                add(p + f"attn_{proj}.bias", (width,), "zeros")
            add(p + "attn_output.bias", (h,), "zeros")
            add(p + "attn_sinks.weight", (nh,), "zeros")
            add(p + "post_attention_norm.weight", (h,), "ones")
        else:
            add(p + "ffn_norm.weight", (h,), "ones")
        if moe:
            add(p + "ffn_gate_inp.weight", (h, n_exp))
            add(p + "ffn_gate_exps.weight", (h, ffn_exp, n_exp))
            add(p + "ffn_up_exps.weight", (h, ffn_exp, n_exp))
            add(p + "ffn_down_exps.weight", (ffn_exp, h, n_exp))
            if arch == "gpt-oss":
                add(p + "ffn_gate_inp.bias", (n_exp,), "zeros")
                add(p + "ffn_gate_exps.bias", (ffn_exp, n_exp), "zeros")
                add(p + "ffn_up_exps.bias", (ffn_exp, n_exp), "zeros")
                add(p + "ffn_down_exps.bias", (h, n_exp), "zeros")
        else:
            add(p + "ffn_gate.weight", (h, ffn))
            add(p + "ffn_up.weight", (h, ffn))
            add(p + "ffn_down.weight", (ffn, h))
    add("output_norm.weight", (h,), "ones")
    if not tied:
        add("output.weight", (h, vocab))
    plan.metadata = _arch_keys(plan, shape, ffn=ffn, ffn_exp=ffn_exp)
    return plan


def _arch_keys(plan: ModelPlan, shape: ModelShape, *, ffn: int, ffn_exp: int) -> dict[str, Any]:
    """`<arch>.*` hyperparameters llama.cpp reads for this arch (values typed by `gguf_types`)."""
    a = plan.arch
    keys: dict[str, Any] = {
        f"{a}.block_count": plan.n_layers,
        f"{a}.context_length": shape.context_length or 4096,
        f"{a}.embedding_length": shape.hidden_size,
        f"{a}.feed_forward_length": ffn,
        f"{a}.attention.head_count": shape.n_heads,
        f"{a}.attention.head_count_kv": shape.n_kv_heads,
        f"{a}.attention.key_length": shape.head_dim,
        f"{a}.attention.value_length": shape.head_dim,
        f"{a}.rope.dimension_count": shape.head_dim,
        f"{a}.rope.freq_base": _ROPE_BASE[a],
        f"{a}.attention.layer_norm_rms_epsilon": _RMS_EPS[a],
        f"{a}.vocab_size": plan.vocab_size,
    }
    if plan.n_experts:
        keys[f"{a}.expert_count"] = plan.n_experts
        keys[f"{a}.expert_used_count"] = plan.n_experts_used
        keys[f"{a}.expert_feed_forward_length"] = ffn_exp
    if a == "gpt-oss":
        keys[f"{a}.attention.sliding_window"] = shape.sliding_window or 128
        keys[f"{a}.rope.scaling.type"] = "yarn"
        keys[f"{a}.rope.scaling.factor"] = 32.0
        keys[f"{a}.rope.scaling.original_context_length"] = 4096
    return keys
