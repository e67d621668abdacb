"""Read a ModelShape from a GGUF header: hyperparameters plus every tensor's exact bytes.

Only the header and tensor table are read (`gguf_header`, memory-mapped, never loaded). Split
files (`-00001-of-00003.gguf`) are summed across all parts found next to the first.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from lanekit.catalog.gguf_header import GGUFFormatError, GGUFHeader, SkippedArray, read_gguf_header
from lanekit.catalog.shapes import ModelShape
from lanekit.errors import ModelError

# Period of the sliding-window pattern when a GGUF does not store it (llama.cpp
# `set_swa_pattern(n)`: layer il is windowed when il % n < n - 1).
_DEFAULT_SWA_PERIOD = {"gemma2": 2, "gemma3": 6, "gemma3n": 5, "gpt-oss": 2, "cohere2": 4, "gemma4": 6}
# Hybrid linear-attention archs: every `interval`-th layer is full attention.
_FULL_ATTN_INTERVAL_DEFAULT = {"qwen3next": 4, "qwen35": 4, "qwen35moe": 4}
_SPLIT_RE = re.compile(r"^(?P<stem>.*)-(?P<idx>\d{5})-of-(?P<n>\d{5})\.gguf$")
# Quantization file types as llama.cpp names them (general.file_type).
_EXPERT_TENSOR_RE = re.compile(r"\.ffn_(gate|up|down|gate_up)_exps\.")


def _fix_for(path: Path) -> str:
    return f"check the path ({path}); download a .gguf file or pass a catalog id (`lanekit fit --catalog`)"


def _open(path: Path) -> GGUFHeader:
    try:
        return read_gguf_header(path)
    except GGUFFormatError as exc:
        if str(exc).startswith("truncated"):
            raise ModelError(f"{path} is incomplete ({exc})",
                             fix="download the file again (an interrupted download leaves it short)") from exc
        raise ModelError(f"{path} is not a readable GGUF file ({exc})", fix=_fix_for(path)) from exc
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path} is not a readable GGUF file ({exc})", fix=_fix_for(path)) from exc


def _value(reader: GGUFHeader, key: str, default: Any = None) -> Any:
    value = reader.fields.get(key)
    return default if value is None or isinstance(value, SkippedArray) else value


def _per_layer(value: Any, n_layers: int) -> list[int]:
    if isinstance(value, (list, tuple)):
        values = [int(v) for v in value]
        return (values + [values[-1]] * n_layers)[:n_layers] if values else [0] * n_layers
    return [int(value)] * n_layers


def _swa_layers(reader: GGUFHeader, arch: str, n_layers: int, window: int | None) -> list[bool]:
    if not window:
        return [False] * n_layers
    pattern = _value(reader, f"{arch}.attention.sliding_window_pattern")
    if isinstance(pattern, (list, tuple)):
        flags = [bool(v) for v in pattern]
        return (flags + [False] * n_layers)[:n_layers]
    period = int(pattern) if pattern else _DEFAULT_SWA_PERIOD.get(arch, 0)
    if period <= 0:
        # Unknown layout: count every layer as full attention. Over-estimating KV is the safe
        # side for a memory guard.
        return [False] * n_layers
    return [il % period < period - 1 for il in range(n_layers)]


def _split_parts(path: Path) -> list[Path]:
    match = _SPLIT_RE.match(path.name)
    if not match:
        return [path]
    n = int(match["n"])
    parts = [path.with_name(f"{match['stem']}-{i:05d}-of-{n:05d}.gguf") for i in range(1, n + 1)]
    missing = [p.name for p in parts if not p.exists()]
    if missing:
        raise ModelError(f"split GGUF {path.name} is missing parts: {', '.join(missing)}",
                         fix="download every part of the split model into the same folder")
    return parts


def _ssm_state_bytes(reader: GGUFHeader, arch: str, n_recurrent: int) -> int:
    """f32 recurrent state per sequence: conv window plus SSM/delta-net state, all recurrent layers."""
    d_conv = int(_value(reader, f"{arch}.ssm.conv_kernel", 0) or 0)
    d_inner = int(_value(reader, f"{arch}.ssm.inner_size", 0) or 0)
    d_state = int(_value(reader, f"{arch}.ssm.state_size", 0) or 0)
    n_group = int(_value(reader, f"{arch}.ssm.group_count", 0) or 0)
    if not (d_inner and d_state) or n_recurrent <= 0:
        return 0
    conv = max(d_conv - 1, 0) * (d_inner + 2 * n_group * d_state)
    # Mamba-2: heads x head_dim x d_state. Gated DeltaNet stores a (head_k x head_v) matrix per
    # value head, and llama.cpp writes d_state = head_k, inner = v_heads x head_v: the same product.
    ssm = d_state * d_inner
    return (conv + ssm) * 4 * n_recurrent


def shape_from_gguf(path: str | Path) -> ModelShape:
    """Read architecture, attention layout, experts and exact tensor bytes from a GGUF file.

    Raises ModelError (with a fix) when the file is missing, not a GGUF, or lacks the keys
    every llama.cpp model has (`general.architecture`, `<arch>.block_count`).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelError(f"model file not found: {path}", fix=_fix_for(path))
    if not path.is_file():
        raise ModelError(f"{path} is not a file", fix=_fix_for(path))
    parts = _split_parts(path)
    readers = [_open(part) for part in parts]
    reader = readers[0]
    arch = _value(reader, "general.architecture")
    n_layers = _value(reader, f"{arch}.block_count") if arch else None
    if not arch or not n_layers:
        raise ModelError(f"{path} has no general.architecture / block_count in its GGUF header",
                         fix="re-convert the model with a current llama.cpp convert_hf_to_gguf.py")
    n_layers = int(n_layers)
    n_tensors = sum(len(r.tensors) for r in readers)
    if n_layers > n_tensors:
        # Every block holds tensors; a larger count is a corrupt header, and per-layer lists of
        # that length would exhaust memory before anything else noticed.
        raise ModelError(f"{path}: {arch}.block_count is {n_layers:,} but the file holds only {n_tensors:,} "
                         "tensors (corrupt header)", fix="download or convert the file again")
    hidden = int(_value(reader, f"{arch}.embedding_length", 0))
    heads = _per_layer(_value(reader, f"{arch}.attention.head_count", 0), n_layers)
    kv_heads = _per_layer(_value(reader, f"{arch}.attention.head_count_kv", max(heads)), n_layers)
    n_heads = max(heads) if heads else 0
    key_len = _value(reader, f"{arch}.attention.key_length")
    head_dim = int(key_len) if key_len else (hidden // n_heads if n_heads else 0)
    val_len = _value(reader, f"{arch}.attention.value_length")
    window = _value(reader, f"{arch}.attention.sliding_window")
    window = int(window) if window else None
    swa = _swa_layers(reader, arch, n_layers, window)
    kv_lora = _value(reader, f"{arch}.attention.kv_lora_rank")
    rope_dim = _value(reader, f"{arch}.rope.dimension_count")

    # Hybrids: layers with zero KV heads are recurrent (Nemotron-H, Jamba, LFM2); Qwen3-Next /
    # Qwen3.5 mark full attention every `full_attention_interval` layers instead.
    n_full: int | None = None
    interval = _value(reader, f"{arch}.full_attention_interval", _FULL_ATTN_INTERVAL_DEFAULT.get(arch))
    if interval:
        n_full = sum(1 for il in range(n_layers) if (il + 1) % int(interval) == 0)
    elif min(kv_heads) == 0 and max(kv_heads) > 0:
        n_full = sum(1 for il in range(n_layers) if kv_heads[il] > 0 and not swa[il])
    # Per-layer KV heads (Gemma 4: fewer, wider heads on global layers) are split by layer kind.
    global_kv = [kv_heads[il] for il in range(n_layers) if not swa[il] and kv_heads[il] > 0]
    swa_kv = [kv_heads[il] for il in range(n_layers) if swa[il] and kv_heads[il] > 0]
    n_kv_heads = max(global_kv or kv_heads or [n_heads])
    swa_n_kv = max(swa_kv) if swa_kv and max(swa_kv) != n_kv_heads else None
    n_recurrent = 0
    if n_full is not None:
        # Recurrent = no KV heads and no dense FFN (Nemotron-H also has MLP-only layers).
        ffn = _per_layer(_value(reader, f"{arch}.feed_forward_length", 0), n_layers)
        n_recurrent = sum(1 for il in range(n_layers) if kv_heads[il] == 0 and (interval or ffn[il] == 0))
        if interval:
            n_recurrent = n_layers - n_full

    tensor_bytes = 0
    expert_bytes = 0
    embd_bytes = embd_params = 0
    n_params = 0
    expert_params = 0
    has_output = False
    embd_type = None
    types: Counter[str] = Counter()
    dense_types: Counter[str] = Counter()
    expert_types: Counter[str] = Counter()
    for part_reader in readers:
        for t in part_reader.tensors:
            nbytes, nel = t.n_bytes, t.n_elements
            tensor_bytes += nbytes
            n_params += nel
            types[t.type_name] += nbytes
            if _EXPERT_TENSOR_RE.search(t.name):
                expert_bytes += nbytes
                expert_params += nel
                expert_types[t.type_name] += nbytes
            elif t.name == "token_embd.weight":
                embd_bytes, embd_params, embd_type = nbytes, nel, t.type_name
            else:
                has_output = has_output or t.name == "output.weight"
                dense_types[t.type_name] += nbytes
    if not has_output and embd_type:  # tied: the embedding table is the lm_head, read whole per token
        dense_types[embd_type] += embd_bytes

    n_experts = int(_value(reader, f"{arch}.expert_count", 0) or 0)
    n_used = int(_value(reader, f"{arch}.expert_used_count", 0) or 0)
    # Read per token: everything but unused experts and (when lm_head is separate) the input
    # embedding table, of which one row is fetched.
    active = n_params - (embd_params if has_output else 0)
    if n_experts and n_used and expert_params:
        active -= expert_params - expert_params * n_used // n_experts
    quant = _file_type_name(_value(reader, "general.file_type"), types)
    size_label = _value(reader, "general.size_label")
    name = _value(reader, "general.name") or path.stem
    template = _value(reader, "tokenizer.chat_template")
    ffn = _value(reader, f"{arch}.feed_forward_length")
    return ModelShape(
        name=str(name), arch=str(arch), n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_kv_heads,
        head_dim=head_dim, hidden_size=hidden,
        vocab_size=int(_value(reader, f"{arch}.vocab_size", 0) or _vocab_len(reader)),
        context_length=int(_value(reader, f"{arch}.context_length", 0) or 0),
        sliding_window=window, n_swa_layers=sum(swa), n_full_attn_layers=n_full,
        n_experts=n_experts, n_experts_used=n_used,
        expert_ffn=int(_value(reader, f"{arch}.expert_feed_forward_length", 0)) or None,
        ffn_size=int(ffn) if isinstance(ffn, int) and ffn > 0 and not n_experts else None,
        n_shared_experts=int(_value(reader, f"{arch}.expert_shared_count", 0) or 0),
        total_params=n_params, active_params=active, weights_bytes=tensor_bytes, quant=quant,
        estimated=False, chat_template=str(template) if template else None,
        head_dim_v=int(val_len) if val_len and int(val_len) != head_dim else None,
        swa_head_dim=_opt_int(_value(reader, f"{arch}.attention.key_length_swa")),
        swa_n_kv_heads=swa_n_kv,
        kv_lora_rank=int(kv_lora) if kv_lora else None,
        qk_rope_head_dim=int(rope_dim) if kv_lora and rope_dim else None,
        linear_state_bytes=_ssm_state_bytes(reader, arch, n_recurrent),
        expert_weights_bytes=expert_bytes or None, embedding_bytes=embd_bytes or None,
        tied_embeddings=not has_output, source="gguf",
        dense_type_bytes=dict(dense_types), expert_type_bytes=dict(expert_types) or None,
        notes=f"size label {size_label}" if size_label else "",
    )


def _opt_int(value: Any) -> int | None:
    return int(value) if value else None


def _vocab_len(reader: GGUFHeader) -> int:
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    return len(tokens) if tokens is not None else 0


def _file_type_name(file_type: Any, types: Counter[str]) -> str | None:
    """llama.cpp's quant name for the file (`Q4_K_M`), else the dominant tensor type."""
    import gguf

    if file_type is not None:
        try:
            name = gguf.LlamaFileType(int(file_type)).name
            return name.removeprefix("MOSTLY_").removeprefix("ALL_")
        except ValueError:
            pass
    return types.most_common(1)[0][0] if types else None
