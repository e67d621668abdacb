"""Tiny model shapes (every supported arch) and the donor tokenizer for the writer tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lanekit.catalog.shapes import ModelShape

HIDDEN, HEADS, KV, HEAD_DIM, FFN, VOCAB, LAYERS = 256, 4, 2, 64, 512, 1000, 2


def tiny_shape(arch: str, *, vocab: int = VOCAB, tied: bool = False) -> ModelShape:
    """A small shape whose active-parameter count follows the catalog's formula."""
    attn = 2 * HIDDEN * HEADS * HEAD_DIM + 2 * HIDDEN * KV * HEAD_DIM
    moe = arch in ("qwen3_moe", "gpt_oss")
    experts, used, expert_ffn = (8, 2, 128) if moe else (0, 0, None)
    ffn_active = used * 3 * HIDDEN * 128 if moe else 3 * HIDDEN * FFN
    return ModelShape(
        name=f"tiny-{arch}", arch=arch, n_layers=LAYERS, n_heads=HEADS, n_kv_heads=KV, head_dim=HEAD_DIM,
        hidden_size=HIDDEN, vocab_size=vocab, context_length=4096, n_experts=experts, n_experts_used=used,
        expert_ffn=expert_ffn, sliding_window=128 if arch == "gpt_oss" else None, tied_embeddings=tied,
        total_params=0, active_params=vocab * HIDDEN + LAYERS * (attn + ffn_active), hf_id=f"test/tiny-{arch}",
    )


@pytest.fixture(name="tiny_shape")
def tiny_shape_factory():
    """`tiny_shape(arch, vocab=..., tied=...)` as a fixture."""
    return tiny_shape


@pytest.fixture(scope="session")
def donor_path() -> Path:
    from lanekit.lanes.embedded import model_path

    return model_path("smollm2-135m")


@pytest.fixture(scope="session")
def small_donor(donor_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tokenizer-only GGUF with the donor's first 512 tokens: fast to read and write."""
    import gguf

    from lanekit.synth.donor import read_tokenizer

    path = tmp_path_factory.mktemp("donor") / "small-donor.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    for kv in read_tokenizer(donor_path):
        value = kv.value[:512] if kv.key in ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type") else kv.value
        value = value[:200] if kv.key == "tokenizer.ggml.merges" else value
        w.add_key_value(kv.key, value, kv.vtype, kv.sub_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    return path


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    """A config.json folder for a tiny dense Qwen3 (what `lanekit synth PATH` accepts)."""
    folder = tmp_path / "tiny-qwen3"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS, "num_key_value_heads": KV, "head_dim": HEAD_DIM, "hidden_size": HIDDEN,
        "intermediate_size": FFN, "vocab_size": VOCAB, "max_position_embeddings": 4096,
        "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    }))
    return folder
